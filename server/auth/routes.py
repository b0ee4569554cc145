"""Login, logout, the caller's identity and their sessions."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from server.api.context import client_ip, services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord
from server.db.models import User
from server.errors import ApiError
from server.realtime.disconnect import disconnect_sockets

from .login import PasswordLogin, password_login
from .principal import Principal


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    totp: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    device_name: Annotated[str, StringConstraints(max_length=200)] = "device"
    device_id: Annotated[str, StringConstraints(max_length=40)] | None = None


class LoginResult(BaseModel):
    token: str
    session_id: str
    user_id: str
    device_id: str
    role: str
    expires_at: Annotated[int, Field(description="ms since epoch")]


@route(
    "POST",
    "/api/v1/auth/login",
    body=LoginBody,
    response=LoginResult,
    auth=False,
    tags=("auth",),
    summary="Exchange username + password (+ TOTP) for a session token.",
    errors=("invalid_credentials", "account_locked", "account_disabled", "rate_limited"),
)
async def login(request: web.Request, _p: Principal | None, body: LoginBody) -> web.Response:
    svc = services(request)
    done = await password_login(
        svc,
        PasswordLogin(
            username=body.username,
            password=body.password,
            totp=body.totp,
            device_name=body.device_name,
            device_id=body.device_id,
            ip=client_ip(request, svc.settings),
            user_agent=request.headers.get("User-Agent"),
        ),
    )
    return json_response(
        LoginResult(
            token=done.session.token,
            session_id=done.session.session_id,
            user_id=done.user_id,
            device_id=done.session.device_id,
            role=done.role,
            expires_at=done.session.expires_at,
        ).model_dump()
    )


@route("POST", "/api/v1/auth/logout", tags=("auth",), summary="Revoke the calling session.")
async def logout(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    await svc.sessions.revoke(p.session_id)
    await svc.audit.record(
        AuditRecord("auth.logout", p.user_id, p.device_id, ip=p.ip, target=p.session_id)
    )
    await disconnect_sockets(svc, p.user_id, session_id=p.session_id)
    return json_response({"ok": True})


@route("GET", "/api/v1/me", tags=("auth",), summary="The caller's account.")
async def me(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    async with svc.db.read() as conn:
        user = (
            await conn.execute(
                select(
                    User.id, User.username, User.display_name, User.role, User.totp_secret
                ).where(User.id == p.user_id)
            )
        ).one()
    return json_response(
        {
            "user_id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role,
            "device_id": p.device_id,
            "session_id": p.session_id,
            "totp_enabled": user.totp_secret is not None,
        }
    )


@route("GET", "/api/v1/auth/sessions", tags=("auth",), summary="The caller's sessions.")
async def list_sessions(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response({"sessions": await services(request).sessions.list_for_user(p.user_id)})


@route(
    "DELETE",
    "/api/v1/auth/sessions/{session_id}",
    tags=("auth",),
    summary="Revoke one of the caller's sessions.",
    errors=("not_found",),
)
async def revoke_session(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    sid = request.match_info["session_id"]
    if not await svc.sessions.revoke(sid, user_id=p.user_id):
        raise ApiError("not_found", "session not found")
    await disconnect_sockets(svc, p.user_id, session_id=sid)
    await svc.audit.record(
        AuditRecord("auth.session_revoke", p.user_id, p.device_id, ip=p.ip, target=sid)
    )
    return json_response({"ok": True})

"""Login, logout, the caller's identity and their sessions."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select, update

from server.api.context import client_ip, services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.db.models import User
from server.errors import ApiError

from . import lockout, totp_secrets
from .passwords import verify_password
from .principal import Principal
from .sessions import disconnect_sockets
from .totp import consume_step, matching_step


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


def _denied() -> ApiError:
    # One answer for an unknown name, a wrong password, and a missing, wrong or replayed TOTP
    # code: it confirms neither that the account exists nor that the password was right.
    return ApiError("invalid_credentials", DENIED)


DENIED = "wrong username or password, or a missing or wrong TOTP code"


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
    """The attempt is counted (per username, per address) before anything is checked.

    Known and unknown names take the same path: counted, argon2 run (on a dummy hash for unknown
    names), the same `invalid_credentials` answer. A locked name or address is refused before
    argon2: that answer cannot depend on the password, and skipping argon2 keeps a flood of
    refused attempts from costing CPU.
    """
    svc = services(request)
    ip = client_ip(request, svc.settings)
    username = body.username.strip().lower()
    async with svc.db.read() as conn:
        user = (await conn.execute(select(User.__table__).where(User.username == username))).first()
    attempt = await lockout.count_attempt(svc.db, svc.settings, username, ip)
    if attempt.locked_until:
        await svc.audit.record(
            AuditRecord("auth.login", user.id if user else None, ip=ip, outcome="locked")
        )
        raise attempt.refusal()
    ok = await verify_password(user.password_hash if user else None, body.password)
    totp_step: int | None = None
    reseal: str | None = None
    if ok and user is not None and user.totp_secret:
        totp = await totp_secrets.cipher(svc)
        secret = totp.open(user.id, user.totp_secret)
        if not totp.is_current(user.totp_secret):
            reseal = totp.seal(user.id, secret)  # a clear or old-key secret, sealed anew
        totp_step = None if body.totp is None else matching_step(secret, body.totp)
        ok = totp_step is not None
    if user is None or not ok:
        await svc.audit.record(
            AuditRecord("auth.login", user.id if user else None, ip=ip, outcome="denied")
        )
        raise _denied()
    if user.disabled:
        await svc.audit.record(AuditRecord("auth.login", user.id, ip=ip, outcome="disabled"))
        raise ApiError("account_disabled", "this account is disabled")
    async with svc.db.write() as conn:
        if totp_step is not None and not await consume_step(conn, user.id, totp_step):
            raise _denied()
        if reseal is not None:
            await conn.execute(
                update(User)
                .where(User.id == user.id, User.totp_secret == user.totp_secret)
                .values(totp_secret=reseal)
            )
        device_id = None
        if body.device_id is not None:
            from server.db.models import Device

            own = (
                await conn.execute(
                    select(Device.id).where(
                        Device.id == body.device_id,
                        Device.user_id == user.id,
                        Device.revoked_at.is_(None),
                    )
                )
            ).first()
            if own is None:
                raise ApiError("not_found", "device not found")
            device_id = own.id
        issued = await svc.sessions.issue(
            conn,
            user.id,
            device_id=device_id,
            device_name=body.device_name,
            user_agent=request.headers.get("User-Agent"),
        )
        await lockout.succeeded(conn, attempt, username)
        await append(
            conn,
            [AuditRecord("auth.login", user.id, issued.device_id, ip=ip, target=issued.session_id)],
        )
    return json_response(
        LoginResult(
            token=issued.token,
            session_id=issued.session_id,
            user_id=user.id,
            device_id=issued.device_id,
            role=user.role,
            expires_at=issued.expires_at,
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

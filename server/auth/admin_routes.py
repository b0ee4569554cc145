"""Account administration over REST (the same operations as `relais admin`, for admins only).

Disabling an account or resetting its password revokes every session of the account and closes
its sockets on this node: both are what an admin does when an account or device is compromised,
so nothing opened before may keep working.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.context import services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.db.models import User
from server.errors import ApiError
from server.realtime.disconnect import disconnect_sockets

from . import accounts, lockout
from .principal import Principal

ADMIN = ("admin",)
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class CreateUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.@\-]+$"
        ),
    ]
    role: Annotated[
        str, StringConstraints(pattern=r"^(admin|clinician|assistant|caregiver|patient)$")
    ]
    display_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    password: Password | None = None


class ResetPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Password


async def _existing(request: web.Request, user_id: str) -> Any:
    async with services(request).db.read() as conn:
        row = (await conn.execute(select(User.id, User.role).where(User.id == user_id))).first()
    if row is None:
        raise ApiError("not_found", "user not found")
    return row


async def _audit(conn: AsyncConnection, p: Principal, action: str, target: str) -> None:
    """An admin action on one account, in the transaction that performs it."""
    await append(
        conn,
        [
            AuditRecord(
                action, p.user_id, p.device_id, ip=p.ip, target=target, detail={"via": "api"}
            )
        ],
    )


@route(
    "POST",
    "/api/v1/admin/users",
    body=CreateUser,
    roles=ADMIN,
    tags=("admin",),
    summary="Create an account (a password for everyone but patients).",
    errors=("forbidden", "conflict", "validation_failed"),
)
async def create_user(request: web.Request, p: Principal, body: CreateUser) -> web.Response:
    svc = services(request)
    if body.role == "patient" and body.password is not None:
        raise ApiError("validation_failed", "patients have no password (they join by invite)")
    if body.role != "patient" and body.password is None:
        raise ApiError("validation_failed", "a password is required for this role")
    # Hash before the transaction: argon2 inside a SQLite write lock would stall every writer.
    pw_hash = await accounts.prepare_password(body.password) if body.password else None
    async with svc.db.write() as conn:
        uid = await accounts.create_user(
            conn,
            username=body.username,
            role=body.role,
            display_name=body.display_name,
            password_hash=pw_hash,
        )
        await append(
            conn,
            [
                AuditRecord(
                    "admin.user_create",
                    p.user_id,
                    p.device_id,
                    ip=p.ip,
                    target=uid,
                    detail={"role": body.role, "via": "api"},
                )
            ],
        )
    return json_response(
        {
            "user_id": uid,
            "username": body.username.lower(),
            "role": body.role,
            "display_name": body.display_name or body.username.lower(),
        },
        status=201,
    )


@route(
    "GET",
    "/api/v1/admin/users",
    roles=ADMIN,
    tags=("admin",),
    summary="All accounts (never their secrets).",
)
async def list_users(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    async with svc.db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    User.id,
                    User.username,
                    User.display_name,
                    User.role,
                    User.disabled,
                    User.totp_secret.is_not(None).label("totp_enabled"),
                    User.created_at,
                ).order_by(User.created_at, User.id)
            )
        ).all()
        locked = await lockout.locked_names(conn, [r.username for r in rows])
    await svc.audit.record(AuditRecord("admin.user_list", p.user_id, p.device_id, ip=p.ip))
    return json_response(
        {
            "users": [
                {
                    "user_id": r.id,
                    "username": r.username,
                    "display_name": r.display_name,
                    "role": r.role,
                    "disabled": bool(r.disabled),
                    "totp_enabled": bool(r.totp_enabled),
                    "locked": r.username in locked,
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        }
    )


@route(
    "POST",
    "/api/v1/admin/users/{user_id}/disable",
    roles=ADMIN,
    tags=("admin",),
    summary="Disable an account, revoke its sessions and close its sockets.",
    errors=("forbidden", "not_found", "conflict"),
)
async def disable_user(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    user_id = request.match_info["user_id"]
    if user_id == p.user_id:
        raise ApiError("conflict", "an admin cannot disable their own account")
    await _existing(request, user_id)
    async with svc.db.write() as conn:
        await accounts.set_disabled(conn, user_id, True)
        await svc.sessions.revoke_all(conn, user_id)
        await _audit(conn, p, "admin.user_disable", user_id)
    closed = await disconnect_sockets(svc, user_id)
    return json_response({"user_id": user_id, "disabled": True, "sockets_closed": closed})


@route(
    "POST",
    "/api/v1/admin/users/{user_id}/enable",
    roles=ADMIN,
    tags=("admin",),
    summary="Re-enable a disabled account (its old sessions stay revoked).",
    errors=("forbidden", "not_found"),
)
async def enable_user(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    user_id = request.match_info["user_id"]
    await _existing(request, user_id)
    async with svc.db.write() as conn:
        await accounts.set_disabled(conn, user_id, False)
        await _audit(conn, p, "admin.user_enable", user_id)
    return json_response({"user_id": user_id, "disabled": False})


@route(
    "POST",
    "/api/v1/admin/users/{user_id}/reset-password",
    body=ResetPassword,
    roles=ADMIN,
    tags=("admin",),
    summary="Set a new password, clear the lockout, revoke every session of the account.",
    errors=("forbidden", "not_found", "conflict", "validation_failed"),
)
async def reset_password(request: web.Request, p: Principal, body: ResetPassword) -> web.Response:
    svc = services(request)
    user_id = request.match_info["user_id"]
    user = await _existing(request, user_id)
    if user.role == "patient":
        raise ApiError("conflict", "patients have no password (send them a new invitation)")
    pw_hash = await accounts.prepare_password(body.password)
    async with svc.db.write() as conn:
        await accounts.set_password_hash(conn, user_id, pw_hash)
        await svc.sessions.revoke_all(conn, user_id)
        await _audit(conn, p, "admin.password_reset", user_id)
    closed = await disconnect_sockets(svc, user_id)
    return json_response({"user_id": user_id, "password": "reset", "sockets_closed": closed})


@route(
    "GET",
    "/api/v1/admin/users/{user_id}/sessions",
    roles=ADMIN,
    tags=("admin",),
    summary="An account's sessions (active and past).",
    errors=("forbidden", "not_found"),
)
async def user_sessions(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    user_id = request.match_info["user_id"]
    await _existing(request, user_id)
    sessions = await svc.sessions.list_for_user(user_id)
    await svc.audit.record(
        AuditRecord("admin.session_list", p.user_id, p.device_id, ip=p.ip, target=user_id)
    )
    return json_response({"user_id": user_id, "sessions": sessions})

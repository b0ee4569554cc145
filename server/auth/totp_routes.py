"""Optional TOTP second factor: set up, confirm, disable.

Setup is stateless: the server proposes a secret and stores nothing; confirm brings the secret
back with a code computed from it, which proves the authenticator app holds it, and only then is
it written to `users.totp_secret`. No pending secret lives in memory, so any node can confirm.
The secret is stored sealed (server/auth/totp_secrets.py). Disabling needs both the password
and a current code; each attempt is counted, before it is checked, towards the same per-username
and per-address lockout as logins (server/auth/lockout.py), so a stolen session cannot be used
to guess the password here, however many requests it sends at once.
"""

from __future__ import annotations

from typing import Annotated, Any

import pyotp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import select, update

from server.api.context import services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.db.models import User
from server.errors import ApiError

from . import lockout, totp_secrets
from .passwords import verify_password
from .principal import Principal

ISSUER = "Relais"
Code = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class ConfirmTotp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret: Annotated[str, StringConstraints(pattern=r"^[A-Z2-7]{16,64}$")]
    code: Code


class DisableTotp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    code: Code


def code_ok(secret: str, code: str) -> bool:
    # One step either side absorbs clock drift between the phone and the server.
    return bool(pyotp.TOTP(secret).verify(code, valid_window=1))


async def _account(request: web.Request, p: Principal) -> Any:
    async with services(request).db.read() as conn:
        return (
            await conn.execute(
                select(
                    User.id,
                    User.username,
                    User.password_hash,
                    User.totp_secret,
                ).where(User.id == p.user_id)
            )
        ).one()


@route(
    "POST",
    "/api/v1/auth/totp/setup",
    tags=("auth",),
    summary="Propose a TOTP secret (not stored until confirmed).",
    errors=("conflict", "forbidden"),
)
async def totp_setup(request: web.Request, p: Principal, _b: None) -> web.Response:
    user = await _account(request, p)
    if user.password_hash is None:
        raise ApiError("forbidden", "accounts without a password do not use TOTP")
    if user.totp_secret is not None:
        raise ApiError("conflict", "TOTP is already enabled")
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)
    return json_response({"secret": secret, "otpauth_uri": uri})


@route(
    "POST",
    "/api/v1/auth/totp/confirm",
    body=ConfirmTotp,
    tags=("auth",),
    summary="Enable TOTP with the proposed secret and a code it generated.",
    errors=("invalid_credentials", "conflict", "forbidden"),
)
async def totp_confirm(request: web.Request, p: Principal, body: ConfirmTotp) -> web.Response:
    svc = services(request)
    user = await _account(request, p)
    if user.password_hash is None:
        raise ApiError("forbidden", "accounts without a password do not use TOTP")
    if not code_ok(body.secret, body.code):
        await svc.audit.record(
            AuditRecord("auth.totp_enable", p.user_id, p.device_id, ip=p.ip, outcome="denied")
        )
        raise ApiError("invalid_credentials", "the code does not match the secret")
    sealed = (await totp_secrets.cipher(svc)).seal(p.user_id, body.secret)
    async with svc.db.write() as conn:
        result = await conn.execute(
            update(User)
            .where(User.id == p.user_id, User.totp_secret.is_(None))
            .values(totp_secret=sealed)
        )
        if not result.rowcount:
            raise ApiError("conflict", "TOTP is already enabled")
        await append(conn, [AuditRecord("auth.totp_enable", p.user_id, p.device_id, ip=p.ip)])
    return json_response({"totp_enabled": True})


@route(
    "POST",
    "/api/v1/auth/totp/disable",
    body=DisableTotp,
    tags=("auth",),
    summary="Disable TOTP (needs the password and a current code).",
    errors=("invalid_credentials", "account_locked", "conflict"),
)
async def totp_disable(request: web.Request, p: Principal, body: DisableTotp) -> web.Response:
    svc = services(request)
    user = await _account(request, p)
    if user.totp_secret is None:
        raise ApiError("conflict", "TOTP is not enabled")
    attempt = await lockout.count_attempt(svc.db, svc.settings, user.username, p.ip or "")
    if attempt.locked_until:
        raise attempt.refusal()
    ok = await verify_password(user.password_hash, body.password)
    secret = (await totp_secrets.cipher(svc)).open(p.user_id, user.totp_secret)
    ok = ok and code_ok(secret, body.code)
    async with svc.db.write() as conn:
        if not ok:
            await append(
                conn,
                [
                    AuditRecord(
                        "auth.totp_disable", p.user_id, p.device_id, ip=p.ip, outcome="denied"
                    )
                ],
            )
        else:
            await conn.execute(update(User).where(User.id == p.user_id).values(totp_secret=None))
            await lockout.succeeded(conn, attempt, user.username)
            await append(conn, [AuditRecord("auth.totp_disable", p.user_id, p.device_id, ip=p.ip)])
    if not ok:
        raise ApiError("invalid_credentials", "wrong password or code")
    return json_response({"totp_enabled": False})

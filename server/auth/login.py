"""Logging in with a password (and TOTP when the account has it): from credentials to a session.

Out of the route so the rules live in one place whatever carries the request: the route only
turns a body into a `PasswordLogin` and a `LoggedIn` into a response. Another way to log in
(OIDC, say) would prove the identity its own way and share `start_session`.

Known and unknown names take the same path: counted, argon2 run (on a dummy hash for unknown
names), the same `invalid_credentials` answer. A locked name or address is refused before argon2:
that answer cannot depend on the password, and skipping argon2 keeps a flood of refused attempts
from costing CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append
from server.db.models import User
from server.errors import ApiError

from . import lockout, totp_secrets
from .passwords import verify_password
from .sessions import IssuedSession, live_device_owners
from .totp import consume_step, matching_step

if TYPE_CHECKING:
    from server.services import Services

DENIED = "wrong username or password, or a missing or wrong TOTP code"


@dataclass(frozen=True)
class PasswordLogin:
    username: str
    password: str
    totp: str | None
    device_name: str
    # An existing device of the user to log in again, instead of a new one.
    device_id: str | None
    ip: str
    user_agent: str | None


@dataclass(frozen=True)
class LoggedIn:
    user_id: str
    role: str
    session: IssuedSession


@dataclass(frozen=True)
class _Proof:
    # The step of the TOTP code accepted: consumed in the login's transaction, so no code works
    # twice.
    totp_step: int | None
    # The TOTP secret sealed under the current key, when it was stored clear or under an old key.
    reseal: str | None


async def password_login(svc: Services, req: PasswordLogin) -> LoggedIn:
    """The attempt is counted (per username, per address) before anything is checked."""
    username = req.username.strip().lower()
    user = await _user_by_name(svc, username)
    attempt = await lockout.count_attempt(svc.db, svc.settings, username, req.ip)
    if attempt.locked_until:
        await _audit_refusal(svc, user.id if user else None, req.ip, "locked")
        raise attempt.refusal()
    proof = await _prove(svc, user, req.password, req.totp)
    if user is None or proof is None:
        await _audit_refusal(svc, user.id if user else None, req.ip, "denied")
        raise _denied()
    if user.disabled:
        await _audit_refusal(svc, user.id, req.ip, "disabled")
        raise ApiError("account_disabled", "this account is disabled")
    async with svc.db.write() as conn:
        if proof.totp_step is not None and not await consume_step(conn, user.id, proof.totp_step):
            raise _denied()
        if proof.reseal is not None:
            await conn.execute(
                update(User)
                .where(User.id == user.id, User.totp_secret == user.totp_secret)
                .values(totp_secret=proof.reseal)
            )
        issued = await start_session(svc, conn, user.id, req)
        await lockout.succeeded(conn, attempt, username)
        await append(
            conn,
            [
                AuditRecord(
                    "auth.login", user.id, issued.device_id, ip=req.ip, target=issued.session_id
                )
            ],
        )
    return LoggedIn(user.id, user.role, issued)


def _denied() -> ApiError:
    # One answer for an unknown name, a wrong password, and a missing, wrong or replayed TOTP
    # code: it confirms neither that the account exists nor that the password was right.
    return ApiError("invalid_credentials", DENIED)


async def _user_by_name(svc: Services, username: str) -> Row[Any] | None:
    async with svc.db.read() as conn:
        return (await conn.execute(select(User.__table__).where(User.username == username))).first()


async def _audit_refusal(svc: Services, user_id: str | None, ip: str, outcome: str) -> None:
    await svc.audit.record(AuditRecord("auth.login", user_id, ip=ip, outcome=outcome))


async def _prove(
    svc: Services, user: Row[Any] | None, password: str, code: str | None
) -> _Proof | None:
    """None unless the password (and the TOTP code, when the account has TOTP) is right. argon2
    runs whether or not the user exists."""
    ok = await verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        return None
    if not user.totp_secret:
        return _Proof(None, None)
    totp = await totp_secrets.cipher(svc)
    secret = totp.open(user.id, user.totp_secret)
    reseal = None if totp.is_current(user.totp_secret) else totp.seal(user.id, secret)
    step = None if code is None else matching_step(secret, code)
    return None if step is None else _Proof(step, reseal)


async def start_session(
    svc: Services, conn: AsyncConnection, user_id: str, req: PasswordLogin
) -> IssuedSession:
    """A session on the named device, which must be the user's and not revoked, or on a new one."""
    if req.device_id is not None:
        owners = await live_device_owners(conn, [req.device_id])
        if owners.get(req.device_id) != user_id:
            raise ApiError("not_found", "device not found")
    return await svc.sessions.issue(
        conn,
        user_id,
        device_id=req.device_id,
        device_name=req.device_name,
        user_agent=req.user_agent,
    )

"""Patients who join a consultation by link, without an account.

A link works like a care-room invitation (server/auth/invites.py): a single-use, short-lived
token, optionally with a 6-digit code, only hashes stored, single use decided by one conditional
UPDATE, each code counted before it is compared and the link burned after `MAX_CODE_ATTEMPTS`
codes tried (server/auth/code_attempts.py, shared with invitations). Redeeming it creates a
*guest*: a password-less account of role `guest` (which no admin route can create, and which no
route other than the consultation's own accepts beyond the account's own session), its device, and
an ordinary opaque session token stored hashed, whose expiry is the shorter of
`RELAIS_CONSULT_GUEST_TTL_S` and the account session lifetime. Being an ordinary session, it
authenticates socket.io and REST, is closed by the session sweeper on every node once revoked, and
gives access to nothing but what the guest is a participant or member of: the consultation, and its
chat room once admitted. Ending the consultation (or denying the guest) revokes the session and
disables the guest account.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append
from server.auth import accounts, code_attempts, sessions
from server.auth.accounts import GUEST_ROLE
from server.auth.code_attempts import MAX_CODE_ATTEMPTS, CodedLinks, code_hash
from server.auth.principal import Principal
from server.auth.tokens import hash_token, new_token
from server.db.models import ConsultationLink, ConsultationParticipant, new_id, now_ms
from server.errors import ApiError
from server.realtime.disconnect import disconnect_sockets

from .store import OPEN, add_event, audit, consultation, require_host

if TYPE_CHECKING:
    from server.services import Services

JOIN_PATH = "/consult/"
_CODED = CodedLinks(
    ConsultationLink, ConsultationLink.id, ConsultationLink.used_at, ConsultationLink.failed_codes
)


def _invalid() -> ApiError:
    # Unknown, used, burned, expired, or the consultation ended: one answer, nothing leaks.
    return ApiError(
        "invite_invalid", "this consultation link is not valid (used, expired or unknown)"
    )


async def create_link(
    svc: Services, p: Principal, consultation_id: str, display_name: str, with_code: bool
) -> dict[str, Any]:
    link_id = new_id("cl")
    token = new_token("cjn")
    code = f"{secrets.randbelow(10**6):06d}" if with_code else None
    now = now_ms()
    expires = now + svc.settings.consult_link_ttl_s * 1000
    async with svc.db.write() as conn:
        c, _ = await require_host(conn, p, consultation_id)
        await conn.execute(
            insert(ConsultationLink).values(
                id=link_id,
                consultation_id=consultation_id,
                token_hash=hash_token(token),
                code_hash=code_hash(link_id, code) if code is not None else None,
                display_name=display_name,
                created_by=p.user_id,
                created_at=now,
                expires_at=expires,
                used_at=None,
                failed_codes=0,
                participant_id=None,
            )
        )
        await add_event(
            conn, consultation_id, "link", actor_user_id=p.user_id, detail={"link_id": link_id}
        )
        await append(
            conn,
            [
                audit(
                    "consult.link_create",
                    p,
                    consultation_id,
                    c.room_id,
                    target=link_id,
                    detail={"with_code": with_code},
                )
            ],
        )
    return {
        "link_id": link_id,
        "consultation_id": consultation_id,
        "token": token,
        "url": JOIN_PATH + token,
        "code": code,
        "expires_at": expires,
    }


async def redeem(
    svc: Services,
    token: str,
    code: str | None,
    device_name: str,
    ip: str,
    user_agent: str | None,
) -> dict[str, Any]:
    now = now_ms()
    async with svc.db.read() as conn:
        link = (
            await conn.execute(
                select(ConsultationLink.__table__).where(
                    ConsultationLink.token_hash == hash_token(token)
                )
            )
        ).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        await svc.audit.record(
            AuditRecord(
                "consult.redeem", target=link.id if link else None, ip=ip, outcome="invalid"
            )
        )
        raise _invalid()
    counted = await code_attempts.check_code(
        svc,
        _CODED,
        link,
        code,
        action="consult.redeem",
        ip=ip,
        noun="consultation link",
        invalid=_invalid(),
        detail={"consultation_id": link.consultation_id},
    )
    try:
        return await _redeem(svc, link, device_name, ip, user_agent, now)
    except Exception as err:
        if counted:  # the right code: only wrong codes use a link up
            await code_attempts.give_back(svc.db, _CODED, link.id)
        if isinstance(err, ApiError):
            await svc.audit.record(
                AuditRecord("consult.redeem", target=link.id, ip=ip, outcome="invalid")
            )
            raise err from None
        raise


async def _redeem(
    svc: Services, link: Any, device_name: str, ip: str, user_agent: str | None, now: int
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        # The single-use guard: only one transaction can move used_at from NULL.
        won = await conn.execute(
            update(ConsultationLink)
            .where(
                ConsultationLink.id == link.id,
                ConsultationLink.used_at.is_(None),
                ConsultationLink.expires_at > now,
                ConsultationLink.failed_codes <= MAX_CODE_ATTEMPTS,  # right code may be last
            )
            .values(used_at=now)
        )
        if won.rowcount != 1:
            raise _invalid()
        c = await consultation(conn, link.consultation_id)
        if c is None or c.status != OPEN:
            raise _invalid()
        guest_id = await accounts.create_guest(conn, link.display_name, now)
        issued = await svc.sessions.issue(
            conn, guest_id, device_name=device_name, user_agent=user_agent
        )
        expires = min(issued.expires_at, now + svc.settings.consult_guest_ttl_s * 1000)
        await sessions.cap_expiry(conn, issued.session_id, expires)
        pid = new_id("cp")
        await conn.execute(
            insert(ConsultationParticipant).values(
                id=pid,
                consultation_id=c.id,
                user_id=guest_id,
                role="patient",
                display_name=link.display_name,
                state="invited",
                present=False,
                guest=True,
                represented_by=None,
                invited_by=link.created_by,
                invited_at=now,
            )
        )
        await conn.execute(
            update(ConsultationLink)
            .where(ConsultationLink.id == link.id)
            .values(participant_id=pid)
        )
        await add_event(conn, c.id, "redeem", participant_id=pid, actor_user_id=guest_id)
        guest = Principal(guest_id, issued.device_id, GUEST_ROLE, issued.session_id, ip)
        await append(
            conn,
            [
                audit("consult.redeem", guest, c.id, c.room_id, target=link.id),
                AuditRecord(
                    "auth.login",
                    guest_id,
                    issued.device_id,
                    ip=ip,
                    target=issued.session_id,
                    detail={"via": "consultation_link"},
                ),
            ],
        )
    return {
        "token": issued.token,
        "user_id": guest_id,
        "device_id": issued.device_id,
        "session_id": issued.session_id,
        "consultation_id": c.id,
        "participant_id": pid,
        "expires_at": expires,
    }


async def revoke_guests(conn: AsyncConnection, user_ids: list[str]) -> None:
    """End guest sessions and disable the guest accounts: a guest exists for one consultation."""
    if not user_ids:
        return
    await sessions.revoke_users_sessions(conn, user_ids)
    await accounts.disable_guests(conn, user_ids)


async def burn_links(conn: AsyncConnection, consultation_id: str) -> None:
    await conn.execute(
        update(ConsultationLink)
        .where(
            ConsultationLink.consultation_id == consultation_id,
            ConsultationLink.used_at.is_(None),
        )
        .values(used_at=now_ms())
    )


async def close_sockets(svc: Services, user_ids: list[str]) -> None:
    """This node's sockets of revoked guests close now; other nodes' within the session
    sweeper's period (RELAIS_SESSION_RECHECK_S)."""
    for uid in user_ids:
        await disconnect_sockets(svc, uid)

"""Patient invitations: single-use, short-lived links (optional 6-digit code).

Redeeming one creates a password-less patient identity bound to the redeeming device, so a
patient never chooses or remembers a password. Only hashes are stored: the token has full entropy
(SHA-256 is enough); the code has only 10^6 values, so it is hashed with the invite id, counted
before it is compared and capped (server/auth/code_attempts.py, shared with consultation links).
Single use is enforced by one conditional UPDATE (`... WHERE used_at IS NULL`) whose row count
decides the winner, so two concurrent redemptions can never both succeed, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.context import client_ip, services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.db.models import Invite, User, new_id, now_ms
from server.errors import ApiError, not_found
from server.rooms import changes, store
from server.rooms.access import is_manager, require_manager

from . import code_attempts
from .accounts import create_user
from .code_attempts import MAX_CODE_ATTEMPTS, CodedLinks, code_hash
from .principal import Principal
from .tokens import hash_token, new_token

JOIN_PATH = "/join/"
_CODED = CodedLinks(Invite, Invite.id, Invite.used_at, Invite.failed_codes)

Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]


class CreateInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)
    ]
    room_id: Id | None = None
    with_code: bool = False


class RedeemInvite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    device_name: Annotated[str, StringConstraints(max_length=200)] = "device"


class InviteCreated(BaseModel):
    invite_id: str
    token: str
    url: str
    code: str | None
    room_id: str | None
    expires_at: int


class Redeemed(BaseModel):
    token: str
    user_id: str
    device_id: str
    session_id: str
    room_id: str | None
    expires_at: int


def _invalid() -> ApiError:
    # Unknown, used, revoked, burned and expired all get this one answer: nothing leaks.
    return ApiError("invite_invalid", "this invitation is not valid (used, expired or unknown)")


@route(
    "POST",
    "/api/v1/invites",
    body=CreateInvite,
    response=InviteCreated,
    roles=("clinician", "admin"),
    tags=("invites",),
    summary="Invite a patient: a single-use join link (token shown once), optional code.",
    errors=("forbidden", "not_found", "conflict"),
)
async def create_invite(request: web.Request, p: Principal, body: CreateInvite) -> web.Response:
    svc = services(request)
    invite_id = new_id("i")
    token = new_token("inv")
    code = f"{secrets.randbelow(10**6):06d}" if body.with_code else None
    now = now_ms()
    expires = now + svc.settings.invite_ttl_s * 1000
    async with svc.db.write() as conn:
        if body.room_id is not None:
            # Inviting the room's patient is adding a member: the same managers as add_member.
            await require_manager(conn, p, body.room_id)
            room = await store.room(conn, body.room_id)
            if room is not None and room.patient_user_id is not None:
                raise ApiError("conflict", "this room already has a patient")
        await conn.execute(
            insert(Invite).values(
                id=invite_id,
                token_hash=hash_token(token),
                code_hash=code_hash(invite_id, code) if code is not None else None,
                display_name=body.display_name,
                room_id=body.room_id,
                created_by=p.user_id,
                created_at=now,
                expires_at=expires,
                used_at=None,
                failed_codes=0,
                redeemed_user_id=None,
            )
        )
        await append(
            conn,
            [
                AuditRecord(
                    "invite.create",
                    p.user_id,
                    p.device_id,
                    body.room_id,
                    target=invite_id,
                    ip=p.ip,
                    detail={"with_code": body.with_code},
                )
            ],
        )
    return json_response(
        InviteCreated(
            invite_id=invite_id,
            token=token,
            url=JOIN_PATH + token,
            code=code,
            room_id=body.room_id,
            expires_at=expires,
        ).model_dump(),
        status=201,
    )


@route(
    "GET",
    "/api/v1/invites",
    roles=("clinician", "admin"),
    tags=("invites",),
    summary="The caller's pending (unused, unexpired) invitations.",
)
async def list_invites(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    async with svc.db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    Invite.id,
                    Invite.display_name,
                    Invite.room_id,
                    Invite.code_hash,
                    Invite.created_at,
                    Invite.expires_at,
                    Invite.failed_codes,
                )
                .where(
                    Invite.created_by == p.user_id,
                    Invite.used_at.is_(None),
                    Invite.expires_at > now_ms(),
                )
                .order_by(Invite.created_at)
            )
        ).all()
    return json_response(
        {
            "invites": [
                {
                    "invite_id": r.id,
                    "display_name": r.display_name,
                    "room_id": r.room_id,
                    "with_code": r.code_hash is not None,
                    "created_at": r.created_at,
                    "expires_at": r.expires_at,
                    "code_attempts_left": MAX_CODE_ATTEMPTS - r.failed_codes,
                }
                for r in rows
            ]
        }
    )


@route(
    "DELETE",
    "/api/v1/invites/{invite_id}",
    roles=("clinician", "admin"),
    tags=("invites",),
    summary="Revoke one of the caller's pending invitations.",
    errors=("not_found",),
)
async def revoke_invite(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    invite_id = request.match_info["invite_id"]
    async with svc.db.write() as conn:
        result = await conn.execute(
            update(Invite)
            .where(Invite.id == invite_id, Invite.created_by == p.user_id, Invite.used_at.is_(None))
            .values(used_at=now_ms())
        )
        if not result.rowcount:
            raise not_found("invitation")
        await append(
            conn, [AuditRecord("invite.revoke", p.user_id, p.device_id, target=invite_id, ip=p.ip)]
        )
    return json_response({"ok": True})


async def _join_room(
    conn: AsyncConnection, invite: Any, patient_id: str, now: int
) -> tuple[dict[str, Any], list[str]]:
    """Make the new patient the room's patient and a member, as if the inviter added them.

    The inviter must still be allowed to add members now (an owner of the room, or an admin,
    not disabled): an invitation must not outlive its author's rights over the room.
    """
    inviter = (
        await conn.execute(select(User.role, User.disabled).where(User.id == invite.created_by))
    ).first()
    membership = await store.membership(conn, invite.room_id, invite.created_by)
    allowed = inviter is not None and not inviter.disabled and is_manager(inviter.role, membership)
    if not allowed:
        raise _invalid()
    if not await store.claim_patient(conn, invite.room_id, patient_id):
        raise ApiError("conflict", "the invitation's room already has a patient")
    event_seq = await changes.record_add(
        conn,
        invite.room_id,
        patient_id,
        "member",
        actor=invite.created_by,
        at=now,
        joined_seq=0,
    )
    added = changes.added(invite.room_id, patient_id, "member", event_seq, invite.created_by)
    return added, await store.member_ids(conn, invite.room_id)


@route(
    "POST",
    "/api/v1/invites/redeem",
    body=RedeemInvite,
    response=Redeemed,
    auth=False,
    tags=("invites",),
    summary="Redeem an invitation: creates the patient, their device and a session.",
    errors=("invite_invalid", "invalid_credentials", "conflict", "rate_limited"),
)
async def redeem_invite(
    request: web.Request, _p: Principal | None, body: RedeemInvite
) -> web.Response:
    svc = services(request)
    ip = client_ip(request, svc.settings)
    now = now_ms()
    async with svc.db.read() as conn:
        invite = (
            await conn.execute(
                select(Invite.__table__).where(Invite.token_hash == hash_token(body.token))
            )
        ).first()
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        await svc.audit.record(
            AuditRecord(
                "invite.redeem", target=invite.id if invite else None, ip=ip, outcome="invalid"
            )
        )
        raise _invalid()
    counted = await code_attempts.check_code(
        svc,
        _CODED,
        invite,
        body.code,
        action="invite.redeem",
        ip=ip,
        noun="invitation",
        invalid=_invalid(),
    )
    try:
        return await _redeem(request, invite, body, ip, now)
    except Exception as err:
        if counted:  # the right code: only wrong codes use an invitation up
            await code_attempts.give_back(svc.db, _CODED, invite.id)
        if isinstance(err, ApiError):
            # The transaction rolled back; the refusal is recorded in its own.
            outcome = "invalid" if err.code == "invite_invalid" else err.code
            await svc.audit.record(
                AuditRecord("invite.redeem", target=invite.id, ip=ip, outcome=outcome)
            )
        raise


async def _redeem(
    request: web.Request, invite: Any, body: RedeemInvite, ip: str, now: int
) -> web.Response:
    svc = services(request)
    joined: tuple[dict[str, Any], list[str]] | None = None
    async with svc.db.write() as conn:
        # The single-use guard: only one transaction can move used_at from NULL.
        won = await conn.execute(
            update(Invite)
            .where(
                Invite.id == invite.id,
                Invite.used_at.is_(None),
                Invite.expires_at > now,
                Invite.failed_codes <= MAX_CODE_ATTEMPTS,  # the right code may be the last try
            )
            .values(used_at=now)
        )
        if won.rowcount != 1:
            raise _invalid()
        patient_id = await create_user(
            conn,
            username=f"patient-{secrets.token_hex(8)}",
            role="patient",
            display_name=invite.display_name,
        )
        await conn.execute(
            update(Invite).where(Invite.id == invite.id).values(redeemed_user_id=patient_id)
        )
        issued = await svc.sessions.issue(
            conn,
            patient_id,
            device_name=body.device_name,
            user_agent=request.headers.get("User-Agent"),
        )
        audit = [
            AuditRecord(
                "invite.redeem",
                patient_id,
                issued.device_id,
                invite.room_id,
                target=invite.id,
                ip=ip,
            ),
            AuditRecord(
                "auth.login",
                patient_id,
                issued.device_id,
                ip=ip,
                target=issued.session_id,
                detail={"via": "invite"},
            ),
        ]
        if invite.room_id is not None:
            joined = await _join_room(conn, invite, patient_id, now)
            audit.append(
                AuditRecord(
                    "room.member_add",
                    invite.created_by,
                    None,
                    invite.room_id,
                    target=patient_id,
                    ip=ip,
                    detail={"room_role": "member", "via": "invite"},
                )
            )
        await append(conn, audit)
    if joined is not None:
        payload, members = joined
        await changes.notify(svc, members, payload)
    return json_response(
        Redeemed(
            token=issued.token,
            user_id=patient_id,
            device_id=issued.device_id,
            session_id=issued.session_id,
            room_id=invite.room_id,
            expires_at=issued.expires_at,
        ).model_dump()
    )

"""Care-room rules: who may create rooms, change membership and read room state.

The membership table is the server's truth for access control. Each change also stores the
acting client's opaque signed event (the E2EE membership chain) so clients can verify who keys are
shared with without trusting this table. Rules:
- rooms are created by clinicians and admins; the creator is an owner; the patient, if named, is
  a member;
- owners (clinicians/admins) and admins add and remove members; patients never add members;
- adding anyone outside the care team (roles other than clinician/admin) needs a recorded, unused
  consent of the patient for that person in that room;
- anyone may leave; the last owner may not;
- a non-member gets `not_found` for everything (admins may manage membership, never read messages).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from crypto.errors import CryptoError
from crypto.keys import public_key
from crypto.membership import check_append, parse_event, replay_unverified
from server.audit.log import AuditRecord, append
from server.auth.principal import Principal
from server.db.models import (
    Consent,
    Membership,
    MembershipEvent,
    Message,
    ReadReceipt,
    Room,
    User,
    new_id,
    now_ms,
)
from server.errors import ApiError, not_found
from server.realtime.connections import user_room

from .member_cache import invalidate_room

if TYPE_CHECKING:
    from server.services import Services

CARE_TEAM_ROLES = ("clinician", "admin")


async def _membership(conn: AsyncConnection, room_id: str, user_id: str) -> Any:
    return (
        await conn.execute(
            select(Membership.__table__).where(
                Membership.room_id == room_id, Membership.user_id == user_id
            )
        )
    ).first()


async def _room(conn: AsyncConnection, room_id: str) -> Any:
    return (await conn.execute(select(Room.__table__).where(Room.id == room_id))).first()


async def _require_member(conn: AsyncConnection, p: Principal, room_id: str) -> Any:
    m = await _membership(conn, room_id, p.user_id)
    if m is None or await _room(conn, room_id) is None:
        raise not_found()
    return m


async def _require_manager(conn: AsyncConnection, p: Principal, room_id: str) -> None:
    """Owners and admins manage membership; everyone else gets not_found or forbidden."""
    if await _room(conn, room_id) is None:
        raise not_found()
    if p.is_admin:
        return
    m = await _membership(conn, room_id, p.user_id)
    if m is None:
        raise not_found()
    if m.room_role != "owner" or p.role not in CARE_TEAM_ROLES:
        raise ApiError("forbidden", "only room owners and admins change membership")


async def _add_event(
    conn: AsyncConnection,
    room_id: str,
    action: str,
    actor: str,
    target: str,
    room_role: str | None,
    consent_id: str | None,
    signed_event: str | None,
) -> int:
    bump: dict[str, Any] = {"last_event_seq": Room.last_event_seq + 1}
    if signed_event is not None:
        bump["chain_length"] = Room.chain_length + 1
    seq = (
        await conn.execute(
            update(Room).where(Room.id == room_id).values(**bump).returning(Room.last_event_seq)
        )
    ).scalar_one()
    await conn.execute(
        insert(MembershipEvent).values(
            room_id=room_id,
            event_seq=seq,
            action=action,
            actor_user_id=actor,
            target_user_id=target,
            room_role=room_role,
            consent_id=consent_id,
            signed_event=signed_event,
            created_at=now_ms(),
        )
    )
    return int(seq)


async def _notify(svc: Services, user_ids: list[str], payload: dict[str, Any]) -> None:
    """Tell old and new members; drop this node's cached member list (typing relay) at once."""
    invalidate_room(svc, payload["room_id"])
    await svc.sio.emit("room.member", payload, to=[user_room(u) for u in user_ids])


async def _member_ids(conn: AsyncConnection, room_id: str) -> list[str]:
    rows = await conn.execute(select(Membership.user_id).where(Membership.room_id == room_id))
    return [r.user_id for r in rows]


async def _chain_wires(conn: AsyncConnection, room_id: str) -> list[str]:
    rows = await conn.execute(
        select(MembershipEvent.signed_event)
        .where(MembershipEvent.room_id == room_id, MembershipEvent.signed_event.is_not(None))
        .order_by(MembershipEvent.event_seq)
    )
    return [r.signed_event for r in rows]


async def _refuse_unsigned_removal(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    """Members' clients share keys with everyone in the signed chain: removing a chain member
    without a signed `remove` would cut their access here while every client kept giving them
    the keys to what follows. The removal must come from an E2EE client (an owner, or the member
    leaving)."""
    await conn.execute(select(Room.id).where(Room.id == room_id).with_for_update())
    chain = await _chain_wires(conn, room_id)
    try:
        in_chain = (
            bool(chain)
            and user_id in (await asyncio.to_thread(replay_unverified, room_id, chain)).members
        )
    except CryptoError:
        in_chain = False  # a chain no client can verify any more gives nobody keys
    if in_chain:
        raise ApiError(
            "conflict",
            "this member is in the room's signed membership chain: the removal must be signed "
            "by an owner's (or the member's own) E2EE client",
        )


async def _check_signed_event(
    conn: AsyncConnection,
    room_id: str,
    signed_event: str | None,
    *,
    action: str,
    actor: str,
    target: str,
    room_role: str | None,
    consent_id: str | None,
    known_last: tuple[str | None] | None = None,
) -> None:
    """Keep the E2EE membership chain linear and truthful to what the server does.

    The server cannot sign, but it can refuse an event that does not describe this very change or
    does not extend the last stored signed event: two owners acting at once both sign on the same
    head, and the second must re-sign (`conflict`) instead of forking the chain that clients verify.
    """
    if signed_event is None:
        return
    if known_last is None:
        # Lock the room row before reading the chain: two owners signing on the same head at
        # once must not both pass (PostgreSQL; SQLite writes are already serialised).
        await conn.execute(select(Room.id).where(Room.id == room_id).with_for_update())
    if known_last is not None:
        chain = [w for w in known_last if w is not None]
    else:
        chain = await _chain_wires(conn, room_id)
    last = chain[-1] if chain else None
    ik_text = (
        await conn.execute(select(User.identity_key).where(User.id == actor))
    ).scalar_one_or_none()
    try:
        new = parse_event(signed_event)
        expected_n = 1 if last is None else parse_event(last).n + 1
        if new.n != expected_n:
            raise ApiError(
                "conflict",
                "signed_event does not extend the room's membership chain; re-sign on the new head",
                details={"expected_n": expected_n},
            )
        # Replaying the chain and verifying a signature is CPU work that grows with the chain:
        # off the event loop.
        await asyncio.to_thread(
            check_append,
            room_id,
            last,
            signed_event,
            action=action,
            actor=actor,
            target=target,
            role=room_role,
            consent=consent_id,
            actor_ik=public_key(ik_text) if ik_text else None,
            chain=chain,
        )
    except CryptoError as err:
        raise ApiError(
            "validation_failed",
            f"signed_event is not a valid membership event for this change ({err.code})",
        ) from err


async def insert_room(
    conn: AsyncConnection,
    room_id: str,
    owner_user_id: str,
    now: int,
    patient_user_id: str | None = None,
    encrypted_meta: str | None = None,
    signed_event: str | None = None,
) -> None:
    """The room row, its owner's membership and the `create` event, in the caller's
    transaction (care rooms here, consultation chat rooms in server/consultations/chat.py)."""
    await conn.execute(
        insert(Room).values(
            id=room_id,
            patient_user_id=patient_user_id,
            created_by=owner_user_id,
            encrypted_meta=encrypted_meta,
            last_seq=0,
            last_event_seq=0,
            chain_length=0,
            created_at=now,
        )
    )
    await conn.execute(
        insert(Membership).values(
            room_id=room_id,
            user_id=owner_user_id,
            room_role="owner",
            added_by=owner_user_id,
            added_at=now,
            joined_seq=0,
        )
    )
    await _add_event(
        conn, room_id, "create", owner_user_id, owner_user_id, "owner", None, signed_event
    )


async def create_room(
    svc: Services,
    p: Principal,
    patient_user_id: str | None,
    encrypted_meta: str | None,
    signed_event: str | None,
    *,
    room_id: str | None = None,
    patient_signed_event: str | None = None,
) -> dict[str, Any]:
    """`room_id` may be chosen by the client (a random id it can sign into the chain's first
    event before the room exists); a taken one is a `conflict`."""
    room_id = room_id or new_id("r")
    now = now_ms()
    if patient_signed_event is not None and patient_user_id is None:
        raise ApiError("validation_failed", "patient_signed_event needs patient_user_id")
    async with svc.db.write() as conn:
        if await _room(conn, room_id) is not None:
            raise ApiError("conflict", "room id already taken")
        await _check_signed_event(
            conn,
            room_id,
            signed_event,
            action="create",
            actor=p.user_id,
            target=p.user_id,
            room_role="owner",
            consent_id=None,
            known_last=(None,),
        )
        if patient_signed_event is not None:
            if signed_event is None:
                raise ApiError("validation_failed", "patient_signed_event needs signed_event")
            await _check_signed_event(
                conn,
                room_id,
                patient_signed_event,
                action="add",
                actor=p.user_id,
                target=patient_user_id or "",
                room_role="member",
                consent_id=None,
                known_last=(signed_event,),
            )
        if patient_user_id is not None:
            patient = (
                await conn.execute(
                    select(User.role, User.disabled).where(User.id == patient_user_id)
                )
            ).first()
            if patient is None or patient.role != "patient" or patient.disabled:
                raise ApiError("validation_failed", "patient_user_id is not an active patient")
        await insert_room(
            conn, room_id, p.user_id, now, patient_user_id, encrypted_meta, signed_event
        )
        audit = [AuditRecord("room.create", p.user_id, p.device_id, room_id, ip=p.ip)]
        if patient_user_id is not None and patient_user_id != p.user_id:
            await conn.execute(
                insert(Membership).values(
                    room_id=room_id,
                    user_id=patient_user_id,
                    room_role="member",
                    added_by=p.user_id,
                    added_at=now,
                    joined_seq=0,
                )
            )
            await _add_event(
                conn,
                room_id,
                "add",
                p.user_id,
                patient_user_id,
                "member",
                None,
                patient_signed_event,
            )
            audit.append(
                AuditRecord(
                    "room.member_add",
                    p.user_id,
                    p.device_id,
                    room_id,
                    target=patient_user_id,
                    ip=p.ip,
                )
            )
        await append(conn, audit)
    return {"room_id": room_id, "patient_user_id": patient_user_id, "created_at": now}


async def list_rooms(svc: Services, p: Principal) -> list[dict[str, Any]]:
    """The caller's rooms with what a room list shows without decrypting anything: when the last
    message arrived and how far the caller has read (one query, so a list of fifty rooms is not
    fifty round trips on a rural link)."""
    last = Message.__table__.alias("last_message")
    async with svc.db.read() as conn:
        rows = (
            await conn.execute(
                select(
                    Room.id,
                    Room.patient_user_id,
                    Room.encrypted_meta,
                    Room.last_seq,
                    Room.created_at,
                    Membership.room_role,
                    last.c.created_at.label("last_message_at"),
                    ReadReceipt.seq.label("read_seq"),
                )
                .join(Membership, Membership.room_id == Room.id)
                .outerjoin(last, (last.c.room_id == Room.id) & (last.c.seq == Room.last_seq))
                .outerjoin(
                    ReadReceipt,
                    (ReadReceipt.room_id == Room.id) & (ReadReceipt.user_id == p.user_id),
                )
                .where(Membership.user_id == p.user_id)
                .order_by(Room.created_at)
            )
        ).all()
    return [
        {
            "room_id": r.id,
            "patient_user_id": r.patient_user_id,
            "encrypted_meta": r.encrypted_meta,
            "last_seq": r.last_seq,
            "room_role": r.room_role,
            "last_activity_at": r.last_message_at or r.created_at,
            "read_seq": r.read_seq or 0,
        }
        for r in rows
    ]


async def get_room(svc: Services, p: Principal, room_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        if not p.is_admin:
            await _require_member(conn, p, room_id)
        room = await _room(conn, room_id)
        if room is None:
            raise not_found()
        members = (
            await conn.execute(
                select(
                    Membership.user_id,
                    Membership.room_role,
                    Membership.added_at,
                    User.role,
                    User.display_name,
                )
                .join(User, User.id == Membership.user_id)
                .where(Membership.room_id == room_id)
                .order_by(Membership.added_at)
            )
        ).all()
    await svc.audit.record(AuditRecord("room.state", p.user_id, p.device_id, room_id, ip=p.ip))
    return {
        "room_id": room.id,
        "patient_user_id": room.patient_user_id,
        "created_by": room.created_by,
        "created_at": room.created_at,
        "encrypted_meta": room.encrypted_meta,
        "last_seq": room.last_seq,
        "last_event_seq": room.last_event_seq,
        "members": [
            {
                "user_id": m.user_id,
                "room_role": m.room_role,
                "role": m.role,
                "display_name": m.display_name,
                "added_at": m.added_at,
            }
            for m in members
        ],
    }


async def update_meta(
    svc: Services, p: Principal, room_id: str, encrypted_meta: str
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        m = await _require_member(conn, p, room_id)
        if m.room_role != "owner":
            raise ApiError("forbidden", "only room owners change the room's metadata")
        await conn.execute(
            update(Room).where(Room.id == room_id).values(encrypted_meta=encrypted_meta)
        )
        await append(
            conn,
            [
                AuditRecord(
                    "room.meta_update",
                    p.user_id,
                    p.device_id,
                    room_id,
                    ip=p.ip,
                    detail={"bytes": len(encrypted_meta)},
                )
            ],
        )
        members = await _member_ids(conn, room_id)
    await svc.sio.emit(
        "room.updated",
        {"room_id": room_id, "encrypted_meta": encrypted_meta},
        to=[user_room(u) for u in members],
    )
    return {"room_id": room_id}


async def record_consent(
    svc: Services, p: Principal, room_id: str, subject_user_id: str, method: str
) -> dict[str, Any]:
    """The room's patient records consent in the app; an owner records verbal/written consent."""
    async with svc.db.write() as conn:
        m = await _require_member(conn, p, room_id)
        room = await _room(conn, room_id)
        if room.patient_user_id is None:
            raise ApiError("conflict", "this room has no patient to consent")
        if p.user_id == room.patient_user_id:
            if method != "in_app":
                raise ApiError("validation_failed", "a patient records consent with method in_app")
        elif m.room_role == "owner" and p.role in CARE_TEAM_ROLES:
            if method not in ("verbal", "written"):
                raise ApiError(
                    "validation_failed",
                    "a clinician records the patient's verbal or written consent",
                )
        else:
            raise ApiError("forbidden", "only the patient or a room owner records consent")
        if (await conn.execute(select(User.id).where(User.id == subject_user_id))).first() is None:
            raise ApiError("not_found", "user not found")
        consent_id = new_id("c")
        await conn.execute(
            insert(Consent).values(
                id=consent_id,
                room_id=room_id,
                subject_user_id=subject_user_id,
                recorded_by=p.user_id,
                method=method,
                created_at=now_ms(),
            )
        )
        await append(
            conn,
            [
                AuditRecord(
                    "room.consent",
                    p.user_id,
                    p.device_id,
                    room_id,
                    target=subject_user_id,
                    ip=p.ip,
                    on_behalf_of=room.patient_user_id
                    if p.user_id != room.patient_user_id
                    else None,
                    detail={"consent_id": consent_id, "method": method},
                )
            ],
        )
    return {"consent_id": consent_id}


async def _confirm_member(
    conn: AsyncConnection,
    p: Principal,
    room_id: str,
    user_id: str,
    existing: Any,
    signed_event: str,
) -> dict[str, Any]:
    """Sign into the chain someone who joined without a signed event (an invitation link), so
    that clients share keys with them; the server membership itself does not change."""
    await _check_signed_event(
        conn,
        room_id,
        signed_event,
        action="add",
        actor=p.user_id,
        target=user_id,
        room_role=existing.room_role,
        consent_id=None,
    )
    event_seq = await _add_event(
        conn, room_id, "add", p.user_id, user_id, existing.room_role, None, signed_event
    )
    await append(
        conn,
        [
            AuditRecord(
                "room.member_confirm", p.user_id, p.device_id, room_id, target=user_id, ip=p.ip
            )
        ],
    )
    return {
        "room_id": room_id,
        "action": "add",
        "user_id": user_id,
        "room_role": existing.room_role,
        "event_seq": event_seq,
        "actor_user_id": p.user_id,
    }


async def sign_chain_create(
    svc: Services, p: Principal, room_id: str, signed_event: str
) -> dict[str, Any]:
    """Start the signed chain of a room the server made for its owner (a consultation's chat
    room, server/consultations/chat.py): until its owner's client signs the `create`, nobody can
    be confirmed into the chain and no client shares keys there."""
    async with svc.db.write() as conn:
        await _require_manager(conn, p, room_id)
        me = await _membership(conn, room_id, p.user_id)
        if me is None or me.room_role != "owner":
            raise ApiError("forbidden", "only the room's owner signs its first chain event")
        # Locks the room row (PostgreSQL) and refuses a second create with `conflict`
        # (expected_n 2) when another of the owner's devices got there first.
        await _check_signed_event(
            conn,
            room_id,
            signed_event,
            action="create",
            actor=p.user_id,
            target=p.user_id,
            room_role="owner",
            consent_id=None,
        )
        event_seq = await _add_event(
            conn, room_id, "create", p.user_id, p.user_id, "owner", None, signed_event
        )
        await append(
            conn,
            [AuditRecord("room.chain_create", p.user_id, p.device_id, room_id, ip=p.ip)],
        )
        members = await _member_ids(conn, room_id)
    payload = {
        "room_id": room_id,
        "action": "create",
        "user_id": p.user_id,
        "room_role": "owner",
        "event_seq": event_seq,
        "actor_user_id": p.user_id,
    }
    await _notify(svc, members, payload)
    return payload


async def add_member(
    svc: Services,
    p: Principal,
    room_id: str,
    user_id: str,
    room_role: str,
    consent_id: str | None,
    signed_event: str | None,
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        await _require_manager(conn, p, room_id)
        target = (
            await conn.execute(select(User.role, User.disabled).where(User.id == user_id))
        ).first()
        if target is None or target.disabled:
            raise ApiError("not_found", "user not found")
        existing = await _membership(conn, room_id, user_id)
        if existing is not None:
            if signed_event is None:
                raise ApiError("conflict", "already a member")
            confirmed = await _confirm_member(conn, p, room_id, user_id, existing, signed_event)
            members = await _member_ids(conn, room_id)
    if existing is not None:
        await _notify(svc, members, confirmed)
        return confirmed
    async with svc.db.write() as conn:
        await _require_manager(conn, p, room_id)
        if await _membership(conn, room_id, user_id) is not None:
            raise ApiError("conflict", "already a member")
        if room_role == "owner" and target.role not in CARE_TEAM_ROLES:
            raise ApiError("forbidden", "only clinicians and admins can own a room")
        room = await _room(conn, room_id)
        needs_consent = target.role not in CARE_TEAM_ROLES and user_id != room.patient_user_id
        if needs_consent:
            if consent_id is None:
                raise ApiError(
                    "consent_required",
                    "adding someone outside the care team needs the patient's consent",
                )
            consent = (
                await conn.execute(
                    select(Consent.__table__).where(
                        Consent.id == consent_id,
                        Consent.room_id == room_id,
                        Consent.subject_user_id == user_id,
                        Consent.used_at.is_(None),
                    )
                )
            ).first()
            if consent is None:
                raise ApiError("consent_required", "no matching unused consent for this person")
            await conn.execute(
                update(Consent).where(Consent.id == consent_id).values(used_at=now_ms())
            )
        await _check_signed_event(
            conn,
            room_id,
            signed_event,
            action="add",
            actor=p.user_id,
            target=user_id,
            room_role=room_role,
            consent_id=consent_id if needs_consent else None,
        )
        now = now_ms()
        await conn.execute(
            insert(Membership).values(
                room_id=room_id,
                user_id=user_id,
                room_role=room_role,
                added_by=p.user_id,
                added_at=now,
                joined_seq=room.last_seq,
            )
        )
        event_seq = await _add_event(
            conn,
            room_id,
            "add",
            p.user_id,
            user_id,
            room_role,
            consent_id if needs_consent else None,
            signed_event,
        )
        await append(
            conn,
            [
                AuditRecord(
                    "room.member_add",
                    p.user_id,
                    p.device_id,
                    room_id,
                    target=user_id,
                    ip=p.ip,
                    detail={"room_role": room_role, "consent_id": consent_id},
                )
            ],
        )
        members = await _member_ids(conn, room_id)
    payload = {
        "room_id": room_id,
        "action": "add",
        "user_id": user_id,
        "room_role": room_role,
        "event_seq": event_seq,
        "actor_user_id": p.user_id,
    }
    await _notify(svc, members, payload)
    return payload


async def remove_member(
    svc: Services, p: Principal, room_id: str, user_id: str, signed_event: str | None
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        if user_id != p.user_id:
            await _require_manager(conn, p, room_id)
        else:
            await _require_member(conn, p, room_id)
        m = await _membership(conn, room_id, user_id)
        if m is None:
            raise ApiError("not_found", "not a member")
        if signed_event is None:
            await _refuse_unsigned_removal(conn, room_id, user_id)
        if m.room_role == "owner":
            owners = (
                await conn.execute(
                    select(func.count())
                    .select_from(Membership)
                    .where(Membership.room_id == room_id, Membership.room_role == "owner")
                )
            ).scalar_one()
            if owners <= 1:
                raise ApiError("conflict", "the last owner cannot leave; add another owner first")
        await _check_signed_event(
            conn,
            room_id,
            signed_event,
            action="remove",
            actor=p.user_id,
            target=user_id,
            room_role=None,
            consent_id=None,
        )
        members = await _member_ids(conn, room_id)
        await conn.execute(
            delete(Membership).where(Membership.room_id == room_id, Membership.user_id == user_id)
        )
        event_seq = await _add_event(
            conn, room_id, "remove", p.user_id, user_id, None, None, signed_event
        )
        await append(
            conn,
            [
                AuditRecord(
                    "room.member_remove", p.user_id, p.device_id, room_id, target=user_id, ip=p.ip
                )
            ],
        )
    payload = {
        "room_id": room_id,
        "action": "remove",
        "user_id": user_id,
        "event_seq": event_seq,
        "actor_user_id": p.user_id,
    }
    await _notify(svc, members, payload)
    return payload


async def membership_events(svc: Services, p: Principal, room_id: str) -> list[dict[str, Any]]:
    async with svc.db.read() as conn:
        if not p.is_admin:
            await _require_member(conn, p, room_id)
        elif await _room(conn, room_id) is None:
            raise not_found()
        rows = (
            await conn.execute(
                select(MembershipEvent.__table__)
                .where(MembershipEvent.room_id == room_id)
                .order_by(MembershipEvent.event_seq)
            )
        ).all()
    await svc.audit.record(
        AuditRecord("room.events_read", p.user_id, p.device_id, room_id, ip=p.ip)
    )
    return [
        {
            "event_seq": r.event_seq,
            "action": r.action,
            "actor_user_id": r.actor_user_id,
            "target_user_id": r.target_user_id,
            "room_role": r.room_role,
            "consent_id": r.consent_id,
            "signed_event": r.signed_event,
            "created_at": r.created_at,
        }
        for r in rows
    ]

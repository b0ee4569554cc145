"""Care-room rules: who may create rooms, change membership and read room state.

The membership table is the server's truth for access control. Each change also stores the
acting client's opaque signed event (the E2EE membership chain) so clients can verify who keys are
shared with without trusting this table. Rules:
- rooms are created by clinicians and admins; the creator is an owner; the patient, if named, is
  a member;
- owners (clinicians/admins) and admins add and remove members; patients never add members
  (server/rooms/access.py);
- adding anyone outside the care team (roles other than clinician/admin) needs a recorded, unused
  consent of the patient for that person in that room;
- anyone may leave; the last owner may not;
- a non-member gets `not_found` for everything (admins may manage membership, never read messages).

The tables are read and written through server/rooms/store.py; a membership change's rows and
announcement through server/rooms/changes.py, which other capabilities use too. Accounts (role,
disabled, name) come from server/auth/accounts.py, and the room list's message figures from
server/messaging/room_summary.py: their tables are not the rooms capability's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append
from server.auth import accounts
from server.auth.principal import Principal
from server.db.models import new_id, now_ms
from server.errors import ApiError, not_found
from server.messaging.room_summary import room_activity
from server.realtime.connections import user_room

from . import changes, store
from .access import CARE_TEAM_ROLES, require_manager, require_member
from .chain import check_signed_event, refuse_unsigned_removal
from .store import MemberRecord, RoomRecord

if TYPE_CHECKING:
    from server.services import Services


async def _existing_room(conn: AsyncConnection, room_id: str) -> RoomRecord:
    """The room a check in this transaction has just found (a room is never deleted)."""
    room = await store.room(conn, room_id)
    if room is None:
        raise not_found()
    return room


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
        if await store.room(conn, room_id) is not None:
            raise ApiError("conflict", "room id already taken")
        await check_signed_event(
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
            await check_signed_event(
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
            patient = await accounts.account(conn, patient_user_id)
            if patient is None or patient.role != "patient" or patient.disabled:
                raise ApiError("validation_failed", "patient_user_id is not an active patient")
        await changes.new_room(
            conn, room_id, p.user_id, now, patient_user_id, encrypted_meta, signed_event
        )
        audit = [AuditRecord("room.create", p.user_id, p.device_id, room_id, ip=p.ip)]
        if patient_user_id is not None and patient_user_id != p.user_id:
            await changes.record_add(
                conn,
                room_id,
                patient_user_id,
                "member",
                actor=p.user_id,
                at=now,
                joined_seq=0,
                signed_event=patient_signed_event,
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
    message arrived and how far the caller has read (two queries however many rooms: a list of
    fifty rooms is not fifty round trips on a rural link)."""
    async with svc.db.read() as conn:
        mine = await store.rooms_of(conn, p.user_id)
        activity = await room_activity(conn, p.user_id, {m.room.id: m.room.last_seq for m in mine})
    return [
        {
            "room_id": m.room.id,
            "patient_user_id": m.room.patient_user_id,
            "encrypted_meta": m.room.encrypted_meta,
            "last_seq": m.room.last_seq,
            "room_role": m.room_role,
            "last_activity_at": activity[m.room.id].last_message_at or m.room.created_at,
            # The two reads are two snapshots: a message read in between must not show as read
            # past the room's last message (one joined query could not).
            "read_seq": min(activity[m.room.id].read_seq, m.room.last_seq),
        }
        for m in mine
    ]


async def get_room(svc: Services, p: Principal, room_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        if not p.is_admin:
            await require_member(conn, p, room_id)
        room = await store.room(conn, room_id)
        if room is None:
            raise not_found()
        members = await store.members(conn, room_id)
        people = await accounts.accounts(conn, [m.user_id for m in members])
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
                "role": people[m.user_id].role,
                "display_name": people[m.user_id].display_name,
                "added_at": m.added_at,
            }
            for m in members
            if m.user_id in people
        ],
    }


async def update_meta(
    svc: Services, p: Principal, room_id: str, encrypted_meta: str
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        m = await require_member(conn, p, room_id)
        if m.room_role != "owner":
            raise ApiError("forbidden", "only room owners change the room's metadata")
        await store.set_meta(conn, room_id, encrypted_meta)
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
        members = await store.member_ids(conn, room_id)
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
        m = await require_member(conn, p, room_id)
        room = await _existing_room(conn, room_id)
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
        if await accounts.account(conn, subject_user_id) is None:
            raise ApiError("not_found", "user not found")
        consent_id = new_id("c")
        await store.insert_consent(
            conn, consent_id, room_id, subject_user_id, p.user_id, method, now_ms()
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
    existing: MemberRecord,
    signed_event: str | None,
) -> dict[str, Any]:
    """Sign into the chain someone who joined without a signed event (an invitation link), so
    that clients share keys with them; the server membership itself does not change."""
    if signed_event is None:
        raise ApiError("conflict", "already a member")
    await check_signed_event(
        conn,
        room_id,
        signed_event,
        action="add",
        actor=p.user_id,
        target=user_id,
        room_role=existing.room_role,
        consent_id=None,
    )
    event_seq = await store.add_event(
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
    return changes.added(room_id, user_id, existing.room_role, event_seq, p.user_id)


async def sign_chain_create(
    svc: Services, p: Principal, room_id: str, signed_event: str
) -> dict[str, Any]:
    """Start the signed chain of a room the server made for its owner (a consultation's chat
    room, server/consultations/chat.py): until its owner's client signs the `create`, nobody can
    be confirmed into the chain and no client shares keys there."""
    async with svc.db.write() as conn:
        await require_manager(conn, p, room_id)
        me = await store.membership(conn, room_id, p.user_id)
        if me is None or me.room_role != "owner":
            raise ApiError("forbidden", "only the room's owner signs its first chain event")
        # Locks the room row (PostgreSQL) and refuses a second create with `conflict`
        # (expected_n 2) when another of the owner's devices got there first.
        await check_signed_event(
            conn,
            room_id,
            signed_event,
            action="create",
            actor=p.user_id,
            target=p.user_id,
            room_role="owner",
            consent_id=None,
        )
        event_seq = await store.add_event(
            conn, room_id, "create", p.user_id, p.user_id, "owner", None, signed_event
        )
        await append(
            conn,
            [AuditRecord("room.chain_create", p.user_id, p.device_id, room_id, ip=p.ip)],
        )
        members = await store.member_ids(conn, room_id)
    payload = {
        "room_id": room_id,
        "action": "create",
        "user_id": p.user_id,
        "room_role": "owner",
        "event_seq": event_seq,
        "actor_user_id": p.user_id,
    }
    await changes.notify(svc, members, payload)
    return payload


async def _authorize_add(
    conn: AsyncConnection, p: Principal, room_id: str, user_id: str
) -> tuple[str, MemberRecord | None]:
    """Only a manager adds, and only an active account: the target's role (which decides
    ownership and consent) and their membership if they already are a member."""
    await require_manager(conn, p, room_id)
    target = await accounts.account(conn, user_id)
    if target is None or target.disabled:
        raise ApiError("not_found", "user not found")
    return target.role, await store.membership(conn, room_id, user_id)


async def _spend_consent(
    conn: AsyncConnection, room: RoomRecord, user_id: str, target_role: str, consent_id: str | None
) -> str | None:
    """The patient's consent this addition uses up; None for whoever needs none (the care team,
    the room's own patient). A consent lets exactly one person in once."""
    if target_role in CARE_TEAM_ROLES or user_id == room.patient_user_id:
        return None
    if consent_id is None:
        raise ApiError(
            "consent_required",
            "adding someone outside the care team needs the patient's consent",
        )
    if not await store.use_consent(conn, consent_id, room.id, user_id):
        raise ApiError("consent_required", "no matching unused consent for this person")
    return consent_id


async def _admit(
    conn: AsyncConnection,
    p: Principal,
    room_id: str,
    user_id: str,
    target_role: str,
    room_role: str,
    consent_id: str | None,
    signed_event: str | None,
) -> dict[str, Any]:
    """Write a new membership, re-checking in its own transaction everything that may have
    changed since the caller looked (the manager's rights, someone else adding them first)."""
    await require_manager(conn, p, room_id)
    if await store.membership(conn, room_id, user_id) is not None:
        raise ApiError("conflict", "already a member")
    if room_role == "owner" and target_role not in CARE_TEAM_ROLES:
        raise ApiError("forbidden", "only clinicians and admins can own a room")
    room = await _existing_room(conn, room_id)
    used_consent = await _spend_consent(conn, room, user_id, target_role, consent_id)
    await check_signed_event(
        conn,
        room_id,
        signed_event,
        action="add",
        actor=p.user_id,
        target=user_id,
        room_role=room_role,
        consent_id=used_consent,
    )
    event_seq = await changes.record_add(
        conn,
        room_id,
        user_id,
        room_role,
        actor=p.user_id,
        at=now_ms(),
        joined_seq=room.last_seq,
        consent_id=used_consent,
        signed_event=signed_event,
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
    return changes.added(room_id, user_id, room_role, event_seq, p.user_id)


async def add_member(
    svc: Services,
    p: Principal,
    room_id: str,
    user_id: str,
    room_role: str,
    consent_id: str | None,
    signed_event: str | None,
) -> dict[str, Any]:
    """Add someone, or sign into the chain someone who already is a member; then tell the
    members. A confirmation commits in the first transaction; an addition in a second one."""
    async with svc.db.write() as conn:
        target_role, existing = await _authorize_add(conn, p, room_id, user_id)
        if existing is not None:
            change = await _confirm_member(conn, p, room_id, user_id, existing, signed_event)
            members = await store.member_ids(conn, room_id)
    if existing is None:
        async with svc.db.write() as conn:
            change = await _admit(
                conn, p, room_id, user_id, target_role, room_role, consent_id, signed_event
            )
            members = await store.member_ids(conn, room_id)
    await changes.notify(svc, members, change)
    return change


async def remove_member(
    svc: Services, p: Principal, room_id: str, user_id: str, signed_event: str | None
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        if user_id != p.user_id:
            await require_manager(conn, p, room_id)
        else:
            await require_member(conn, p, room_id)
        m = await store.membership(conn, room_id, user_id)
        if m is None:
            raise ApiError("not_found", "not a member")
        if signed_event is None:
            await refuse_unsigned_removal(conn, room_id, user_id)
        if m.room_role == "owner" and await store.count_owners(conn, room_id) <= 1:
            raise ApiError("conflict", "the last owner cannot leave; add another owner first")
        await check_signed_event(
            conn,
            room_id,
            signed_event,
            action="remove",
            actor=p.user_id,
            target=user_id,
            room_role=None,
            consent_id=None,
        )
        members = await store.member_ids(conn, room_id)
        event_seq = await changes.record_remove(
            conn, room_id, user_id, actor=p.user_id, signed_event=signed_event
        )
        await append(
            conn,
            [
                AuditRecord(
                    "room.member_remove", p.user_id, p.device_id, room_id, target=user_id, ip=p.ip
                )
            ],
        )
    payload = changes.removed(room_id, user_id, event_seq, p.user_id)
    await changes.notify(svc, members, payload)
    return payload


async def membership_events(svc: Services, p: Principal, room_id: str) -> list[dict[str, Any]]:
    async with svc.db.read() as conn:
        if not p.is_admin:
            await require_member(conn, p, room_id)
        elif await store.room(conn, room_id) is None:
            raise not_found()
        rows = await store.events(conn, room_id)
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

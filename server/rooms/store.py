"""Storage of the rooms capability: the `rooms`, `memberships`, `membership_events` and
`consents` tables.

Membership is the server's access-control truth, read on every message, attachment, key lookup
and presence announcement. Keeping every read and write of these tables here gives that truth one
definition: another capability asks "is this user a member", "who shares a room with them" or
"record this membership change" and never spells the query itself, so a change to how membership
is stored cannot leave one enforcement point behind. Every function runs on the caller's
connection, inside the caller's transaction: checks and the writes they guard stay atomic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from server.db.models import Consent, Membership, MembershipEvent, Room, now_ms


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: str
    patient_user_id: str | None
    created_by: str
    encrypted_meta: str | None
    last_seq: int
    last_event_seq: int
    chain_length: int
    created_at: int


@dataclass(frozen=True, slots=True)
class MemberRecord:
    room_id: str
    user_id: str
    room_role: str
    added_by: str
    added_at: int
    joined_seq: int


@dataclass(frozen=True, slots=True)
class MemberRoom:
    """One of a user's rooms as their room list shows it: the room and their role in it."""

    room: RoomRecord
    room_role: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One stored membership change; `signed_event` is the client's opaque chain event."""

    event_seq: int
    action: str
    actor_user_id: str
    target_user_id: str
    room_role: str | None
    consent_id: str | None
    signed_event: str | None
    created_at: int


@dataclass(frozen=True, slots=True)
class RoomHead:
    """What a message writer needs of a room it has locked: where its seq is, and how many signed
    membership events senders must have seen."""

    room_id: str
    last_seq: int
    chain_length: int


# -- rooms ------------------------------------------------------------------------------------
async def room(conn: AsyncConnection, room_id: str) -> RoomRecord | None:
    row = (await conn.execute(select(Room.__table__).where(Room.id == room_id))).first()
    return None if row is None else _room_record(row)


async def rooms_of(conn: AsyncConnection, user_id: str) -> list[MemberRoom]:
    """The user's rooms with their role in each, oldest room first."""
    rows = await conn.execute(
        select(Room.__table__, Membership.room_role)
        .join(Membership, Membership.room_id == Room.id)
        .where(Membership.user_id == user_id)
        .order_by(Room.created_at)
    )
    return [MemberRoom(_room_record(r), r.room_role) for r in rows]


def _room_record(row: Any) -> RoomRecord:
    return RoomRecord(
        id=row.id,
        patient_user_id=row.patient_user_id,
        created_by=row.created_by,
        encrypted_meta=row.encrypted_meta,
        last_seq=row.last_seq,
        last_event_seq=row.last_event_seq,
        chain_length=row.chain_length,
        created_at=row.created_at,
    )


async def insert_room(
    conn: AsyncConnection,
    room_id: str,
    created_by: str,
    now: int,
    patient_user_id: str | None = None,
    encrypted_meta: str | None = None,
) -> None:
    await conn.execute(
        insert(Room).values(
            id=room_id,
            patient_user_id=patient_user_id,
            created_by=created_by,
            encrypted_meta=encrypted_meta,
            last_seq=0,
            last_event_seq=0,
            chain_length=0,
            created_at=now,
        )
    )


async def lock_room(conn: AsyncConnection, room_id: str) -> None:
    """Serialise membership changes of one room (PostgreSQL; SQLite writes already are)."""
    await conn.execute(select(Room.id).where(Room.id == room_id).with_for_update())


async def set_meta(conn: AsyncConnection, room_id: str, encrypted_meta: str) -> None:
    await conn.execute(update(Room).where(Room.id == room_id).values(encrypted_meta=encrypted_meta))


async def claim_patient(conn: AsyncConnection, room_id: str, patient_user_id: str) -> bool:
    """Name the room's patient unless it has one; False when another got there first (one
    conditional UPDATE, so two redemptions cannot both claim it)."""
    claimed = await conn.execute(
        update(Room)
        .where(Room.id == room_id, Room.patient_user_id.is_(None))
        .values(patient_user_id=patient_user_id)
    )
    return bool(claimed.rowcount)


_LOCK_HEADS = (
    select(Room.id, Room.last_seq, Room.chain_length)
    .where(Room.id.in_(bindparam("ids", expanding=True)))
    .order_by(Room.id)
    .with_for_update()
)
_ROOMS = cast(Table, Room.__table__)
_SET_LAST_SEQ = (
    update(_ROOMS).where(_ROOMS.c.id == bindparam("rid")).values(last_seq=bindparam("new_seq"))
)


async def lock_heads(conn: AsyncConnection, room_ids: Iterable[str]) -> list[RoomHead]:
    """Lock the rooms (in id order, so concurrent writers cannot deadlock) and read their heads."""
    rows = await conn.execute(_LOCK_HEADS, {"ids": sorted(room_ids)})
    return [RoomHead(r.id, r.last_seq, r.chain_length) for r in rows]


async def set_last_seqs(conn: AsyncConnection, new_seqs: Mapping[str, int]) -> None:
    """Move locked rooms' message counters (one executemany whatever the number of rooms)."""
    if new_seqs:
        await conn.execute(_SET_LAST_SEQ, [{"rid": r, "new_seq": s} for r, s in new_seqs.items()])


# -- memberships ------------------------------------------------------------------------------
async def membership(conn: AsyncConnection, room_id: str, user_id: str) -> MemberRecord | None:
    row = (
        await conn.execute(
            select(Membership.__table__).where(
                Membership.room_id == room_id, Membership.user_id == user_id
            )
        )
    ).first()
    return None if row is None else _member_record(row)


async def members(conn: AsyncConnection, room_id: str) -> list[MemberRecord]:
    """The room's members, earliest added first."""
    rows = await conn.execute(
        select(Membership.__table__)
        .where(Membership.room_id == room_id)
        .order_by(Membership.added_at)
    )
    return [_member_record(r) for r in rows]


def _member_record(row: Any) -> MemberRecord:
    return MemberRecord(
        room_id=row.room_id,
        user_id=row.user_id,
        room_role=row.room_role,
        added_by=row.added_by,
        added_at=row.added_at,
        joined_seq=row.joined_seq,
    )


async def is_member(conn: AsyncConnection, room_id: str, user_id: str) -> bool:
    row = (
        await conn.execute(
            select(Membership.user_id).where(
                Membership.room_id == room_id, Membership.user_id == user_id
            )
        )
    ).first()
    return row is not None


async def member_ids(conn: AsyncConnection, room_id: str) -> list[str]:
    rows = await conn.execute(select(Membership.user_id).where(Membership.room_id == room_id))
    return [r.user_id for r in rows]


async def members_by_room(conn: AsyncConnection, room_ids: Iterable[str]) -> dict[str, list[str]]:
    """room_id -> member user ids for several rooms in one query (rooms without members are
    absent)."""
    members: dict[str, list[str]] = defaultdict(list)
    for row in await conn.execute(
        select(Membership.room_id, Membership.user_id).where(Membership.room_id.in_(set(room_ids)))
    ):
        members[row.room_id].append(row.user_id)
    return members


async def count_owners(conn: AsyncConnection, room_id: str) -> int:
    count = (
        await conn.execute(
            select(func.count())
            .select_from(Membership)
            .where(Membership.room_id == room_id, Membership.room_role == "owner")
        )
    ).scalar_one()
    return int(count)


async def insert_membership(
    conn: AsyncConnection,
    room_id: str,
    user_id: str,
    room_role: str,
    added_by: str,
    added_at: int,
    joined_seq: int,
) -> None:
    await conn.execute(
        insert(Membership).values(
            room_id=room_id,
            user_id=user_id,
            room_role=room_role,
            added_by=added_by,
            added_at=added_at,
            joined_seq=joined_seq,
        )
    )


async def delete_membership(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    await conn.execute(
        delete(Membership).where(Membership.room_id == room_id, Membership.user_id == user_id)
    )


async def last_seq_if_member(conn: AsyncConnection, room_id: str, user_id: str) -> int | None:
    """The room's message counter, or None when the room does not exist or the user is not in
    it (one query: both answers look the same to a non-member)."""
    row = (
        await conn.execute(
            select(Room.last_seq)
            .join(Membership, Membership.room_id == Room.id)
            .where(Room.id == room_id, Membership.user_id == user_id)
        )
    ).first()
    return None if row is None else int(row.last_seq)


# Built once: a fresh aliased() per call made every presence announcement recompile its query
# (41% of the loop during a connect storm, docs/performance.md); the values are bound.
_MINE = aliased(Membership, name="mine")
_THEIRS = aliased(Membership, name="theirs")
_SHARING = (
    select(_THEIRS.user_id)
    .distinct()
    .join(_MINE, _MINE.room_id == _THEIRS.room_id)
    .where(_MINE.user_id == bindparam("user_id"), _THEIRS.user_id != bindparam("user_id"))
)
_SHARING_AMONG = _SHARING.where(_THEIRS.user_id.in_(bindparam("among", expanding=True)))


_SHARING_MANY = (
    select(_MINE.user_id.label("user_id"), _THEIRS.user_id.label("peer"))
    .distinct()
    .join(_MINE, _MINE.room_id == _THEIRS.room_id)
    .where(
        _MINE.user_id.in_(bindparam("user_ids", expanding=True)),
        _THEIRS.user_id != _MINE.user_id,
    )
)


async def co_members_of(conn: AsyncConnection, user_ids: Iterable[str]) -> dict[str, set[str]]:
    """`co_members` of many users in one query: user -> the others sharing a room with it (a
    user sharing none is absent)."""
    out: dict[str, set[str]] = {}
    for row in await conn.execute(_SHARING_MANY, {"user_ids": list(user_ids)}):
        out.setdefault(row.user_id, set()).add(row.peer)
    return out


async def co_members(
    conn: AsyncConnection, user_id: str, among: Iterable[str] | None = None
) -> set[str]:
    """Users sharing at least one room with `user_id` (never `user_id` itself), optionally only
    those in `among`: the people with a reason to see a user's keys and presence."""
    if among is None:
        result = await conn.execute(_SHARING, {"user_id": user_id})
    else:
        result = await conn.execute(_SHARING_AMONG, {"user_id": user_id, "among": list(among)})
    return set(result.scalars())


# -- membership events ------------------------------------------------------------------------
async def add_event(
    conn: AsyncConnection,
    room_id: str,
    action: str,
    actor: str,
    target: str,
    room_role: str | None,
    consent_id: str | None,
    signed_event: str | None,
) -> int:
    """Append a membership event under the room's next event seq (the UPDATE takes the room's
    row lock) and return that seq; a signed event also lengthens the room's chain."""
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


async def chain_wires(conn: AsyncConnection, room_id: str) -> list[str]:
    """The room's signed membership events, oldest first (the E2EE chain clients verify)."""
    rows = await conn.execute(
        select(MembershipEvent.signed_event)
        .where(MembershipEvent.room_id == room_id, MembershipEvent.signed_event.is_not(None))
        .order_by(MembershipEvent.event_seq)
    )
    return [r.signed_event for r in rows]


async def events(conn: AsyncConnection, room_id: str) -> list[EventRecord]:
    rows = await conn.execute(
        select(MembershipEvent.__table__)
        .where(MembershipEvent.room_id == room_id)
        .order_by(MembershipEvent.event_seq)
    )
    return [
        EventRecord(
            event_seq=r.event_seq,
            action=r.action,
            actor_user_id=r.actor_user_id,
            target_user_id=r.target_user_id,
            room_role=r.room_role,
            consent_id=r.consent_id,
            signed_event=r.signed_event,
            created_at=r.created_at,
        )
        for r in rows
    ]


# -- consents ---------------------------------------------------------------------------------
async def insert_consent(
    conn: AsyncConnection,
    consent_id: str,
    room_id: str,
    subject_user_id: str,
    recorded_by: str,
    method: str,
    created_at: int,
) -> None:
    await conn.execute(
        insert(Consent).values(
            id=consent_id,
            room_id=room_id,
            subject_user_id=subject_user_id,
            recorded_by=recorded_by,
            method=method,
            created_at=created_at,
        )
    )


async def use_consent(
    conn: AsyncConnection, consent_id: str, room_id: str, subject_user_id: str
) -> bool:
    """Spend the patient's unused consent for this person in this room; False when there is no
    such consent (so nobody is added twice on one consent)."""
    found = (
        await conn.execute(
            select(Consent.__table__).where(
                Consent.id == consent_id,
                Consent.room_id == room_id,
                Consent.subject_user_id == subject_user_id,
                Consent.used_at.is_(None),
            )
        )
    ).first()
    if found is None:
        return False
    await conn.execute(update(Consent).where(Consent.id == consent_id).values(used_at=now_ms()))
    return True

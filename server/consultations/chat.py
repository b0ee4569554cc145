"""The consultation's text channel: an ordinary care room whose members are the admitted
participants, so the existing message store, sync and E2EE machinery carry the text.

The server makes these membership changes itself (the host's admission is the authority), so they
are *unsigned* membership events. Clients share group keys only with members of the signed chain
(docs/crypto.md), so the host's E2EE client (client/consult_text.py) signs the room's first chain
event (`POST /api/v1/rooms/{room_id}/chain`) and confirms each participant the host admitted by
signing an `add` for them (`POST /api/v1/rooms/{room_id}/members` on an existing member is that
confirmation). A member who is already in the signed chain cannot
be removed by the server (`server.rooms.chain.refuse_unsigned_removal`): such a removal is left to
the host's client, and the room stays closed to a guest anyway once the guest's session is revoked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord
from server.db.models import new_id, now_ms
from server.errors import ApiError
from server.rooms import changes as room_changes
from server.rooms import store
from server.rooms.chain import refuse_unsigned_removal

if TYPE_CHECKING:
    from server.services import Services


async def create_room(conn: AsyncConnection, host_user_id: str, now: int) -> str:
    """A fresh room owned by the host (inside the consultation's creating transaction)."""
    room_id = new_id("r")
    await room_changes.new_room(conn, room_id, host_user_id, now)
    return room_id


async def add_member(
    conn: AsyncConnection, room_id: str, user_id: str, actor_user_id: str, consultation_id: str
) -> tuple[dict[str, Any], list[str], AuditRecord] | None:
    """Make an admitted participant a member; None when they already are one."""
    if await store.is_member(conn, room_id, user_id):
        return None
    room = await store.room(conn, room_id)
    if room is None:
        return None
    seq = await room_changes.record_add(
        conn,
        room_id,
        user_id,
        "member",
        actor=actor_user_id,
        at=now_ms(),
        joined_seq=room.last_seq,
    )
    payload = room_changes.added(room_id, user_id, "member", seq, actor_user_id)
    record = AuditRecord(
        "room.member_add",
        actor_user_id,
        None,
        room_id,
        target=user_id,
        detail={"room_role": "member", "via": "consultation", "consultation_id": consultation_id},
    )
    return payload, await store.member_ids(conn, room_id), record


async def remove_member(
    conn: AsyncConnection, room_id: str, user_id: str, actor_user_id: str, consultation_id: str
) -> tuple[dict[str, Any], list[str], AuditRecord] | None:
    """Take a departed participant out, unless they are in the signed chain (see above)."""
    if not await store.is_member(conn, room_id, user_id):
        return None
    try:
        await refuse_unsigned_removal(conn, room_id, user_id)
    except ApiError:
        return None
    before = await store.member_ids(conn, room_id)
    seq = await room_changes.record_remove(conn, room_id, user_id, actor=actor_user_id)
    payload = room_changes.removed(room_id, user_id, seq, actor_user_id)
    record = AuditRecord(
        "room.member_remove",
        actor_user_id,
        None,
        room_id,
        target=user_id,
        detail={"via": "consultation", "consultation_id": consultation_id},
    )
    return payload, before, record


async def notify(svc: Services, changes: list[tuple[dict[str, Any], list[str]]]) -> None:
    for payload, members in changes:
        await room_changes.notify(svc, members, payload)

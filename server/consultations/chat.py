"""The consultation's text channel: an ordinary care room whose members are the admitted
participants, so the existing message store, sync and E2EE machinery carry the text.

The server makes these membership changes itself (the host's admission is the authority), so they
are *unsigned* membership events. Clients share group keys only with members of the signed chain
(docs/crypto.md), so the host's E2EE client (client/consult_text.py) signs the room's first chain
event (`POST /api/v1/rooms/{room_id}/chain`) and confirms each participant the host admitted by
signing an `add` for them (`POST /api/v1/rooms/{room_id}/members` on an existing member is that
confirmation). A member who is already in the signed chain cannot
be removed by the server (`rooms.service._refuse_unsigned_removal`): such a removal is left to the
host's client, and the room stays closed to a guest anyway once the guest's session is revoked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord
from server.db.models import Membership, new_id, now_ms
from server.errors import ApiError
from server.rooms import service as rooms

if TYPE_CHECKING:
    from server.services import Services


async def create_room(conn: AsyncConnection, host_user_id: str, now: int) -> str:
    """A fresh room owned by the host (inside the consultation's creating transaction)."""
    room_id = new_id("r")
    await rooms.insert_room(conn, room_id, host_user_id, now)
    return room_id


async def add_member(
    conn: AsyncConnection, room_id: str, user_id: str, actor_user_id: str, consultation_id: str
) -> tuple[dict[str, Any], list[str], AuditRecord] | None:
    """Make an admitted participant a member; None when they already are one."""
    if await rooms._membership(conn, room_id, user_id) is not None:
        return None
    room = await rooms._room(conn, room_id)
    if room is None:
        return None
    await conn.execute(
        insert(Membership).values(
            room_id=room_id,
            user_id=user_id,
            room_role="member",
            added_by=actor_user_id,
            added_at=now_ms(),
            joined_seq=room.last_seq,
        )
    )
    seq = await rooms._add_event(conn, room_id, "add", actor_user_id, user_id, "member", None, None)
    payload = {
        "room_id": room_id,
        "action": "add",
        "user_id": user_id,
        "room_role": "member",
        "event_seq": seq,
        "actor_user_id": actor_user_id,
    }
    record = AuditRecord(
        "room.member_add",
        actor_user_id,
        None,
        room_id,
        target=user_id,
        detail={"room_role": "member", "via": "consultation", "consultation_id": consultation_id},
    )
    return payload, await rooms._member_ids(conn, room_id), record


async def remove_member(
    conn: AsyncConnection, room_id: str, user_id: str, actor_user_id: str, consultation_id: str
) -> tuple[dict[str, Any], list[str], AuditRecord] | None:
    """Take a departed participant out, unless they are in the signed chain (see above)."""
    if await rooms._membership(conn, room_id, user_id) is None:
        return None
    try:
        await rooms._refuse_unsigned_removal(conn, room_id, user_id)
    except ApiError:
        return None
    before = await rooms._member_ids(conn, room_id)
    await conn.execute(
        delete(Membership).where(Membership.room_id == room_id, Membership.user_id == user_id)
    )
    seq = await rooms._add_event(conn, room_id, "remove", actor_user_id, user_id, None, None, None)
    payload = {
        "room_id": room_id,
        "action": "remove",
        "user_id": user_id,
        "event_seq": seq,
        "actor_user_id": actor_user_id,
    }
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
        await rooms._notify(svc, members, payload)

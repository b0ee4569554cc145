"""Membership changes, whoever makes them: the rows, the event and the announcement.

A member is added by a room manager (server/rooms/service.py), by redeeming an invitation
(server/auth/invites.py) or by a host admitting a consultation participant
(server/consultations/chat.py). Each goes through here, so every origin writes the same
membership row and event and sends the same `room.member` payload, and clients and auditors see
one kind of change whatever made it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from server.realtime.connections import user_room

from . import store
from .member_cache import invalidate_room

if TYPE_CHECKING:
    from server.services import Services


def added(
    room_id: str, user_id: str, room_role: str, event_seq: int, actor_user_id: str
) -> dict[str, Any]:
    """The `room.member` payload (and REST answer) of an `add`."""
    return {
        "room_id": room_id,
        "action": "add",
        "user_id": user_id,
        "room_role": room_role,
        "event_seq": event_seq,
        "actor_user_id": actor_user_id,
    }


def removed(room_id: str, user_id: str, event_seq: int, actor_user_id: str) -> dict[str, Any]:
    """The `room.member` payload (and REST answer) of a `remove`."""
    return {
        "room_id": room_id,
        "action": "remove",
        "user_id": user_id,
        "event_seq": event_seq,
        "actor_user_id": actor_user_id,
    }


async def new_room(
    conn: AsyncConnection,
    room_id: str,
    owner_user_id: str,
    now: int,
    patient_user_id: str | None = None,
    encrypted_meta: str | None = None,
    signed_event: str | None = None,
) -> None:
    """The room row, its owner's membership and the `create` event, in the caller's
    transaction (care rooms, and consultation chat rooms in server/consultations/chat.py)."""
    await store.insert_room(conn, room_id, owner_user_id, now, patient_user_id, encrypted_meta)
    await store.insert_membership(
        conn, room_id, owner_user_id, "owner", added_by=owner_user_id, added_at=now, joined_seq=0
    )
    await store.add_event(
        conn, room_id, "create", owner_user_id, owner_user_id, "owner", None, signed_event
    )


async def record_add(
    conn: AsyncConnection,
    room_id: str,
    user_id: str,
    room_role: str,
    *,
    actor: str,
    at: int,
    joined_seq: int,
    consent_id: str | None = None,
    signed_event: str | None = None,
) -> int:
    """Make `user_id` a member and append the `add` event; returns its event seq. The caller
    has already decided the change is allowed (in the same transaction)."""
    await store.insert_membership(
        conn, room_id, user_id, room_role, added_by=actor, added_at=at, joined_seq=joined_seq
    )
    return await store.add_event(
        conn, room_id, "add", actor, user_id, room_role, consent_id, signed_event
    )


async def record_remove(
    conn: AsyncConnection,
    room_id: str,
    user_id: str,
    *,
    actor: str,
    signed_event: str | None = None,
) -> int:
    """Drop the membership and append the `remove` event; returns its event seq. Read the
    member list to announce to before calling: the removed member must hear it too."""
    await store.delete_membership(conn, room_id, user_id)
    return await store.add_event(conn, room_id, "remove", actor, user_id, None, None, signed_event)


async def notify(svc: Services, user_ids: list[str], payload: dict[str, Any]) -> None:
    """Tell old and new members; drop this node's cached member list (typing relay) at once.
    Called after the change commits, by every capability that changes a membership."""
    invalidate_room(svc, payload["room_id"])
    await svc.sio.emit("room.member", payload, to=[user_room(u) for u in user_ids])

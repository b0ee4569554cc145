"""Typing indicators: relayed to the room's other members, never stored.

No database access per event: membership comes from the per-node cache
(server/rooms/member_cache.py). A connection that closes while typing is announced as stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.errors import not_found
from server.realtime.registry import on
from server.rooms.member_cache import emit_to_users

from .schemas import Id, Strict

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


class Typing(Strict):
    room_id: Id
    typing: bool


@on("typing", Typing, summary="Relay a typing indicator to the room's other members (no storage).")
async def typing(svc: Services, conn: Connection, p: Typing) -> dict[str, Any]:
    uid = conn.principal.user_id
    members = await svc.parts.membership_cache.members(p.room_id)
    if uid not in members:
        raise not_found()
    if p.typing:
        conn.typing_in.add(p.room_id)
    else:
        conn.typing_in.discard(p.room_id)
    await emit_to_users(
        svc, "typing", {"room_id": p.room_id, "user_id": uid, "typing": p.typing}, members - {uid}
    )
    return {}


async def _on_disconnect(svc: Services, conn: Connection, last_here: bool) -> None:
    uid = conn.principal.user_id
    cache = svc.parts.membership_cache
    for room_id in sorted(conn.typing_in):
        members = await cache.members(room_id)
        await emit_to_users(
            svc,
            "typing",
            {"room_id": room_id, "user_id": uid, "typing": False},
            members - {uid},
        )
    conn.typing_in.clear()


def setup(svc: Services) -> None:
    svc.disconnect_hooks.append(_on_disconnect)

"""Per-node cache of room member lists, for the chatty signals that must not hit the database.

Typing is the chattiest event a client sends (every few keystrokes): the room's member list comes
from here, fresh for `MEMBERS_TTL_S`. The cost of the TTL is that a membership change can take
that long to reach the typing relay of another node; `invalidate_room` clears it at once on this
node (server/rooms/service.py calls it on every change).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from server.db.engine import Database
from server.parts import Parts
from server.realtime.connections import user_room

from . import store

if TYPE_CHECKING:
    from server.services import Services

MEMBERS_TTL_S = 2.0
CACHE_MAX_ROOMS = 10_000


class MembershipCache:
    """room_id -> member user ids, fresh for `ttl` seconds (also caches "no such room")."""

    def __init__(
        self, db: Database, ttl: float = MEMBERS_TTL_S, max_rooms: int = CACHE_MAX_ROOMS
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.max_rooms = max_rooms
        self._rooms: dict[str, tuple[float, frozenset[str]]] = {}
        self.misses = 0

    async def members(self, room_id: str) -> frozenset[str]:
        now = time.monotonic()
        hit = self._rooms.get(room_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        self.misses += 1
        async with self.db.read() as conn:
            users = frozenset(await store.member_ids(conn, room_id))
        if len(self._rooms) >= self.max_rooms:
            self._rooms = {k: v for k, v in self._rooms.items() if v[0] > now}
            if len(self._rooms) >= self.max_rooms:
                self._rooms.clear()
        self._rooms[room_id] = (now + self.ttl, users)
        return users

    def invalidate(self, room_id: str | None = None) -> None:
        if room_id is None:
            self._rooms.clear()
        else:
            self._rooms.pop(room_id, None)


def invalidate_room(svc: Services, room_id: str) -> None:
    """Call after a membership change so this node's typing relay sees it immediately."""
    cache = Parts.membership_cache.peek(svc.parts)
    if cache is not None:
        cache.invalidate(room_id)


async def co_members(db: Database, user_id: str, among: list[str] | None = None) -> set[str]:
    """Users sharing at least one room with `user_id` (never `user_id` itself), in a read of its
    own: for announcements made outside any transaction (presence)."""
    async with db.read() as conn:
        return await store.co_members(conn, user_id, among)


async def emit_to_users(
    svc: Services, event: str, data: dict[str, Any], users: set[str] | frozenset[str]
) -> None:
    # Never emit with an empty target list: python-socketio treats `to=[]` as "everyone".
    if users:
        await svc.sio.emit(event, data, to=[user_room(u) for u in sorted(users)])


def setup(svc: Services) -> None:
    svc.parts.membership_cache = MembershipCache(svc.db)

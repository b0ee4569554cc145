"""Ephemeral room signals: typing, read receipts and presence.

Typing is the chattiest event a client sends (every few keystrokes), so it touches no database:
the room's member list comes from a small per-node cache with a short TTL. The cost of the TTL is
that a membership change can take up to `MEMBERS_TTL_S` to reach typing relays on other nodes;
`invalidate_room` clears it at once on this node. Read receipts are durable (one upsert, never
moving back). Presence is "has at least one connection anywhere": in one process the connection
table answers; with Redis every node publishes the users it holds in a hash that expires unless a
heartbeat refreshes it, so a node that dies takes its users offline with it (a surviving node
notices the expired heartbeat and announces them offline).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from server.audit.log import AuditRecord, append
from server.db.engine import Database
from server.db.models import Membership, ReadReceipt, Room, now_ms
from server.errors import ApiError, not_found
from server.realtime.connections import user_room
from server.realtime.registry import on

from .schemas import MAX_INT64, Id, Strict

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

log = logging.getLogger("relais.ephemeral")

MEMBERS_TTL_S = 2.0
CACHE_MAX_ROOMS = 10_000
HEARTBEAT_S = 5.0
NODE_TTL_S = 15.0
MAX_PRESENCE_QUERY = 200


# -- membership cache -------------------------------------------------------------------------


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
            users = frozenset(
                (
                    await conn.execute(
                        select(Membership.user_id).where(Membership.room_id == room_id)
                    )
                ).scalars()
            )
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
    cache = svc.extras.get("membership_cache")
    if isinstance(cache, MembershipCache):
        cache.invalidate(room_id)


# Built once: a fresh aliased() per call made every presence announcement recompile its query
# (41% of the loop during a connect storm, docs/performance.md).
_MINE = aliased(Membership, name="mine")
_THEIRS = aliased(Membership, name="theirs")


async def co_members(db: Database, user_id: str, among: list[str] | None = None) -> set[str]:
    """Users sharing at least one room with `user_id` (never `user_id` itself)."""
    mine, theirs = _MINE, _THEIRS
    stmt = (
        select(theirs.user_id)
        .distinct()
        .join(mine, mine.room_id == theirs.room_id)
        .where(mine.user_id == user_id, theirs.user_id != user_id)
    )
    if among is not None:
        stmt = stmt.where(theirs.user_id.in_(among))
    async with db.read() as conn:
        return set((await conn.execute(stmt)).scalars())


async def _emit_to_users(
    svc: Services, event: str, data: dict[str, Any], users: set[str] | frozenset[str]
) -> None:
    # Never emit with an empty target list: python-socketio treats `to=[]` as "everyone".
    if users:
        await svc.sio.emit(event, data, to=[user_room(u) for u in sorted(users)])


# -- presence backends -------------------------------------------------------------------------


class LocalPresence:
    """One node: the connection table is the whole truth."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def went_online(self, user_id: str) -> bool:
        return True

    async def went_offline(self, user_id: str) -> bool:
        return True

    async def online(self, user_ids: list[str]) -> dict[str, bool]:
        per_user = self.svc.connections.per_user
        return {u: per_user.get(u, 0) > 0 for u in user_ids}


# Atomic on the Redis side so two nodes connecting the same user at once cannot both (or
# neither) announce it: set/clear this node's field, then count live nodes holding the user.
_CHANGE_LUA = """
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], '1')
else
  redis.call('HDEL', KEYS[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[2], ARGV[7])
local n = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')) do
  if redis.call('HEXISTS', ARGV[4] .. node, ARGV[1]) == 1 then n = n + 1 end
end
return n
"""

_COUNT_LUA = """
local n = 0
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  if redis.call('HEXISTS', ARGV[3] .. node, ARGV[1]) == 1 then n = n + 1 end
end
return n
"""


class RedisPresence:
    """Shared presence: `<prefix>:presence:nodes` (zset node -> heartbeat deadline, ms) and
    `<prefix>:presence:node:<node>` (hash of the users connected to that node).

    The hash outlives the deadline (3x) so that the first surviving node to see a dead node's
    deadline pass can claim it (ZREM returns 1 to exactly one node), read its users and announce
    those not connected elsewhere as offline. Uses keys outside KEYS[] inside scripts, so it
    needs a non-cluster Redis (what docker-compose ships).
    """

    def __init__(
        self,
        svc: Services,
        on_offline: Callable[[str], Awaitable[None]],
        heartbeat_s: float = HEARTBEAT_S,
        node_ttl_s: float = NODE_TTL_S,
    ) -> None:
        self.svc = svc
        self.redis = svc.redis
        prefix = svc.settings.redis_prefix
        self.nodes_key = f"{prefix}:presence:nodes"
        self.hash_prefix = f"{prefix}:presence:node:"
        base = svc.settings.node_id or str(os.getpid())
        self.node = f"{base}-{secrets.token_hex(4)}"
        self.node_key = self.hash_prefix + self.node
        self.heartbeat_s = heartbeat_s
        self.node_ttl_ms = int(node_ttl_s * 1000)
        self.on_offline = on_offline
        self._task: asyncio.Task[None] | None = None
        self._change = self.redis.register_script(_CHANGE_LUA)
        self._count = self.redis.register_script(_COUNT_LUA)

    def _deadline(self) -> int:
        return now_ms() + self.node_ttl_ms

    async def start(self) -> None:
        await self.redis.zadd(self.nodes_key, {self.node: self._deadline()})
        self._task = asyncio.create_task(self._heartbeat(), name="relais-presence-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.redis.zrem(self.nodes_key, self.node)
            await self.redis.delete(self.node_key)
        except Exception:
            log.warning("could not withdraw this node's presence from Redis")

    async def _set(self, user_id: str, present: bool) -> int:
        return int(
            await self._change(
                keys=[self.nodes_key, self.node_key],
                args=[
                    user_id,
                    "1" if present else "0",
                    now_ms(),
                    self.hash_prefix,
                    self.node,
                    self._deadline(),
                    self.node_ttl_ms * 3,
                ],
            )
        )

    async def went_online(self, user_id: str) -> bool:
        return await self._set(user_id, True) == 1

    async def went_offline(self, user_id: str) -> bool:
        return await self._set(user_id, False) == 0

    async def online(self, user_ids: list[str]) -> dict[str, bool]:
        if not user_ids:
            return {}
        nodes = await self.redis.zrangebyscore(self.nodes_key, now_ms(), "+inf")
        found: set[str] = set()
        if nodes:
            async with self.redis.pipeline(transaction=False) as pipe:
                for node in nodes:
                    name = node.decode() if isinstance(node, bytes) else str(node)
                    pipe.hmget(self.hash_prefix + name, user_ids)
                for values in await pipe.execute():
                    found.update(u for u, v in zip(user_ids, values, strict=True) if v)
        return {u: u in found for u in user_ids}

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("presence heartbeat failed")

    async def beat(self) -> None:
        """Refresh this node's deadline and hash, then reap nodes whose deadline passed."""
        local = list(self.svc.connections.per_user)
        if local and not await self.redis.exists(self.node_key):
            # Reaped after a Redis outage longer than the TTL: publish our users again.
            await self.redis.hset(self.node_key, mapping=dict.fromkeys(local, "1"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.nodes_key, {self.node: self._deadline()})
            pipe.pexpire(self.node_key, self.node_ttl_ms * 3)
            await pipe.execute()
        for raw in await self.redis.zrangebyscore(self.nodes_key, "-inf", now_ms() - 1):
            dead = raw.decode() if isinstance(raw, bytes) else str(raw)
            if dead == self.node or not await self.redis.zrem(self.nodes_key, dead):
                continue  # another node claimed it
            key = self.hash_prefix + dead
            users = [
                u.decode() if isinstance(u, bytes) else str(u) for u in await self.redis.hkeys(key)
            ]
            await self.redis.delete(key)
            log.info("reaped a dead node's presence", extra={"users": len(users)})
            for user_id in users:
                left = int(
                    await self._count(
                        keys=[self.nodes_key], args=[user_id, now_ms(), self.hash_prefix]
                    )
                )
                if left == 0:
                    await self.on_offline(user_id)


Presence = LocalPresence | RedisPresence


def _presence(svc: Services) -> Presence:
    backend = svc.extras.get("presence")
    if not isinstance(backend, LocalPresence | RedisPresence):
        raise ApiError("unavailable", "presence is not running")
    return backend


def _cache(svc: Services) -> MembershipCache:
    cache = svc.extras.get("membership_cache")
    if not isinstance(cache, MembershipCache):
        raise ApiError("unavailable", "membership cache is not running")
    return cache


async def announce(svc: Services, user_id: str, online: bool) -> None:
    """Tell everyone who shares a room with `user_id` that it came or went."""
    peers = await co_members(svc.db, user_id)
    await _emit_to_users(svc, "presence", {"user_id": user_id, "online": online}, peers)


async def _on_connect(svc: Services, conn: Connection, first_here: bool) -> None:
    if not first_here:
        return
    try:
        if await _presence(svc).went_online(conn.principal.user_id):
            await announce(svc, conn.principal.user_id, True)
    except Exception:
        # Presence is best effort; it must never refuse a connection.
        log.exception("presence update on connect failed")


async def _on_disconnect(svc: Services, conn: Connection, last_here: bool) -> None:
    uid = conn.principal.user_id
    cache = svc.extras.get("membership_cache")
    if isinstance(cache, MembershipCache):
        for room_id in sorted(conn.typing_in):
            members = await cache.members(room_id)
            await _emit_to_users(
                svc,
                "typing",
                {"room_id": room_id, "user_id": uid, "typing": False},
                members - {uid},
            )
    conn.typing_in.clear()
    backend = svc.extras.get("presence")
    if not last_here or not isinstance(backend, LocalPresence | RedisPresence):
        return  # not the last connection, or the node is shutting down
    try:
        if await backend.went_offline(uid):
            await announce(svc, uid, False)
    except Exception:
        log.exception("presence update on disconnect failed")


# -- events -----------------------------------------------------------------------------------


class Typing(Strict):
    room_id: Id
    typing: bool


class ReceiptRead(Strict):
    room_id: Id
    seq: Annotated[int, Field(ge=0, le=MAX_INT64)]


class ReceiptsGet(Strict):
    room_id: Id


class PresenceGet(Strict):
    user_ids: Annotated[list[Id], Field(max_length=MAX_PRESENCE_QUERY)]


@on("typing", Typing, summary="Relay a typing indicator to the room's other members (no storage).")
async def typing(svc: Services, conn: Connection, p: Typing) -> dict[str, Any]:
    uid = conn.principal.user_id
    members = await _cache(svc).members(p.room_id)
    if uid not in members:
        raise not_found()
    if p.typing:
        conn.typing_in.add(p.room_id)
    else:
        conn.typing_in.discard(p.room_id)
    await _emit_to_users(
        svc, "typing", {"room_id": p.room_id, "user_id": uid, "typing": p.typing}, members - {uid}
    )
    return {}


def _upsert_receipt(is_sqlite: bool, room_id: str, user_id: str, seq: int, ts: int) -> Any:
    ins = (sqlite_insert if is_sqlite else pg_insert)(ReadReceipt).values(
        room_id=room_id, user_id=user_id, seq=seq, updated_at=ts
    )
    # Monotonic: the WHERE makes an older or equal seq a no-op, also under concurrent writers.
    return ins.on_conflict_do_update(
        index_elements=[ReadReceipt.room_id, ReadReceipt.user_id],
        set_={"seq": ins.excluded.seq, "updated_at": ins.excluded.updated_at},
        where=ReadReceipt.seq < ins.excluded.seq,
    )


@on(
    "receipt.read",
    ReceiptRead,
    summary="Mark the room read up to seq (never moves back); members get `receipt`.",
)
async def receipt_read(svc: Services, conn: Connection, p: ReceiptRead) -> dict[str, Any]:
    user = conn.principal
    ts = now_ms()
    async with svc.db.write() as c:
        room = (
            await c.execute(
                select(Room.last_seq)
                .join(Membership, Membership.room_id == Room.id)
                .where(Room.id == p.room_id, Membership.user_id == user.user_id)
            )
        ).first()
        if room is None:
            raise not_found()
        if p.seq > room.last_seq:
            raise ApiError("validation_failed", "seq is beyond the room's last message")
        moved = (
            await c.execute(_upsert_receipt(svc.db.is_sqlite, p.room_id, user.user_id, p.seq, ts))
        ).rowcount
        current = (
            await c.execute(
                select(ReadReceipt.seq).where(
                    ReadReceipt.room_id == p.room_id, ReadReceipt.user_id == user.user_id
                )
            )
        ).scalar_one()
        members: frozenset[str] = frozenset()
        if moved:
            await append(
                c,
                [
                    AuditRecord(
                        "receipt.write",
                        user.user_id,
                        user.device_id,
                        p.room_id,
                        ip=user.ip,
                        ts=ts,
                        detail={"seq": int(current)},
                    )
                ],
            )
            members = frozenset(
                (
                    await c.execute(
                        select(Membership.user_id).where(Membership.room_id == p.room_id)
                    )
                ).scalars()
            )
    if moved:
        await _emit_to_users(
            svc,
            "receipt",
            {"room_id": p.room_id, "user_id": user.user_id, "seq": int(current)},
            members,
        )
    return {"room_id": p.room_id, "seq": int(current), "moved": bool(moved)}


@on("receipts.get", ReceiptsGet, summary="Every member's last read seq in a room (0: none).")
async def receipts_get(svc: Services, conn: Connection, p: ReceiptsGet) -> dict[str, Any]:
    user = conn.principal
    async with svc.db.read() as c:
        members = set(
            (
                await c.execute(select(Membership.user_id).where(Membership.room_id == p.room_id))
            ).scalars()
        )
        if user.user_id not in members:
            raise not_found()
        rows = (
            await c.execute(
                select(ReadReceipt.user_id, ReadReceipt.seq).where(ReadReceipt.room_id == p.room_id)
            )
        ).all()
    await svc.audit.record(
        AuditRecord("room.receipts_read", user.user_id, user.device_id, p.room_id, ip=user.ip)
    )
    seqs = {r.user_id: int(r.seq) for r in rows if r.user_id in members}
    return {"room_id": p.room_id, "receipts": {u: seqs.get(u, 0) for u in sorted(members)}}


@on(
    "presence.get",
    PresenceGet,
    summary="Online state of users sharing a room with the caller (others are omitted).",
)
async def presence_get(svc: Services, conn: Connection, p: PresenceGet) -> dict[str, Any]:
    me = conn.principal.user_id
    asked = list(dict.fromkeys(p.user_ids))
    visible = await co_members(svc.db, me, [u for u in asked if u != me])
    if me in asked:
        visible.add(me)
    try:
        states = await _presence(svc).online(sorted(visible))
    except (RedisError, OSError):
        raise ApiError("unavailable", "presence store unreachable, retry later") from None
    return {"presence": states}


# -- lifecycle --------------------------------------------------------------------------------


async def setup(svc: Services) -> None:
    svc.extras["membership_cache"] = MembershipCache(svc.db)
    backend: Presence
    if svc.redis is not None:

        async def offline(user_id: str) -> None:
            await announce(svc, user_id, False)

        backend = RedisPresence(svc, offline)
    else:
        backend = LocalPresence(svc)
    await backend.start()
    svc.extras["presence"] = backend
    svc.connect_hooks.append(_on_connect)
    svc.disconnect_hooks.append(_on_disconnect)


async def teardown(svc: Services) -> None:
    backend = svc.extras.pop("presence", None)
    if isinstance(backend, LocalPresence | RedisPresence):
        await backend.stop()

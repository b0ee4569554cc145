"""Presence stores: "has at least one connection anywhere".

In one process the connection table answers (`LocalPresence`). With Redis (`RedisPresence`)
every node publishes the users it holds in a hash that expires unless a heartbeat refreshes it,
so a node that dies takes its users offline with it: a surviving node notices the expired
heartbeat and announces them offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.db.models import now_ms

if TYPE_CHECKING:
    from server.services import Services


if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.presence")

HEARTBEAT_S = 5.0
NODE_TTL_S = 15.0


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

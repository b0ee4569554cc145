"""Room emits across workers and nodes: delivered here at once, then sent to the others in
batches over one Redis channel.

python-socketio's `AsyncRedisManager` publishes every emit as its own Redis command, awaited in
the handler that emitted, with the event's arguments as JSON that every node (the sender too)
decodes and encodes again as a socket.io packet. Measured with one worker, 8 broadcasts in
flight per room over 50 rooms: 8,900 deliveries/s against 57,600 with the in-process bus, and
falling run after run (docs/performance.md §2). Here:

- the packet is encoded once, on the emitting node; others deliver the same text
  (`FanoutManager.deliver`);
- the emitting handler does not wait on Redis: the emit is delivered to this node's sockets, then
  queued; one task publishes whatever queued meanwhile as a single message, so the number of
  Redis commands follows the loop's turns, not the emits;
- every message starts with the publisher's id, so a node skips its own without decoding it.

What the stock manager does besides room emits (emits with an ack callback or binary data,
disconnects and room changes of another node's sockets) keeps its path and channel.

Delivery to other nodes is best effort, as with the stock manager: while Redis is down the
batches are dropped (`relais_bus_dropped_total`), and clients of other nodes get those messages
at their next `sync`; the listener subscribes again as soon as Redis answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from socketio import AsyncRedisManager

from server.ops import metrics

from .fanout import FanoutManager
from .subscription import subscribe_forever

log = logging.getLogger("relais.bus")

# A batch larger than this goes out in several messages (Redis takes up to 512 MB; a subscriber's
# output buffer, 32 MB by default, is the real bound).
MAX_BATCH_BYTES = 1 << 20
# While Redis is down every batch fails: one warning this often, the count in the metric.
WARN_EVERY_S = 10.0


class RedisFanoutManager(AsyncRedisManager, FanoutManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.fanout_channel = f"{channel}:fanout"
        self._tag = self.host_id.encode()
        self._outbox: list[str] = []
        self._wake = asyncio.Event()
        self._bus: aioredis.Redis | None = None
        self._warned_at = -WARN_EVERY_S

    def initialize(self) -> None:
        super().initialize()
        if not self.write_only:
            self._bus = aioredis.Redis.from_url(self.redis_url, **self.redis_options)
            self.server.start_background_task(self._publisher)
            self.server.start_background_task(self._subscriber)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        namespace = namespace or "/"
        if callback is not None or kwargs.get("ignore_queue") or self._bus is None:
            await super().emit(
                event,
                data,
                namespace=namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                **kwargs,
            )
            return
        encoded = self.encode(event, data, namespace)
        if isinstance(encoded, list):  # binary attachments: the stock path carries them
            await super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid)
            return
        await self.deliver(namespace, room, skip_sid, encoded)
        entry = json.dumps([namespace, room, skip_sid, encoded], separators=(",", ":"))
        self._outbox.append(entry)
        self._wake.set()

    # -- to the other nodes ---------------------------------------------------------------
    def _take_batch(self) -> list[str]:
        size = cut = 0
        for entry in self._outbox:
            if cut and size + len(entry) > MAX_BATCH_BYTES:
                break
            size += len(entry)
            cut += 1
        batch = self._outbox[:cut]
        del self._outbox[:cut]
        return batch

    async def _publisher(self) -> None:
        assert self._bus is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = self._take_batch()
                message = self._tag + b"[" + ",".join(batch).encode() + b"]"
                try:
                    await self._bus.publish(self.fanout_channel, message)
                    metrics.BUS_BATCHES.inc()
                    metrics.BUS_EMITS.inc(len(batch))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    metrics.BUS_DROPPED.inc(len(batch))
                    now = time.monotonic()
                    if now - self._warned_at >= WARN_EVERY_S:  # not one line per batch
                        self._warned_at = now
                        log.warning(
                            "emits to other nodes dropped (Redis: %s): relais_bus_dropped_total",
                            type(exc).__name__,
                        )

    # -- from the other nodes -------------------------------------------------------------
    async def _subscriber(self) -> None:
        assert self._bus is not None
        await subscribe_forever(self._bus, self.fanout_channel, self._receive, what="bus")

    async def _receive(self, data: bytes) -> None:
        if data.startswith(self._tag):
            return  # our own batch, delivered here when it was emitted
        try:
            entries = json.loads(data[len(self._tag) :])
        except ValueError:
            log.warning("unreadable bus message skipped")
            return
        for entry in entries:
            try:
                namespace, room, skip_sid, encoded = entry
                await self.deliver(namespace, room, skip_sid, encoded)
            except Exception:
                log.exception("bus emit could not be delivered")

"""Room emits that encode once and enqueue directly, without one asyncio task per recipient.

python-socketio's `AsyncManager.emit` encodes the packet once but then creates a task per
recipient to call `eio.send_packet`, which only re-checks the ping timeout and awaits an
unbounded `asyncio.Queue.put`. Each engine.io socket already owns a writer task that drains that
queue, so the task per recipient is pure overhead (it dominated our profile, see
docs/performance.md). Here the engine.io packet is built once and `put_nowait` onto every
recipient's queue.

This relies on two engine.io internals, checked by tests/unit/test_fanout_internals.py so that an
upgrade that changes them fails loudly: `AsyncServer.sockets` (eio sid -> socket) and
`AsyncSocket.queue` / `AsyncSocket.closed`. Emits with an ack callback keep the stock path.
"""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet
from socketio import AsyncManager, AsyncRedisManager
from socketio import packet as sio_packet

from server.ops import metrics


class FanoutManager(AsyncManager):  # type: ignore[misc]

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None or namespace not in self.rooms:
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid,
                               callback=callback, **kwargs)
            return
        if isinstance(data, tuple):
            args = [event, *data]
        elif data is not None:
            args = [event, data]
        else:
            args = [event]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace,
                                           data=args).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        packets = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        for p in packets:
            p.encode()  # fill the encode cache once; every writer reuses the string
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sockets = self.server.eio.sockets
        n = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            for p in packets:
                sock.queue.put_nowait(p)
            n += 1
        metrics.FANOUT_DELIVERIES.inc(n)


class RedisFanoutManager(AsyncRedisManager, FanoutManager):  # type: ignore[misc]
    """Cross-node emits go through Redis pub/sub; local delivery uses the fast path above."""

"""Bench-only prototype of a faster fan-out: write straight to idle WebSockets.

Measured as the `relais-direct` variant to size a proposed server change; not used by the server.
Our FanoutManager still wakes one engine.io writer task per recipient: `put_nowait` resolves the
writer's `queue.get()` inside `asyncio.wait_for` (a task and a timer per wake-up) before
`ws.send`. When that writer is parked on an empty queue, nothing is in flight for that socket, so
writing the frame directly from the emitting coroutine keeps the order and skips the wake-up.
Otherwise (writer busy, queue non-empty, not upgraded) the packet is queued as before.

Relies on internals: engine.io's aiohttp driver (`_async["websocket"]`), `AsyncSocket.queue`
and asyncio.Queue's `_getters` (non-empty while its consumer waits).
"""

from __future__ import annotations

from typing import Any

from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp
from socketio import packet as sio_packet

from server.ops import metrics
from server.realtime.fanout import FanoutManager


class _TrackedWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """The stock driver, remembered on its engine.io socket once the handshake is done."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        self.handler.__self__.bench_ws = self
        return await super().__call__(environ)


class DirectFanoutManager(FanoutManager):
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
        if callback is not None or namespace not in self.rooms or isinstance(data, tuple):
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        args = [event] if data is None else [event, data]
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=args
        ).encode()
        if isinstance(encoded, list):  # binary attachments: keep the stock path
            await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, **kwargs)
            return
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        text = pkt.encode()
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sockets = self.server.eio.sockets
        n = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            ws = getattr(sock, "bench_ws", None)
            if ws is not None and sock.upgraded and sock.queue._getters and ws._sock is not None:
                await ws._sock.send_str(text)
            else:
                sock.queue.put_nowait(pkt)
            n += 1
        metrics.FANOUT_DELIVERIES.inc(n)


def install() -> type[DirectFanoutManager]:
    eio_aiohttp._async["websocket"] = _TrackedWebSocket
    return DirectFanoutManager

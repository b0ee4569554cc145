"""Every write to clients: room emits that encode once and deliver without one asyncio task per
recipient, packets to one socket (acks) on the same direct path, WebSockets without deflate.

python-socketio's `AsyncManager.emit` encodes the packet once but then creates a task per
recipient to call `eio.send_packet`, which awaits an `asyncio.Queue.put` that the socket's
engine.io writer task drains. Even without the task per recipient (our first version:
`put_nowait` on each queue), every delivery still wakes that writer through
`asyncio.wait_for(queue.get())` — a task step and a timer per recipient, most of the profile
(docs/performance.md).

So a delivery takes one of two paths:
- **direct**: the recipient is on WebSocket, its writer is parked on an empty queue (nothing of
  its own in flight, so writing now keeps the order), its transport buffer is small and the frame
  is small. The WebSocket frame is built once per emit (`text_frame`: the bytes are the same for
  every recipient, as server frames are unmasked and deflate is never negotiated) and handed to
  `WriteCoalescer`, which gives each transport everything direct of one event-loop pass in one
  `write` at the start of the next (whole frames, never interleaved with a frame aiohttp writes,
  never suspending the emitter). The `write` system call was the largest single cost of a
  delivery (35 % of the loop in the 03:26 profile, 56 % in a slower machine state's native one):
  a client with several messages in one pass (a busy room, a burst of acks) now costs one.
- **queued**: anything else (long-polling, upgrade in progress, writer busy, a backed-up slow
  link): `put_nowait` on the socket's queue, and its writer task sends it with backpressure.

This relies on engine.io internals, checked by tests/unit/test_fanout_internals.py so an upgrade
that changes them fails loudly: `AsyncServer.sockets`, `AsyncServer._async["websocket"]` (the
per-server driver class, replaced by websocket.py's subclass that remembers its WebSocket),
`AsyncSocket.queue` / `.closed` / `.upgraded`, `asyncio.Queue._getters`, and aiohttp's
`WebSocketResponse._writer` (`.transport`, `._closing`, `.protocol._paused`). Emits with an ack
callback keep the stock path.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import AsyncManager
from socketio import packet as sio_packet

from server.ops import metrics

from .room_index import IndexedRooms

log = logging.getLogger("relais.realtime")

# Direct writes only for frames and buffers small enough that aiohttp cannot suspend the emitter
# (its synchronous-compression ceiling is 16 KiB; the transport pauses at 64 KiB).
DIRECT_MAX_FRAME = 16 * 1024
DIRECT_MAX_BUFFERED = 16 * 1024


def text_frame(text: str) -> bytes:
    """One WebSocket text frame from server to client (RFC 6455 §5.2: FIN, opcode 1, no mask,
    no extension since deflate is never negotiated here). The same bytes go to every recipient
    of an emit, so a delivery is one transport write."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        return _LEN1(0x81, size) + payload
    if size < 65536:
        return _LEN2(0x81, 126, size) + payload
    return _LEN3(0x81, 127, size) + payload


_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack


class WriteCoalescer:
    """The direct frames of one event-loop pass, written at the start of the next: one `write`
    per transport, whatever number of frames it got.

    Order holds: a frame is only added while the socket's engine.io writer is parked on an
    empty queue; a packet queued after it wakes that writer by a callback scheduled after this
    flush, so it is written after. A writer that started closing meanwhile (aiohttp sent CLOSE)
    or a closing transport gets nothing: frames after a CLOSE would break the protocol, and a
    closed socket would have lost them anyway."""

    __slots__ = ("_loop", "_pending", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._pending: dict[asyncio.Transport, _Waiting] = {}
        self._scheduled = False

    def pending_bytes(self, transport: asyncio.Transport) -> int:
        waiting = self._pending.get(transport)
        return 0 if waiting is None else waiting.size

    def add(self, transport: asyncio.Transport, writer: Any, frame: bytes) -> None:
        waiting = self._pending.get(transport)
        if waiting is None:
            waiting = self._pending[transport] = _Waiting(writer)
        waiting.frames.append(frame)
        waiting.size += len(frame)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for transport, waiting in pending.items():
            if waiting.writer._closing or transport.is_closing():
                continue
            frames = waiting.frames
            try:
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            except Exception:  # one broken transport must not cost the others their frames
                log.debug("direct write failed", exc_info=True)


class _Waiting:
    """What one transport got in the current pass: aiohttp's writer (checked for CLOSE at the
    flush), the frames in order, their total size (the buffer bound reads it per recipient)."""

    __slots__ = ("frames", "size", "writer")

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.frames: list[bytes] = []
        self.size = 0


_COALESCERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteCoalescer] = (
    weakref.WeakKeyDictionary()
)


def coalescer() -> WriteCoalescer:
    """The running loop's coalescer (one per loop: tests run many)."""
    loop = asyncio.get_running_loop()
    out = _COALESCERS.get(loop)
    if out is None:
        out = _COALESCERS[loop] = WriteCoalescer(loop)
    return out


def write_direct(sock: Any, frame: bytes, out: WriteCoalescer) -> bool:
    """Hand one whole WebSocket frame (`text_frame`) for `sock` to `out` if the direct path's
    conditions hold: WebSocket, its engine.io writer parked on an empty queue (nothing of its
    own in flight, so the order holds), aiohttp's writer neither closing nor paused, and little
    buffered (the transport's and what `out` holds for it). False when it must be queued."""
    size = len(frame)
    if size > DIRECT_MAX_FRAME or not sock.upgraded or not sock.queue._getters:
        return False
    ws = getattr(sock, "relais_ws", None)
    resp = ws._sock if ws is not None else None
    if resp is None or resp.closed:
        return False
    writer = resp._writer
    if writer is None or writer._closing or writer.protocol._paused:
        return False
    transport = writer.transport
    if transport is None or transport.is_closing():
        return False
    if transport.get_write_buffer_size() + out.pending_bytes(transport) > DIRECT_MAX_BUFFERED:
        return False
    out.add(transport, writer, frame)
    return True


class DirectSendServer(socketio.AsyncServer):  # type: ignore[misc]
    """A socket.io server whose packets to one client (acks, connect answers, errors) take the
    direct path too. Through the stock path each ack is queued for the socket's engine.io
    writer task, which wakes through `asyncio.wait_for(queue.get())`: a task step and a timer
    per ack, about a tenth of a `bench.broadcast`; fan-out rose 20-30 % without it
    (docs/performance.md §2)."""

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        encoded = pkt.encode()
        if isinstance(encoded, list):  # binary attachments: several frames, keep them queued
            for part in encoded:
                await self.eio.send(eio_sid, part)
            return
        await self.send_encoded(eio_sid, encoded)

    async def send_encoded(self, eio_sid: str, encoded: str) -> None:
        """One encoded socket.io packet to one client: written now when the direct path's
        conditions hold, else queued for the socket's writer."""
        sock = self.eio.sockets.get(eio_sid)
        if sock is not None and not sock.closed:
            # engine.io MESSAGE of a text payload: "4" + the payload.
            if write_direct(sock, text_frame("4" + encoded), coalescer()):
                metrics.DIRECT_SENDS.inc()
                return
        await self.eio.send(eio_sid, encoded)


class FanoutManager(IndexedRooms, AsyncManager):  # type: ignore[misc]
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
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        await self.deliver(namespace, room, skip_sid, self.encode(event, data, namespace))

    def encode(self, event: str, data: Any, namespace: str) -> str | list[Any]:
        """The socket.io EVENT packet, once for every recipient (a list: binary attachments)."""
        if isinstance(data, tuple):
            args = [event, *data]
        elif data is not None:
            args = [event, data]
        else:
            args = [event]
        encoded: str | list[Any] = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=args
        ).encode()
        return encoded

    async def deliver(
        self, namespace: str, room: Any, skip_sid: Any, encoded: str | list[Any]
    ) -> None:
        """Hand an encoded packet to this node's sockets in `room` (direct, else queued)."""
        if namespace not in self.rooms:
            return
        frame = None
        if isinstance(encoded, list):  # binary attachments: several frames, keep them queued
            packets = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        else:
            packets = [eio_packet.Packet(eio_packet.MESSAGE, encoded)]
            frame = text_frame(packets[0].encode())  # the encode also fills the packet's cache
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        sockets = self.server.eio.sockets
        out = coalescer()
        n = direct = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            n += 1
            if frame is not None and write_direct(sock, frame, out):
                direct += 1
                continue
            for p in packets:
                sock.queue.put_nowait(p)
        metrics.FANOUT_DELIVERIES.inc(n)
        metrics.FANOUT_DIRECT.inc(direct)

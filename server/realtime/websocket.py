"""An engine.io session on WebSocket: the upgrade, one read loop, and the writer for queued
packets.

python-engineio's own handler paid, for every frame a client sent, a task to read it and an
`asyncio.wait_for` (a timer and a second future) to bound the read, and an engine.io `Packet`
object; python-socketio then decoded the payload into its own `Packet` (scanning the data for
binary parts) and made a task to run the event (docs/performance.md §2). Here the read loop
reads frames directly, looks at the engine.io type by its first character, and hands MESSAGE
payloads to the socket.io server's `take_ws_message`: a client event costs one JSON decode and
the one task that runs its handler (packet_guard.py); other packets (CONNECT above all) are
awaited before the next frame is read, as before (python-socketio runs engine.io without async
handlers), so a CONNECT is complete before the events behind it are looked at. The session's
idle bound is one timer per connection, re-armed only when it fires, instead of one per frame.

What the stock handler did is kept: the polling -> WebSocket upgrade (`2probe` -> `3probe`, a
NOOP to end the pending poll, then `5`), PONG rescheduling the next PING, UPGRADE answered with
a NOOP, CLOSE from the client ending the session, frames over `max_http_buffer_size` ending it,
and a writer that drains the socket's queue (what fanout.py's direct path cannot write). A
text frame that is not an engine.io packet a client may send (empty, a non-digit type, OPEN,
NOOP) closes the WebSocket and ends the session at once: engine.io ignored unknown types
without a word (docs/security.md §11.3).

It relies on engine.io's `AsyncSocket` fields (`connected`, `upgraded`, `upgrading`, `queue`,
`poll`, `schedule_ping`, `close`, `send`) and the server's `ping_interval`/`ping_timeout`/
`max_http_buffer_size`/`reason`; tests/unit/test_websocket_session.py checks them, so an
upgrade that changes them fails there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aiohttp import WSMsgType, web
from engineio import exceptions as eio_exceptions
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as eio_aiohttp

log = logging.getLogger("relais.engineio")

# What a client sends over WebSocket, by the engine.io type character.
_PING, _PONG, _MESSAGE, _UPGRADE, _CLOSE = "2", "3", "4", "5", "1"
# The socket.io server's entry for MESSAGE payloads (eio_sid, payload), see packet_guard.py:
# what it returns is awaited before the next frame is read.
MessageSink = Callable[[str, "str | bytes"], "Awaitable[None] | None"]


class TrackedWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp WebSocket driver, remembered on its engine.io socket, that runs this
    module's session loop instead of engine.io's handler."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        sock = self.handler.__self__
        sock.relais_ws = self
        # The stock driver opens the WebSocket with aiohttp's default `compress=True`, so every
        # client that offers permessage-deflate (every browser, and socket.io-client on Node) had
        # each frame compressed once per recipient, with a context per connection: fan-out to
        # real clients ran at less than half the rate of clients that do not offer it
        # (docs/performance.md §2). Our frames are E2EE ciphertext, which deflate barely
        # shrinks, and Node's socket.io leaves the extension off by default too. Opened here
        # like the stock driver does otherwise (tests/unit/test_fanout_internals.py checks the
        # names it relies on).
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        await run_session(sock, self._sock)
        return self._sock


def install_tracking(sio: socketio.AsyncServer) -> None:
    """Use TrackedWebSocket for this server only (the driver table is copied, not patched)."""
    sio.eio._async = {**sio.eio._async, "websocket": TrackedWebSocket}


async def run_session(sock: Any, ws: web.WebSocketResponse) -> None:
    """Serve engine.io session `sock` over the prepared WebSocket `ws` until either end closes."""
    server = sock.server
    if sock.connected:  # opened by long-polling: this is an upgrade
        if not await _upgrade(sock, ws):
            return
    else:
        sock.connected = True
        sock.upgraded = True
    writer = asyncio.ensure_future(_write_queued(sock, ws))
    idle = _IdleBound(ws, server.ping_interval + server.ping_timeout)
    sink: MessageSink = server.relais_message_sink  # set by packet_guard.GuardedSocketServer
    try:
        await _read(sock, ws, idle, sink)
    finally:
        idle.cancel()
        # The end of the session runs whatever happens to this task: aiohttp cancels a
        # handler whose connection is lost when it runs with handler_cancellation (its test
        # server does), and that cancellation lands right after the client's CLOSE frame,
        # in the disconnect handlers' awaits (a participant left "present" for ever).
        ending = asyncio.ensure_future(_end_session(sock, writer))
        _ending.add(ending)
        ending.add_done_callback(_ending.discard)
        await asyncio.shield(ending)


_ending: set[asyncio.Future[None]] = set()


async def _end_session(sock: Any, writer: asyncio.Future[None]) -> None:
    server = sock.server
    # The session ends now, not when the WebSocket has finished closing: aiohttp waits up to
    # 10 s for the client's half of the close handshake, and a client that broke the protocol
    # may never send it.
    await sock.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)
    if server.sockets.get(sock.sid) is sock:
        del server.sockets[sock.sid]
    sock.queue.put_nowait(None)  # lets the writer send what is queued, then close
    await writer


async def _read(sock: Any, ws: web.WebSocketResponse, idle: _IdleBound, sink: MessageSink) -> None:
    """Reads frames until the client goes, the session ends, or a frame ends it."""
    while not sock.closed:
        try:
            msg = await ws.receive()
        except asyncio.CancelledError:
            return  # the server is stopping: end the session like a closed transport
        if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
            idle.seen = True
            try:
                if not await _take(sock, msg.data, sink):
                    return
            except eio_exceptions.SocketIsClosedError:
                return
            except Exception as exc:  # as engine.io did: logged, and the session goes on
                log.warning("websocket frame not handled", extra={"reason": type(exc).__name__})
        else:  # CLOSE, CLOSING, CLOSED, ERROR (aiohttp answers pings itself)
            return


async def _take(sock: Any, data: str | bytes, sink: MessageSink) -> bool:
    """Handles one frame; False when it ends the session."""
    if len(data) > sock.server.max_http_buffer_size:
        log.info("websocket closed: frame too large", extra={"reason": "size"})
        return False
    if isinstance(data, bytes):
        pending = sink(sock.sid, data)  # refused by the socket.io gate, typed
        if pending is not None:
            await pending
        return True
    first = data[:1]
    if first == _MESSAGE:
        pending = sink(sock.sid, data[1:])
        if pending is not None:
            await pending
    elif first == _PONG:
        sock.schedule_ping()
    elif first == _UPGRADE:
        await sock.send(eio_packet.Packet(eio_packet.NOOP))
    elif first == _CLOSE:
        await sock.close(wait=False, abort=True, reason=sock.server.reason.CLIENT_DISCONNECT)
        return False
    elif first != _PING:  # only the upgrade probe is a client PING in engine.io 4: ignored
        log.info("websocket closed: not a client engine.io packet", extra={"reason": "type"})
        await sock.close(wait=False, abort=True, reason=sock.server.reason.CLIENT_DISCONNECT)
        return False
    return True


async def _upgrade(sock: Any, ws: web.WebSocketResponse) -> bool:
    """engine.io 4's upgrade from long-polling: the probe, then UPGRADE. Packets to the client
    are held (`upgrading`) until then, and the poll in progress is ended with a NOOP."""
    sock.upgrading = True
    try:
        probe = await ws.receive()
        if probe.type is not WSMsgType.TEXT or probe.data != "2probe":
            log.info("websocket upgrade failed: no probe", extra={"reason": "probe"})
            return False
        await ws.send_str("3probe")
        await sock.queue.put(eio_packet.Packet(eio_packet.NOOP))
        done = await ws.receive()
        if done.type is not WSMsgType.TEXT or done.data != _UPGRADE:
            log.info("websocket upgrade failed: no upgrade packet", extra={"reason": "upgrade"})
            return False
        sock.upgraded = True
        return True
    finally:
        sock.upgrading = False


async def _write_queued(sock: Any, ws: web.WebSocketResponse) -> None:
    """Send what is queued on the session (long-polling leftovers, packets the direct path could
    not write, PINGs, CLOSE) in order; ends when the session ends or stays silent for the ping
    interval + timeout (engine.io's own writer, kept as it was)."""
    while True:
        try:
            packets = await sock.poll()
        except eio_exceptions.QueueEmpty:
            break
        if not packets:
            break
        try:
            for pkt in packets:
                await ws.send_str(pkt.encode())
        except Exception:
            break
    await ws.close()


class _IdleBound:
    """Closes a WebSocket that has sent nothing for `limit` seconds (a client answers every
    PING, so a live one never gets there). One timer per connection that looks back when it
    fires, instead of a timer per frame: a dead client is cut after `limit` to 2 x `limit`."""

    def __init__(self, ws: web.WebSocketResponse, limit: float) -> None:
        self.ws = ws
        self.limit = limit
        self.seen = False
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(limit, self._check)
        self._closing: asyncio.Future[Any] | None = None

    def _check(self) -> None:
        if self.seen:
            self.seen = False
            self._timer = self._loop.call_later(self.limit, self._check)
            return
        self._timer = None
        log.info("websocket closed: client silent", extra={"reason": "idle"})
        self._closing = asyncio.ensure_future(self.ws.close())

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

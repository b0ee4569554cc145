"""The socket.io server with one gate between client packets and the application.

python-socketio hands a client EVENT to whatever handler bears its name, lifecycle handlers
included: `42["disconnect"]` ran our own disconnect handler (the socket left the connection
table, so a later logout closed "0 sockets", but stayed in its rooms and kept receiving). Here
every client packet is decoded once and routed by its type, never by a name the client chose:

- CONNECT / DISCONNECT packets are the only way to the lifecycle handlers, and only for the
  default namespace, once each way;
- an EVENT reaches the `*` dispatcher only if its name is declared in `registry.EVENTS` (a
  dict lookup on the hot path, nothing more);
- everything else (undecodable frames, binary attachments, client ACKs the server never asked
  for, unknown namespaces, a second CONNECT) is refused with a typed error and a content-free
  log line instead of an exception inside python-socketio (which printed tracebacks with the
  request bytes to stderr, and answered nothing).

A refusal is answered on the wire (docs/protocol.md "Malformed packets"): an ACK carrying
`{"error": ...}` when the packet had an ack id; otherwise an `error` event on a connected
namespace, or a CONNECT_ERROR carrying the typed error when the namespace is not connected.
A socket that keeps sending refused packets is closed after `max_bad_packets`.

It also closes the transport, not just the namespace, when the server disconnects a socket
(logout, disable, revoke, sweeper): a namespace-only disconnect left an engine.io session open,
and a socket that never authenticates is closed after `auth_timeout_s`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from socketio import packet as sio_packet

from server.errors import ApiError
from server.ops import metrics

from .engine_guard import GuardedEngineServer, close_engine_socket
from .fanout import DirectSendServer

log = logging.getLogger("relais.socket")

DEFAULT_NAMESPACE = "/"
# Namespaces echoed back in a CONNECT_ERROR are the client's own bytes; keep them short.
_MAX_ECHOED_NAMESPACE = 64
# Only events carry an ack id the client waits on; a client's ACK is never answered by an ACK.
_ASKS_FOR_ACK = (sio_packet.EVENT, sio_packet.BINARY_EVENT)


class Refused(Exception):
    """A client packet the gate will not pass on; carries the typed error it is answered with."""

    def __init__(self, code: str, message: str, *, counts: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.counts = counts


# Tasks of events in progress, held so they are not collected mid-run.
_running: set[asyncio.Future[Any]] = set()
# An ack id longer than this is left to python-socketio's decoder (which refuses > 100 digits).
_MAX_FAST_ID_DIGITS = 15


def _decode_event(payload: str) -> tuple[int | None, Any] | None:
    """`2[<ack id>][...]` (a socket.io EVENT on the default namespace, no attachments) as
    (ack id, decoded JSON), or None for every other shape, which the general decoder takes.
    The same result python-socketio's `Packet.decode` gives for these packets, checked
    against it in tests/unit/test_websocket_session.py."""
    if payload[:1] != "2":
        return None
    i = 1
    end = min(len(payload), 1 + _MAX_FAST_ID_DIGITS)
    while i < end and "0" <= payload[i] <= "9":
        i += 1
    if payload[i : i + 1] != "[":
        return None
    try:
        data = json.loads(payload[i:])
    except (ValueError, RecursionError):  # the general decoder refuses it, typed
        return None
    return (int(payload[1:i]) if i > 1 else None), data


class GuardedSocketServer(DirectSendServer):
    def __init__(
        self,
        *,
        allowed_events: Mapping[str, object],
        auth_timeout_s: float,
        max_bad_packets: int,
        trust_forwarded_for: bool = False,
        route_tag: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.allowed_events = allowed_events
        self.auth_timeout_s = auth_timeout_s
        self.max_bad_packets = max_bad_packets
        self.bad_packets: dict[str, int] = {}
        self.eio.trust_forwarded_for = trust_forwarded_for
        self.eio.route_tag = route_tag
        self.eio.relais_message_sink = self.take_ws_message

    def _engineio_server_class(self) -> type[GuardedEngineServer]:
        return GuardedEngineServer

    # -- the one way in for client packets ---------------------------------------------------

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        ack_id: int | None = None
        namespace = DEFAULT_NAMESPACE
        try:
            if not isinstance(data, str):
                raise Refused("bad_request", "binary frames are not part of the protocol")
            try:
                pkt = self.packet_class(encoded_packet=data)
            except Exception as exc:
                log.warning(
                    "malformed socket.io packet",
                    extra={"sid": eio_sid, "reason": type(exc).__name__},
                )
                raise Refused("bad_request", "malformed packet") from None
            if pkt.packet_type in _ASKS_FOR_ACK and isinstance(pkt.id, int):
                ack_id = pkt.id
            namespace = pkt.namespace or DEFAULT_NAMESPACE
            await self._route(eio_sid, pkt, namespace)
        except Refused as refusal:
            await self._refuse(eio_sid, namespace, ack_id, refusal)

    def take_ws_message(self, eio_sid: str, data: str | bytes) -> Coroutine[Any, Any, None] | None:
        """The payload of an engine.io MESSAGE read from a WebSocket (websocket.py's read loop).
        An EVENT on the default namespace is decoded here, once, and starts the one task that
        runs its handler; nothing is left to await. Anything else (CONNECT, namespaces,
        attachments, whatever does not decode, refusals) is returned for the read loop to
        await before it reads the next frame, as python-socketio's own path did: a CONNECT
        is then complete before the events that follow it are looked at."""
        if isinstance(data, str):
            event = _decode_event(data)
            if event is not None:
                ack_id, args = event
                try:
                    self._start_event(eio_sid, DEFAULT_NAMESPACE, ack_id, args)
                except Refused as refusal:
                    return self._refuse(eio_sid, DEFAULT_NAMESPACE, ack_id, refusal)
                return None
        return self._handle_eio_message(eio_sid, data)

    def _start_event(self, eio_sid: str, namespace: str, ack_id: int | None, data: Any) -> None:
        """Checks an EVENT and starts its handler; raises Refused."""
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        # Connected, not merely pre-connected: python-socketio drops events sent while the
        # connect handler is still running, without an answer.
        if namespace != DEFAULT_NAMESPACE or not self.manager.is_connected(sid, namespace):
            raise Refused("unauthorized", "connect the namespace first")
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            raise Refused("bad_request", "an event is a list starting with its name")
        if data[0] not in self.allowed_events:
            metrics.EVENTS.labels("unknown", "bad_request").inc()
            raise Refused("bad_request", "unknown event", counts=False)
        self._spawn(self._run_event(sid, eio_sid, ack_id, data))

    async def _run_event(self, sid: str, eio_sid: str, ack_id: int | None, data: list[Any]) -> None:
        """python-socketio's `_handle_event_internal`, with the ACK encoded straight to text."""
        result = await self._trigger_event(data[0], DEFAULT_NAMESPACE, sid, *data[1:])
        if ack_id is None or result == self.not_handled:
            return
        args = [] if result is None else list(result) if isinstance(result, tuple) else [result]
        try:
            text = json.dumps(args, separators=(",", ":"))
        except TypeError:  # not plain JSON (bytes): python-socketio's binary ACK
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    sio_packet.ACK, namespace=DEFAULT_NAMESPACE, id=ack_id, data=args
                ),
            )
            return
        await self.send_encoded(eio_sid, f"3{ack_id}{text}")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def _route(self, eio_sid: str, pkt: Any, namespace: str) -> None:
        kind = pkt.packet_type
        connected = self.manager.sid_from_eio_sid(eio_sid, namespace) is not None
        if kind == sio_packet.EVENT:
            self._start_event(eio_sid, namespace, pkt.id, pkt.data)
        elif kind == sio_packet.CONNECT:
            if namespace != DEFAULT_NAMESPACE:
                raise Refused("not_found", "unknown namespace")
            if connected:
                raise Refused("conflict", "namespace already connected")
            await self._handle_connect(eio_sid, namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            if not connected:
                raise Refused("bad_request", "namespace not connected")
            await self._handle_disconnect(eio_sid, namespace, self.reason.CLIENT_DISCONNECT)
            # The client left its only namespace: nothing can use the transport any more.
            await close_engine_socket(self.eio, eio_sid)
        elif kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
            raise Refused("bad_request", "the server asked for no acknowledgement")
        elif kind == sio_packet.BINARY_EVENT:
            raise Refused("bad_request", "binary attachments are not part of the protocol")
        else:
            raise Refused("bad_request", "unexpected packet type")

    async def _refuse(
        self, eio_sid: str, namespace: str, ack_id: int | None, refusal: Refused
    ) -> None:
        metrics.ERRORS.labels(refusal.code).inc()
        body = ApiError(refusal.code, refusal.message).body()
        if len(namespace) > _MAX_ECHOED_NAMESPACE:
            namespace = DEFAULT_NAMESPACE
        connected = self.manager.sid_from_eio_sid(eio_sid, namespace) is not None
        if ack_id is not None:
            pkt = self.packet_class(sio_packet.ACK, namespace=namespace, id=ack_id, data=[body])
        elif connected:
            pkt = self.packet_class(sio_packet.EVENT, namespace=namespace, data=["error", body])
        else:
            pkt = self.packet_class(
                sio_packet.CONNECT_ERROR,
                namespace=namespace,
                data={"message": refusal.message, "data": body},
            )
        log.info(
            "socket packet refused",
            extra={"sid": eio_sid, "code": refusal.code, "reason": refusal.message},
        )
        if eio_sid in self.eio.sockets:
            await self._send_packet(eio_sid, pkt)
        if refusal.counts:
            n = self.bad_packets.get(eio_sid, 0) + 1
            self.bad_packets[eio_sid] = n
            if n >= self.max_bad_packets:
                log.warning(
                    "socket closed after repeated bad packets",
                    extra={"sid": eio_sid, "count": n},
                )
                await self.close_transport(eio_sid)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> None:
        await super()._handle_eio_connect(eio_sid, environ)
        asyncio.get_running_loop().call_later(self.auth_timeout_s, self._auth_deadline, eio_sid)

    def _auth_deadline(self, eio_sid: str) -> None:
        if eio_sid not in self.eio.sockets:
            return
        if self.manager.sid_from_eio_sid(eio_sid, DEFAULT_NAMESPACE) is not None:
            return
        log.info("socket closed: no namespace connect in time", extra={"sid": eio_sid})
        task = asyncio.ensure_future(self.close_transport(eio_sid))
        task.add_done_callback(_log_failure)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self.bad_packets.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def disconnect(
        self, sid: str, namespace: str | None = None, ignore_queue: bool = False
    ) -> None:
        """A server-side disconnect ends the transport too, so the socket leaves every room
        and cannot linger half-open (the session that authorised it has ended)."""
        eio_sid = self.manager.eio_sid_from_sid(sid, namespace or DEFAULT_NAMESPACE)
        await super().disconnect(sid, namespace=namespace, ignore_queue=ignore_queue)
        if eio_sid is not None:
            await close_engine_socket(self.eio, eio_sid)

    async def close_transport(self, eio_sid: str) -> None:
        sid = self.manager.sid_from_eio_sid(eio_sid, DEFAULT_NAMESPACE)
        if sid is not None:
            await self.disconnect(sid, ignore_queue=True)
        await close_engine_socket(self.eio, eio_sid)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("closing a socket failed", extra={"reason": type(task.exception()).__name__})

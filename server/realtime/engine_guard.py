"""The engine.io server behind `/socket.io/`, with its HTTP edges made strict and typed.

Stock python-engineio answered a long-polling POST over the size cap by closing the session
and waiting for the client to poll the CLOSE packet, so the POST itself got no answer at all;
it echoed the session id of a bad request into a plain-text 400 and into its own stderr logger;
it served JSONP polling (`j=`), accepted any client that knew a session id (a polling GET/POST
or a WebSocket upgrade from another address), and turned a malformed Content-Length into a
logged traceback. Here every refusal is a typed JSON error, logged as one content-free line,
and a session is bound to the address that opened it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import engineio
from aiohttp import web
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from engineio.async_drivers import aiohttp as eio_aiohttp

from server.addresses import client_address
from server.errors import ERROR_STATUS, ApiError
from server.ops import metrics

log = logging.getLogger("relais.engineio")

_STATUS_LINE = {400: "400 BAD REQUEST", 413: "413 PAYLOAD TOO LARGE"}


def typed_response(code: str, message: str) -> web.Response:
    metrics.ERRORS.labels(code).inc()
    return web.json_response(ApiError(code, message).body(), status=ERROR_STATUS[code])


async def close_engine_socket(eio: engineio.AsyncServer, eio_sid: str) -> None:
    """Close an engine.io session without waiting for its client.

    engine.io's own `disconnect` waits until the client has fetched the CLOSE packet, which a
    long-polling client that stopped polling never does; the caller (a logout, a 413) must not
    hang on it. The session is marked closed at once and its queue gets the CLOSE packet; the
    engine's service task drops it from the table. On WebSocket the writer is then told to
    stop, which closes the WebSocket itself: a client that ignores the CLOSE packet is still
    cut off.
    """
    sock = eio.sockets.get(eio_sid)
    if sock is None or sock.closed or sock.closing:
        return
    await sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT)
    if sock.upgraded:
        sock.queue.put_nowait(None)


# engine.io packets a client may send: CLOSE, PONG, MESSAGE, UPGRADE. Any other type made
# engine.io raise inside a POST and then wait, unanswered, for the client to poll.
_CLIENT_PACKETS = frozenset(
    {eio_packet.CLOSE, eio_packet.PONG, eio_packet.MESSAGE, eio_packet.UPGRADE}
)
_BODY_KEY = "relais.polling_body"


class _Body:
    """The whole request body, read before engine.io sees it (its `wsgi.input`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    async def read(self, n: int = -1) -> bytes:
        return self.data if n < 0 else self.data[:n]


def _payload_problem(body: bytes) -> str | None:
    """Why a polling POST body is not a payload engine.io can take, or None when it is."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "not-utf8"
    if not text:
        return "empty"
    try:
        packets = eio_payload.Payload(encoded_payload=text).packets
    except Exception as exc:
        return type(exc).__name__
    if any(p.packet_type not in _CLIENT_PACKETS for p in packets):
        return "packet-type"
    return None


async def _translate_request(request: web.Request) -> dict[str, Any]:
    """engine.io's aiohttp environ, with the POST body the guard has already read and checked.

    engine.io reads a polling POST with one `content.read(length)`, which returns whatever part
    of the body has arrived: a payload split over TCP segments was decoded truncated.
    """
    environ: dict[str, Any] = eio_aiohttp.translate_request(request)
    if request.method == "POST":
        environ["wsgi.input"] = _Body(request.get(_BODY_KEY, b""))
    return environ


class GuardedEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    trust_forwarded_for = False
    route_tag = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.peers: dict[str, str] = {}
        drivers: dict[str, Any] = self.__dict__["_async"]  # set by engine.io, untyped
        self._async = {**drivers, "translate_request": _translate_request}

    async def handle_request(self, request: web.Request) -> web.StreamResponse:
        try:
            refusal = await self._precheck(request)
            if refusal is not None:
                return refusal
            return await super().handle_request(request)  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("engine.io request failed", extra={"reason": type(exc).__name__})
            if request.headers.get("Upgrade", "").lower() == "websocket":
                raise
            return typed_response("bad_request", "request could not be handled")

    async def _precheck(self, request: web.Request) -> web.Response | None:
        query = request.query
        if "j" in query:
            return self._refuse("bad_request", "JSONP polling is not supported", "jsonp")
        if query.get("EIO") != "4":
            return self._refuse("bad_request", "only engine.io protocol 4 is supported", "eio")
        sid = query.get("sid")
        if sid is None:
            return None
        if sid not in self.sockets or self.peers.get(sid) != client_address(
            request, self.trust_forwarded_for
        ):
            # Same answer for unknown and foreign sessions: it does not confirm that a sid exists.
            return self._refuse("bad_request", "unknown or closed session", "bad-sid")
        if request.method == "POST":
            length = request.content_length
            if length is None:
                return self._refuse("bad_request", "Content-Length required", "no-length")
            if length > self.max_http_buffer_size:
                await close_engine_socket(self, sid)
                return self._refuse(
                    "payload_too_large",
                    f"polling payload larger than {self.max_http_buffer_size} bytes",
                    "too-large",
                )
            # Read whole (its time is bounded by the body reaper, transport_limits.py), then
            # checked, so engine.io only ever sees a payload it can take.
            body = await request.content.readexactly(length)
            problem = _payload_problem(body)
            if problem is not None:
                return self._refuse("bad_request", "malformed polling payload", problem)
            request[_BODY_KEY] = body
        return None

    def generate_id(self) -> str:
        """`<route tag>.<random id>` when this process has a route tag: a long-polling session
        is a series of requests that only its own process can answer, and the tag lets a proxy
        in front of several workers send each one back there (docs/operations.md §1.2). The
        socket.io session ids come from here too; they never travel in a URL."""
        sid = str(super().generate_id())
        return f"{self.route_tag}.{sid}" if self.route_tag else sid

    async def disconnect(self, sid: str | None = None) -> None:
        """engine.io's own disconnect waits for each client to fetch its CLOSE packet: its
        error paths left the request that caused them unanswered, and a shutdown hung on any
        long-polling client that had stopped polling. Here nothing waits on a client."""
        if sid is not None:
            await close_engine_socket(self, sid)
            return
        sessions: dict[str, Any] = self.__dict__["sockets"]
        for each in list(sessions):
            await close_engine_socket(self, each)
        sessions.clear()

    @staticmethod
    def _refuse(code: str, message: str, key: str) -> web.Response:
        log.info("engine.io request refused", extra={"code": code, "reason": key})
        return typed_response(code, message)

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            environ = args[1]
            self.peers[args[0]] = client_address(
                environ.get("aiohttp.request"), self.trust_forwarded_for
            )
        elif event == "disconnect":
            self.peers.pop(args[0], None)
        return await super()._trigger_event(event, *args, **kwargs)

    def _bad_request(self, message: str | None = None) -> dict[str, Any]:
        # engine.io's messages may carry a session id: only fixed texts leave the server.
        text = message if message and "session" not in message.lower() else "bad request"
        metrics.ERRORS.labels("bad_request").inc()
        return {
            "status": _STATUS_LINE[400],
            "headers": [("Content-Type", "application/json; charset=utf-8")],
            "response": json.dumps(ApiError("bad_request", text).body()).encode(),
        }

    def _log_error_once(self, message: str, message_key: str) -> None:
        # The stock messages embed session ids and origins; only the key is logged.
        log.info("engine.io request refused", extra={"code": "bad_request", "reason": message_key})

"""The socket.io server: token authentication at connect, one dispatch path for every event."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import socketio

from server.addresses import client_address
from server.ops import metrics
from server.settings import Settings

from .connections import Connection, device_room, user_room
from .fanout import FanoutManager
from .library_logs import ENGINEIO_LOGGER, SOCKETIO_LOGGER, library_logger
from .packet_guard import GuardedSocketServer
from .redis_fanout import RedisFanoutManager
from .registry import EVENTS, dispatch
from .websocket import install_tracking

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.socket")


def build_socket_server(settings: Settings) -> socketio.AsyncServer:
    if settings.redis_url:
        manager: socketio.AsyncManager = RedisFanoutManager(
            settings.redis_url, channel=f"{settings.redis_prefix}:socketio"
        )
    else:
        manager = FanoutManager()
    sio = GuardedSocketServer(
        allowed_events=EVENTS,
        auth_timeout_s=settings.socket_auth_timeout_s,
        max_bad_packets=settings.socket_max_bad_packets,
        trust_forwarded_for=settings.trust_forwarded_for,
        route_tag=settings.route_tag,
        async_mode="aiohttp",
        client_manager=manager,
        max_http_buffer_size=settings.max_event_bytes,
        cors_allowed_origins=[],
        ping_interval=settings.socket_ping_interval_s,
        ping_timeout=settings.socket_ping_timeout_s,
        logger=library_logger(SOCKETIO_LOGGER),
        engineio_logger=library_logger(ENGINEIO_LOGGER),
        # Our dispatch never raises, so handlers can run as tasks without losing errors.
        async_handlers=True,
    )
    install_tracking(sio)
    return sio


def _refused(code: str, message: str) -> socketio.exceptions.ConnectionRefusedError:
    """The CONNECT_ERROR packet carries {"message": ..., "data": {"error": {code, message}}}."""
    return socketio.exceptions.ConnectionRefusedError(
        message, {"error": {"code": code, "message": message}}
    )


def bind_handlers(sio: socketio.AsyncServer, svc: Services) -> None:
    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ip = client_address(environ.get("aiohttp.request"), svc.settings.trust_forwarded_for)
        if not svc.limits.take_ip(ip):
            raise _refused("rate_limited", "too many connections from this address")
        token = auth.get("token") if isinstance(auth, dict) else None
        principal = await svc.sessions.resolve(token) if isinstance(token, str) else None
        if principal is None:
            raise _refused("unauthorized", "invalid or expired session")
        principal.ip = ip
        conn = Connection(sid, principal, time.time())
        first = svc.connections.add(conn)
        await sio.enter_room(sid, user_room(principal.user_id))
        await sio.enter_room(sid, device_room(principal.device_id))
        metrics.CONNECTIONS.set(len(svc.connections))
        for hook in svc.connect_hooks:
            await hook(svc, conn, first)

    @sio.event
    async def disconnect(sid: str, *_: Any) -> None:
        conn, last = svc.connections.remove(sid)
        metrics.CONNECTIONS.set(len(svc.connections))
        if conn is None:
            return
        for hook in svc.disconnect_hooks:
            try:
                await hook(svc, conn, last)
            except Exception:
                log.exception("disconnect hook failed")

    @sio.on("*")
    async def any_event(event: str, sid: str, data: Any = None, *_: Any) -> Any:
        return await dispatch(svc, svc.connections.by_sid.get(sid), event, data)

    # The packet guard lets only EVENTS names through to `*`; none may shadow a handler.
    clash = set(EVENTS) & ({"connect_error", "error", "message"} | set(sio.handlers["/"]))
    if clash:
        raise RuntimeError(f"socket events shadow lifecycle handlers: {sorted(clash)}")

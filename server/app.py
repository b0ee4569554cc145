"""The application factory: wires settings, storage, socket.io and every feature module."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType

from aiohttp import web

from server.api.context import SERVICES_KEY
from server.api.routing import add_routes, error_response
from server.api.security_headers import install_security_headers
from server.api.web_client import WEB_CLIENT_DIR, add_web_client
from server.audit.log import AuditLog
from server.auth import passwords
from server.auth.sessions import SessionService
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.outage import is_outage, outage_error
from server.errors import ApiError
from server.messaging.store import MessageStore
from server.ops import metrics
from server.ratelimit import RateLimiter
from server.realtime.connections import ConnectionTable
from server.realtime.socket_server import bind_handlers, build_socket_server
from server.services import Services
from server.settings import Settings

log = logging.getLogger("relais.app")

# Feature modules: importing one registers its REST routes and socket events; a module may also
# define `setup(services)` (called at start-up in this order, may be async) to add hooks or to
# build its part (`services.parts`, server/parts.py), and `teardown(services)` to close it.
FEATURE_MODULES = (
    "server.messaging.events",
    "server.messaging.todevice",
    "server.rooms.member_cache",
    "server.messaging.typing",
    "server.messaging.receipts",
    "server.presence.events",
    "server.auth.routes",
    "server.auth.invites",
    "server.auth.totp_routes",
    "server.auth.vault_key",
    "server.auth.admin_routes",
    "server.rooms.routes",
    "server.people.routes",
    "server.rooms.events",
    "server.attachments.routes",
    "server.keys.directory",
    "server.keys.backup",
    "server.api.ops_routes",
    "server.realtime.session_sweeper",
    "server.consultations.service",
    "server.consultations.routes",
    "server.consultations.events",
    "server.consultations.signalling",
    "server.consultations.link_check",
)


def _load_features(names: Sequence[str] = FEATURE_MODULES) -> list[ModuleType]:
    """Import the feature modules, in order. A name that resolves to no module stops the start:
    skipping it would switch a feature off without a word."""
    mods: list[ModuleType] = []
    for name in names:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name is not None and (name == exc.name or name.startswith(f"{exc.name}.")):
                raise ModuleNotFoundError(
                    f"unknown feature module {name!r} (server/app.py FEATURE_MODULES)", name=name
                ) from exc
            raise
    return mods


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        resp = await handler(request)
    except ApiError as err:
        metrics.ERRORS.labels(err.code).inc()
        resp = error_response(err)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(ApiError("not_found", "no such route"))
        if exc.status == 405:
            return error_response(ApiError("bad_request", "method not allowed on this route"))
        if exc.status == 413:
            return error_response(ApiError("payload_too_large", "body too large"))
        if exc.status >= 400:
            # Any other refusal aiohttp raises answers in the error shape too (never its text).
            return error_response(ApiError("bad_request", "request refused"))
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_outage(exc):
            metrics.ERRORS.labels("unavailable").inc()
            log.warning(
                "storage unreachable",
                extra={"route": _route_name(request), "reason": type(exc).__name__},
            )
            resp = error_response(outage_error())
        else:
            metrics.ERRORS.labels("internal").inc()
            log.exception("request failed", extra={"route": _route_name(request)})
            resp = error_response(ApiError("internal", "internal error"))
    _count(request, resp)
    return resp


def _route_name(request: web.Request) -> str:
    """The route template (never the concrete path: ids and invite tokens stay out)."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def _count(request: web.Request, resp: web.StreamResponse) -> None:
    metrics.HTTP_REQUESTS.labels(_route_name(request), str(resp.status)).inc()


async def drain(app: web.Application) -> None:
    """Graceful stop: tell clients to go (they reconnect to another node and `sync`), then
    commit what is already queued. Idempotent: the serve loop calls it before aiohttp's own
    shutdown, which would otherwise wait on open WebSockets first."""
    svc = app[SERVICES_KEY]
    if svc.draining:
        return
    svc.draining = True
    for sid in list(svc.connections.by_sid):
        try:
            await svc.sio.disconnect(sid)
        except Exception:  # noqa: S112 - best effort while draining
            continue
    # A socket.io DISCONNECT leaves the engine.io transport open; close those too so no
    # WebSocket handler keeps the HTTP server from stopping.
    if svc.sio.eio.sockets:
        await svc.sio.eio.disconnect()
    # Let the transports finish their close handshakes before aiohttp starts waiting on them.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(3.0, svc.settings.shutdown_grace_s)
    while svc.sio.eio.sockets and loop.time() < deadline:  # noqa: ASYNC110 - engine.io has no event
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    await svc.messages.stop()


def create_app(settings: Settings) -> web.Application:
    passwords.configure(settings.argon2_time_cost, settings.argon2_memory_kib)
    db = Database(settings.effective_database_url)
    sio = build_socket_server(settings)
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=max(settings.max_event_bytes, settings.max_attachment_bytes + 4096),
    )
    svc = Services(
        settings=settings,
        db=db,
        sessions=SessionService(db, settings.session_ttl_s),
        audit=AuditLog(db),
        messages=MessageStore(db, max_batch=settings.write_batch_max),
        limits=RateLimiter(
            settings.rate_user_per_s,
            settings.rate_user_burst,
            settings.rate_ip_per_s,
            settings.rate_ip_burst,
        ),
        connections=ConnectionTable(),
        sio=sio,
    )
    app[SERVICES_KEY] = svc
    features = _load_features(FEATURE_MODULES)
    sio.attach(app, socketio_path="socket.io")
    bind_handlers(sio, svc)
    add_routes(app)
    add_web_client(
        app, Path(settings.web_client_dir) if settings.web_client_dir else WEB_CLIENT_DIR
    )
    install_security_headers(app)

    async def on_startup(_: web.Application) -> None:
        if settings.migrate_on_start:
            await upgrade(db)
        if settings.redis_url:
            import redis.asyncio as aioredis

            svc.redis = aioredis.from_url(settings.redis_url)
        for mod in features:
            setup = getattr(mod, "setup", None)
            if setup is not None:
                res = setup(svc)
                if asyncio.iscoroutine(res):
                    await res
        svc.messages.start()
        svc.audit.start()
        svc.sessions.start()

    async def on_shutdown(_: web.Application) -> None:
        await drain(app)

    async def on_cleanup(_: web.Application) -> None:
        for mod in features:
            teardown = getattr(mod, "teardown", None)
            if teardown is not None:
                res = teardown(svc)
                if asyncio.iscoroutine(res):
                    await res
        await svc.sessions.stop()
        await svc.audit.stop()
        if svc.redis is not None:
            await svc.redis.aclose()
        await db.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app

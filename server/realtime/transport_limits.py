"""Time bounds on every HTTP connection of the server process.

aiohttp's own bounds: a connection waiting for a request, whether idle after a response or with
a request line and headers only half sent, is closed by its keep-alive timer, which starts when
the connection opens (or a response ends) and is not pushed back by trickled bytes; so
`http_keepalive_s` bounds both the keep-alive idle time and the time to send complete headers.
aiohttp has no bound at all on a request *body*: a client that sends its headers and then
stalls, or drips the body, holds the connection and a handler for ever.

`BoundedAppRunner` adds that bound: one reaper task looks at the open connections every
`tick_s` and closes those whose current request body has stopped arriving while the handler
waits for it (`http_body_idle_s`) or has taken longer than `http_body_timeout_s` in all. A
handler that is busy (a long-poll GET, a WebSocket, a slow query) is never touched: only bodies
are timed, and they are timed only while incomplete. WebSockets and long-polling sessions are
bounded by engine.io's ping timeout instead (`socket_ping_*`, see socket_server.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from server.api.protocol_errors import adopt

log = logging.getLogger("relais.transport")


@dataclass
class _BodyClock:
    request: object
    started: float
    seen_bytes: int
    progress_at: float


class BodyReaper:
    """Closes connections whose request body stalls or takes too long (see module doc)."""

    def __init__(self, body_idle_s: float, body_timeout_s: float, tick_s: float = 1.0) -> None:
        self.body_idle_s = body_idle_s
        self.body_timeout_s = body_timeout_s
        self.tick_s = tick_s
        self.clocks: dict[RequestHandler, _BodyClock] = {}

    def check(self, handlers: list[RequestHandler], now: float) -> int:
        """One pass; returns how many connections were closed."""
        closed = 0
        alive: dict[RequestHandler, _BodyClock] = {}
        for handler in handlers:
            request = handler._current_request
            if request is None:
                continue
            body = request.content
            if body.is_eof():
                continue
            clock = self.clocks.get(handler)
            if clock is None or clock.request is not request:
                clock = _BodyClock(request, now, body.total_bytes, now)
            elif body.total_bytes != clock.seen_bytes or body._waiter is None:
                # Progress, or the handler is not waiting on the client: not the client's stall.
                clock.seen_bytes = body.total_bytes
                clock.progress_at = now
            reason = None
            if now - clock.started > self.body_timeout_s:
                reason = "body_timeout"
            elif now - clock.progress_at > self.body_idle_s:
                reason = "body_idle"
            if reason is None:
                alive[handler] = clock
                continue
            log.info("connection closed: request body too slow", extra={"reason": reason})
            handler.force_close()
            closed += 1
        self.clocks = alive
        return closed

    async def run(self, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.check(server.connections, loop.time())
            except Exception:
                log.exception("body reaper pass failed")


class BoundedAppRunner(web.AppRunner):
    """`web.AppRunner` plus the body reaper, running as long as the runner is set up, and typed
    answers to malformed HTTP."""

    def __init__(self, app: web.Application, *, reaper: BodyReaper, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.reaper = reaper
        self._reaper_task: asyncio.Task[None] | None = None

    async def _make_server(self) -> web.Server:
        # Malformed HTTP is answered in the API's error shape (server/api/protocol_errors.py).
        return adopt(await super()._make_server())

    async def setup(self) -> None:
        await super().setup()
        assert self.server is not None
        self._reaper_task = asyncio.create_task(
            self.reaper.run(self.server), name="relais-body-reaper"
        )

    async def cleanup(self) -> None:
        if self._reaper_task is not None:
            self._reaper_task.cancel()
            await asyncio.gather(self._reaper_task, return_exceptions=True)
            self._reaper_task = None
        await super().cleanup()

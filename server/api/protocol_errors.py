"""Answers to requests that never reach the application: malformed HTTP.

aiohttp answers a request it cannot parse (a bad request line, an over-long header, a broken
`Content-Length`, `Transfer-Encoding` with `Content-Length`) itself, before any middleware or
`on_response_prepare` hook runs: a `text/plain` page that quotes the offending request bytes,
`Server: Python/... aiohttp/...`, none of the security headers, and an `error` log line. Here
that one path answers like every other refusal of this server: the JSON error shape, the same
headers as every response (`security_headers.py`), and a warning that names the parser's
verdict, never the bytes.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from server.errors import ApiError

from .security_headers import API_CSP, EVERY_RESPONSE, SERVER_NAME

log = logging.getLogger("relais.http")

_CODES = {
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: ("payload_too_large", "request too large"),
    HTTPStatus.INTERNAL_SERVER_ERROR: ("internal", "internal error"),
    HTTPStatus.GATEWAY_TIMEOUT: ("unavailable", "the server could not answer in time"),
}


class TypedErrorRequestHandler(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        code, text = _CODES.get(HTTPStatus(status), ("bad_request", "malformed HTTP request"))
        log.warning(
            "HTTP request refused before routing",
            extra={"status": status, "reason": type(exc).__name__ if exc else None},
        )
        if request.writer.output_size > 0:
            # Part of a response is out already: the connection can only be dropped.
            raise ConnectionError("response already started")
        err = ApiError(code, text)
        resp = web.json_response(err.body(), status=status)
        resp.headers["Server"] = SERVER_NAME
        resp.headers.update(EVERY_RESPONSE)
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Content-Security-Policy"] = API_CSP
        resp.force_close()
        return resp


class TypedErrorServer(web.Server):
    """aiohttp's `Server`, making connections with `TypedErrorRequestHandler`."""

    def __call__(self) -> RequestHandler:
        return TypedErrorRequestHandler(self, loop=self._loop, **self._kwargs)


def adopt(server: web.Server) -> web.Server:
    """Turn the `Server` an `AppRunner` built into a `TypedErrorServer` (same state, same
    connections; only how new connections are made changes). Pinned by
    tests/security/test_http_surface.py: an aiohttp upgrade that breaks it fails there."""
    server.__class__ = TypedErrorServer
    return server

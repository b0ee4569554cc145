"""The browser app's static files under `/app/` (docs/protocol.md, "Web client").

They are plain files with no build step, read from the repository's `web_client/` folder next
to the `server` package (an editable install or a source checkout). They are not API routes: no
bearer auth (a page cannot send one when it is loaded; the pages authenticate their socket.io
connection themselves), so they stay out of `ROUTES`, the OpenAPI document and the authorisation
matrix. Every response forbids framing and third-party code, as the pages must not need any.

A node without the folder still serves the API; `/app/` then answers `unavailable` with the path
it looked for, rather than a bare 404 that would look like a wrong URL.

Files are looked up here rather than by aiohttp's static route, whose misses are empty
`application/octet-stream` 404s and whose folder URLs are plain-text 403s: every miss is the API's
JSON `not_found`, like any other unknown URL. Only regular files inside the folder are served:
the resolved path must stay under it (no `..`, no symlink out) and hidden files are never served.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from server.errors import ApiError

log = logging.getLogger("relais.web_client")

PREFIX = "/app"
WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client"
# Same-origin only: scripts, media and the socket.io WebSocket of this server, nothing else.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(PREFIX + "/"):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)


def _find(folder: Path, tail: str) -> Path | None:
    """The regular file `tail` names inside `folder`, or None. Runs in a thread (it stats)."""
    parts = tail.split("/")
    if not tail or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p for p in parts):
        return None
    path = (folder / tail).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    return path


def add_web_client(app: web.Application, folder: Path = WEB_CLIENT_DIR) -> None:
    """Serve `folder`'s files under `/app/` (conditional GETs and ranges by `FileResponse`)."""
    app.on_response_prepare.append(_security_headers)
    if folder.is_dir():
        root = folder.resolve()

        async def serve_file(request: web.Request) -> web.StreamResponse:
            path = await asyncio.to_thread(_find, root, request.match_info["tail"])
            if path is None:
                raise ApiError("not_found", "no such file")
            return web.FileResponse(path)

        app.router.add_get(PREFIX + "/{tail:.*}", serve_file, name="web_client")
        return
    log.error("web client folder %s is missing: /app/ will answer 503", folder)

    async def missing(_: web.Request) -> web.Response:
        raise ApiError("unavailable", f"the web client is not installed on this node ({folder})")

    app.router.add_get(PREFIX + "/{tail:.*}", missing, name="web_client")

"""The browser app's static files under `/app/` (docs/protocol.md, "Web client").

They are plain files with no build step, read from the repository's `web_client/` folder next
to the `server` package (an editable install or a source checkout). They are not API routes: no
bearer auth (a page cannot send one when it is loaded; the pages authenticate their socket.io
connection themselves), so they stay out of `ROUTES`, the OpenAPI document and the authorisation
matrix. Every response forbids framing and third-party code, as the pages must not need any.

A node without the folder still serves the API; `/app/` then answers `unavailable` with the path
it looked for, rather than a bare 404 that would look like a wrong URL.
"""

from __future__ import annotations

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


def add_web_client(app: web.Application, folder: Path = WEB_CLIENT_DIR) -> None:
    """Serve `folder` under `/app/` (aiohttp's static handler: no directory listing, no path
    traversal, conditional GETs)."""
    app.on_response_prepare.append(_security_headers)
    if folder.is_dir():
        app.router.add_static(PREFIX, folder, name="web_client", follow_symlinks=False)
        return
    log.error("web client folder %s is missing: /app/ will answer 503", folder)

    async def missing(_: web.Request) -> web.Response:
        raise ApiError("unavailable", f"the web client is not installed on this node ({folder})")

    app.router.add_get(PREFIX + "/{tail:.*}", missing, name="web_client")

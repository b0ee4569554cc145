"""The browser app under `/app/` (docs/protocol.md §2.8): the built files of `web_client/dist`.

`make web` builds them with esbuild into content-hashed bundles (`assets/<name>-<hash>.js|css`),
committed so that a node needs no Node.js. How each kind of file is cached follows from that:

- `assets/*`: the name changes whenever the bytes do, so a browser may keep them for a year
  without asking again (`immutable`): a reload on a rural link costs one small HTML request;
- HTML pages: `no-store`, so a deployment is picked up at the next load and a shared device keeps
  no copy of a page that may carry state;
- the patient's join page, `/consult/<token>` (the link a clinician hands out): `join.html`,
  `no-store` like any page, under the same policy; its scripts are the hashed `/app/assets/*`;
- anything else (the manifest, the licences, the media-check page's script): `no-cache`.

Every response forbids framing and any script or connection that is not this server's, and asks
for Trusted Types so no string ever reaches an HTML or script sink. The pages authenticate their
own socket.io connection; these are not API routes (no bearer auth, not in `ROUTES`, the OpenAPI
document or the authorisation matrix).

Files are looked up here rather than by aiohttp's static route, whose misses are empty
`application/octet-stream` 404s and whose folder URLs are plain-text 403s: every miss is the API's
JSON `not_found`, like any other unknown URL. Only regular files inside the folder are served:
the resolved path must stay under it (no `..`, no symlink out) and hidden files are never served.
A node without the folder still serves the API; `/app/` then answers `unavailable` with the path
it looked for, rather than a bare 404 that would look like a wrong URL.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from server.errors import ApiError

log = logging.getLogger("relais.web_client")

PREFIX = "/app"
# The patient's join page (docs/protocol.md §2.8): the link a clinician hands out,
# `/consult/<token>`, answers the built `join.html`, whatever the token (the page redeems it).
JOIN_PREFIX = "/consult/"
JOIN_PAGE = "join.html"
WEB_CLIENT_DIR = Path(__file__).resolve().parents[2] / "web_client" / "dist"
INDEX = "index.html"
# Same-origin only: scripts, styles, media and the socket.io connection of this server, nothing
# else; images also from blob: (decrypted attachment previews) and data: (QR codes).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; worker-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()",
}
IMMUTABLE = "public, max-age=31536000, immutable"
HASHED_FOLDER = "assets/"


def cache_control(tail: str) -> str:
    """The caching rule for a file of the built app, by what kind of file it is (see above)."""
    if tail.startswith(HASHED_FOLDER):
        return IMMUTABLE
    if tail.endswith(".html"):
        return "no-store"
    return "no-cache"


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith((PREFIX + "/", JOIN_PREFIX)):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")


def _find(folder: Path, tail: str) -> Path | None:
    """The regular file `tail` names inside `folder`, or None. Runs in a thread (it stats).

    A name the file system refuses (a NUL: ValueError; too long, or any other OS error) names
    no file either: a miss, never a 500."""
    parts = tail.split("/")
    if not tail or any(
        p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts
    ):
        return None
    try:
        path = (folder / tail).resolve()
        if not path.is_relative_to(folder) or not path.is_file():
            return None
    except (OSError, ValueError):
        return None
    return path


def add_web_client(app: web.Application, folder: Path = WEB_CLIENT_DIR) -> None:
    """Serve `folder`'s files under `/app/` (conditional GETs and ranges by `FileResponse`)."""
    app.on_response_prepare.append(_security_headers)

    async def to_app(_: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(PREFIX + "/")

    # `/` and `/app` lead to the app, so the URL `make run` prints is the one to open.
    app.router.add_get("/", to_app, name="web_client_root")
    app.router.add_get(PREFIX, to_app, name="web_client_bare")
    if folder.is_dir():
        root = folder.resolve()

        async def serve_file(request: web.Request) -> web.StreamResponse:
            tail = request.match_info["tail"] or INDEX
            path = await asyncio.to_thread(_find, root, tail)
            if path is None:
                raise ApiError("not_found", "no such file")
            response = web.FileResponse(path)
            response.headers["Cache-Control"] = cache_control(tail)
            return response

        app.router.add_get(PREFIX + "/{tail:.*}", serve_file, name="web_client")

        async def serve_join(_: web.Request) -> web.StreamResponse:
            # The token stays out of every log and error: the page is the same for all tokens.
            path = await asyncio.to_thread(_find, root, JOIN_PAGE)
            if path is None:
                raise ApiError("not_found", "no such file")
            response = web.FileResponse(path)
            response.headers["Cache-Control"] = "no-store"
            return response

        app.router.add_get(JOIN_PREFIX + "{token:[^/]*}", serve_join, name="web_client_join")
        return
    log.error("web client folder %s is missing: /app/ will answer 503", folder)

    async def missing(_: web.Request) -> web.Response:
        raise ApiError("unavailable", f"the web client is not installed on this node ({folder})")

    app.router.add_get(PREFIX + "/{tail:.*}", missing, name="web_client")
    app.router.add_get(JOIN_PREFIX + "{token:[^/]*}", missing, name="web_client_join")

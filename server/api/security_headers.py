"""Headers every HTTP response carries, whatever produced it: a route, an error, a static file,
engine.io's long-polling, a WebSocket upgrade.

They are set in `on_response_prepare`, the last step before the status line is written, so no
code path can forget them and no handler has to remember. What each one is for:

- `X-Content-Type-Options: nosniff`: a browser never runs an API answer or an attachment's bytes
  as a script or a page because they look like one.
- `Referrer-Policy: no-referrer`: invitation links carry their token in the URL; a page must not
  hand it to anyone it links to.
- `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no page of this server can be framed
  (click-jacking of admit/consent buttons).
- `Cache-Control: no-store` on everything but the web client's files: API answers carry session
  tokens, invitation tokens and patient metadata, which a shared health-bus device must not keep
  in its HTTP cache. A handler that sets its own (attachments: `private, no-store`) keeps it.
- `Server: relais`: aiohttp would otherwise name itself and Python with their versions, a free
  map of which published bugs apply. aiohttp only fills `Server` when it is absent, so setting it
  here replaces the banner.
"""

from __future__ import annotations

from aiohttp import web

# Paths whose responses set their own caching and CSP (static files of the web client).
WEB_CLIENT_PREFIX = "/app/"
SERVER_NAME = "relais"
EVERY_RESPONSE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# JSON is never rendered, but if a browser is ever led to open an API URL it runs nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


async def _set_headers(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers["Server"] = SERVER_NAME
    for name, value in EVERY_RESPONSE.items():
        headers.setdefault(name, value)
    if not request.path.startswith(WEB_CLIENT_PREFIX):
        headers.setdefault("Cache-Control", "no-store")
        headers.setdefault("Content-Security-Policy", API_CSP)


def install_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(_set_headers)

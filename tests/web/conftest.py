"""Browser tests of the web app (web_client/): a real `relais serve` on its own SQLite file, and
headless Chromium pages that record every console error and CSP/Trusted Types violation, so a
test fails on the first script the policy had to block."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page

from tests.browser import launch_chromium
from tests.nodejs import WEB_CLIENT, require_node
from tests.security.conftest import Served, serve

pytestmark = pytest.mark.slow

WATCH = """() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', e =>
    window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || '')));
}"""


@pytest.fixture
async def app_server(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url)
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


AXE = WEB_CLIENT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.0/2.1 A and AA, the bar WEB.md sets for every screen.
AXE_RUN = """async () => {
  const r = await axe.run(document, {runOnly: {type: 'tag',
    values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}, resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


class Watched:
    """A page with the errors it produced."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    async def violations(self) -> list[str]:
        return list(await self.page.evaluate("() => window.__violations || []"))

    async def assert_accessible(self, screen: str) -> None:
        """axe-core (the locked npm devDependency, evaluated by DevTools so the page's own CSP,
        which allows no injected script, stays on) finds no WCAG 2.1 A/AA violation."""
        if not await self.page.evaluate("() => typeof axe !== 'undefined'"):
            await self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        violations = await self.page.evaluate(AXE_RUN)
        assert violations == [], f"{screen}: {violations}"

    async def assert_clean(self, *also: str) -> None:
        """`also`: further refusals this test provokes on purpose (e.g. "status of 404")."""
        assert await self.violations() == []
        # Refusals a test provokes (a wrong password is a 401) and the socket's reconnects while a
        # test cuts the network are expected; any other failed load or script error is not.
        expected = ("status of 401", "status of 423", "ERR_INTERNET_DISCONNECTED", *also)
        errors = [e for e in self.errors if not any(x in e for x in expected)]
        assert errors == [], errors


@pytest.fixture
async def browser() -> AsyncIterator[Callable[..., Any]]:
    """`await open_page(**context_options)` -> Watched, each in its own Chromium and profile."""
    require_node()  # axe-core comes from web_client/node_modules

    async with contextlib.AsyncExitStack() as stack:

        async def open_page(**options: Any) -> Watched:
            options.setdefault("locale", "fr-FR")
            context: BrowserContext = await stack.enter_async_context(launch_chromium(**options))
            page = context.pages[0] if context.pages else await context.new_page()
            await page.add_init_script(script=f"({WATCH})()")
            return Watched(page)

        yield open_page


@contextlib.asynccontextmanager
async def refusing_websocket(upstream: str) -> AsyncIterator[str]:
    """An HTTP proxy in front of `upstream` that forwards every request but answers a WebSocket
    upgrade with 403, as some hospital proxies do. Yields the proxy's base URL."""
    from aiohttp import ClientSession, ClientTimeout, web

    from tests.conftest import free_port

    hop = {"host", "connection", "upgrade", "content-length", "transfer-encoding", "keep-alive"}

    async def forward(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return web.Response(status=403, text="WebSocket refused by the proxy")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop}
        headers["Accept-Encoding"] = "identity"  # relayed as is, nothing to re-encode
        async with http.request(
            request.method,
            upstream + request.rel_url.path_qs,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as resp:
            body = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in hop}
            return web.Response(status=resp.status, headers=out, body=body)

    http = ClientSession(timeout=ClientTimeout(total=60), auto_decompress=False)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
        await http.close()


@pytest.fixture
async def lab_server(tmp_path: Path) -> AsyncIterator[Served]:
    """`relais serve` listening on every address, so a browser inside the network lab reaches it
    through the shaped veth (at the lab's host address)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url, RELAIS_HOST="0.0.0.0")
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()

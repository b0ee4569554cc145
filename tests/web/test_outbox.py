"""The offline outbox (issue 12): what a clinician types while the browser is offline is shown as
pending and is delivered in order, exactly once, when the link returns. (The outbox is sealed in
the vault; a reload while offline cannot load the page itself, which has no service worker.)
The reader's browser sits behind a network that refuses WebSocket (as some hospital proxies do):
its socket falls back to long-polling and it still gets every message live."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.security.conftest import Served, serve
from tests.web.conftest import refusing_websocket
from tests.web.workspace import (
    add_member,
    create_room,
    first_device,
    open_room,
    send,
    sign_in,
    timeline,
)

TITLE = "M. Bernard, Aubusson"
FIRST, SECOND, THIRD = "Pansement refait à 9 h", "Douleur 3/10", "Rappel : prise de sang jeudi"


@pytest.fixture
async def app_server(tmp_path: Path) -> AsyncIterator[Served]:
    """The server with 4 s engine.io pings: a browser taken offline notices it when a ping does
    not come (interval + timeout), in ~8 s instead of the defaults' ~26 s of waiting."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(
        tmp_path, url, RELAIS_SOCKET_PING_INTERVAL_S="4", RELAIS_SOCKET_PING_TIMEOUT_S="4"
    )
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


async def test_typed_offline_sent_in_order_once_on_reconnect(
    app_server: Served, browser: Any
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        await _typed_offline(app_server, browser, stack)


async def _typed_offline(
    app_server: Served, browser: Any, stack: contextlib.AsyncExitStack
) -> None:
    await app_server.add_user("dr.roux")
    await app_server.add_user("ide.petit")
    a, b = await browser(), await browser()
    proxy = await stack.enter_async_context(refusing_websocket(app_server.url))
    polled: list[str] = []
    b.page.on("request", lambda r: "transport=polling" in r.url and polled.append(r.url))
    await sign_in(a.page, app_server.url, "dr.roux")
    await first_device(a.page)
    await sign_in(b.page, proxy, "ide.petit")
    await first_device(b.page)
    await create_room(a.page, TITLE)
    await add_member(a.page, "ide.petit")
    await open_room(b.page, TITLE)

    await a.page.context.set_offline(True)
    await expect(a.page.get_by_role("status").filter(has_text="Hors ligne")).to_be_visible(
        timeout=30_000
    )
    await send(a.page, FIRST)
    await send(a.page, SECOND)
    pending = timeline(a.page).locator(".message.pending")
    await expect(pending).to_have_count(2)
    await expect(pending.first).to_contain_text("En attente d'envoi")
    await a.assert_accessible("room, offline with pending messages")

    await send(a.page, THIRD)
    await expect(timeline(a.page).locator(".message.pending")).to_have_count(3)

    await a.page.context.set_offline(False)
    await expect(timeline(a.page).locator(".message.pending")).to_have_count(0, timeout=60_000)
    named = f"Nom de la salle : « {TITLE} »"
    texts = timeline(b.page).locator(".message .body")
    await expect(texts).to_have_text([named, FIRST, SECOND, THIRD], timeout=30_000)
    # Exactly once, in order, on the sender's side too.
    await expect(timeline(a.page).locator(".message .body")).to_have_text(
        [named, FIRST, SECOND, THIRD]
    )
    assert polled, "the reader's socket went over long-polling"
    refused = [e for e in b.errors if "WebSocket handshake" in e and "403" in e]
    assert refused, "the reader's browser tried WebSocket first"
    await expect(b.page.get_by_role("status").filter(has_text="Hors ligne")).to_have_count(0)
    # A later reconnect tries WebSocket again, maybe while the check runs: the filter is inside.
    await b.assert_clean("WebSocket handshake")

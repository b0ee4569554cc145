"""Reloading the workspace in Chromium: the session and the device's keys come back from the
vault, the open room shows its history at once (before the socket is even up) and goes on with
live messages; and what was typed while the socket was down survives the reload in the outbox
and is delivered once, when the link returns."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from tests.security.conftest import Served
from tests.web.workspace import (
    SocketLink,
    browsers,
    offline,
    send,
    shared_room,
    signed_in,
    timeline,
)

TITLE = "Mme Moreau, Ahun"
HELLO = "Kiné passée, marche avec déambulateur"
AFTER = "Famille prévenue pour samedi"
PENDING = "Ordonnance à renouveler avant lundi"


async def test_reload_keeps_session_history_and_outbox(app_server: Served, browser: Any) -> None:
    a, b = await browsers(browser)
    link = SocketLink(a.page)
    await link.install()
    await signed_in(app_server, [a, b], ["dr.martin", "ide.leroy"])
    await shared_room(a.page, b.page, TITLE, "ide.leroy")
    await send(a.page, HELLO)
    await expect(timeline(b.page).get_by_text(HELLO)).to_be_visible(timeout=15_000)

    await b.page.reload()
    await expect(b.page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    hello = timeline(b.page).locator(".message").filter(has_text=HELLO)
    await expect(hello.locator(".sender")).to_have_text("dr.martin")
    await send(a.page, AFTER)
    await expect(timeline(b.page).get_by_text(AFTER)).to_be_visible(timeout=15_000)
    await b.assert_accessible("room after a reload")

    await link.cut()
    await expect(offline(a.page)).to_be_visible()
    await send(a.page, PENDING)
    pending = timeline(a.page).locator(".message.pending")
    await expect(pending).to_have_count(1)
    await a.page.reload()
    await expect(a.page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    await expect(pending).to_contain_text(PENDING)
    await expect(pending).to_contain_text("En attente d'envoi")
    await expect(timeline(a.page).get_by_text(AFTER)).to_be_visible()
    await a.assert_accessible("room after a reload, offline, one message pending")

    link.restore()
    await expect(pending).to_have_count(0, timeout=20_000)
    texts = [f"Nom de la salle : « {TITLE} »", HELLO, AFTER, PENDING]
    await expect(timeline(b.page).locator(".message .body")).to_have_text(texts)
    await expect(timeline(a.page).locator(".message .body")).to_have_text(texts)
    await a.assert_clean()
    await b.assert_clean()

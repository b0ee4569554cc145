"""A clinician's further devices in Chromium: a new browser restores the keys from the recovery
passphrase (argon2id's progress shown) and reads the room's past; another is approved from the
first by its approval code (text or QR) and reads it too; a device revoked from the devices
screen is signed out at once and comes back only as a new device, without its old keys."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.workspace import (
    RECOVERY,
    ROOMS,
    browsers,
    create_room,
    open_room,
    send,
    sign_in,
    signed_in,
    timeline,
)

TITLE = "Mme Lefèvre, Bourganeuf"
HELLO = "INR 2,4 ce matin, dose inchangée"
NEW_DEVICE = "Nouvel appareil"


async def _history(page: Page) -> None:
    await create_room(page, TITLE)
    await send(page, HELLO)
    await expect(timeline(page).get_by_text(HELLO)).to_be_visible()


async def _reads_history(page: Page) -> None:
    await expect(page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible(timeout=30_000)
    await open_room(page, TITLE)
    await expect(timeline(page).get_by_text(HELLO)).to_be_visible(timeout=15_000)


async def test_new_device_restores_from_the_recovery_passphrase(
    app_server: Served, browser: Any
) -> None:
    a, b = await browsers(browser)
    await signed_in(app_server, [a], ["dr.martin"], backup=True)
    await asyncio.gather(_history(a.page), sign_in(b.page, app_server.url, "dr.martin"))

    await expect(b.page.get_by_role("heading", name=NEW_DEVICE)).to_be_visible()
    await b.assert_accessible("new device, approval code")
    await b.page.get_by_role("button", name="Avec ma phrase de récupération").click()
    await b.assert_accessible("new device, recovery passphrase")
    await b.page.get_by_label("Phrase de récupération", exact=True).fill(RECOVERY)
    await b.page.get_by_role("button", name="Retrouver mes clés").click()
    progress = b.page.get_by_role("progressbar", name="Ouverture de la sauvegarde")
    await expect(progress).to_be_visible()
    await _reads_history(b.page)
    await b.assert_accessible("room, history on the restored device")
    await a.assert_clean()
    await b.assert_clean()


async def test_approved_by_code_then_revoked(app_server: Served, browser: Any) -> None:
    a, c = await browsers(browser)
    await signed_in(app_server, [a], ["dr.martin"])
    await asyncio.gather(_history(a.page), sign_in(c.page, app_server.url, "dr.martin"))

    code = c.page.get_by_label("Code d'approbation de cet appareil")
    await expect(code).to_have_value(re.compile("^relais-approve:"))
    qr = c.page.get_by_role("img", name="QR code d'approbation de cet appareil")
    await expect(qr).to_be_visible()
    await a.page.get_by_role("link", name="Mes appareils").click()
    await a.page.get_by_label("Code du nouvel appareil").fill(await code.input_value())
    await a.page.get_by_role("button", name="Approuver", exact=True).click()
    await expect(a.page.get_by_role("status").filter(has_text="a reçu vos clés")).to_be_visible()
    await _reads_history(c.page)

    # Two "Chrome · Linux": told apart by their short ids, this one marked.
    devices = a.page.get_by_role("list", name="Appareils connectés")
    await expect(devices.get_by_role("listitem")).to_have_count(2)
    await expect(devices.get_by_role("listitem").first).to_contain_text("(cet appareil)")
    await a.assert_accessible("devices screen")
    a.page.once("dialog", lambda dialog: dialog.accept())
    await devices.get_by_role(
        "button", name=re.compile(r"^Retirer l'appareil .+ \([\w-]{6}\)$")
    ).click()
    await expect(a.page.get_by_role("status").filter(has_text="a été retiré")).to_be_visible()
    await expect(devices.get_by_role("listitem")).to_have_count(1)

    await expect(c.page.get_by_role("heading", name="Connexion")).to_be_visible(timeout=15_000)
    await expect(c.page.get_by_role("alert")).to_contain_text("cet appareil a été retiré")
    await c.assert_accessible("sign-in, this device revoked")
    # Back on the revoked browser: a new device, its old keys and history wiped.
    await sign_in(c.page, app_server.url, "dr.martin")
    await expect(c.page.get_by_role("heading", name=NEW_DEVICE)).to_be_visible()
    await a.assert_clean()
    await c.assert_clean("status of 404")  # its sign-in naming the revoked device

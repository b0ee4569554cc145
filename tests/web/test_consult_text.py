"""The consultation's encrypted messages in the browser (issue 13): the clinician and the patient,
each in their own Chromium, write to each other beside the call. The patient's page makes its own
device keys in the waiting room (a guest device, kept in the tab only), the clinician's client
signs it into the chat room when it admits the patient, the texts arrive both ways, a new one is
announced on the patient's call screen while the messages are closed, the keys survive a reload
of the tab, and the server stored none of the plaintext."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from playwright.async_api import Locator, Page, Route, expect

from tests.security.conftest import Served
from tests.web.test_call import PATIENT, in_call
from tests.web.workspace import browsers, patient_admitted

ASK = "Bonjour, pouvez-vous me lire le nom du médicament sur la boîte ?"
ANSWER = "Oui : Kardégic 75, un sachet le matin"
AFTER_RELOAD = "Merci, je note pour l'ordonnance de demain"


def messages(page: Page) -> Locator:
    return page.get_by_role("region", name="Messages")


def said(page: Page, text: str) -> Locator:
    """The message in the list (the live region that announces it says it too)."""
    return messages(page).get_by_role("listitem").filter(has_text=text)


async def write(page: Page, text: str) -> None:
    box = messages(page)
    await box.get_by_label("Votre message").fill(text)
    await box.get_by_role("button", name="Envoyer").click()
    await expect(box.get_by_label("Votre message")).to_have_value("")


def stored_bytes(served: Served) -> bytes:
    """The server's database file(s): everything it kept of the consultation."""
    db = Path(served.database_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())


async def test_clinician_and_patient_exchange_encrypted_messages(
    app_server: Served, browser: Any
) -> None:
    w, p = await browsers(browser)
    clinician, patient = w.page, p.page

    # A slow rural page: the text's code (its own chunk) arrives seconds after the admission, so
    # the clinician's first message is sent before the patient's device keys exist; its key must
    # still reach the patient (asked for and forwarded once the device appears).
    async def slowly(route: Route) -> None:
        await asyncio.sleep(4)
        await route.continue_()

    await patient.route("**/assets/text-*.js", slowly)
    await patient_admitted(app_server, clinician, patient, PATIENT)
    await expect(in_call(patient)).to_be_focused()

    # The clinician writes as soon as the channel is ready (the patient is signed in on admission).
    await write(clinician, ASK)
    await expect(said(clinician, ASK)).to_be_visible()

    # The patient's messages are one tap away; closed, a new text is counted and said aloud.
    toggle = patient.get_by_role("button", name="Messages")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(toggle).to_contain_text("1 nouveau", timeout=30_000)
    await expect(patient.get_by_role("status")).to_contain_text(ASK)
    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(messages(patient).get_by_label("Votre message")).to_be_focused()
    await expect(said(patient, ASK)).to_be_visible()
    await write(patient, ANSWER)
    await expect(said(clinician, ANSWER)).to_be_visible(timeout=20_000)
    # Who wrote what: the clinician sees the patient's name, each sees their own as "Vous".
    reply = messages(clinician).locator("li").filter(has_text=ANSWER)
    await expect(reply).to_contain_text(PATIENT)
    await expect(messages(patient).locator("li.mine")).to_contain_text("Vous")
    await p.assert_accessible("patient with the messages open")
    await w.assert_accessible("clinician with the messages")

    # A reload of the patient's tab keeps its device keys (sessionStorage): the history is still
    # readable and the channel still works both ways, without a new admission.
    await patient.reload()
    await expect(in_call(patient)).to_be_visible(timeout=30_000)
    await patient.get_by_role("button", name="Messages").click()
    await expect(said(patient, ANSWER)).to_be_visible(timeout=30_000)
    await expect(said(patient, ASK)).to_be_visible()
    await write(clinician, AFTER_RELOAD)
    await expect(said(patient, AFTER_RELOAD)).to_be_visible(timeout=20_000)
    await expect(messages(patient).locator(".pending")).to_have_count(0)

    stored = stored_bytes(app_server)
    for secret in (ASK, ANSWER, AFTER_RELOAD):
        for form in (secret.encode(), base64.b64encode(secret.encode())):
            assert form not in stored, f"plaintext on the server: {secret!r}"
    await w.assert_clean()
    await p.assert_clean()


async def test_the_consultation_ends_while_the_reloaded_keys_are_still_loading(
    app_server: Served, browser: Any
) -> None:
    """The end arrives while the reloaded page is still bringing its device back (the keys that
    verify its chat room's membership were asked for before the end and answer after it): once
    that finishes, the tab must not save the keys again. The page's own screen change closes the
    text a second time, without wiping, and that must not undo the end's wipe (it did: the
    device's state came back after `forget()`, seen once in CI)."""
    w, p = await browsers(browser)
    clinician, patient = w.page, p.page
    await patient_admitted(app_server, clinician, patient, PATIENT)
    await expect(in_call(patient)).to_be_visible()
    await write(clinician, ASK)
    await patient.get_by_role("button", name="Messages").click()
    await expect(said(patient, ASK)).to_be_visible(timeout=30_000)

    # After the reload, the device's first key query is answered (as the server gave it, before
    # the end) only once the consultation is over for the tab: the rest of its bringing back
    # needs no network, so it finishes after the end.
    held = asyncio.Event()
    release = asyncio.Event()

    async def after_the_end(route: Route) -> None:
        if held.is_set():
            await route.continue_()
            return
        response = await route.fetch()
        held.set()
        await release.wait()
        await route.fulfill(response=response)

    await patient.route("**/keys/query", after_the_end)
    await patient.reload()
    await asyncio.wait_for(held.wait(), 30)
    await clinician.get_by_role("button", name="Terminer la consultation").click()
    await clinician.get_by_role("button", name="Oui, terminer").click()
    await expect(
        patient.get_by_role("heading", name="La consultation est terminée")
    ).to_be_visible()
    assert await patient.evaluate("() => Object.keys(sessionStorage)") == []

    async with patient.expect_event("requestfinished", lambda r: "keys/query" in r.url):
        release.set()
    # What the device does once its fetch is answered (its save, its close) runs within the
    # page's next tasks: a round trip through the page after a pause lets it.
    await asyncio.sleep(1)
    await patient.evaluate("() => new Promise((r) => setTimeout(r, 0))")
    assert await patient.evaluate("() => Object.keys(sessionStorage)") == []
    await w.assert_clean()
    await p.assert_clean()

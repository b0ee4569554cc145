"""The health-bus assistant's console (issue 13, item 3) in Chromium against a real `relais
serve`: an assistant opens an assisted session for a walk-in patient (identity check, consent,
the clinician found in the directory), sees it wait in the clinician's queue, then admitted (the
clinician admits over the raw socket API), with who acts for whom on every screen; ends it; and
then the browser holds nothing of that patient: every record of the vault opened with the keys
the signed-in assistant still has, Web Storage, Cache Storage, cookies and the page itself are
searched for the patient's name, birth date, document number and the consultation's ids. The
next patient starts on an empty form. The start form is also done with the keyboard alone."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import socketio
from playwright.async_api import Page, expect

from tests.conftest import PASSWORD
from tests.security.conftest import Served
from tests.web.conftest import Watched
from tests.web.test_keyboard import FOCUSED, tab_to
from tests.web.test_signin import STORAGE
from tests.web.workspace import browsers, sign_in, signed_in

PATIENT = "Odette Vasseur"
BIRTH = "1941-07-23"
DOCUMENT = "X4RT82QZ1"
NEXT_PATIENT = "Jean Moulinier"
CLINICIAN = "dr.leroy"
ASSISTANT = "ass.bernard"
START = "Nouvelle session assistée"
SESSION = "Session assistée"
# The end of a session races the host's client: both take the assistant out of the consultation's
# text channel, and whichever comes second is told 404 (the device then checks it is out, which
# the tests assert through the room list). The browser logs that answer as a failed load, on
# whichever page's client came second: the assistant's or the clinician's.
LEAVE_RACE = ("status of 404",)

# Every record of the vault, opened with what the signed-in page can still get: the browser's own
# key (in the database) for the session record, and the user key derived, as store/vault.js does,
# from the vault key the server hands this live session. Returns them as one JSON text, plus the
# names of the records that did not open.
OPEN_EVERYTHING = """async () => {
  const db = await new Promise((ok, ko) => {
    const r = indexedDB.open('relais'); r.onsuccess = () => ok(r.result); r.onerror = ko;
  });
  const all = (store) => new Promise((ok) => {
    const tx = db.transaction(store), os = tx.objectStore(store), out = {};
    os.openCursor().onsuccess = (e) => {
      const c = e.target.result; if (!c) return ok(out); out[c.key] = c.value; c.continue();
    };
  });
  const meta = await all('meta'), records = await all('records');
  db.close();
  const open = async (name, key) => {
    const ad = new TextEncoder().encode('relais/web/vault/' + name);
    const sealed = records[name];
    const plain = await crypto.subtle.decrypt(
      {name: 'AES-GCM', iv: sealed.iv, additionalData: ad}, key, sealed.ct);
    return JSON.parse(new TextDecoder().decode(plain));
  };
  const session = await open('session', meta['wrap-key']);
  const resp = await fetch('/api/v1/auth/vault-key', {method: 'POST',
    headers: {Authorization: 'Bearer ' + session.token}});
  const {key} = await resp.json();
  const raw = Uint8Array.from(atob(key.replace(/-/g, '+').replace(/_/g, '/')),
    (c) => c.charCodeAt(0));
  const ikm = await crypto.subtle.importKey('raw', raw, 'HKDF', false, ['deriveKey']);
  const userKey = await crypto.subtle.deriveKey(
    {name: 'HKDF', hash: 'SHA-256', salt: meta['user-key-salt'],
     info: new TextEncoder().encode('relais/web/vault/user-key/v1')},
    ikm, {name: 'AES-GCM', length: 256}, false, ['decrypt']);
  const opened = {}, closed = [];
  for (const name of Object.keys(records)) {
    try { opened[name] = await open(name, name === 'session' ? meta['wrap-key'] : userKey); }
    catch (e) { closed.push(name); }
  }
  return {text: JSON.stringify(opened), names: Object.keys(opened), closed};
}"""

WORKERS = """async () => navigator.serviceWorker
  ? (await navigator.serviceWorker.getRegistrations()).length : 0"""

# Targets under 44 x 44 CSS px (a checkbox or radio counts by its row, whose label is clickable).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'button, select, a:not(.skip), input:not([type=checkbox]):not([type=radio]), .check')]
  .filter((el) => el.getClientRects().length)
  .map((el) => { const r = el.getBoundingClientRect();
    return {what: el.id || el.className || el.textContent.slice(0, 30), h: r.height, w: r.width}; })
  .filter((x) => x.h < 44 || x.w < 44)"""

FORM_VALUES = """() => [...document.querySelectorAll('main input, main select')].map(
  (el) => el.type === 'checkbox' || el.type === 'radio' ? String(el.checked) : el.value)"""


# Whether the page's call leg is connected and sending the bus's camera and microphone. Read by
# polling `page.evaluate`, which awaits the promise (`wait_for_function` does not: a pending
# promise is truthy, so it would return at once).
SENDING = """() => window.relaisCall ? window.relaisCall.stats().then(
  s => s.connectionState === 'connected' && s.audio.packetsSent > 20
    && s.video.framesEncoded > 5) : false"""


async def leg_sends(page: Page, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(SENDING):
        assert asyncio.get_running_loop().time() < deadline, "the bus's call leg sends nothing"
        await asyncio.sleep(0.25)


async def assistant_ready(served: Served, w: Watched) -> None:
    """The assistant signs in on the shared laptop (its first time: device keys, no backup)."""
    await sign_in(w.page, served.url, ASSISTANT)
    await expect(w.page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()
    await w.page.get_by_role("button", name="Plus tard").click()
    await expect(w.page.get_by_role("heading", name=START, level=1)).to_be_focused(timeout=30_000)


async def keyboard_start(page: Page) -> None:
    """The whole start form by Tab, typing, arrows, Space and Enter: a first Enter on the empty
    form says what is missing and takes the focus to the first field."""
    await tab_to(page, "Ouvrir la session")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("alert")).to_contain_text("À compléter : Nom et prénom")
    name = page.get_by_label("Nom et prénom du patient")
    await expect(name).to_be_focused()
    await page.keyboard.type(PATIENT)
    await tab_to(page, "Date de naissance")
    await page.keyboard.type("23/07/1941")
    await tab_to(page, "Pièce vérifiée")
    await page.keyboard.press("ArrowDown")
    await expect(page.get_by_label("Pièce vérifiée")).to_have_value("id_card")
    await tab_to(page, "Numéro de la pièce")
    await page.keyboard.type(DOCUMENT)
    await tab_to(page, "Comment le patient a donné son accord")
    await page.keyboard.press("ArrowDown")
    await expect(page.get_by_label("Comment le patient a donné son accord")).to_have_value("verbal")
    await tab_to(page, "Le patient a entendu ce texte")
    await page.keyboard.press("Space")
    await expect(page.get_by_label("Le patient a entendu ce texte")).to_be_checked()
    await tab_to(page, "Chercher le soignant")
    await page.keyboard.type("dr.le")
    await page.keyboard.press("Enter")  # searches, does not submit
    await expect(
        page.get_by_role("status").filter(has_text="1 soignant(s) trouvé(s)")
    ).to_be_visible()
    await expect(page.get_by_role("radio", name=CLINICIAN)).to_be_checked()
    await expect(page.get_by_role("heading", name=START, level=1)).to_be_visible()
    await tab_to(page, CLINICIAN)
    await tab_to(page, "Ouvrir la session")
    focused = await page.evaluate(FOCUSED)
    assert focused["tag"] == "button", focused
    await page.keyboard.press("Enter")


async def test_an_assisted_session_end_to_end_leaves_nothing_of_the_patient(
    app_server: Served, browser: Any
) -> None:
    await app_server.add_user(CLINICIAN)
    await app_server.add_user(ASSISTANT, role="assistant")
    w = await browser()
    page = w.page
    await assistant_ready(app_server, w)
    acting = page.get_by_test_id("acting")
    await expect(acting).to_have_text(f"Aucun patient en cours — assistant·e : {ASSISTANT}")
    for field in ("Nom et prénom du patient", "Date de naissance", "Numéro de la pièce"):
        assert await page.get_by_label(field).get_attribute("autocomplete") == "off", field
    await w.assert_accessible("assistant, start form")
    assert await page.evaluate(SMALL_TARGETS) == []

    await keyboard_start(page)
    await expect(page.get_by_role("heading", name=SESSION, level=1)).to_be_focused(timeout=15_000)
    await expect(acting).to_have_text(f"Vous aidez : {PATIENT} — par l'assistant·e {ASSISTANT}")
    status = page.get_by_role("status").filter(has_text=f"Vous êtes dans la file de {CLINICIAN}")
    await expect(status).to_be_visible()
    await expect(page.get_by_text(f"En attente dans la file de {CLINICIAN}.")).to_be_visible()
    call = page.get_by_role("region", name="Consultation")
    await expect(call).to_be_visible()
    await w.assert_accessible("assisted session, waiting")
    assert await page.evaluate(SMALL_TARGETS) == []

    async with aiohttp.ClientSession() as http:
        login = await app_server.login(http, CLINICIAN)
        auth = {"Authorization": f"Bearer {login['token']}"}
        async with http.get(f"{app_server.url}/api/v1/consultations", headers=auth) as r:
            queue = (await r.json())["consultations"]
        assert len(queue) == 1 and queue[0]["assisted"], queue
        cid = queue[0]["consultation_id"]
        assert queue[0]["assisted_by"]["user_id"] == app_server.users[ASSISTANT], queue
        host = socketio.AsyncClient(reconnection=False)
        await host.connect(app_server.url, auth={"token": login["token"]}, transports=["websocket"])
        try:
            joined = await host.call("consult.join", {"consultation_id": cid}, timeout=10)
            assert joined["state"] == "admitted", joined
            async with http.get(f"{app_server.url}/api/v1/consultations/{cid}", headers=auth) as r:
                state = await r.json()
            waiting = {p["role"]: p for p in state["waiting"]}
            # In the clinician's queue: the assistant, and the patient they represent.
            assert set(waiting) == {"assistant", "patient"}, state["waiting"]
            assert waiting["patient"]["display_name"] == PATIENT
            assert waiting["patient"]["represented_by"] == waiting["assistant"]["participant_id"]
            chat_room = state["chat_room_id"]
            patient_pid = waiting["patient"]["participant_id"]
            admitted = await host.call(
                "consult.admit",
                {"consultation_id": cid, "participant_id": waiting["assistant"]["participant_id"]},
                timeout=10,
            )
            assert admitted["state"] == "admitted", admitted

            await expect(
                page.get_by_role("status").filter(has_text="Le soignant vous a fait entrer")
            ).to_be_visible()
            await expect(page.get_by_text(f"Admis par {CLINICIAN}.")).to_be_visible()
            await expect(acting).to_contain_text(PATIENT)
            # The shared device hosts the call: its leg connects and sends the bus's camera and
            # microphone.
            await leg_sends(page)
            await w.assert_accessible("assisted session, admitted")

            await page.get_by_role("button", name="Terminer la session").click()
            confirm = page.get_by_role("button", name="Oui, terminer et effacer")
            await expect(confirm).to_be_focused()
            await expect(page.locator(".confirm")).to_contain_text(PATIENT)
            await w.assert_accessible("assisted session, confirm the end")
            assert await page.evaluate(SMALL_TARGETS) == []
            await confirm.click()
        finally:
            await host.disconnect()

        heading = page.get_by_role("heading", name=START, level=1)
        await expect(heading).to_be_focused()
        # The call is over on this device: no leg, camera and microphone released (the page
        # tears the call down as it shows the start form: wait for it, do not race it; CI once
        # read it in the same turn as the heading's focus).
        await page.wait_for_function("() => window.relaisCall === undefined", timeout=10_000)
        await expect(page.get_by_role("status").filter(has_text="Session terminée")).to_be_visible()
        await expect(acting).to_have_text(f"Aucun patient en cours — assistant·e : {ASSISTANT}")
        await w.assert_accessible("assistant, start form after a session")

        # On the server: the assistant left, and the patient with them (audited on their behalf).
        async with http.get(
            f"{app_server.url}/api/v1/consultations/{cid}/record", headers=auth
        ) as r:
            record = await r.json()
        states = {p["role"]: p["state"] for p in record["participants"]}
        assert states["assistant"] == "left" and states["patient"] == "left", states

    # The browser: nothing of the patient, anywhere. The assistant's own session stays.
    # Time for any last event of the consultation's text channel to reach the vault.
    await page.wait_for_timeout(1500)
    needles = [PATIENT, "Vasseur", BIRTH, "23/07/1941", DOCUMENT, cid, chat_room, patient_pid]
    html = await page.content()
    for needle in needles:
        assert needle not in html, f"{needle!r} still in the page"
    stored = await page.evaluate(STORAGE)
    assert stored == {"idb": ["relais"], "local": [], "session": [], "caches": [], "cookies": ""}, (
        stored
    )
    vault = await page.evaluate(OPEN_EVERYTHING)
    assert vault["closed"] == [], f"records the test could not open: {vault['closed']}"
    assert "e2ee-device" in vault["names"] and app_server.users[ASSISTANT] in vault["text"], (
        "the vault was not really opened"
    )
    for needle in needles:
        assert needle not in vault["text"], f"{needle!r} still in the vault"
    assert await page.evaluate(WORKERS) == 0, "no service worker"

    # The next patient: an empty form, nothing of the previous one offered.
    values = await page.evaluate(FORM_VALUES)
    assert values and all(v in ("", "false") for v in values), values
    await expect(page.get_by_role("radio")).to_have_count(0)
    await page.get_by_label("Nom et prénom du patient").fill(NEXT_PATIENT)
    await page.get_by_label("Date de naissance").fill("01/02/1950")
    await page.get_by_label("Pièce vérifiée").select_option("health_card")
    await page.get_by_label("Comment le patient a donné son accord").select_option("written")
    await page.get_by_label("Le patient a entendu ce texte").check()
    await page.get_by_label("Chercher le soignant").fill("dr.le")
    await page.get_by_role("button", name="Chercher", exact=True).click()
    await page.get_by_role("button", name="Ouvrir la session").click()
    await expect(page.get_by_role("heading", name=SESSION, level=1)).to_be_focused(timeout=15_000)
    await expect(acting).to_have_text(
        f"Vous aidez : {NEXT_PATIENT} — par l'assistant·e {ASSISTANT}"
    )
    assert PATIENT not in await page.content()
    await page.get_by_role("button", name="Terminer la session").click()
    await page.get_by_role("button", name="Oui, terminer et effacer").click()
    await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused()
    assert NEXT_PATIENT not in await page.content()
    await w.assert_clean(*LEAVE_RACE)


async def open_session(page: Page, patient: str, birth: str = "01/02/1950") -> None:
    """The start form filled by labels (the keyboard pass is above), then opened."""
    await page.get_by_label("Nom et prénom du patient").fill(patient)
    await page.get_by_label("Date de naissance").fill(birth)
    await page.get_by_label("Pièce vérifiée").select_option("passport")
    await page.get_by_label("Comment le patient a donné son accord").select_option("on_device")
    await page.get_by_label("Le patient a entendu ce texte").check()
    await page.get_by_label("Chercher le soignant").fill("dr.le")
    await page.get_by_role("button", name="Chercher", exact=True).click()
    await expect(page.get_by_role("radio", name=CLINICIAN)).to_be_checked()
    await page.get_by_role("button", name="Ouvrir la session").click()
    await expect(page.get_by_role("heading", name=SESSION, level=1)).to_be_focused(timeout=15_000)
    await expect(page.get_by_text(f"En attente dans la file de {CLINICIAN}.")).to_be_visible()


class Clinician:
    """The clinician, over the raw API: their queue, the waiting room, admit, refuse, end."""

    def __init__(self, served: Served, http: aiohttp.ClientSession) -> None:
        self.served = served
        self.http = http
        self.sio = socketio.AsyncClient(reconnection=False)

    async def connect(self) -> None:
        login = await self.served.login(self.http, CLINICIAN)
        self.auth = {"Authorization": f"Bearer {login['token']}"}
        await self.sio.connect(
            self.served.url, auth={"token": login["token"]}, transports=["websocket"]
        )

    async def get(self, path: str) -> Any:
        async with self.http.get(self.served.url + path, headers=self.auth) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def newest(self) -> tuple[str, dict[str, Any]]:
        """The newest consultation of the queue, joined: its id and who waits, by role."""
        cid = (await self.get("/api/v1/consultations"))["consultations"][0]["consultation_id"]
        await self.sio.call("consult.join", {"consultation_id": cid}, timeout=10)
        state = await self.get(f"/api/v1/consultations/{cid}")
        return cid, {p["role"]: p for p in state["waiting"]}

    async def call(self, event: str, **data: Any) -> Any:
        return await self.sio.call(event, data, timeout=10)


async def test_refused_ended_and_lost_sessions(app_server: Served, browser: Any) -> None:
    """The clinician refuses one session and ends another: each is said on the screen, and
    "Terminer la session" still clears the patient. A session lost by a reload (admitted, with
    the text channel joined) is offered to be left, naming no patient, and leaving it leaves
    nothing of its channel in the vault."""
    await app_server.add_user(CLINICIAN)
    await app_server.add_user(ASSISTANT, role="assistant")
    w = await browser()
    page = w.page
    await assistant_ready(app_server, w)
    acting = page.get_by_test_id("acting")
    async with aiohttp.ClientSession() as http:
        doc = Clinician(app_server, http)
        await doc.connect()
        try:
            # Refused.
            await open_session(page, "Rose Tardieu")
            cid, waiting = await doc.newest()
            await doc.call(
                "consult.deny",
                consultation_id=cid,
                participant_id=waiting["assistant"]["participant_id"],
            )
            await expect(
                page.get_by_role("status").filter(has_text="n'a pas accepté cette session")
            ).to_be_visible()
            await expect(page.get_by_text(f"{CLINICIAN} n'a pas accepté")).to_be_visible()
            await w.assert_accessible("assisted session, refused")
            await page.get_by_role("button", name="Terminer la session").click()
            await expect(page.get_by_role("group")).to_contain_text("Effacer de cet appareil")
            await page.get_by_role("button", name="Oui, terminer et effacer").click()
            await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused()
            assert "Rose Tardieu" not in await page.content()

            # Admitted, then ended by the clinician.
            await open_session(page, "Paul Garnier")
            cid, waiting = await doc.newest()
            await doc.call(
                "consult.admit",
                consultation_id=cid,
                participant_id=waiting["assistant"]["participant_id"],
            )
            await expect(page.get_by_text(f"Admis par {CLINICIAN}.")).to_be_visible()
            await doc.call("consult.end", consultation_id=cid)
            await expect(
                page.get_by_role("status").filter(has_text="Le soignant a terminé la consultation")
            ).to_be_visible()
            ended_room = (await doc.get(f"/api/v1/consultations/{cid}"))["chat_room_id"]
            await expect(acting).to_contain_text("Paul Garnier")  # until the assistant clears
            await w.assert_accessible("assisted session, ended by the clinician")
            await page.get_by_role("button", name="Terminer la session").click()
            await page.get_by_role("button", name="Oui, terminer et effacer").click()
            await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused()
            assert "Paul Garnier" not in await page.content()

            # Admitted, then the page reloads: the session is lost in the browser, not on the
            # server, and the console offers to leave it.
            await open_session(page, "Lucie Barret")
            cid, waiting = await doc.newest()
            await doc.call(
                "consult.admit",
                consultation_id=cid,
                participant_id=waiting["assistant"]["participant_id"],
            )
            await expect(page.get_by_text(f"Admis par {CLINICIAN}.")).to_be_visible()
            chat_room = (await doc.get(f"/api/v1/consultations/{cid}"))["chat_room_id"]
            await page.wait_for_timeout(500)  # the text channel reaches the E2EE state
            await page.reload()
            await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused()
            leave = page.get_by_role("button", name="Quitter la session ouverte à")
            await expect(leave).to_be_visible()
            assert "Lucie Barret" not in await page.content()
            await w.assert_accessible("start form, a session left open")
            await leave.click()
            await expect(
                page.get_by_role("status").filter(has_text="La session restée ouverte est quittée")
            ).to_be_visible()
            await expect(leave).to_have_count(0)
            record = await doc.get(f"/api/v1/consultations/{cid}/record")
            states = {p["role"]: p["state"] for p in record["participants"]}
            assert states["assistant"] == "left" and states["patient"] == "left", states
        finally:
            await doc.sio.disconnect()

    await page.wait_for_timeout(1000)
    vault = await page.evaluate(OPEN_EVERYTHING)
    assert vault["closed"] == [] and "e2ee-device" in vault["names"], vault["names"]
    for needle in ("Rose Tardieu", "Paul Garnier", "Lucie Barret", cid, chat_room, ended_room):
        assert needle not in vault["text"], f"{needle!r} still in the vault"

    # The console in English: who acts for whom, in the other catalogue.
    await page.get_by_label("Langue").select_option("en")
    await expect(page.get_by_role("heading", name="New assisted session")).to_be_visible()
    await expect(acting).to_have_text(f"No patient yet — assistant: {ASSISTANT}")
    await w.assert_clean(*LEAVE_RACE)


async def test_the_clinician_admits_from_the_browser_and_the_call_flows(
    app_server: Served, browser: Any
) -> None:
    """The whole health-bus journey in two browsers: the assistant opens the session on the bus's
    laptop, the clinician finds it under "Consultations assistées" (it has no care room), admits
    the assistant (the walk-in patient follows), and audio and video flow both ways between the
    bus and the clinician; the clinician ends the consultation and the bus is told."""
    from tests.web.test_call import media_flows

    w, c = await browsers(browser)
    await signed_in(app_server, [c], [CLINICIAN])
    await app_server.add_user(ASSISTANT, role="assistant")
    await assistant_ready(app_server, w)
    await keyboard_start(w.page)
    await expect(w.page.get_by_role("heading", name=SESSION, level=1)).to_be_focused(timeout=15_000)

    page = c.page
    await page.get_by_role("link", name="Consultations assistées (bus santé)").click()
    heading = page.get_by_role("heading", name="Consultations assistées (bus santé)", level=1)
    await expect(heading).to_be_focused()
    entry = page.get_by_role("link").filter(has_text=f"avec {ASSISTANT}")
    await expect(entry).to_be_visible(timeout=15_000)
    await c.assert_accessible("clinician, assisted consultations")
    await entry.click()
    await page.get_by_role("button", name=f"Admettre {ASSISTANT}").click()

    await expect(
        w.page.get_by_role("status").filter(has_text="Le soignant vous a fait entrer")
    ).to_be_visible(timeout=15_000)
    await media_flows(w.page, "the bus")
    await media_flows(page, "the clinician")
    await w.assert_accessible("assisted session, in the call")
    await c.assert_accessible("clinician, assisted call")

    await page.get_by_role("button", name="Terminer la consultation").click()
    await page.get_by_role("button", name="Oui, terminer", exact=True).click()
    await expect(w.page.get_by_text(f"{CLINICIAN} a terminé la consultation.")).to_be_visible(
        timeout=15_000
    )
    await w.assert_clean(*LEAVE_RACE)
    await c.assert_clean(*LEAVE_RACE)


async def test_the_assistants_journey_with_the_keyboard_alone(
    app_server: Served, browser: Any
) -> None:
    """The bus's side by Tab, Shift+Tab, typing, arrows, Space and Enter only, every focused
    control visibly so: signing in, the start form, waiting, then (the clinician admits with the
    mouse) the call the shared device hosts, its microphone and camera switches, and the end of
    the session, cancelled once then confirmed; the clinician's screen sees the bus leave."""
    from tests.web.test_keyboard import focused_is

    w, c = await browsers(browser)
    await signed_in(app_server, [c], [CLINICIAN])
    await app_server.add_user(ASSISTANT, role="assistant")
    page = w.page

    await page.goto(app_server.url + "/app/")
    await expect(page.get_by_label("Identifiant")).to_be_focused()
    await page.keyboard.type(ASSISTANT)
    await tab_to(page, "Mot de passe")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Phrase de récupération", exact=True)).to_be_focused()
    await tab_to(page, "Plus tard")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused(timeout=30_000)

    await keyboard_start(page)
    await expect(page.get_by_role("heading", name=SESSION, level=1)).to_be_focused(timeout=15_000)
    await expect(page.get_by_text(f"En attente dans la file de {CLINICIAN}.")).to_be_visible()

    clinician = c.page
    await clinician.get_by_role("link", name="Consultations assistées (bus santé)").click()
    await clinician.get_by_role("link").filter(has_text=f"avec {ASSISTANT}").click()
    await clinician.get_by_role("button", name=f"Admettre {ASSISTANT}").click()

    await expect(
        page.get_by_role("status").filter(has_text="Le soignant vous a fait entrer")
    ).to_be_visible(timeout=15_000)
    # The admission does not move the assistant's focus (still on the session's heading).
    await expect(page.get_by_role("heading", name=SESSION, level=1)).to_be_focused()
    await leg_sends(page)

    # The call's switches, from the heading: Space and Enter both press them.
    track = "() => window.relaisCall.devices.stream.get{}Tracks()[0].enabled"
    mic = page.get_by_role("button", name="Couper mon micro")
    await tab_to(page, "Couper mon micro")
    await page.keyboard.press("Space")
    await expect(mic).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(track.format("Audio")) is False
    await expect(mic).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(mic).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate(track.format("Audio")) is True
    camera = page.get_by_role("button", name="Couper ma caméra")
    await tab_to(page, "Couper ma caméra")
    await page.keyboard.press("Space")
    await expect(camera).to_have_attribute("aria-pressed", "true")
    assert await page.evaluate(track.format("Video")) is False
    await expect(clinician.locator(".remote .avatar")).to_be_visible(timeout=15_000)
    await page.keyboard.press("Space")
    await expect(camera).to_have_attribute("aria-pressed", "false")
    assert await page.evaluate(track.format("Video")) is True
    await focused_is(page, "Couper ma caméra")

    # The end: "Annuler" brings the focus back to the button; then confirmed.
    end = page.get_by_role("button", name="Terminer la session")
    await tab_to(page, "Terminer la session")
    await page.keyboard.press("Enter")
    confirm = page.get_by_role("button", name="Oui, terminer et effacer")
    await expect(confirm).to_be_focused()
    await focused_is(page, "Oui, terminer et effacer")
    await tab_to(page, "Annuler")
    await page.keyboard.press("Enter")
    await expect(end).to_be_focused()
    await focused_is(page, "Terminer la session")
    await page.keyboard.press("Enter")
    await expect(confirm).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name=START, level=1)).to_be_focused(timeout=15_000)
    await expect(page.get_by_role("status").filter(has_text="Session terminée")).to_be_visible()
    assert await page.evaluate("() => window.relaisCall === undefined")
    assert PATIENT not in await page.content()

    # The clinician's screen: the bus is gone from who is in the call.
    await expect(clinician.locator("ul.participants li").filter(has_text=ASSISTANT)).to_have_count(
        0, timeout=15_000
    )
    await expect(clinician.locator("ul.participants li")).to_have_count(1)
    await w.assert_clean(*LEAVE_RACE)
    await c.assert_clean(*LEAVE_RACE)

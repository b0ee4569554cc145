"""The patient's join page (issue 13, first piece): the link a clinician hands out opens a page of
its own; the patient enters the code, consents, waits, and is admitted by the clinician over the
raw socket.io API; a reload keeps them admitted without a new admission."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import socketio
from playwright.async_api import expect

from tests.security.conftest import Served
from tests.web.workspace import patient_waits

# Counts getUserMedia calls: each is a permission prompt on a browser that has not remembered one.
COUNT_DEVICE_ASKS = """() => {
  const md = navigator.mediaDevices;
  const ask = md.getUserMedia.bind(md);
  window.deviceAsks = 0;
  md.getUserMedia = (c) => { window.deviceAsks += 1; return ask(c); };
}"""
PREVIEW_PLAYING = """() => {
  const v = document.querySelector('video.preview');
  return !!v && v.videoWidth > 0 && !v.paused && v.currentTime > 0;
}"""


async def consultation_with_code(served: Served, http: aiohttp.ClientSession) -> dict[str, Any]:
    """dr.roche opens a consultation and a link with a code: {token (clinician's), id, link}."""
    await served.add_user("dr.roche")
    session = await served.login(http, "dr.roche")
    headers = {"Authorization": f"Bearer {session['token']}"}
    async with http.post(served.url + "/api/v1/consultations", json={}, headers=headers) as r:
        assert r.status == 201, await r.text()
        cid = (await r.json())["consultation_id"]
    async with http.post(
        f"{served.url}/api/v1/consultations/{cid}/links",
        json={"display_name": "M. Roche", "with_code": True},
        headers=headers,
    ) as r:
        assert r.status == 201, await r.text()
        link = await r.json()
    return {"token": session["token"], "headers": headers, "id": cid, "link": link}


async def waiting_participant(
    served: Served, http: aiohttp.ClientSession, c: dict[str, Any]
) -> str:
    url = f"{served.url}/api/v1/consultations/{c['id']}"
    for _ in range(100):
        async with http.get(url, headers=c["headers"]) as r:
            waiting = (await r.json())["waiting"]
        if waiting:
            return str(waiting[0]["participant_id"])
        await asyncio.sleep(0.1)
    raise AssertionError("the patient never reached the waiting room")


async def test_patient_enters_code_consents_waits_and_is_admitted(
    app_server: Served, browser: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        c = await consultation_with_code(app_server, http)
        code = c["link"]["code"]
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"

        w = await browser()
        page = w.page
        await page.add_init_script(script=f"({COUNT_DEVICE_ASKS})()")
        await page.goto(app_server.url + c["link"]["url"])
        await expect(page.get_by_role("heading", name="Entrez votre code")).to_be_visible()
        assert page.url == app_server.url + "/consult/"  # the token left the address bar
        field = page.get_by_label("Code à 6 chiffres")
        await expect(field).to_be_focused()
        await w.assert_accessible("code step")

        await field.fill(wrong)
        await page.get_by_role("button", name="Valider le code").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "Ce code n'est pas le bon. Il vous reste 4 essais."
        )
        await field.fill(code)
        await page.get_by_role("button", name="Valider le code").click()

        await expect(page.get_by_role("heading", name="Votre consultation")).to_be_visible()
        await w.assert_accessible("consent")
        await page.get_by_role("button", name="Rejoindre la consultation").click()

        await expect(page.get_by_role("heading", name="Salle d'attente")).to_be_focused()
        # The host has not opened the consultation yet: said, and no figure given.
        await expect(page.get_by_role("status")).to_have_text(
            "Vous êtes dans la salle d'attente. Le soignant n'est pas encore connecté. "
            "Il verra que vous êtes là dès son arrivée."
        )
        assert await page.locator(".estimate").count() == 0
        # The camera and microphone check: the patient sees themselves, the fake microphone's
        # beeps move the level bar, and the page says both work.
        devices = page.get_by_role("region", name="Votre caméra et votre micro")
        await expect(devices.get_by_text("Votre caméra marche")).to_be_visible()
        await page.wait_for_function(PREVIEW_PLAYING)
        heard = devices.get_by_text("Votre micro marche : nous vous entendons.")
        await expect(heard).to_be_visible(timeout=10_000)
        await w.assert_accessible("waiting room")

        host = socketio.AsyncClient(reconnection=False)
        await host.connect(
            app_server.url, auth={"token": c["token"]}, transports=["websocket"], wait_timeout=10
        )
        try:
            joined = await host.call("consult.join", {"consultation_id": c["id"]}, timeout=10)
            assert joined["state"] == "admitted", joined
            # The host came: the server nudges the page, which asks for the news of its wait.
            await expect(page.get_by_role("status")).to_have_text(
                "Vous êtes dans la salle d'attente. Le soignant sait que vous êtes là. "
                "Il va vous faire entrer."
            )
            pid = await waiting_participant(app_server, http, c)
            admitted = await host.call(
                "consult.admit", {"consultation_id": c["id"], "participant_id": pid}, timeout=10
            )
            assert admitted["state"] == "admitted", admitted

            admitted_heading = page.get_by_role("heading", name="Vous êtes dans la consultation")
            await expect(admitted_heading).to_be_visible()
            # Admitted: the call starts by itself (test_call.py follows its media).
            await expect(page.get_by_role("status")).to_have_text(
                "L'appel a commencé. Vous êtes en ligne avec le soignant."
            )
            await w.assert_accessible("admitted")
            # The call started on the stream the waiting room opened: one ask, one prompt.
            await page.wait_for_function("() => !!(window.relaisCall && window.relaisCall.pc)")
            assert await page.evaluate("() => window.deviceAsks") == 1

            # A reload: the guest session of this tab joins again, still admitted, no new admit.
            await page.reload()
            await expect(admitted_heading).to_be_visible()
            async with http.get(
                f"{app_server.url}/api/v1/consultations/{c['id']}/record", headers=c["headers"]
            ) as r:
                record = await r.json()
            events = record["events"]
            mine = [e["kind"] for e in events if e["participant_id"] == pid]
            assert mine.count("admit") == 1 and mine.count("rejoin") >= 1, events
            # The consent was the patient's own, recorded by the server with the text's version.
            (consent,) = record["consents"]
            assert (consent["participant_id"], consent["method"]) == (pid, "self"), consent
            assert consent["text_version"] == "join-v1"

            # The consultation ends: the page says so and the tab keeps nothing of it.
            await host.call("consult.end", {"consultation_id": c["id"]}, timeout=10)
            await expect(
                page.get_by_role("heading", name="La consultation est terminée")
            ).to_be_visible()
            # Named, so a failure says which entry came back.
            kept = await page.evaluate("() => Object.keys(sessionStorage)")
            assert kept == []
        finally:
            await host.disconnect()
        await w.assert_clean()


async def test_a_burned_link_and_a_missing_link_say_what_to_do(
    app_server: Served, browser: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        c = await consultation_with_code(app_server, http)
        link = c["link"]
        wrong = f"{(int(link['code']) + 1) % 1_000_000:06d}"
        redeem = app_server.url + "/api/v1/consultations/redeem"
        for _ in range(3):  # three wrong codes elsewhere: two tries are left
            async with http.post(redeem, json={"token": link["token"], "code": wrong}) as r:
                assert r.status == 401

    w = await browser()
    page = w.page
    await page.goto(app_server.url + link["url"])
    field = page.get_by_label("Code à 6 chiffres")
    await field.fill("12")
    await page.get_by_role("button", name="Valider le code").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Le code a 6 chiffres. Vérifiez-le puis réessayez."
    )
    await field.fill(wrong)
    await page.get_by_role("button", name="Valider le code").click()
    await expect(page.get_by_role("alert")).to_contain_text("un seul essai")
    await field.fill(wrong)
    await page.get_by_role("button", name="Valider le code").click()
    await expect(page.get_by_role("heading", name="Ce lien ne marche plus")).to_be_focused()
    await w.assert_accessible("burned link")
    assert await page.evaluate("() => Object.keys(sessionStorage)") == []

    # The same tab, the link gone: nothing to redeem any more, and the page says what to do.
    await page.reload()
    await expect(page.get_by_role("heading", name="Il manque le lien")).to_be_visible()
    await w.assert_clean()


async def test_the_join_page_speaks_the_browsers_language(app_server: Served, browser: Any) -> None:
    w = await browser(locale="en-GB")
    await w.page.goto(app_server.url + "/consult/")
    await expect(w.page.get_by_role("heading", name="The link is missing")).to_be_focused()
    assert await w.page.evaluate("() => document.documentElement.lang") == "en"
    await w.assert_accessible("no link, in English")
    await w.assert_clean()


async def test_a_patient_sent_away_is_told_and_the_tab_keeps_nothing(
    app_server: Served, browser: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        c = await consultation_with_code(app_server, http)
        w = await browser()
        page = w.page
        await patient_waits(page, app_server.url + c["link"]["url"], c["link"]["code"])

        host = socketio.AsyncClient(reconnection=False)
        await host.connect(
            app_server.url, auth={"token": c["token"]}, transports=["websocket"], wait_timeout=10
        )
        try:
            await host.call("consult.join", {"consultation_id": c["id"]}, timeout=10)
            pid = await waiting_participant(app_server, http, c)
            denied = await host.call(
                "consult.deny", {"consultation_id": c["id"], "participant_id": pid}, timeout=10
            )
            assert denied["state"] == "denied", denied
        finally:
            await host.disconnect()
    await expect(page.get_by_role("heading", name="Vous ne pouvez pas entrer")).to_be_focused()
    await w.assert_accessible("denied")
    assert await page.evaluate("() => Object.keys(sessionStorage)") == []
    await w.assert_clean()


async def test_a_refused_camera_says_what_to_do_in_this_browser(
    app_server: Served, browser: Any
) -> None:
    """The permission refused in the waiting room: what it means, where this browser's switch is
    (Chromium: the lock left of the address), that the consultation works anyway, and a button
    that asks again (here the browser allows it the second time)."""
    async with aiohttp.ClientSession() as http:
        c = await consultation_with_code(app_server, http)
        w = await browser()
        page = w.page
        await page.add_init_script(script=f"({REFUSE_ONCE})()")
        await patient_waits(page, app_server.url + c["link"]["url"], c["link"]["code"])
        devices = page.get_by_role("region", name="Votre caméra et votre micro")
        await expect(devices).to_contain_text(
            "Le navigateur n'a pas le droit d'utiliser la caméra et le micro."
        )
        await expect(devices).to_contain_text("touchez le cadenas")
        await expect(devices).to_contain_text("vous pourrez quand même voir et entendre")
        await w.assert_accessible("waiting room, devices refused")
        await devices.get_by_role("button", name="Réessayer").click()
        await expect(devices.get_by_text("Votre caméra marche")).to_be_visible()
        await expect(devices.get_by_role("button", name="Réessayer")).to_have_count(0)
        await w.assert_clean()


# The first ask is refused as a user's "Block" would be; the next ones go through.
REFUSE_ONCE = """() => {
  const md = navigator.mediaDevices;
  const ask = md.getUserMedia.bind(md);
  let refused = false;
  md.getUserMedia = (c) => {
    if (refused) return ask(c);
    refused = true;
    return Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  };
}"""

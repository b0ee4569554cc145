"""A clinician starts a consultation from a care room: the link and the 6-digit code are shown
once, on accessible screens, and they are the real thing — the link's token, with the code,
redeems into a patient session over the raw HTTP API, once (issue 12, "start a consultation")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
from playwright.async_api import expect

from tests.security.conftest import Served
from tests.web.workspace import create_room, first_device, sign_in


async def test_start_a_consultation_shows_a_link_that_redeems(
    app_server: Served, browser: Any
) -> None:
    await app_server.add_user("dr.roche")
    w = await browser()
    page = w.page
    await sign_in(page, app_server.url, "dr.roche")
    await first_device(page)
    await create_room(page, "M. Roche, Aubusson")

    await page.get_by_role("button", name="Démarrer une consultation").click()
    await expect(page.get_by_label("Nom affiché du patient")).to_be_focused()
    await w.assert_accessible("start a consultation")
    await page.get_by_label("Nom affiché du patient").fill("M. Roche")
    await page.get_by_role("button", name="Créer la consultation").click()
    await expect(page.get_by_role("heading", name="Consultation créée")).to_be_focused(
        timeout=15_000
    )
    await w.assert_accessible("consultation created")

    link = await page.get_by_label("Lien pour le patient").input_value()
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == app_server.url
    assert parts.path.startswith("/consult/")
    token = parts.path.removeprefix("/consult/")
    code_text = await page.get_by_text("Code à donner au patient").inner_text()
    code = code_text.rsplit(":", 1)[1].strip()
    assert len(code) == 6 and code.isdigit()

    redeem = app_server.url + "/api/v1/consultations/redeem"
    async with aiohttp.ClientSession() as http:
        async with http.post(redeem, json={"token": token}) as r:
            assert r.status == 401
            assert (await r.json())["error"]["details"]["code_required"] is True
        async with http.post(redeem, json={"token": token, "code": code}) as r:
            assert r.status == 200, await r.text()
            session = await r.json()
        async with http.post(redeem, json={"token": token, "code": code}) as r:
            assert r.status == 410
            assert (await r.json())["error"]["code"] == "invite_invalid"

    # The redeemed session is a live patient session, bound to this consultation.
    token_header = {"Authorization": f"Bearer {session['token']}"}
    assert session["consultation_id"]
    async with aiohttp.ClientSession(headers=token_header) as http:
        async with http.get(app_server.url + "/api/v1/me") as r:
            assert r.status == 200
    await page.get_by_role("button", name="Fermer").click()
    await expect(page.get_by_role("button", name="Démarrer une consultation")).to_be_visible()
    await w.assert_clean()

"""Signing in to the workspace in Chromium: wrong password, the session and the device surviving
a reload, and the two ways out: "sign out" keeps the device's sealed keys (signing in again on
this browser needs no setup), "forget this device" leaves nothing in the browser's storage."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from crypto.encoding import loads_object, split_signed
from tests.conftest import PASSWORD
from tests.security.conftest import Served
from tests.web.conftest import Watched
from tests.web.workspace import first_device, sign_in

STORAGE = """async () => ({
  idb: (await indexedDB.databases()).map(d => d.name),
  local: Object.keys(localStorage),
  session: Object.keys(sessionStorage),
  caches: await caches.keys(),
  cookies: document.cookie,
})"""
ROOMS = "Salles de soins"

# Everything left on disk, opened with everything left on the machine: the browser's own key (the
# CryptoKey stored in the database) is tried on every record. Only the `session` record may open.
OPEN_WITH_WHAT_IS_LEFT = """async () => {
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
  const keys = Object.values(meta).filter((v) => v instanceof CryptoKey);
  const result = {};
  for (const [name, sealed] of Object.entries(records)) {
    result[name] = null;
    const ad = new TextEncoder().encode('relais/web/vault/' + name);
    for (const key of keys) {
      try {
        const plain = await crypto.subtle.decrypt(
          {name: 'AES-GCM', iv: sealed.iv, additionalData: ad}, key, sealed.ct);
        result[name] = JSON.parse(new TextDecoder().decode(plain));
      } catch (e) {}
    }
  }
  db.close();
  return result;
}"""


async def test_sign_in_resume_and_the_two_ways_out(app_server: Served, browser: Any) -> None:
    await app_server.add_user("dr.martin")
    async with aiohttp.ClientSession() as http:
        token = (await app_server.login(http, "dr.martin"))["token"]
        async with http.post(
            app_server.url + "/api/v1/rooms", json={}, headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            room_id = (await resp.json())["room_id"]
    w = await browser()
    page = w.page

    await page.goto(app_server.url + "/app/")
    await w.assert_accessible("sign-in")
    await page.get_by_label("Identifiant").fill("dr.martin")
    await page.get_by_label("Mot de passe").fill("not the password")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("alert")).to_contain_text("incorrect")
    await w.assert_accessible("sign-in, refused, code field open")

    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()
    await w.assert_accessible("first device set-up")
    await first_device(page)
    await expect(page.get_by_role("link", name=f"Salle {room_id[2:8]}")).to_be_visible()
    await w.assert_accessible("workspace, room list")

    await page.reload()
    await expect(page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible()
    assert (await page.evaluate(STORAGE))["idb"] == ["relais"]

    await page.get_by_role("button", name="Se déconnecter", exact=True).click()
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    assert (await page.evaluate(STORAGE))["idb"] == ["relais"], "the device's sealed keys stay"
    left = await page.evaluate(OPEN_WITH_WHAT_IS_LEFT)
    assert "e2ee-device" in left, left  # device keys, pins, sessions: still on disk, sealed
    opened = {name: value for name, value in left.items() if value is not None}
    assert list(opened) == ["session"], f"signed out, yet readable: {sorted(opened)}"
    assert set(opened["session"]) == {"device_id", "user_id"}, "no token stays"

    await sign_in(page, app_server.url, "dr.martin")
    await expect(page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible()
    await page.get_by_role("button", name="Se déconnecter et oublier cet appareil").click()
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    left = await page.evaluate(STORAGE)
    assert left == {"idb": [], "local": [], "session": [], "caches": [], "cookies": ""}, left
    await w.assert_clean()

    # On the server, the forgotten device is out of the user's signed device list, retired.
    forgotten = opened["session"]["device_id"]
    async with aiohttp.ClientSession() as http:
        me = await app_server.login(http, "dr.martin")
        async with http.post(
            app_server.url + "/api/v1/keys/query",
            json={"user_ids": [me["user_id"]]},
            headers={"Authorization": f"Bearer {me['token']}"},
        ) as resp:
            entry = (await resp.json())["users"][me["user_id"]]
    signed, _sig = split_signed(entry["signed_device_list"])
    devices = loads_object(signed)
    assert forgotten not in [d["id"] for d in devices["devices"]]
    assert forgotten in [d["id"] for d in devices.get("retired", [])]


async def test_english_is_available_and_remembered(app_server: Served, browser: Any) -> None:
    await app_server.add_user("nurse.ada")
    w = await browser(locale="en-GB")
    await _sign_in_en(w, app_server.url)
    await expect(w.page.get_by_role("heading", name="Protect your messages")).to_be_visible()
    await w.assert_accessible("first device set-up, English")
    await w.page.get_by_role("button", name="Later").click()
    await expect(w.page.get_by_role("heading", name="Care rooms", exact=True)).to_be_visible()
    await w.page.get_by_label("Language").select_option("fr")
    await expect(w.page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible()
    await w.page.reload()
    await expect(w.page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible()
    await w.assert_clean()


async def _sign_in_en(w: Watched, url: str) -> None:
    await w.page.goto(url + "/app/")
    await w.page.get_by_label("Username").fill("nurse.ada")
    await w.page.get_by_label("Password").fill(PASSWORD)
    await w.page.get_by_role("button", name="Sign in").click()


async def test_totp_and_lockout_messages(app_server: Served, browser: Any) -> None:
    """An account with TOTP signs in with its code (offered after the first refusal, which says
    nothing about which part was wrong); a locked-out name gets the wait, in minutes."""
    import time

    import pyotp

    await app_server.add_user("dr.totp")
    await app_server.add_user("dr.locked")
    async with aiohttp.ClientSession() as http:
        token = (await app_server.login(http, "dr.totp"))["token"]
        auth = {"Authorization": f"Bearer {token}"}
        async with http.post(app_server.url + "/api/v1/auth/totp/setup", headers=auth) as r:
            secret = (await r.json())["secret"]
        totp = pyotp.TOTP(secret)
        async with http.post(
            app_server.url + "/api/v1/auth/totp/confirm",
            # The previous step's code (inside the drift window): a code works once, and the
            # browser signs in below with the current one.
            json={"secret": secret, "code": totp.at(time.time() - 30)},
            headers=auth,
        ) as r:
            assert r.status == 200
    w = await browser()
    page = w.page
    await sign_in(page, app_server.url, "dr.totp")
    await expect(page.get_by_role("alert")).to_have_text(
        "Identifiant, mot de passe ou code incorrect."
    )
    code = page.get_by_label("Code à 6 chiffres de votre application")
    await expect(code).to_be_visible()
    await w.assert_accessible("sign-in, code asked")
    await code.fill(totp.now())
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()

    other = await browser()
    for _ in range(5):
        async with aiohttp.ClientSession() as http:
            async with http.post(
                app_server.url + "/api/v1/auth/login",
                json={"username": "dr.locked", "password": "wrong password!"},
            ) as r:
                assert r.status == 401
    await sign_in(other.page, app_server.url, "dr.locked")
    await expect(other.page.get_by_role("alert")).to_have_text(
        "Trop d'essais. Réessayez dans 15 min."
    )
    await other.assert_accessible("sign-in, locked out")
    await w.assert_clean()
    await other.assert_clean()

"""The per-device key that unlocks a browser's local vault (server/auth/vault_key.py), over the
raw HTTP API as a browser (or an attacker holding a copied profile) would call it: one stable key
per device, only to a live session of that device, and erased with the device."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
from sqlalchemy import select

from server.db.models import Device
from tests.conftest import PASSWORD, make_user

KEY = "/api/v1/auth/vault-key"


async def _login(http: aiohttp.ClientSession, url: str, username: str, **extra: Any) -> Any:
    async with http.post(
        url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD, **extra}
    ) as r:
        return r.status, await r.json()


async def _key(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, Any]:
    async with http.post(url + KEY, headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.headers["Cache-Control"] == "no-store"
        return r.status, await r.json()


async def test_one_key_per_device_only_for_its_live_sessions(relais: Any) -> None:
    user = await make_user(relais, "clinician")
    async with aiohttp.ClientSession() as http:
        _, first = await _login(http, relais.url, user.username)
        status, got = await _key(http, relais.url, first["token"])
        assert status == 200 and got["device_id"] == first["device_id"]
        key = got["key"]
        assert len(base64.urlsafe_b64decode(key + "=")) == 32

        # Two tabs asking at once get the same key.
        both = await asyncio.gather(*(_key(http, relais.url, first["token"]) for _ in range(2)))
        assert {b[1]["key"] for b in both} == {key}

        # Signing out ends the session: the key is no longer handed out with that token...
        async with http.post(
            relais.url + "/api/v1/auth/logout",
            headers={"Authorization": f"Bearer {first['token']}"},
        ) as r:
            assert r.status == 200
        status, err = await _key(http, relais.url, first["token"])
        assert status == 401 and err["error"]["code"] == "unauthorized"

        # ...and signing in again on the same device gets the same key back.
        _, again = await _login(http, relais.url, user.username, device_id=first["device_id"])
        assert again["device_id"] == first["device_id"]
        assert (await _key(http, relais.url, again["token"]))[1]["key"] == key

        # Another device of the same user has its own key.
        _, other = await _login(http, relais.url, user.username)
        other_key = (await _key(http, relais.url, other["token"]))[1]["key"]
        assert other_key != key

        # Revoking the device erases its key: nothing left to unlock an old copy of the vault.
        async with http.delete(
            relais.url + f"/api/v1/devices/{first['device_id']}",
            headers={"Authorization": f"Bearer {other['token']}"},
        ) as r:
            assert r.status == 200
        status, err = await _key(http, relais.url, again["token"])
        assert status == 401, err
        async with relais.services.db.read() as conn:
            stored = (
                await conn.execute(select(Device.vault_key).where(Device.id == first["device_id"]))
            ).scalar_one()
        assert stored is None

        # No token, or a made-up one, gets a typed error and no key.
        async with http.post(relais.url + KEY) as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
        status, err = await _key(http, relais.url, "x" * 43)
        assert status == 401 and "key" not in err

"""Code-attempt counters under concurrency: invitation codes, consultation-link codes, and the
password re-check of TOTP disable. Each fires 40 wrong attempts at once, three times over, and
checks that no more than the cap were ever judged and that the right answer then fails.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import pyotp
import pytest

from server.auth.invites import MAX_CODE_ATTEMPTS
from tests.conftest import PASSWORD
from tests.security.conftest import Served

pytestmark = pytest.mark.slow

VOLLEYS, WIDTH = 3, 40


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as resp:
        return resp.status, await resp.json()


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


async def _volleys(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> Counter[str]:
    codes: Counter[str] = Counter()
    for _ in range(VOLLEYS):
        answers = await asyncio.gather(*(_post(http, url, body) for _ in range(WIDTH)))
        codes.update(b["error"]["code"] for _, b in answers)
    return codes


async def test_parallel_invitation_codes_stop_at_the_cap(served: Served) -> None:
    await served.add_user("nina")
    async with aiohttp.ClientSession() as http:
        token = (await served.login(http, "nina"))["token"]
        status, inv = await _post(
            http,
            served.url + "/api/v1/invites",
            {"display_name": "Patient", "with_code": True},
            token,
        )
        assert status == 201, inv
        redeem = served.url + "/api/v1/invites/redeem"
        codes = await _volleys(http, redeem, {"token": inv["token"], "code": _wrong(inv["code"])})
        assert codes["invalid_credentials"] == MAX_CODE_ATTEMPTS, codes
        assert codes["invite_invalid"] == VOLLEYS * WIDTH - MAX_CODE_ATTEMPTS, codes
        status, body = await _post(http, redeem, {"token": inv["token"], "code": inv["code"]})
        assert (status, body["error"]["code"]) == (410, "invite_invalid"), body


async def test_parallel_consultation_codes_stop_at_the_cap(served: Served) -> None:
    await served.add_user("oscar")
    base = served.url + "/api/v1/consultations"
    async with aiohttp.ClientSession() as http:
        token = (await served.login(http, "oscar"))["token"]
        status, made = await _post(http, base, {}, token)
        assert status in (200, 201), made
        status, inv = await _post(
            http,
            f"{base}/{made['consultation_id']}/links",
            {"display_name": "Patient", "with_code": True},
            token,
        )
        assert status in (200, 201), inv
        codes = await _volleys(
            http, base + "/redeem", {"token": inv["token"], "code": _wrong(inv["code"])}
        )
        assert codes["invalid_credentials"] == MAX_CODE_ATTEMPTS, codes
        assert codes["invite_invalid"] == VOLLEYS * WIDTH - MAX_CODE_ATTEMPTS, codes
        status, body = await _post(
            http, base + "/redeem", {"token": inv["token"], "code": inv["code"]}
        )
        assert (status, body["error"]["code"]) == (410, "invite_invalid"), body


async def test_parallel_totp_disable_attempts_hit_the_login_lockout(served: Served) -> None:
    await served.add_user("paula")
    async with aiohttp.ClientSession() as http:
        token = (await served.login(http, "paula"))["token"]
        status, setup = await _post(http, served.url + "/api/v1/auth/totp/setup", {}, token)
        assert status == 200, setup
        totp = pyotp.TOTP(setup["secret"])
        status, body = await _post(
            http,
            served.url + "/api/v1/auth/totp/confirm",
            {"secret": setup["secret"], "code": totp.now()},
            token,
        )
        assert status == 200, body
        url = served.url + "/api/v1/auth/totp/disable"
        codes: Counter[str] = Counter()
        for _ in range(VOLLEYS):
            answers = await asyncio.gather(
                *(
                    _post(http, url, {"password": "wrong password!", "code": totp.now()}, token)
                    for _ in range(WIDTH)
                )
            )
            codes.update(b["error"]["code"] for _, b in answers)
        assert codes["invalid_credentials"] <= 5, codes  # RELAIS_LOGIN_MAX_FAILURES
        assert codes["account_locked"] >= VOLLEYS * WIDTH - 5, codes
        status, body = await _post(http, url, {"password": PASSWORD, "code": totp.now()}, token)
        assert (status, body["error"]["code"]) == (423, "account_locked"), body

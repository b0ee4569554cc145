"""Login lockout under concurrency, and login answers that reveal neither accounts nor passwords.

The attacker speaks raw HTTP to a real `relais serve`. Accounts (and a TOTP secret) are set up
beforehand through the database, as an operator would.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import pytest
from sqlalchemy import update

from server.auth.totp_secrets import load_cipher
from server.db.models import User
from server.settings import load_settings
from tests.conftest import PASSWORD
from tests.procs import prepare_database
from tests.security.conftest import Served, serve

pytestmark = pytest.mark.slow

MAX_FAILURES = 5  # the default RELAIS_LOGIN_MAX_FAILURES
WRONG = "not the password at all"


async def _login(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with http.post(url + "/api/v1/auth/login", json=body) as resp:
        return resp.status, await resp.json()


async def _volleys(
    http: aiohttp.ClientSession, url: str, username: str, volleys: int = 3, width: int = 40
) -> Counter[str]:
    """`volleys` times, `width` wrong passwords sent at the same moment; the answers' codes."""
    codes: Counter[str] = Counter()
    for _ in range(volleys):
        answers = await asyncio.gather(
            *(_login(http, url, {"username": username, "password": WRONG}) for _ in range(width))
        )
        codes.update(body["error"]["code"] for _, body in answers)
    return codes


async def _parallel_attempts_lock(served: Served) -> None:
    await served.add_user("carol")
    async with aiohttp.ClientSession() as http:
        codes = await _volleys(http, served.url, "carol")
        # Every attempt was counted before its password was checked: at most the allowed number
        # were judged, all the others were refused as locked.
        assert codes["invalid_credentials"] <= MAX_FAILURES, codes
        assert codes["account_locked"] >= 120 - MAX_FAILURES, codes
        assert set(codes) <= {"invalid_credentials", "account_locked"}, codes
        status, body = await _login(http, served.url, {"username": "carol", "password": PASSWORD})
        assert (status, body["error"]["code"]) == (423, "account_locked"), body


async def test_parallel_wrong_passwords_lock_the_account(served: Served) -> None:
    await _parallel_attempts_lock(served)


@pytest.fixture
async def served_pg(tmp_path: Path) -> AsyncIterator[Served]:
    from tests.conftest import create_pg_database, drop_pg_database

    url = await create_pg_database()
    proc = await serve(tmp_path, url)
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()
        await drop_pg_database(url)


@pytest.mark.postgres
async def test_parallel_wrong_passwords_lock_the_account_postgres(served_pg: Served) -> None:
    await _parallel_attempts_lock(served_pg)


def _shape(status: int, body: Any) -> tuple[int, str, str, tuple[str, ...]]:
    err = body["error"]
    return status, err["code"], err["message"], tuple(sorted(err.get("details") or {}))


async def test_unknown_usernames_lock_like_real_ones(served: Served) -> None:
    await served.add_user("dave")
    async with aiohttp.ClientSession() as http:
        real, ghost = [], []
        for _ in range(MAX_FAILURES + 1):
            real.append(
                _shape(*await _login(http, served.url, {"username": "dave", "password": WRONG}))
            )
            ghost.append(
                _shape(*await _login(http, served.url, {"username": "nobody", "password": WRONG}))
            )
        assert real == ghost, (real, ghost)
        assert real[-1][1] == "account_locked"
        assert {r[1] for r in real[:-1]} == {"invalid_credentials"}


async def _enable_totp(served: Served, username: str) -> pyotp.TOTP:
    """Enable TOTP through the database, encrypted with the key the server itself uses."""
    secret = pyotp.random_base32()
    uid = served.users[username]
    cipher = load_cipher(
        load_settings(environ={"RELAIS_DATA_DIR": served.proc.env["RELAIS_DATA_DIR"]})
    )
    db = await prepare_database(served.database_url)
    try:
        async with db.write() as conn:
            await conn.execute(
                update(User).where(User.id == uid).values(totp_secret=cipher.seal(uid, secret))
            )
    finally:
        await db.close()
    return pyotp.TOTP(secret)


async def test_totp_answers_do_not_confirm_the_password(served: Served) -> None:
    await served.add_user("erin")
    totp = await _enable_totp(served, "erin")
    now = totp.now()
    wrong_code = next(
        c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=1)
    )
    async with aiohttp.ClientSession() as http:
        right_no_code = await _login(http, served.url, {"username": "erin", "password": PASSWORD})
        wrong_no_code = await _login(http, served.url, {"username": "erin", "password": WRONG})
        right_bad_code = await _login(
            http, served.url, {"username": "erin", "password": PASSWORD, "totp": wrong_code}
        )
        ghost = await _login(http, served.url, {"username": "ghost", "password": WRONG})
        shapes = {_shape(*a) for a in (right_no_code, wrong_no_code, right_bad_code, ghost)}
        assert len(shapes) == 1, shapes
        assert right_no_code[1]["error"]["code"] == "invalid_credentials"
        status, body = await _login(
            http, served.url, {"username": "erin", "password": PASSWORD, "totp": now}
        )
        assert status == 200, body
        # The same code a second time: refused, and in the same words as a wrong password.
        replay = await _login(
            http, served.url, {"username": "erin", "password": PASSWORD, "totp": now}
        )
        assert _shape(*replay) == _shape(*ghost), replay


async def test_address_lockout_spans_usernames(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url, RELAIS_LOGIN_IP_MAX_FAILURES="8")
    served = Served(proc, url)
    try:
        await served.add_user("frank")
        async with aiohttp.ClientSession() as http:
            names = [f"spray-{secrets.token_hex(3)}" for _ in range(8)]
            answers = await asyncio.gather(
                *(_login(http, served.url, {"username": n, "password": WRONG}) for n in names)
            )
            assert {b["error"]["code"] for _, b in answers} == {"invalid_credentials"}
            # A ninth attempt from this address is refused whatever the username, even a real
            # account with its right password, and in the words of an account lockout.
            status, body = await _login(
                http, served.url, {"username": "frank", "password": PASSWORD}
            )
            assert (status, body["error"]["code"]) == (423, "account_locked"), body
            ghost = await _login(http, served.url, {"username": "other", "password": WRONG})
            assert _shape(status, body) == _shape(*ghost)
    finally:
        await proc.terminate()


async def test_address_lockout_keys_ipv6_on_its_64(tmp_path: Path) -> None:
    """Behind the proxy, wrong passwords from eight addresses of one IPv6 /64 (what any home
    customer holds) lock that /64, whichever address comes next; another /64 is not locked. An
    IPv4-mapped IPv6 address counts as its IPv4 address."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(
        tmp_path, url, RELAIS_LOGIN_IP_MAX_FAILURES="8", RELAIS_TRUST_FORWARDED_FOR="1"
    )
    served = Served(proc, url)

    async def login(ip: str, username: str, password: str) -> tuple[int, str]:
        async with http.post(
            served.url + "/api/v1/auth/login",
            json={"username": username, "password": password},
            headers={"X-Forwarded-For": ip},
        ) as resp:
            body = await resp.json()
            return resp.status, (body.get("error") or {}).get("code", "ok")

    try:
        await served.add_user("gina")
        async with aiohttp.ClientSession() as http:
            for i in range(8):
                ip = f"2001:db8:1:2:{secrets.token_hex(2)}:{i}::{i + 1}"
                assert await login(ip, f"spray-{i}", WRONG) == (401, "invalid_credentials"), ip
            locked = (423, "account_locked")
            assert await login("2001:db8:1:2:ffff::9", "gina", PASSWORD) == locked
            # The same /64 written otherwise; the next /64 is someone else.
            assert await login("2001:0db8:0001:0002::abcd", "gina", PASSWORD) == locked
            assert await login("2001:db8:1:3::1", "gina", PASSWORD) == (200, "ok")

            for i in range(8):
                assert await login("192.0.2.9", f"v4-{i}", WRONG) == (401, "invalid_credentials")
            assert await login("::ffff:192.0.2.9", "gina", PASSWORD) == locked
            # IPv4 stays keyed on the whole address.
            assert await login("192.0.2.10", "gina", PASSWORD) == (200, "ok")
    finally:
        await proc.terminate()
    log = served.log_text()
    assert "Traceback" not in log, log[-2000:]

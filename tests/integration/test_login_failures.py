"""The login-failure counters and TOTP re-keying against the database, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select, update

from server.auth import accounts, lockout
from server.auth.totp_secrets import TotpCipher, new_key_line, parse_keys, rekey
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import LoginFailure, User
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database)
    try:
        yield database
    finally:
        await database.close()


async def test_concurrent_attempts_let_exactly_the_limit_through(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url, login_max_failures=5)
    attempts = await asyncio.gather(
        *(lockout.count_attempt(db, settings, "Victim ", "198.51.100.7") for _ in range(40))
    )
    assert sum(1 for a in attempts if not a.locked_until) == 5
    refused = [a for a in attempts if a.locked_until]
    assert all(a.refusal().code == "account_locked" for a in refused)


async def test_windows_end_and_expired_rows_are_swept(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url, login_max_failures=2)
    for _ in range(3):
        last = await lockout.count_attempt(db, settings, "ann", "192.0.2.1")
    assert last.locked_until
    async with db.write() as conn:  # the lock and window are over
        await conn.execute(update(LoginFailure).values(locked_until=1, expires_at=1))
    fresh = await lockout.count_attempt(db, settings, "ann", "192.0.2.1")
    assert not fresh.locked_until
    async with db.read() as conn:
        counts = {r.failures for r in await conn.execute(select(LoginFailure.failures))}
    assert counts == {1}
    async with db.write() as conn:
        await conn.execute(update(LoginFailure).values(locked_until=1, expires_at=1))
    lockout._last_sweep = 0.0
    await lockout.count_attempt(db, settings, "bob", "192.0.2.2")
    async with db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(LoginFailure))).scalar_one()
    assert left == 2  # only bob's name and address: the expired rows are gone


async def test_success_clears_the_name_but_not_the_address(
    db: Database, tmp_path: Path, database_url: str
) -> None:
    settings = settings_for(tmp_path, database_url, login_max_failures=3, login_ip_max_failures=3)
    await lockout.count_attempt(db, settings, "cat", "192.0.2.3")
    ok = await lockout.count_attempt(db, settings, "cat", "192.0.2.3")
    async with db.write() as conn:
        await lockout.succeeded(conn, ok, "cat")
    async with db.read() as conn:
        rows = dict((r.key, r.failures) for r in await conn.execute(select(LoginFailure)))
    assert lockout.name_key("cat") not in rows
    assert rows[lockout.address_key("192.0.2.3")] == 1


async def test_rekey_seals_clear_and_old_key_secrets(db: Database) -> None:
    old, new = new_key_line(), new_key_line()
    before, after = TotpCipher(parse_keys(old)), TotpCipher(parse_keys(f"{new},{old}"))
    secrets_by_user: dict[str, str] = {}
    async with db.write() as conn:
        for name, seal in (("clear", None), ("oldkey", before), ("none", None)):
            uid = await accounts.create_user(conn, username=name, role="clinician")
            if name == "none":
                continue
            secret = pyotp.random_base32()
            secrets_by_user[uid] = secret
            stored = secret if seal is None else seal.seal(uid, secret)
            await conn.execute(update(User).where(User.id == uid).values(totp_secret=stored))
    assert await rekey(db, after) == (2, 1)
    async with db.read() as conn:
        rows = (await conn.execute(select(User.id, User.totp_secret))).all()
    for row in rows:
        if row.id in secrets_by_user:
            assert after.is_current(row.totp_secret)
            assert after.open(row.id, row.totp_secret) == secrets_by_user[row.id]
        else:
            assert row.totp_secret is None
    assert await rekey(db, after) == (0, 0)  # idempotent


async def test_totp_rekey_command(tmp_path: Path) -> None:
    from tests.integration.test_cli_audit import relais_cli

    data = tmp_path / "data"
    database = Database(f"sqlite+aiosqlite:///{data / 'relais.db'}")
    await upgrade(database)
    secret = pyotp.random_base32()
    async with database.write() as conn:
        uid = await accounts.create_user(conn, username="dora", role="clinician")
        await conn.execute(update(User).where(User.id == uid).values(totp_secret=secret))
    key = new_key_line()
    rc, out, err = await relais_cli(data, "totp-rekey", env={"RELAIS_TOTP_KEYS": key})
    assert rc == 0, err
    assert "sealed 1 TOTP secrets" in out and "1 were in clear" in out
    async with database.read() as conn:
        stored = (await conn.execute(select(User.totp_secret))).scalar_one()
    await database.close()
    assert TotpCipher(parse_keys(key)).open(uid, stored) == secret
    rc, _out, err = await relais_cli(data, "totp-rekey", env={"RELAIS_TOTP_KEYS": "bad"})
    assert rc == 2 and "totp-rekey" in err

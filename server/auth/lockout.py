"""Failed-login counters per account name and per client address, counted before the check.

An attempt is counted *before* its password is verified, in one atomic upsert
(`INSERT ... ON CONFLICT DO UPDATE ... RETURNING`) whose returned value decides whether the
attempt may go on. Reading a counter, verifying a password for ~0.3 s and writing back "what I
read + 1" lets any number of concurrent attempts through on a stale count; counting first bounds
the number of passwords ever judged by the limit, whatever the concurrency, on SQLite (writers
serialised) and PostgreSQL (the upsert locks the row), on one node or many.

Counters are keyed by a SHA-256 of `"user:" + normalised username` and of `"ip:" + address block`
(an IPv4 address, or the /64 of an IPv6 address: `address_block`), so a name that has no account
gets exactly the same counter, lockout and answer as one that has: the lockout reveals nothing
about which accounts exist. Rows expire `login_lockout_s` after their
window opened or their lock was set and are swept, so the table only holds recent attempts.

Rules, per key with limit M (`login_max_failures` for names, `login_ip_max_failures` for
addresses) and period P (`login_lockout_s`):
- each attempt adds one; attempts beyond the M-th within P are refused as locked without any
  password check (the answer cannot depend on the password, so argon2 would only hand the
  attacker a CPU lever);
- the M-th attempt sets a lock ending P later; when the lock (or an unlocked window) ends, the
  next attempt starts a new window;
- a successful login forgets its name's counter and gives its own count back to the address,
  without unlocking it (else an attacker could reset their address with an account of their own).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from server.addresses import address_block
from server.db.engine import Database
from server.db.models import LoginFailure, now_ms
from server.errors import ApiError
from server.settings import Settings

SWEEP_EVERY_S = 60.0
_last_sweep = 0.0


def name_key(username: str) -> str:
    """Counter key of a (normalised) username, whether or not an account has that name."""
    return _key("user:" + username.strip().lower())


def address_key(ip: str) -> str:
    """Counter key of a client address: of its `address_block`."""
    return _key("ip:" + address_block(ip))


def _key(text: str) -> str:
    return hashlib.sha256(("relais-login-failures:" + text).encode()).hexdigest()


@dataclass(frozen=True)
class Attempt:
    """One login (or password re-check) attempt, counted under its keys."""

    keys: tuple[tuple[str, int], ...]  # (key, limit)
    locked_until: int  # 0 when the attempt may proceed

    def refusal(self) -> ApiError:
        # One answer for a locked name and a locked address: which one is not said.
        return ApiError(
            "account_locked",
            "too many failed attempts, try again later",
            details={"retry_after_ms": max(0, self.locked_until - now_ms())},
        )


async def count_attempt(db: Database, settings: Settings, username: str, ip: str) -> Attempt:
    """Count an attempt for `username` from `ip` before checking it; refused if locked."""
    limits = sorted(
        {
            (name_key(username), settings.login_max_failures),
            (address_key(ip), settings.login_ip_max_failures),
        }
    )  # a fixed order, so two transactions never wait on each other's rows (PostgreSQL)
    now = now_ms()
    period = settings.login_lockout_s * 1000
    locked_until = 0
    async with db.write() as conn:
        for key, limit in limits:
            failures, until = await _bump(conn, key, limit, now, period)
            if failures > limit:
                locked_until = max(locked_until, until)
        await _maybe_sweep(conn, now)
    return Attempt(tuple(limits), locked_until)


async def _bump(
    conn: AsyncConnection, key: str, limit: int, now: int, period: int
) -> tuple[int, int]:
    t = LoginFailure
    lock_at = now + period
    first_locks = limit <= 1
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(t).values(
        key=key,
        failures=1,
        window_start=now,
        locked_until=lock_at if first_locks else 0,
        expires_at=now + period,
    )
    stale = t.expires_at <= now  # window over and no lock running: start afresh
    locking = (t.failures + 1 >= limit) & (t.locked_until == 0)
    upsert = stmt.on_conflict_do_update(
        index_elements=[t.key],
        set_={
            "failures": case((stale, 1), else_=t.failures + 1),
            "window_start": case((stale, now), else_=t.window_start),
            "locked_until": case(
                (stale, lock_at if first_locks else 0), (locking, lock_at), else_=t.locked_until
            ),
            "expires_at": case((stale, now + period), (locking, lock_at), else_=t.expires_at),
        },
    ).returning(t.failures, t.locked_until)
    row = (await conn.execute(upsert)).one()
    return int(row.failures), int(row.locked_until)


async def succeeded(conn: AsyncConnection, attempt: Attempt, username: str) -> None:
    """A login succeeded: forget the name's failures, give the address back this one count."""
    name = name_key(username)
    for key, _limit in attempt.keys:
        if key == name:
            await conn.execute(delete(LoginFailure).where(LoginFailure.key == key))
        else:
            await conn.execute(
                update(LoginFailure)
                .where(LoginFailure.key == key, LoginFailure.failures > 0)
                .values(failures=LoginFailure.failures - 1)
            )


async def forget_name(conn: AsyncConnection, username: str) -> None:
    """Clear a name's counter and lock (an administrator set a new password)."""
    await conn.execute(delete(LoginFailure).where(LoginFailure.key == name_key(username)))


async def locked_names(conn: AsyncConnection, usernames: Iterable[str]) -> set[str]:
    """Which of these usernames are locked now (for the administrators' account list)."""
    from sqlalchemy import select

    by_key = {name_key(u): u for u in usernames}
    if not by_key:
        return set()
    rows = await conn.execute(
        select(LoginFailure.key).where(
            LoginFailure.key.in_(list(by_key)), LoginFailure.locked_until > now_ms()
        )
    )
    return {by_key[r.key] for r in rows}


async def _maybe_sweep(conn: AsyncConnection, now: int) -> None:
    """Delete expired rows, at most once a minute per process: growth stays bounded by the
    attempts of the last `login_lockout_s`, themselves bounded by the per-address rate limit."""
    global _last_sweep
    mono = time.monotonic()
    if mono - _last_sweep < SWEEP_EVERY_S:
        return
    _last_sweep = mono
    await conn.execute(delete(LoginFailure).where(LoginFailure.expires_at <= now))

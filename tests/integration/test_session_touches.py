"""Session lookups after a long outage refresh last_seen_at together, and still correctly.

When thousands of clients come back after more than `LAST_SEEN_RESOLUTION_MS`, each lookup
refreshes its session's last_seen_at; the refreshes share transactions (server/auth/sessions.py).
Every session is refreshed, none is refreshed by a lookup that fails, and a session seen recently
is not written at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from server.auth.sessions import LAST_SEEN_RESOLUTION_MS, SessionService
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Session, User, new_id, now_ms


@pytest.fixture
async def sessions(database_url: str) -> Any:
    db = Database(database_url)
    await upgrade(db)
    svc = SessionService(db, 3600)
    svc.start()
    yield svc, db
    await svc.stop()
    await db.close()


async def _people(db: Database, svc: SessionService, n: int) -> list[tuple[str, str]]:
    """(token, session id) of n users with one session each."""
    out = []
    async with db.write() as conn:
        for i in range(n):
            uid = new_id("u")
            await conn.execute(
                insert(User).values(
                    id=uid,
                    username=f"touch-{uid}-{i}",
                    display_name="t",
                    role="clinician",
                    password_hash=None,
                    created_at=now_ms(),
                )
            )
            issued = await svc.issue(conn, uid)
            out.append((issued.token, issued.session_id))
    return out


async def _last_seen(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {
            r.id: r.last_seen_at
            for r in await conn.execute(select(Session.id, Session.last_seen_at))
        }


async def test_stale_sessions_are_all_refreshed_and_fresh_ones_left_alone(sessions: Any) -> None:
    svc, db = sessions
    people = await _people(db, svc, 60)
    stale = {sid for _, sid in people[:50]}
    async with db.write() as conn:
        await conn.execute(update(Session).where(Session.id.in_(stale)).values(last_seen_at=1))
    fresh_before = await _last_seen(db)
    started = now_ms()
    principals = await asyncio.gather(*(svc.resolve(token) for token, _ in people))
    assert [p.session_id for p in principals] == [sid for _, sid in people]
    after = await _last_seen(db)
    for _, sid in people:
        if sid in stale:
            assert after[sid] >= started, sid
        else:
            assert after[sid] == fresh_before[sid], sid
    assert all(now_ms() - after[sid] < LAST_SEEN_RESOLUTION_MS for sid in stale)


async def test_a_refused_lookup_writes_nothing(sessions: Any) -> None:
    svc, db = sessions
    [(token, sid)] = await _people(db, svc, 1)
    async with db.write() as conn:
        await conn.execute(
            update(Session).where(Session.id == sid).values(last_seen_at=1, revoked_at=now_ms())
        )
    assert await svc.resolve(token) is None
    assert (await _last_seen(db))[sid] == 1

"""The message writer across a lost PostgreSQL connection.

A PostgreSQL restart between two batches must cost the senders nothing: the writer's next batch
gets a live connection (the checkout ping replaces the dead one) and no sender sees an error.
A connection lost inside a batch leaves its outcome unknown to the writer (the COMMIT may have
landed): the senders get the typed `unavailable`, and their retry with the same client_msg_id
settles it, never a second copy. A writer that skips the ping must keep both (tried 2026-12-08 and
dropped, docs/performance.md §Persisted send; these tests were written for it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from server.db.engine import Database
from server.db.models import Message
from server.errors import ApiError
from server.messaging.store import StoredMessage
from tests.conftest import test_settings as make_settings
from tests.integration.security_world import build_world

pytestmark = pytest.mark.postgres

_OTHERS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
        AND backend_type = 'client backend' {extra}
"""


async def _terminate(killer: Any, extra: str = "") -> int:
    pids = [r[0] for r in await killer.execute(text(_OTHERS.format(extra=extra)))]
    for pid in pids:
        await killer.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    return len(pids)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_restart_between_batches_costs_the_senders_nothing(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    try:
        owner = w.actors["owner"].principal
        first = await w.svc.messages.send(owner, w.room, "lost-1", '{"ct":"a"}')
        outside = Database(database_url)  # not the server's pool: all of that must go
        try:
            async with outside.read() as killer:
                # Every other backend of this database ends, the writer's idle connection with
                # them: what a PostgreSQL restart does to the pool.
                assert await _terminate(killer) >= 1
        finally:
            await outside.close()
        second = await w.svc.messages.send(owner, w.room, "lost-2", '{"ct":"b"}')
        assert isinstance(second, StoredMessage) and not second.duplicate
        assert second.seq == first.seq + 1
        third = await w.svc.messages.send(owner, w.room, "lost-3", '{"ct":"c"}')
        assert third.seq == second.seq + 1
    finally:
        await w.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_lost_inside_the_batch_is_typed_and_the_retry_stores_once(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    try:
        owner = w.actors["owner"].principal
        await w.svc.messages.send(owner, w.room, "mid-0", '{"ct":"a"}')
        async with w.svc.db.write() as holder:
            # Hold the room's row: the writer's batch reads, then waits on this lock.
            await holder.execute(
                text("SELECT 1 FROM rooms WHERE id = :r FOR UPDATE"), {"r": w.room}
            )
            send = asyncio.create_task(w.svc.messages.send(owner, w.room, "mid-1", '{"ct":"b"}'))
            async with w.svc.db.read() as killer:
                waiting = " AND wait_event_type = 'Lock'"
                for _ in range(200):
                    if await _terminate(killer, waiting):
                        break
                    await asyncio.sleep(0.025)
                else:
                    pytest.fail("the writer never waited on the room's lock")
        with pytest.raises(ApiError) as err:
            await send
        assert err.value.code == "unavailable"
        again = await w.svc.messages.send(owner, w.room, "mid-1", '{"ct":"b"}')
        assert isinstance(again, StoredMessage) and not again.duplicate
        async with w.svc.db.read() as conn:
            copies = (
                await conn.execute(select(Message.seq).where(Message.client_msg_id == "mid-1"))
            ).all()
        assert [c.seq for c in copies] == [again.seq]
    finally:
        await w.close()

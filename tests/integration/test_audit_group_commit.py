"""Audit rows of many concurrent callers share transactions, and the chain stays whole.

A reconnection storm makes thousands of `sync` calls at once, each writing a `room.read` row;
these tests hold the group commit to what the one-transaction-per-call writer promised: every
caller's rows are durable when `record` returns, in one unbroken hash chain, a caller whose rows
the database refuses fails alone, and a database that is down fails the batch once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from server.audit.log import AuditLog, AuditRecord
from server.db.engine import Database
from server.db.group_commit import GroupCommit
from server.db.migrate import upgrade
from server.db.models import AuditEvent


async def test_group_commit_batches_what_queued_and_settles_each_caller() -> None:
    batches: list[list[int]] = []

    async def commit(batch: list[int], _next: Any) -> list[int | BaseException]:
        batches.append(batch)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in batch]

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=4, name="t")
    writer.start()
    results = await asyncio.gather(*(writer.submit(i) for i in range(6)), return_exceptions=True)
    await writer.stop()
    # All six queued before the writer ran: batches of at most 4, in order.
    assert batches == [[0, 1, 2, 3], [4, 5]]
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        0,
        "odd 1",
        20,
        "odd 3",
        40,
        "odd 5",
    ]


async def test_a_commit_that_raises_fails_its_batch_and_the_writer_goes_on() -> None:
    calls = 0

    async def commit(batch: list[str], _next: Any) -> list[str | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database gone")
        return [s.upper() for s in batch]

    writer: GroupCommit[str, str] = GroupCommit(commit, max_batch=8, name="t")
    writer.start()
    first = await asyncio.gather(writer.submit("a"), writer.submit("b"), return_exceptions=True)
    assert [type(r) for r in first] == [ConnectionError, ConnectionError]
    assert await writer.submit("c") == "C"
    await writer.stop()
    assert not writer.running


@pytest.fixture
async def audit(database_url: str) -> Any:
    db = Database(database_url)
    await upgrade(db)
    log = AuditLog(db, max_batch=64)
    log.start()
    yield log, db
    await log.stop()
    await db.close()


async def _rows(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(AuditEvent))).scalar_one())


async def test_concurrent_records_are_all_durable_in_one_chain(audit: Any) -> None:
    log, db = audit
    before = await _rows(db)
    await asyncio.gather(
        *(
            log.record(
                AuditRecord("room.read", f"u{i}", room_id=f"r{i}", detail={"from_seq": i}),
                AuditRecord("room.read", f"u{i}", room_id=f"s{i}", detail={"from_seq": i}),
            )
            for i in range(300)
        )
    )
    assert await _rows(db) == before + 600
    ok, checked, reason = await log.verify()
    assert ok, reason
    assert checked == before + 600
    # One caller's two rows stay next to each other in the chain.
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(AuditEvent.actor_user_id, AuditEvent.room_id)
                .where(AuditEvent.action == "room.read")
                .order_by(AuditEvent.id)
            )
        ).all()
    pairs = [(rows[i], rows[i + 1]) for i in range(0, len(rows), 2)]
    assert all(a.actor_user_id == b.actor_user_id for a, b in pairs)
    assert all(a.room_id[0] == "r" and b.room_id[0] == "s" for a, b in pairs)


async def test_a_caller_whose_row_is_refused_fails_alone(audit: Any) -> None:
    log, db = audit
    before = await _rows(db)
    bad = AuditRecord("room.read", "u-bad", detail={"not json": {1, 2}})  # a set: JSON refuses
    results = await asyncio.gather(
        log.record(AuditRecord("room.read", "u1")),
        log.record(bad),
        log.record(AuditRecord("room.read", "u2")),
        return_exceptions=True,
    )
    assert [type(r) for r in results] == [type(None), TypeError, type(None)]
    assert await _rows(db) == before + 2
    assert (await log.verify())[0]


async def test_records_after_stop_are_written_on_their_own(audit: Any) -> None:
    log, db = audit
    await log.stop()
    before = await _rows(db)
    await log.record(AuditRecord("room.read", "u1"))
    assert await _rows(db) == before + 1

"""The message writer's overlap (server/db/group_commit.py): the next batch forms and prepares
while this one commits, but only once this one says it may (it holds what orders it first), never
more than `overlap` batches at once, and a commit that never says so keeps the writer serial."""

from __future__ import annotations

import asyncio

import pytest

from server.db.group_commit import GroupCommit, NextMayStart


class Recorder:
    """A commit whose batches prepare, then (after `next_may_start`) wait for the test's word."""

    def __init__(self, *, hand_off: bool) -> None:
        self.hand_off = hand_off
        self.events: list[str] = []
        self.open: dict[int, asyncio.Event] = {}
        self.live = 0
        self.most_live = 0

    async def commit(self, batch: list[int], next_may_start: NextMayStart) -> list[int]:
        n = len(self.open)
        gate = self.open[n] = asyncio.Event()
        self.live += 1
        self.most_live = max(self.most_live, self.live)
        self.events.append(f"prepare {n} {batch}")
        await asyncio.sleep(0)
        if self.hand_off:
            next_may_start()
        await gate.wait()
        self.events.append(f"commit {n}")
        self.live -= 1
        return [i * 10 for i in batch]


async def until(cond: object, what: str) -> None:
    for _ in range(200):
        if callable(cond) and cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(what)


async def test_the_next_batch_prepares_while_this_one_commits() -> None:
    rec = Recorder(hand_off=True)
    writer: GroupCommit[int, int] = GroupCommit(rec.commit, max_batch=2, name="t", overlap=2)
    writer.start()
    sends = [asyncio.ensure_future(writer.submit(i)) for i in range(6)]
    # Batch 0 handed off: batch 1 formed from the queue and prepares before batch 0 commits.
    await until(lambda: len(rec.open) == 2, "the second batch never started")
    assert rec.events == ["prepare 0 [0, 1]", "prepare 1 [2, 3]"]
    await asyncio.sleep(0.05)
    # Two in flight at most: the third waits for a slot though the second handed off.
    assert len(rec.open) == 2
    rec.open[0].set()
    await until(lambda: len(rec.open) == 3, "the third batch never started")
    assert await asyncio.gather(sends[0], sends[1]) == [0, 10]
    assert not sends[2].done()  # its batch has not committed
    for gate in list(rec.open.values()):
        gate.set()
    await until(lambda: all(s.done() for s in sends), "sends never settled")
    assert [s.result() for s in sends] == [0, 10, 20, 30, 40, 50]
    assert rec.most_live == 2
    await writer.stop()


async def test_a_commit_that_never_hands_off_keeps_the_writer_serial() -> None:
    rec = Recorder(hand_off=False)
    writer: GroupCommit[int, int] = GroupCommit(rec.commit, max_batch=2, name="t", overlap=2)
    writer.start()
    sends = [asyncio.ensure_future(writer.submit(i)) for i in range(4)]
    await until(lambda: len(rec.open) == 1, "the first batch never started")
    await asyncio.sleep(0.05)
    assert len(rec.open) == 1, rec.events
    rec.open[0].set()
    await until(lambda: len(rec.open) == 2, "the second batch never started")
    rec.open[1].set()
    assert await asyncio.gather(*sends) == [0, 10, 20, 30]
    assert rec.events == ["prepare 0 [0, 1]", "commit 0", "prepare 1 [2, 3]", "commit 1"]
    await writer.stop()


async def test_stop_waits_for_the_batches_still_committing() -> None:
    rec = Recorder(hand_off=True)
    writer: GroupCommit[int, int] = GroupCommit(rec.commit, max_batch=1, name="t", overlap=2)
    writer.start()
    sends = [asyncio.ensure_future(writer.submit(i)) for i in range(2)]
    await until(lambda: len(rec.open) == 2, "both batches never started")
    stopping = asyncio.ensure_future(writer.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()
    for gate in rec.open.values():
        gate.set()
    await stopping
    assert [s.result() for s in sends] == [0, 10]


async def test_a_failing_batch_frees_its_slot_and_fails_alone() -> None:
    calls = 0

    async def commit(batch: list[int], next_may_start: NextMayStart) -> list[int]:
        nonlocal calls
        calls += 1
        next_may_start()
        if calls == 1:
            raise ConnectionError("database gone")
        return batch

    writer: GroupCommit[int, int] = GroupCommit(commit, max_batch=1, name="t", overlap=2)
    writer.start()
    results = await asyncio.gather(*(writer.submit(i) for i in range(4)), return_exceptions=True)
    await writer.stop()
    assert [type(r).__name__ for r in results] == ["ConnectionError", "int", "int", "int"]


def test_overlap_below_one_is_refused() -> None:
    async def commit(batch: list[int], _next: NextMayStart) -> list[int]:
        return batch

    with pytest.raises(ValueError):
        GroupCommit(commit, max_batch=1, name="t", overlap=0)

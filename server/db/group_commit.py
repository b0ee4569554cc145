"""Group commit: many callers' writes share one transaction, paid once per batch.

A commit costs a round trip or five and an fsync whatever it holds. When a thousand clients do
the same small write at once (a reconnection storm's audit rows, a burst of sends), one task
drains what has queued and hands it to `commit` as one batch; under light load a batch holds one
item, so latency stays one transaction. `commit` answers one result per item (an exception for
an item that failed alone); if it raises, every item of the batch gets that error, so no caller
is ever left waiting.

With `overlap` above 1, the next batch does not wait for this one's COMMIT: `commit` calls the
`next_may_start` it is given once its batch holds whatever orders it before the next one (the
message writer: its rooms' row locks and reserved seqs), and the writer then drains the queue
into the next batch, which prepares on another connection while this one commits. Under load
the message writer's first reads (members, retries) were half of its cycle on PostgreSQL, each
answer waiting for a pass of the busy socket loop; they now overlap the batch before
(docs/performance.md, Persisted send). A `commit` that never calls it gets the serial
behaviour.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

NextMayStart = Callable[[], None]


def serial() -> None:
    """The `next_may_start` of a commit run outside the writer, or one that never overlaps."""


log = logging.getLogger("relais.db")


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        commit: Callable[[list[T], NextMayStart], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int,
        name: str,
        overlap: int = 1,
    ) -> None:
        if overlap < 1:
            raise ValueError("overlap must be at least 1")
        self._commit = commit
        self.max_batch = max_batch
        self.name = name
        self.overlap = overlap
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None

    async def submit(self, item: T) -> R:
        """Queue `item` and wait until the batch holding it is committed (or failed)."""
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, fut))
        return await fut

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.overlap)
        in_flight: set[asyncio.Task[None]] = set()
        stopping = False
        try:
            while not stopping:
                first = await self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        entry = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    if entry is None:
                        stopping = True
                        break
                    batch.append(entry)
                await slots.acquire()
                started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                task = asyncio.create_task(self._settle(batch, started, slots))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                # The next batch forms from what queued meanwhile, once this one lets it.
                await started
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def _settle(
        self,
        batch: list[tuple[T, asyncio.Future[R]]],
        started: asyncio.Future[None],
        slots: asyncio.Semaphore,
    ) -> None:
        def next_may_start() -> None:
            if not started.done():
                started.set_result(None)

        results: Sequence[R | BaseException]
        try:
            results = await self._commit([item for item, _ in batch], next_may_start)
        except Exception as exc:
            log.exception("group commit failed", extra={"batch": len(batch)})
            results = [exc] * len(batch)
        finally:
            next_may_start()
            slots.release()
        for (_, fut), res in zip(batch, results, strict=True):
            if fut.done():  # its caller was cancelled
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)

"""The direct path's writes (server/realtime/fanout.py `WriteCoalescer`): everything direct for a
transport in one event-loop pass leaves in one `write`, in order, and never ahead of a packet
queued after it for the socket's engine.io writer; a closing writer gets nothing; what waits
counts toward the small-buffer bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

from server.realtime.fanout import DIRECT_MAX_BUFFERED, coalescer, text_frame, write_direct


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


class Socket:
    """The engine.io socket fields the direct path reads, and a writer task standing in for
    engine.io's: it takes queued packets and writes them through aiohttp's writer (here:
    straight to the transport, as aiohttp does for small frames)."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.writer = SimpleNamespace(
            _closing=False, protocol=SimpleNamespace(_paused=False), transport=self.transport
        )
        self.relais_ws = SimpleNamespace(_sock=SimpleNamespace(closed=False, _writer=self.writer))
        self.upgraded = True
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._write_queued())

    async def _write_queued(self) -> None:
        while True:
            self.transport.write(await self.queue.get())

    async def parked(self) -> None:
        while not self.queue._getters:  # type: ignore[attr-defined]
            await asyncio.sleep(0)

    def close(self) -> None:
        self._task.cancel()


@asynccontextmanager
async def parked_sockets(n: int) -> AsyncIterator[list[Socket]]:
    """`n` sockets whose writers are parked (the direct path's precondition), stopped after."""
    sockets = [Socket() for _ in range(n)]
    try:
        for s in sockets:
            await s.parked()
        yield sockets
    finally:
        for s in sockets:
            s.close()


async def passes(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_one_write_per_transport_per_pass_in_order() -> None:
    async with parked_sockets(2) as (a, b):
        out = coalescer()
        frames = [text_frame(f'42["m",{i}]') for i in range(5)]
        for f in frames:
            assert write_direct(a, f, out) and write_direct(b, f, out)
        assert a.transport.writes == [] and b.transport.writes == []  # not before the next pass
        await passes()
        assert a.transport.writes == [b"".join(frames)]
        assert b.transport.writes == [b"".join(frames)]
        # The next pass's frames are the next write.
        assert write_direct(a, frames[0], out)
        await passes()
        assert a.transport.writes == [b"".join(frames), frames[0]]


async def test_a_packet_queued_after_direct_frames_is_written_after_them() -> None:
    async with parked_sockets(1) as (s,):
        out = coalescer()
        first, second = text_frame('42["m",1]'), text_frame('42["m",2]')
        assert write_direct(s, first, out)
        assert write_direct(s, second, out)
        s.queue.put_nowait(b"queued")  # as the queued path does (a large or binary packet)
        # The writer is awake now: the direct path refuses until it parks again.
        assert not write_direct(s, first, out)
        await passes()
        assert b"".join(s.transport.writes) == first + second + b"queued"


async def test_a_closing_writer_or_transport_gets_nothing() -> None:
    async with parked_sockets(2) as (s, t):
        out = coalescer()
        assert write_direct(s, text_frame("4x"), out) and write_direct(t, text_frame("4y"), out)
        s.writer._closing = True  # aiohttp sent CLOSE meanwhile: no data frame may follow it
        t.transport.closing = True
        await passes()
        assert s.transport.writes == [] and t.transport.writes == []
        assert not write_direct(s, text_frame("4x"), out)


async def test_what_waits_counts_toward_the_buffer_bound() -> None:
    async with parked_sockets(1) as (s,):
        out = coalescer()
        frame = text_frame("4" + "x" * 4000)
        taken = 0
        while write_direct(s, frame, out):
            taken += 1
            assert taken < 100
        assert taken * len(frame) <= DIRECT_MAX_BUFFERED + len(frame)
        assert taken >= DIRECT_MAX_BUFFERED // len(frame)
        await passes()
        assert s.transport.writes == [frame * taken]
        # Written out: the socket takes direct frames again.
        assert write_direct(s, frame, out)
        await passes()


async def test_one_coalescer_per_loop() -> None:
    here = coalescer()
    assert coalescer() is here

    def other() -> Any:
        async def get() -> Any:
            return coalescer()

        return asyncio.run(get())

    assert await asyncio.to_thread(other) is not here

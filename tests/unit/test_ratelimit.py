"""The in-memory token buckets are atomic per process without a lock.

`TokenBuckets.take` reads, refills and writes a bucket with no `await` in between, so on one
event loop no other coroutine can run inside it: concurrent requests cannot both spend the same
token. This test runs many concurrent takers, each yielding to the loop right before taking, and
checks that exactly the burst is granted.
"""

from __future__ import annotations

import asyncio
import inspect

from server.ratelimit import TokenBuckets


async def test_concurrent_takes_never_exceed_the_burst() -> None:
    buckets = TokenBuckets(rate=0.0, burst=25)

    async def taker() -> bool:
        await asyncio.sleep(0)  # interleave with every other taker
        return buckets.take("ip:203.0.113.9")

    granted = await asyncio.gather(*(taker() for _ in range(400)))
    assert sum(granted) == 25


def test_take_is_synchronous() -> None:
    # The atomicity argument above holds only while `take` cannot suspend.
    assert not inspect.iscoroutinefunction(TokenBuckets.take)

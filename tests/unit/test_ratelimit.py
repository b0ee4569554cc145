"""The in-memory token buckets are atomic per process without a lock.

`TokenBuckets.take` reads, refills and writes a bucket with no `await` in between, so on one
event loop no other coroutine can run inside it: concurrent requests cannot both spend the same
token. This test runs many concurrent takers, each yielding to the loop right before taking, and
checks that exactly the burst is granted.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from server.errors import ApiError
from server.ratelimit import RateLimiter, TokenBuckets


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


def test_an_ipv6_client_spends_one_budget_for_its_whole_64() -> None:
    """Rotating addresses within a /64 is free for an IPv6 client, so the per-address budget is
    the /64's; another /64 and IPv4 addresses keep their own (server/addresses.py)."""
    limits = RateLimiter(100, 100, ip_rate=0.001, ip_burst=3)
    for host in range(3):
        limits.check_ip(f"2001:db8:1:2::{host + 1}")
    with pytest.raises(ApiError) as err:
        limits.check_ip("2001:db8:1:2:ffff::9")
    assert err.value.code == "rate_limited"
    limits.check_ip("2001:db8:1:3::1")
    for _ in range(3):
        limits.check_ip("::ffff:192.0.2.7")
    with pytest.raises(ApiError):
        limits.check_ip("192.0.2.7")
    limits.check_ip("192.0.2.8")

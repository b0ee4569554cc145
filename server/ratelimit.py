"""Token-bucket rate limits per user and per client IP.

Buckets live in this node's memory: with sticky sessions a client's traffic lands on one node,
so a per-node bucket bounds it; a user spread over N nodes gets at most N times the rate, which
is still a bound. Idle buckets are pruned so memory follows active callers only.

`take` is synchronous: it reads, refills and writes a bucket with no `await` in between, so on
the node's single event loop it is atomic without a lock, and concurrent requests can never spend
one token twice (tests/unit/test_ratelimit.py). Keep it that way: a limit that must hold across
nodes, or across an `await`, belongs in the database or Redis (see server/auth/lockout.py).
"""

from __future__ import annotations

import time

from server.addresses import address_block
from server.errors import ApiError


class TokenBuckets:
    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        tokens, last = self._state.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens < cost:
            self._state[key] = (tokens, now)
            return False
        self._state[key] = (tokens - cost, now)
        if len(self._state) > self.max_keys:
            self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate if self.rate > 0 else 0.0
        self._state = {k: v for k, v in self._state.items() if now - v[1] < full_after}


class RateLimiter:
    def __init__(
        self, user_rate: float, user_burst: float, ip_rate: float, ip_burst: float
    ) -> None:
        self._users = TokenBuckets(user_rate, user_burst)
        # Keyed by address block only, through `take_ip`: a socket CONNECT spent the bucket of
        # the raw address, so an IPv6 client rotating within its /64 had a fresh budget per
        # address (tests/security/test_socket_malformed.py).
        self._ips = TokenBuckets(ip_rate, ip_burst)

    def check_user(self, user_id: str, cost: float = 1.0) -> None:
        if not self._users.take(user_id, cost):
            raise ApiError("rate_limited", "too many requests for this account, slow down")

    def take_ip(self, ip: str, cost: float = 1.0) -> bool:
        """Per address block (server/addresses.py): an IPv6 client rotating addresses within its
        /64 still spends one budget."""
        return self._ips.take(address_block(ip), cost)

    def check_ip(self, ip: str, cost: float = 1.0) -> None:
        if not self.take_ip(ip, cost):
            raise ApiError("rate_limited", "too many requests from this address, slow down")

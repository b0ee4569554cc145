"""What the user sees about each message: decrypted, waiting for a key (from whom), or failed.

Nothing is ever dropped silently: every message the server delivered has exactly one record here,
and `counts()` is what the application and the metrics show.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DECRYPTED = "decrypted"
WAITING = "waiting_for_key"
FAILED = "failed"


@dataclass
class MessageRecord:
    id: str
    room_id: str
    seq: int
    sender_user: str
    sender_device: str
    envelope: dict[str, Any]
    state: str = WAITING
    content: dict[str, Any] | None = None
    error: str | None = None
    # Shown with the content, e.g. "sent from a since-revoked device".
    note: str | None = None
    # For WAITING: the session it needs and the devices asked for it.
    needs: tuple[str, str, str] | None = None
    asked: list[str] = field(default_factory=list)

    def status_line(self) -> str:
        if self.state == DECRYPTED:
            return "decrypted"
        if self.state == WAITING:
            return f"waiting for key from {self.sender_device} (asked {len(self.asked)} devices)"
        return f"cannot be decrypted: {self.error}"


@dataclass
class Metrics:
    """Client-side counters (docs/crypto.md §6.2): exported by bots, asserted by the tests."""

    counters: Counter[str] = field(default_factory=Counter)

    def inc(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def __getitem__(self, name: str) -> int:
        return self.counters[name]

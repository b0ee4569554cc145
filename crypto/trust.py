"""Trust on first use of identity keys (docs/crypto.md §2.4).

The store only records what the client has seen and accepted; it never decides on its own to
accept a new key. A changed key keeps the old one pinned (so nothing is shared with, or accepted
from, the new one) until the application calls `accept_change` or `mark_verified` after the user
compared safety numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .encoding import b64d, b64e, check_bytes, check_fields, check_id, loads_object, req_version
from .errors import CryptoError

TOFU = "tofu"
VERIFIED = "verified"
CHANGED = "changed"
STATES = (TOFU, VERIFIED, CHANGED)


@dataclass
class _Pin:
    state: str
    ik: bytes  # the accepted key; the old one while the state is "changed"
    seen: bytes | None = None  # the other key observed while "changed" (warned once per key)


class TrustStore:
    def __init__(self) -> None:
        self._pins: dict[str, _Pin] = {}
        # {"user", "old": b64, "new": b64}, one per observed change; the application may drain
        # it, the once-per-change rule does not depend on its content.
        self.warnings: list[dict[str, str]] = []

    def pin_state(self, user: str) -> str | None:
        pin = self._pins.get(check_id(user, "user"))
        return pin.state if pin else None

    def pinned(self, user: str) -> bytes | None:
        pin = self._pins.get(check_id(user, "user"))
        return pin.ik if pin else None

    def trusted(self, user: str) -> bool:
        return self.pin_state(user) in (TOFU, VERIFIED)

    def observe(self, user: str, ik: bytes) -> str:
        """Record the identity key the server serves for `user`; returns the resulting state."""
        check_id(user, "user")
        check_bytes(ik, 32, "identity key")
        pin = self._pins.get(user)
        if pin is None:
            self._pins[user] = _Pin(TOFU, ik)
            return TOFU
        if ik == pin.ik:
            return pin.state
        if pin.seen != ik:
            pin.state, pin.seen = CHANGED, ik
            self.warnings.append({"user": user, "old": b64e(pin.ik), "new": b64e(ik)})
        return pin.state

    def accept_change(self, user: str, ik: bytes) -> None:
        check_id(user, "user")
        self._pins[user] = _Pin(TOFU, check_bytes(ik, 32, "identity key"))

    def mark_verified(self, user: str, ik: bytes) -> None:
        """`ik` is the key the compared safety number was computed from; it becomes the pinned
        key even if another one was pinned (comparing again is how a change is resolved)."""
        check_id(user, "user")
        self._pins[user] = _Pin(VERIFIED, check_bytes(ik, 32, "identity key"))

    def to_json(self) -> str:
        users = {
            u: {"state": p.state, "ik": b64e(p.ik), "seen": b64e(p.seen) if p.seen else None}
            for u, p in sorted(self._pins.items())
        }
        return json.dumps({"v": 1, "users": users, "warnings": self.warnings}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrustStore:
        obj = loads_object(text)
        check_fields(obj, {"v", "users", "warnings"}, "trust store")
        req_version(obj, "v", 1)
        users, warnings = obj["users"], obj["warnings"]
        if not isinstance(users, dict) or not isinstance(warnings, list):
            raise CryptoError("bad_encoding", "not a trust store")
        store = cls()
        for user, p in users.items():
            check_id(user, "user")
            if not isinstance(p, dict) or set(p) != {"state", "ik", "seen"}:
                raise CryptoError("bad_encoding", "bad pin")
            if p["state"] not in STATES:
                raise CryptoError("bad_encoding", "bad pin state")
            seen = None if p["seen"] is None else b64d(p["seen"], 32)
            if (seen is not None) != (p["state"] == CHANGED):
                raise CryptoError("bad_encoding", "a changed pin records the new key")
            store._pins[user] = _Pin(p["state"], b64d(p["ik"], 32), seen)
        for w in warnings:
            if not isinstance(w, dict) or set(w) != {"user", "old", "new"}:
                raise CryptoError("bad_encoding", "bad warning")
            store.warnings.append(
                {"user": check_id(w["user"], "user"), "old": _b64(w["old"]), "new": _b64(w["new"])}
            )
        return store


def _b64(value: Any) -> str:
    b64d(value, 32)
    return str(value)

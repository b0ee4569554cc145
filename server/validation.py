"""Checks every decoded request body and socket payload passes before its schema.

PostgreSQL text cannot hold NUL characters (SQLite can): a NUL that reached a query would be an
`internal` error on one backend and stored data on the other. No field of the protocol has a use
for NUL, so it is refused everywhere, once, before any handler runs.
"""

from __future__ import annotations

from typing import Any

from server.errors import ApiError

MAX_DEPTH = 32


def reject_nul(data: Any, depth: int = 0) -> None:
    if isinstance(data, str):
        if "\x00" in data:
            raise ApiError("validation_failed", "text must not contain NUL characters")
    elif isinstance(data, dict):
        if depth > MAX_DEPTH:
            raise ApiError("validation_failed", "payload nested too deeply")
        for k, v in data.items():
            reject_nul(k, depth + 1)
            reject_nul(v, depth + 1)
    elif isinstance(data, list):
        if depth > MAX_DEPTH:
            raise ApiError("validation_failed", "payload nested too deeply")
        for v in data:
            reject_nul(v, depth + 1)

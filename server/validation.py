"""Checks every decoded request body and socket payload passes before its schema.

PostgreSQL text cannot hold NUL characters (SQLite can): a NUL that reached a query would be an
`internal` error on one backend and stored data on the other. No field of the protocol has a use
for NUL, so it is refused everywhere, once, before any handler runs.

No message of the protocol nests deeper than a few levels either; anything past `MAX_DEPTH` is
refused as malformed (`bad_request`) whether the JSON decoder gave up on it (Python's decoder
raises `RecursionError` near 1,000 levels, which used to surface as a 500) or decoded it.
"""

from __future__ import annotations

import json
from typing import Any

from server.errors import ApiError

MAX_DEPTH = 32


def decode_json(raw: bytes | str) -> Any:
    """The one JSON decoder for request bodies: every way a body can fail to decode is the same
    typed `bad_request`, never another exception (a message that says why, never what)."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ApiError("bad_request", "body nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        # ValueError covers integers longer than Python's digit limit as well as bad syntax.
        raise ApiError("bad_request", "body is not valid JSON") from None


def reject_nul(data: Any, depth: int = 0) -> None:
    if isinstance(data, str):
        if "\x00" in data:
            raise ApiError("validation_failed", "text must not contain NUL characters")
    elif isinstance(data, dict):
        if depth > MAX_DEPTH:
            raise ApiError("bad_request", "payload nested too deeply")
        for k, v in data.items():
            reject_nul(k, depth + 1)
            reject_nul(v, depth + 1)
    elif isinstance(data, list):
        if depth > MAX_DEPTH:
            raise ApiError("bad_request", "payload nested too deeply")
        for v in data:
            reject_nul(v, depth + 1)

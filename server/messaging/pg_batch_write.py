"""A message batch's writes as one PostgreSQL statement.

Under load each statement of the writer costs more than its round trip: its answer waits for the
event loop, which is busy with the sockets (the acks and fan-out of the batch before). The
writes after the row locks — the rooms' counters, the messages, their audit rows and the audit
chain's tip — were four statements on that critical path, each one such wait; here they are one
statement of data-modifying CTEs, whose parameters are arrays (`unnest`), so its text never
changes with the batch size and asyncpg prepares it once per connection. SQLite keeps the
statements of `server/messaging/store.py` (one writer, no network).

The statement changes nothing the separate statements did not: the same rows, in the same
transaction, under the same locks (the rooms' and the audit tip's, taken before it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import Chained

_MESSAGE_COLUMNS = (
    ("id", "TEXT"),
    ("room_id", "TEXT"),
    ("seq", "BIGINT"),
    ("sender_user_id", "TEXT"),
    ("sender_device_id", "TEXT"),
    ("client_msg_id", "TEXT"),
    ("envelope", "TEXT"),
    ("created_at", "BIGINT"),
)
_AUDIT_COLUMNS = (
    ("id", "BIGINT"),
    ("ts", "BIGINT"),
    ("action", "TEXT"),
    ("actor_user_id", "TEXT"),
    ("actor_device_id", "TEXT"),
    ("on_behalf_of", "TEXT"),
    ("room_id", "TEXT"),
    ("target", "TEXT"),
    ("ip", "TEXT"),
    ("outcome", "TEXT"),
    ("detail", "TEXT"),
    ("prev_hash", "TEXT"),
    ("hash", "TEXT"),
)


def _unnest(prefix: str, columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"CAST(:{prefix}_{name} AS {kind}[])" for name, kind in columns)


def _names(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(name for name, _ in columns)


_WRITE = text(
    f"""
WITH counters AS (
    UPDATE rooms SET last_seq = moved.last_seq
    FROM unnest(CAST(:room_ids AS TEXT[]), CAST(:room_seqs AS BIGINT[])) AS moved(id, last_seq)
    WHERE rooms.id = moved.id
), stored AS (
    INSERT INTO messages ({_names(_MESSAGE_COLUMNS)})
    SELECT * FROM unnest({_unnest("m", _MESSAGE_COLUMNS)})
), audited AS (
    INSERT INTO audit_events ({_names(_AUDIT_COLUMNS)})
    SELECT * FROM unnest({_unnest("a", _AUDIT_COLUMNS)})
)
UPDATE audit_head SET last_id = :last_id, last_hash = :last_hash WHERE id = 1
"""
)


async def write_batch(
    conn: AsyncConnection,
    new_seqs: Mapping[str, int],
    messages: list[dict[str, Any]],
    audit: Chained,
) -> None:
    """Move the locked rooms' counters, insert the messages and their audit rows, and move the
    audit tip (locked by `audit.log.lock_head`): one round trip."""
    params: dict[str, Any] = {
        "room_ids": list(new_seqs),
        "room_seqs": list(new_seqs.values()),
        "last_id": audit.last_id,
        "last_hash": audit.last_hash,
    }
    for name, _ in _MESSAGE_COLUMNS:
        params[f"m_{name}"] = [row[name] for row in messages]
    for name, _ in _AUDIT_COLUMNS:
        params[f"a_{name}"] = [row[name] for row in audit.rows]
    await conn.execute(_WRITE, params)

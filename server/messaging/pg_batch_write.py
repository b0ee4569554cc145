"""A message batch's reads, its locks and its writes on PostgreSQL: one statement each.

Under load each statement of the writer costs more than its round trip: its answer waits for the
event loop, which is busy with the sockets (the acks and fan-out of the batch before). The
writes after the row locks — the rooms' counters, the messages, their audit rows and the audit
chain's tip — were four statements on that critical path, each one such wait; here they are one
statement of data-modifying CTEs, whose parameters are arrays (`unnest`), so its text never
changes with the batch size and asyncpg prepares it once per connection. SQLite keeps the
statements of `server/messaging/store.py` (one writer, no network).

The statement changes nothing the separate statements did not: the same rows, in the same
transaction, under the same locks (the rooms' and the audit tip's, taken before it).

The locks before it were two statements on the same critical path (the next batch waits on
them): the rooms' rows, then the audit tip's. `lock_batch` takes both in one statement, in
that order (a UNION ALL runs its branches one after the other; each branch locks its rows as
it reads them, the rooms sorted by id), so it keeps the order every writer of this database
follows and concurrent transactions still cannot deadlock.

Before the locks, `read_batch` reads the rooms' members and the messages a retry would repeat in
one statement too (they were two, on the cycle of the writer: the next batch reads while this
one commits, and locks only after that), with arrays for parameters: the two statements it
replaces expanded an `IN` list per batch, a new text for every batch size, so asyncpg prepared
them again whenever the size had left its statement cache.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import Chained
from server.rooms.store import RoomHead

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


_READ = text(
    """
SELECT TRUE AS member, ms.room_id, ms.user_id AS sender_user_id, NULL AS id, NULL AS seq,
    NULL AS created_at, NULL AS sender_device_id, NULL AS client_msg_id, NULL AS envelope
FROM memberships AS ms WHERE ms.room_id = ANY(CAST(:room_ids AS TEXT[]))
UNION ALL
SELECT FALSE, m.room_id, m.sender_user_id, m.id, m.seq, m.created_at, m.sender_device_id,
    m.client_msg_id, m.envelope
FROM unnest(CAST(:devices AS TEXT[]), CAST(:client_ids AS TEXT[])) AS k(device, client_id)
JOIN messages AS m ON m.sender_device_id = k.device AND m.client_msg_id = k.client_id
"""
)


async def read_batch(
    conn: AsyncConnection, room_ids: Iterable[str], keys: Iterable[tuple[str, str]]
) -> tuple[dict[str, list[str]], list[Any]]:
    """The rooms' members (room -> user ids; rooms without members absent) and the stored
    messages whose (sender device, client id) is among `keys` (rows with the columns
    `store.row_to_stored` reads). One round trip."""
    wanted = sorted(set(keys))
    members: dict[str, list[str]] = defaultdict(list)
    stored: list[Any] = []
    params = {
        "room_ids": sorted(set(room_ids)),
        "devices": [device for device, _ in wanted],
        "client_ids": [client_id for _, client_id in wanted],
    }
    for row in await conn.execute(_READ, params):
        if row.member:
            members[row.room_id].append(row.sender_user_id)
        else:
            stored.append(row)
    return members, stored


_LOCK = text(
    """
SELECT r.id, r.last_seq, r.chain_length, CAST(NULL AS BIGINT) AS last_id,
    CAST(NULL AS TEXT) AS last_hash
FROM (
    SELECT id, last_seq, chain_length FROM rooms
    WHERE id = ANY(CAST(:room_ids AS TEXT[])) ORDER BY id FOR UPDATE
) AS r
UNION ALL
SELECT NULL, NULL, NULL, h.last_id, h.last_hash
FROM (SELECT last_id, last_hash FROM audit_head WHERE id = 1 FOR UPDATE) AS h
"""
)


async def lock_batch(
    conn: AsyncConnection, room_ids: Iterable[str]
) -> tuple[list[RoomHead], tuple[int, str]]:
    """Lock the rooms (sorted by id) and then the audit tip for the caller's transaction, and
    read them: the rooms' heads, and the tip as (last id, last hash). One round trip."""
    heads: list[RoomHead] = []
    tip: tuple[int, str] | None = None
    for row in await conn.execute(_LOCK, {"room_ids": sorted(room_ids)}):
        if row.id is None:
            tip = (row.last_id, row.last_hash)
        else:
            heads.append(RoomHead(row.id, row.last_seq, row.chain_length))
    if tip is None:
        raise RuntimeError("the audit_head row is missing (migrations not applied?)")
    return heads, tip


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
    audit tip (locked by `lock_batch`): one round trip."""
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

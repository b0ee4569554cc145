"""Storage of read receipts: one row per (room, member), holding the highest seq they read.

Every function runs on the caller's connection, inside the caller's transaction, so the
membership check, the move and its audit record commit together (server/messaging/receipts.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import ReadReceipt


async def advance(
    conn: AsyncConnection, is_sqlite: bool, room_id: str, user_id: str, seq: int, ts: int
) -> tuple[bool, int]:
    """Move the user's receipt up to `seq`; (whether it moved, the seq it now holds)."""
    moved = (await conn.execute(_upsert(is_sqlite, room_id, user_id, seq, ts))).rowcount
    current = (
        await conn.execute(
            select(ReadReceipt.seq).where(
                ReadReceipt.room_id == room_id, ReadReceipt.user_id == user_id
            )
        )
    ).scalar_one()
    return bool(moved), int(current)


async def positions(conn: AsyncConnection, room_id: str) -> dict[str, int]:
    """user_id -> last read seq of everyone with a receipt in the room."""
    rows = await conn.execute(
        select(ReadReceipt.user_id, ReadReceipt.seq).where(ReadReceipt.room_id == room_id)
    )
    return {r.user_id: int(r.seq) for r in rows}


def _upsert(is_sqlite: bool, room_id: str, user_id: str, seq: int, ts: int) -> Any:
    ins = (sqlite_insert if is_sqlite else pg_insert)(ReadReceipt).values(
        room_id=room_id, user_id=user_id, seq=seq, updated_at=ts
    )
    # Monotonic: the WHERE makes an older or equal seq a no-op, also under concurrent writers.
    return ins.on_conflict_do_update(
        index_elements=[ReadReceipt.room_id, ReadReceipt.user_id],
        set_={"seq": ins.excluded.seq, "updated_at": ins.excluded.updated_at},
        where=ReadReceipt.seq < ins.excluded.seq,
    )

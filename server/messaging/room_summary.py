"""What a room list shows of each room's messages without decrypting anything: when the last
one arrived and how far the user has read.

The rooms capability lists a user's rooms; the figures come from messaging's tables (`messages`,
`read_receipts`), so they are read here, for all the listed rooms in one query: a list of fifty
rooms must not cost fifty round trips on a rural link.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import BigInteger, CompoundSelect, and_, cast, null, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import Message, ReadReceipt

# Rooms per query: keeps the bound parameters (three per room) far below SQLite's limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RoomActivity:
    last_message_at: int | None  # None when the room has no message yet
    read_seq: int  # 0 when the user has read nothing there


async def room_activity(
    conn: AsyncConnection, user_id: str, last_seqs: Mapping[str, int]
) -> dict[str, RoomActivity]:
    """room_id -> activity for every room of `last_seqs` (room_id -> the room's last seq, as the
    rooms capability read it on this connection)."""
    last_at: dict[str, int] = {}
    read: dict[str, int] = {}
    heads = iter(last_seqs.items())
    while chunk := dict(islice(heads, _CHUNK)):
        for row in await conn.execute(_activity_query(user_id, chunk)):
            if row.read_seq is None:
                last_at[row.room_id] = int(row.last_message_at)
            else:
                read[row.room_id] = int(row.read_seq)
    return {
        room_id: RoomActivity(last_at.get(room_id), read.get(room_id, 0)) for room_id in last_seqs
    }


def _activity_query(
    user_id: str, last_seqs: Mapping[str, int]
) -> CompoundSelect[str, int | None, int | None]:
    """The message at each room's last seq and the user's receipt in each room, one row each."""
    last_messages = select(
        Message.room_id,
        Message.created_at.label("last_message_at"),
        cast(null(), BigInteger).label("read_seq"),
    ).where(
        # One index seek per room on both databases (SQLite scans the table for a row-value IN).
        or_(*(and_(Message.room_id == r, Message.seq == seq) for r, seq in last_seqs.items()))
    )
    receipts = select(
        ReadReceipt.room_id,
        cast(null(), BigInteger).label("last_message_at"),
        ReadReceipt.seq.label("read_seq"),
    ).where(ReadReceipt.user_id == user_id, ReadReceipt.room_id.in_(list(last_seqs)))
    return union_all(last_messages, receipts)

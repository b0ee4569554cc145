"""Reads of stored messages: the pages `sync` and `room.history` hand out.

Kept apart from the group-commit writer (store.py) so the socket handlers never hold SQL: they
validate, call one of these, and shape the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.models import Message
from server.rooms import store as room_store

from .store import StoredMessage, row_to_stored


@dataclass
class RoomPage:
    """One room's share of a `sync` page: the room's last seq and the messages after `since`."""

    room_id: str
    last_seq: int
    messages: list[StoredMessage]


async def missed_messages(
    conn: AsyncConnection, user_id: str, since: Mapping[str, int], limit: int
) -> tuple[list[RoomPage], bool]:
    """Every room of the user (by id), with up to `limit` messages in all, oldest first per room,
    taken room by room; `more` when a room has messages this page left out. On the caller's
    read connection: `sync` reads the to-device queue on the same one (one checkout a page)."""
    pages: list[RoomPage] = []
    budget, more = limit, False
    for room_id, last_seq in (await room_store.member_rooms(conn, user_id)).items():
        page = RoomPage(room_id, last_seq, [])
        after = since.get(room_id, 0)
        if after < last_seq:
            if budget <= 0:
                more = True
            else:
                page.messages = await _messages_after(conn, room_id, after, budget)
                budget -= len(page.messages)
                if page.messages and page.messages[-1].seq < last_seq:
                    more = True
        pages.append(page)
    return pages, more


async def older_messages(
    db: Database, user_id: str, room_id: str, before_seq: int | None, limit: int
) -> list[StoredMessage] | None:
    """Up to `limit` messages of the room before `before_seq` (or the newest), newest first;
    None when the user is not a member."""
    async with db.read() as conn:
        if not await room_store.is_member(conn, room_id, user_id):
            return None
        stmt = select(Message.__table__).where(Message.room_id == room_id)
        if before_seq is not None:
            stmt = stmt.where(Message.seq < before_seq)
        rows = (await conn.execute(stmt.order_by(Message.seq.desc()).limit(limit))).all()
    return [row_to_stored(r) for r in rows]


async def _messages_after(
    conn: AsyncConnection, room_id: str, after_seq: int, limit: int
) -> list[StoredMessage]:
    rows = await conn.execute(
        select(Message.__table__)
        .where(Message.room_id == room_id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [row_to_stored(r) for r in rows]

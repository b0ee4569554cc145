"""Reads of stored messages: the pages `sync` and `room.history` hand out.

Kept apart from the group-commit writer (store.py) so the socket handlers never hold SQL: they
validate, call one of these, and shape the reply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.models import Membership, Message, Room
from server.rooms import store as room_store

from .store import StoredMessage, row_to_stored


@dataclass
class RoomPage:
    """One room's share of a `sync` page: the room's last seq and the messages after `since`."""

    room_id: str
    last_seq: int
    messages: list[StoredMessage]


class PageReads(Protocol):
    """The two reads a `sync` page makes, on SQLAlchemy (`SqlPageReads`) or on asyncpg itself
    (`pg_sync_read.PgPageReads`), both from the statements below."""

    async def member_rooms(self, user_id: str) -> dict[str, int]: ...

    async def messages_after(
        self, room_id: str, after_seq: int, limit: int
    ) -> list[StoredMessage]: ...


# Built once (the bound values change, not the statement): building them per call was a share
# of every `sync` in a reconnection storm's profile (docs/performance.md §16).
MEMBER_ROOMS = (
    select(Room.id, Room.last_seq)
    .join(Membership, Membership.room_id == Room.id)
    .where(Membership.user_id == bindparam("user_id"))
    .order_by(Room.id)
)
MESSAGES_AFTER = (
    select(Message.__table__)
    .where(Message.room_id == bindparam("room_id"), Message.seq > bindparam("after_seq"))
    .order_by(Message.seq)
    .limit(bindparam("limit"))
)


@dataclass
class SqlPageReads:
    conn: AsyncConnection

    async def member_rooms(self, user_id: str) -> dict[str, int]:
        """room_id -> last_seq for every room the user is a member of, in room id order."""
        rows = await self.conn.execute(MEMBER_ROOMS, {"user_id": user_id})
        return {r.id: r.last_seq for r in rows}

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[StoredMessage]:
        params = {"room_id": room_id, "after_seq": after_seq, "limit": limit}
        return [row_to_stored(r._mapping) for r in await self.conn.execute(MESSAGES_AFTER, params)]


async def missed_messages(
    reads: PageReads, user_id: str, since: Mapping[str, int], limit: int
) -> tuple[list[RoomPage], bool]:
    """Every room of the user (by id), with up to `limit` messages in all, oldest first per room,
    taken room by room; `more` when a room has messages this page left out. On the caller's
    read connection: `sync` reads the to-device queue on the same one (one checkout a page)."""
    pages: list[RoomPage] = []
    budget, more = limit, False
    for room_id, last_seq in (await reads.member_rooms(user_id)).items():
        page = RoomPage(room_id, last_seq, [])
        after = since.get(room_id, 0)
        if after < last_seq:
            if budget <= 0:
                more = True
            else:
                page.messages = await reads.messages_after(room_id, after, budget)
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
    return [row_to_stored(r._mapping) for r in rows]

"""A `sync` page's message reads on PostgreSQL, on asyncpg's own prepared statements.

In a reconnection storm every client's first call is `sync`, and its reads went through
SQLAlchemy's execution path (statement cache key, execution context, result rows), a quarter of
the storm's loop (docs/performance.md §16). The same statements (`history.MEMBER_ROOMS`,
`history.MESSAGES_AFTER`), compiled once here, run on the asyncpg connection under a pooled
read connection (`Database.driver_read`), which the page's to-device read shares
(`ToDeviceQueue.pending_on_driver`); SQLite keeps SQLAlchemy (`history.SqlPageReads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.db.driver_sql import for_asyncpg

from .history import MEMBER_ROOMS, MESSAGES_AFTER
from .store import StoredMessage, row_to_stored

_MEMBER_ROOMS = for_asyncpg(MEMBER_ROOMS, ("user_id",))
_MESSAGES_AFTER = for_asyncpg(MESSAGES_AFTER, ("room_id", "after_seq", "limit"))


@dataclass
class PgPageReads:
    pg: Any  # asyncpg.Connection

    async def member_rooms(self, user_id: str) -> dict[str, int]:
        return {r["id"]: r["last_seq"] for r in await self.pg.fetch(_MEMBER_ROOMS, user_id)}

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[StoredMessage]:
        rows = await self.pg.fetch(_MESSAGES_AFTER, room_id, after_seq, limit)
        return [row_to_stored(r) for r in rows]

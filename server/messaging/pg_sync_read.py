"""A `sync` page's reads on PostgreSQL, on asyncpg's own prepared statements.

In a reconnection storm every client's first call is `sync`, and its reads went through
SQLAlchemy's execution path (statement cache key, execution context, result rows), a share of
the storm's CPU second only to the WebSocket handshake (docs/performance.md §16). The same
statements (`history.MEMBER_ROOMS`, `history.MESSAGES_AFTER`, `todevice.PENDING`), compiled
once here, run on the asyncpg connection under a pooled read connection
(`Database.driver_read`); SQLite keeps SQLAlchemy (`history.SqlPageReads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.db.driver_sql import for_asyncpg

from .history import MEMBER_ROOMS, MESSAGES_AFTER
from .store import StoredMessage
from .todevice import PENDING, page_of_pending

# Parameter order: as the expressions bind them ($1, $2, ...).
_MEMBER_ROOMS = for_asyncpg(MEMBER_ROOMS)  # user_id
_MESSAGES_AFTER = for_asyncpg(MESSAGES_AFTER)  # room_id, after_seq, limit
_PENDING = for_asyncpg(PENDING)  # device_id, limit


@dataclass
class PgPageReads:
    pg: Any  # asyncpg.Connection

    async def member_rooms(self, user_id: str) -> dict[str, int]:
        return {r["id"]: r["last_seq"] for r in await self.pg.fetch(_MEMBER_ROOMS, user_id)}

    async def messages_after(self, room_id: str, after_seq: int, limit: int) -> list[StoredMessage]:
        return [
            StoredMessage(
                id=r["id"],
                room_id=r["room_id"],
                seq=r["seq"],
                ts=r["created_at"],
                sender_user_id=r["sender_user_id"],
                sender_device_id=r["sender_device_id"],
                client_msg_id=r["client_msg_id"],
                envelope=r["envelope"],
            )
            for r in await self.pg.fetch(_MESSAGES_AFTER, room_id, after_seq, limit)
        ]


async def to_device_pending(
    pg: Any, device_id: str, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """`ToDeviceQueue.pending` on asyncpg: a live device's queue, oldest first, and `more`."""
    return page_of_pending(await pg.fetch(_PENDING, device_id, limit + 1), limit)

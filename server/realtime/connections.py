"""Authenticated socket connections of this node."""

from __future__ import annotations

from dataclasses import dataclass, field

from server.auth.principal import Principal


def user_room(user_id: str) -> str:
    return f"u:{user_id}"


def device_room(device_id: str) -> str:
    return f"d:{device_id}"


@dataclass
class Connection:
    sid: str
    principal: Principal
    connected_at: float
    typing_in: set[str] = field(default_factory=set)


class ConnectionTable:
    def __init__(self) -> None:
        self.by_sid: dict[str, Connection] = {}
        self.per_user: dict[str, int] = {}

    def add(self, conn: Connection) -> bool:
        """Register; True when this is the user's first connection on this node."""
        self.by_sid[conn.sid] = conn
        n = self.per_user.get(conn.principal.user_id, 0) + 1
        self.per_user[conn.principal.user_id] = n
        return n == 1

    def remove(self, sid: str) -> tuple[Connection | None, bool]:
        """Unregister; (connection, True when it was the user's last one on this node)."""
        conn = self.by_sid.pop(sid, None)
        if conn is None:
            return None, False
        uid = conn.principal.user_id
        n = self.per_user.get(uid, 1) - 1
        if n <= 0:
            self.per_user.pop(uid, None)
            return conn, True
        self.per_user[uid] = n
        return conn, False

    def sids_of_user(self, user_id: str) -> list[str]:
        return [s for s, c in self.by_sid.items() if c.principal.user_id == user_id]

    def __len__(self) -> int:
        return len(self.by_sid)

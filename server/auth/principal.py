"""Who is calling: resolved once per request or per socket connection."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Principal:
    user_id: str
    device_id: str
    role: str
    session_id: str
    ip: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

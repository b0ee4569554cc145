"""Login sessions: opaque bearer tokens, stored hashed, expiring, revocable, listed per user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.models import Device, Session, User, new_id, now_ms

from .principal import Principal
from .tokens import hash_token, new_token

if TYPE_CHECKING:
    from server.services import Services

# last_seen_at is a convenience for "list sessions"; refreshing it on every request would turn
# each read into a write, so it is refreshed at most this often per session.
LAST_SEEN_RESOLUTION_MS = 60_000


@dataclass
class IssuedSession:
    token: str
    session_id: str
    device_id: str
    expires_at: int


class SessionService:
    def __init__(self, db: Database, ttl_s: int) -> None:
        self.db = db
        self.ttl_ms = ttl_s * 1000

    async def issue(
        self,
        conn: AsyncConnection,
        user_id: str,
        *,
        device_id: str | None = None,
        device_name: str = "device",
        user_agent: str | None = None,
    ) -> IssuedSession:
        """Create a session (and a device, unless an existing one of the user is named)."""
        now = now_ms()
        if device_id is None:
            device_id = new_id("d")
            await conn.execute(
                insert(Device).values(
                    id=device_id, user_id=user_id, name=device_name[:200], created_at=now
                )
            )
        token = new_token("rls")
        session_id = new_id("s")
        expires = now + self.ttl_ms
        await conn.execute(
            insert(Session).values(
                id=session_id,
                token_hash=hash_token(token),
                user_id=user_id,
                device_id=device_id,
                created_at=now,
                expires_at=expires,
                last_seen_at=now,
                user_agent=(user_agent or "")[:300] or None,
            )
        )
        return IssuedSession(token, session_id, device_id, expires)

    async def resolve(self, token: str) -> Principal | None:
        if len(token) > 200:
            return None
        now = now_ms()
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(
                        Session.id,
                        Session.user_id,
                        Session.device_id,
                        Session.expires_at,
                        Session.revoked_at,
                        Session.last_seen_at,
                        User.role,
                        User.disabled,
                        Device.revoked_at.label("device_revoked_at"),
                    )
                    .join(User, User.id == Session.user_id)
                    .join(Device, Device.id == Session.device_id)
                    .where(Session.token_hash == hash_token(token))
                )
            ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        if row.disabled or row.device_revoked_at is not None:
            return None
        if now - row.last_seen_at > LAST_SEEN_RESOLUTION_MS:
            async with self.db.write() as conn:
                await conn.execute(
                    update(Session).where(Session.id == row.id).values(last_seen_at=now)
                )
        return Principal(row.user_id, row.device_id, row.role, row.id)

    async def revoke(self, session_id: str, user_id: str | None = None) -> bool:
        stmt = update(Session).where(Session.id == session_id, Session.revoked_at.is_(None))
        if user_id is not None:
            stmt = stmt.where(Session.user_id == user_id)
        async with self.db.write() as conn:
            result = await conn.execute(stmt.values(revoked_at=now_ms()))
        return bool(result.rowcount)

    async def revoke_all(self, conn: AsyncConnection, user_id: str) -> None:
        await conn.execute(
            update(Session)
            .where(Session.user_id == user_id, Session.revoked_at.is_(None))
            .values(revoked_at=now_ms())
        )

    async def list_for_user(self, user_id: str) -> list[dict[str, object]]:
        now = now_ms()
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(Session.__table__, Device.name.label("device_name"))
                    .join(Device, Device.id == Session.device_id)
                    .where(Session.user_id == user_id)
                    .order_by(Session.created_at)
                )
            ).all()
        out: list[dict[str, object]] = []
        for s in rows:
            out.append(
                {
                    "id": s.id,
                    "device_id": s.device_id,
                    "device_name": s.device_name,
                    "created_at": s.created_at,
                    "expires_at": s.expires_at,
                    "last_seen_at": s.last_seen_at,
                    "active": s.revoked_at is None and s.expires_at > now,
                    "user_agent": s.user_agent,
                }
            )
        return out


async def disconnect_sockets(svc: Services, user_id: str, *, session_id: str | None = None) -> int:
    """Close this node's live sockets of a user (or of one session of theirs).

    Revoking a session in the database stops new requests and connects, but an open socket was
    authenticated once at connect; without this it would keep sending until it reconnects.
    Returns how many sockets were closed.
    """
    closed = 0
    for sid in svc.connections.sids_of_user(user_id):
        conn = svc.connections.by_sid.get(sid)
        if conn is None or (session_id is not None and conn.principal.session_id != session_id):
            continue
        await svc.sio.disconnect(sid)
        closed += 1
    return closed

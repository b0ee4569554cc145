"""Login sessions: opaque bearer tokens, stored hashed, expiring, revocable, listed per user."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.driver_sql import for_asyncpg
from server.db.engine import Database
from server.db.group_commit import GroupCommit, NextMayStart, serial
from server.db.models import Device, Session, User, new_id, now_ms

from .principal import Principal
from .tokens import hash_token, new_token

# last_seen_at is a convenience for "list sessions"; refreshing it on every request would turn
# each read into a write, so it is refreshed at most this often per session.
LAST_SEEN_RESOLUTION_MS = 60_000


@dataclass
class IssuedSession:
    token: str
    session_id: str
    device_id: str
    expires_at: int


# Every socket connect resolves its token: a reconnection storm runs this once per client.
_RESOLVE = (
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
    .where(Session.token_hash == bindparam("token_hash"))
)
# The same statement for asyncpg itself (prepared once per connection): SQLAlchemy's execution
# path (statement cache key, execution context, result rows) was two thirds of the lookup's CPU
# in a 5,000-client storm's profile (docs/performance.md §16).
_RESOLVE_PG = for_asyncpg(_RESOLVE, ("token_hash",))


class SessionService:
    def __init__(self, db: Database, ttl_s: int) -> None:
        self.db = db
        self.ttl_ms = ttl_s * 1000
        # After an outage longer than LAST_SEEN_RESOLUTION_MS every reconnecting client's lookup
        # refreshes last_seen_at: thousands of one-row transactions at once, shared here.
        self._touches: GroupCommit[tuple[str, int], None] = GroupCommit(
            self._touch_batch, max_batch=1000, name="relais-session-touches"
        )

    def start(self) -> None:
        self._touches.start()

    async def stop(self) -> None:
        await self._touches.stop()

    async def _touch(self, session_id: str, now: int) -> None:
        if self._touches.running:
            await self._touches.submit((session_id, now))
        else:
            await self._touch_batch([(session_id, now)])

    async def _touch_batch(
        self, batch: list[tuple[str, int]], _next: NextMayStart = serial
    ) -> list[BaseException | None]:
        async with self.db.write() as conn:
            await conn.execute(
                update(Session)
                .where(Session.id.in_(sorted({sid for sid, _ in batch})))
                .values(last_seen_at=max(at for _, at in batch))
            )
        return [None] * len(batch)

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
        row: Mapping[Any, Any] | None
        if self.db.is_sqlite:
            async with self.db.read() as conn:
                found = (await conn.execute(_RESOLVE, {"token_hash": hash_token(token)})).first()
            row = None if found is None else found._mapping
        else:
            async with self.db.driver_read() as pg:
                row = await pg.fetchrow(_RESOLVE_PG, hash_token(token))
        if row is None or row["revoked_at"] is not None or row["expires_at"] <= now:
            return None
        if row["disabled"] or row["device_revoked_at"] is not None:
            return None
        if now - row["last_seen_at"] > LAST_SEEN_RESOLUTION_MS:
            await self._touch(row["id"], now)
        return Principal(row["user_id"], row["device_id"], row["role"], row["id"])

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


async def cap_expiry(conn: AsyncConnection, session_id: str, expires_at: int) -> None:
    """Make a session just issued end sooner than the account lifetime (a consultation guest's
    ends with `RELAIS_CONSULT_GUEST_TTL_S`), in the transaction that issued it."""
    await conn.execute(
        update(Session).where(Session.id == session_id).values(expires_at=expires_at)
    )


async def revoke_users_sessions(conn: AsyncConnection, user_ids: list[str]) -> None:
    """End every live session of these users, in the caller's transaction (their sockets are
    the caller's to close once it commits)."""
    await conn.execute(
        update(Session)
        .where(Session.user_id.in_(user_ids), Session.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )


# Built once: the to-device path asks this on every send (docs/performance.md).
_LIVE_DEVICES = select(Device.id, Device.user_id).where(
    Device.id.in_(bindparam("device_ids", expanding=True)), Device.revoked_at.is_(None)
)


async def live_device_owners(conn: AsyncConnection, device_ids: list[str]) -> dict[str, str]:
    """device_id -> user_id for those of `device_ids` that exist and are not revoked."""
    rows = (await conn.execute(_LIVE_DEVICES, {"device_ids": device_ids})).all()
    return {r.id: r.user_id for r in rows}


@dataclass(frozen=True, slots=True)
class DeviceRevocation:
    revoked_at: int
    sessions: int  # how many live sessions of the device it ended


async def revoke_device(
    conn: AsyncConnection, user_id: str, device_id: str
) -> DeviceRevocation | None:
    """Revoke one of the user's devices and end its sessions, in the caller's transaction; None
    if the user has no live device of that id. The vault key goes too, so a copied browser
    profile stays sealed. Sockets are the caller's to close once this commits: closing them
    before would let a reconnect race the commit."""
    now = now_ms()
    revoked = await conn.execute(
        update(Device)
        .where(Device.id == device_id, Device.user_id == user_id, Device.revoked_at.is_(None))
        .values(revoked_at=now, vault_key=None)
    )
    if not revoked.rowcount:
        return None
    sessions = await conn.execute(
        update(Session)
        .where(
            Session.device_id == device_id,
            Session.user_id == user_id,
            Session.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return DeviceRevocation(now, sessions.rowcount)


async def live_session_ids(db: Database, session_ids: list[str]) -> set[str]:
    """Those of `session_ids` that would still authenticate: not revoked, not expired, the user
    not disabled, the device not revoked (what `resolve` checks, for many sessions at once)."""
    live: set[str] = set()
    now = now_ms()
    async with db.read() as conn:
        for i in range(0, len(session_ids), 500):
            rows = await conn.execute(
                select(Session.id)
                .join(User, User.id == Session.user_id)
                .join(Device, Device.id == Session.device_id)
                .where(
                    Session.id.in_(session_ids[i : i + 500]),
                    Session.revoked_at.is_(None),
                    Session.expires_at > now,
                    User.disabled.is_(False),
                    Device.revoked_at.is_(None),
                )
            )
            live.update(r.id for r in rows)
    return live

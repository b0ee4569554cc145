"""Bench data: users, devices, sessions, rooms and memberships written straight into the database.

Going through REST would hash one argon2 password per user and log each one in; here one password
is hashed once and reused, sessions are issued by `SessionService.issue` (the code the login route
uses), and rooms/memberships/membership events are inserted in the shape
`server/rooms/service.py:create_room` and `add_member` produce. The schema comes from the real
migrations, so the server starts on a database it considers current.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import insert

from server.auth.accounts import prepare_password
from server.auth.sessions import SessionService
from server.db.engine import Database
from server.db.migrate import upgrade
from server.db.models import Membership, MembershipEvent, Room, User, new_id, now_ms

PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-not-secret"


@dataclass(frozen=True)
class Member:
    token: str
    user_id: str
    device_id: str
    room_id: str


async def populate(url: str, rooms: int, per_room: int) -> list[Member]:
    """`rooms` rooms of `per_room` clinicians each, one session (and device) per clinician."""
    db = Database(url)
    try:
        await upgrade(db)
        pw_hash = await prepare_password(PASSWORD)
        sessions = SessionService(db, 24 * 3600)
        now = now_ms()
        out: list[Member] = []
        tag = secrets.token_hex(3)
        for r in range(rooms):
            async with db.write() as conn:
                uids = [new_id("u") for _ in range(per_room)]
                await conn.execute(
                    insert(User),
                    [
                        {
                            "id": u,
                            "username": f"bench-{tag}-{r}-{i}",
                            "display_name": f"bench {r}.{i}",
                            "role": "clinician",
                            "password_hash": pw_hash,
                            "disabled": False,
                            "failed_logins": 0,
                            "locked_until": 0,
                            "created_at": now,
                        }
                        for i, u in enumerate(uids)
                    ],
                )
                room_id = new_id("r")
                await conn.execute(
                    insert(Room).values(
                        id=room_id,
                        patient_user_id=None,
                        created_by=uids[0],
                        encrypted_meta=None,
                        last_seq=0,
                        last_event_seq=len(uids),
                        created_at=now,
                    )
                )
                await conn.execute(
                    insert(Membership),
                    [
                        {
                            "room_id": room_id,
                            "user_id": u,
                            "room_role": "owner" if i == 0 else "member",
                            "added_by": uids[0],
                            "added_at": now,
                            "joined_seq": 0,
                        }
                        for i, u in enumerate(uids)
                    ],
                )
                await conn.execute(
                    insert(MembershipEvent),
                    [
                        {
                            "room_id": room_id,
                            "event_seq": i + 1,
                            "action": "create" if i == 0 else "add",
                            "actor_user_id": uids[0],
                            "target_user_id": u,
                            "room_role": "owner" if i == 0 else "member",
                            "consent_id": None,
                            "signed_event": None,
                            "created_at": now,
                        }
                        for i, u in enumerate(uids)
                    ],
                )
                for u in uids:
                    issued = await sessions.issue(conn, u, device_name="bench")
                    out.append(Member(issued.token, u, issued.device_id, room_id))
        return out
    finally:
        await db.close()


async def create_pg_database() -> str:
    """A scratch PostgreSQL database; returns its SQLAlchemy URL."""
    import asyncpg

    name = f"relais_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()

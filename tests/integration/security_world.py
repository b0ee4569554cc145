"""A populated server for the security suites: one actor per role and room relation.

Actors are created once per test with one pre-computed argon2 hash (hashing is the expensive
part of a user) and get their sessions straight from the session service, as an invitation
redemption would; everything they then do goes through the real REST API and socket.io.

The care room `room` has an owner (clinician), a member (clinician with room role `member`) and
its patient; every other actor is an authenticated non-member of it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from sqlalchemy import select

from server.auth import accounts
from server.auth.principal import Principal
from server.db.models import AuditEvent, AuditHead
from server.rooms import service as rooms
from tests.conftest import PASSWORD, Running, envelope

# actor name -> global role
ACTOR_ROLES: dict[str, str] = {
    "admin": "admin",
    "clinician": "clinician",
    "assistant": "assistant",
    "caregiver": "caregiver",
    "patient": "patient",
    "owner": "clinician",
    "member": "clinician",
    "room_patient": "patient",
}
MEMBERS = ("owner", "member", "room_patient")
NON_MEMBERS = ("admin", "clinician", "assistant", "caregiver", "patient")
ACTORS = ("anon", *ACTOR_ROLES)


@dataclass
class Actor:
    name: str
    role: str
    user_id: str
    username: str
    token: str
    device_id: str
    session_id: str

    @property
    def principal(self) -> Principal:
        return Principal(self.user_id, self.device_id, self.role, self.session_id, "127.0.0.1")


@dataclass
class Response:
    status: int
    body: Any


@dataclass
class World:
    running: Running
    http: aiohttp.ClientSession
    pw_hash: str
    actors: dict[str, Actor] = field(default_factory=dict)
    room: str = ""
    attachment_id: str = ""
    sockets: dict[str, socketio.AsyncClient] = field(default_factory=dict)

    @property
    def svc(self) -> Any:
        return self.running.services

    # -- people ---------------------------------------------------------------------------
    async def user(self, role: str, name: str | None = None) -> tuple[str, str]:
        """A fresh account (no session): (user_id, username)."""
        username = f"{name or role}-{secrets.token_hex(5)}"
        async with self.svc.db.write() as conn:
            uid = await accounts.create_user(
                conn,
                username=username,
                role=role,
                password_hash=None if role == "patient" else self.pw_hash,
            )
        return uid, username

    async def session(self, user_id: str) -> tuple[str, str, str]:
        """A new session (and device) of an existing user: (token, device_id, session_id)."""
        async with self.svc.db.write() as conn:
            issued = await self.svc.sessions.issue(conn, user_id, device_name="security-test")
        return issued.token, issued.device_id, issued.session_id

    def token(self, actor: str) -> str | None:
        return None if actor == "anon" else self.actors[actor].token

    # -- rooms ----------------------------------------------------------------------------
    async def fresh_room(self, *, with_patient: bool = True) -> str:
        """A room owned by `owner` with `member` (and `room_patient`), made by the real rules."""
        owner = self.actors["owner"].principal
        made = await rooms.create_room(
            self.svc,
            owner,
            self.actors["room_patient"].user_id if with_patient else None,
            None,
            None,
        )
        room_id = str(made["room_id"])
        await rooms.add_member(
            self.svc, owner, room_id, self.actors["member"].user_id, "member", None, None
        )
        return room_id

    async def add_to_room(self, room_id: str, user_id: str) -> None:
        await rooms.add_member(
            self.svc, self.actors["owner"].principal, room_id, user_id, "member", None, None
        )

    # -- transport ------------------------------------------------------------------------
    async def rest(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        kwargs: dict[str, Any] = {}
        if data is not None:
            kwargs["data"] = data
        elif json_body is not None:
            kwargs["data"] = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        async with self.http.request(
            method, self.running.url + path, headers=hdrs, **kwargs
        ) as resp:
            raw = await resp.read()
            body: Any = raw
            if resp.content_type == "application/json":
                body = json.loads(raw)
            return Response(resp.status, body)

    async def socket(self, actor: str) -> socketio.AsyncClient:
        """One connected socket.io client per actor, reused."""
        sio = self.sockets.get(actor)
        if sio is None:
            sio = socketio.AsyncClient(reconnection=False)
            await sio.connect(
                self.running.url,
                auth={"token": self.actors[actor].token},
                transports=["websocket"],
                wait_timeout=10,
            )
            self.sockets[actor] = sio
        return sio

    async def close(self) -> None:
        for sio in self.sockets.values():
            try:
                await sio.disconnect()
            except Exception:
                pass
        await self.http.close()

    # -- audit ------------------------------------------------------------------------------
    async def audit_tail(self, after_id: int) -> list[dict[str, Any]]:
        async with self.svc.db.read() as conn:
            rows = await conn.execute(
                select(AuditEvent.__table__).where(AuditEvent.id > after_id).order_by(AuditEvent.id)
            )
            return [dict(r._mapping) for r in rows]

    async def audit_last_id(self) -> int:
        async with self.svc.db.read() as conn:
            return int(
                (
                    await conn.execute(select(AuditHead.last_id).where(AuditHead.id == 1))
                ).scalar_one()
            )


_PW_HASH: list[str] = []


async def build_world(running: Running) -> World:
    # One argon2 hash per process: the salt makes it valid for every test user.
    if not _PW_HASH:
        _PW_HASH.append(await accounts.prepare_password(PASSWORD))
    pw_hash = _PW_HASH[0]
    world = World(running, aiohttp.ClientSession(), pw_hash)
    for name, role in ACTOR_ROLES.items():
        uid, username = await world.user(role, name.replace("_", "-"))
        token, device, sid = await world.session(uid)
        world.actors[name] = Actor(name, role, uid, username, token, device, sid)
    owner = world.actors["owner"]
    made = await world.rest(
        "POST",
        "/api/v1/rooms",
        token=owner.token,
        json_body={"patient_user_id": world.actors["room_patient"].user_id},
    )
    assert made.status == 201, made.body
    world.room = made.body["room_id"]
    added = await world.rest(
        "POST",
        f"/api/v1/rooms/{world.room}/members",
        token=owner.token,
        json_body={"user_id": world.actors["member"].user_id},
    )
    assert added.status == 201, added.body
    up = await world.rest(
        "POST",
        f"/api/v1/rooms/{world.room}/attachments",
        token=owner.token,
        data=b"\x00\x01ciphertext",
        headers={"Content-Type": "application/octet-stream"},
    )
    assert up.status == 201, up.body
    world.attachment_id = up.body["attachment_id"]
    sio = await world.socket("owner")
    ack = await sio.call(
        "message.send",
        {"room_id": world.room, "client_msg_id": "seed-1", "envelope": envelope("seed")},
        timeout=10,
    )
    assert ack.get("seq") == 1, ack
    return world

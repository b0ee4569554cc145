"""To-device queue: opaque payloads from one device to others, kept until the recipient acks.

This is the key-distribution channel of the E2EE protocol, so its rules are about not leaking
and not losing:
- a device may write only to devices of users who share at least one room with its user, or to
  its own user's devices. Any other device id (a stranger's, a revoked one, one that does not
  exist) is answered the same way — listed under `not_found` in the ack — so the answer never
  tells a stranger whether a device exists. The request is partial on purpose: one stale device
  in a member's list must not block key delivery to the others.
- entries are idempotent on (sender device, client_msg_id, recipient device), acked only after
  commit, delivered live to the recipient's device room and again by `sync` until the recipient
  sends `todevice.ack`.
- the audit log gets counts only, never the payload or the recipients' ids.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import Field, StringConstraints
from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append
from server.auth.sessions import live_device_owners
from server.db.driver_sql import for_asyncpg
from server.db.engine import Database
from server.db.models import Device, ToDevice, now_ms
from server.errors import ApiError
from server.realtime.connections import device_room
from server.realtime.registry import on
from server.rooms import store as room_store

from .schemas import MAX_INT64, ClientMsgId, Id, Strict

if TYPE_CHECKING:
    from server.auth.principal import Principal
    from server.realtime.connections import Connection
    from server.services import Services

log = logging.getLogger("relais.todevice")

MAX_MESSAGES = 100
# The entry types the queue carries (docs/protocol.md §4.4): only the E2EE pairwise channel
# (docs/crypto.md §3). Clients drop any other type on receipt, so one sent by mistake (an old or
# foreign client's `m.room_key`, say) would be lost without a word; refusing it here gives its
# sender a typed `validation_failed` (problem type `literal_error` at `messages.N.type`) instead.
PAIRWISE_TYPE = "relais.pairwise.v1"
ToDeviceType = Literal["relais.pairwise.v1"]
TODEVICE_TYPES: tuple[str, ...] = get_args(ToDeviceType)


class ToDeviceItem(Strict):
    device_id: Id
    type: ToDeviceType
    # The byte limit is a setting and is checked in the handler; this only bounds parsing.
    payload: Annotated[str, StringConstraints(max_length=1_000_000)]


class ToDeviceSend(Strict):
    messages: Annotated[list[ToDeviceItem], Field(min_length=1, max_length=MAX_MESSAGES)]
    client_msg_id: ClientMsgId


class ToDeviceAck(Strict):
    up_to: Annotated[int, Field(ge=0, le=MAX_INT64)]


# A live (not revoked) device's queue, oldest first, one statement: the device check was a
# round trip of its own on every `sync` page. Built once; `limit` is bound (page + 1, to tell
# `more`).
PENDING = (
    select(ToDevice.__table__)
    .where(
        ToDevice.recipient_device_id == bindparam("device_id"),
        select(Device.id)
        .where(Device.id == ToDevice.recipient_device_id, Device.revoked_at.is_(None))
        .exists(),
    )
    .order_by(ToDevice.id)
    .limit(bindparam("limit"))
)


_PENDING_PG = for_asyncpg(PENDING, ("device_id", "limit"))


def page_of_pending(
    rows: Sequence[Mapping[Any, Any]], limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """A page of `PENDING`'s rows (fetched with `limit + 1`) and whether more are queued."""
    return [_wire(r) for r in rows[:limit]], len(rows) > limit


def _wire(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The `todevice.new` / `sync.to_device` form of a queued entry (a row's mapping, or an
    asyncpg record)."""
    return {
        "id": row["id"],
        "sender": {"user_id": row["sender_user_id"], "device_id": row["sender_device_id"]},
        "type": row["type"],
        "payload": row["payload"],
        "ts": row["created_at"],
    }


async def _reachable_devices(
    conn: AsyncConnection, sender_user_id: str, device_ids: list[str]
) -> dict[str, str]:
    """device_id -> user_id for the requested devices the sender may write to."""
    owners = await live_device_owners(conn, device_ids)
    others = {u for u in owners.values() if u != sender_user_id}
    shared: set[str] = set()
    if others:
        shared = await room_store.co_members(conn, sender_user_id, among=sorted(others))
    return {d: u for d, u in owners.items() if u == sender_user_id or u in shared}


class ToDeviceQueue:
    """Storage side of the queue; `pending` is what `sync` calls (svc.parts.todevice)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def pending(
        self, conn: AsyncConnection, device_id: str, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """Oldest first; `more` when the device has further entries beyond this page. On the
        caller's read connection (`sync` shares one with its message page)."""
        params = {"device_id": device_id, "limit": limit + 1}
        rows = [r._mapping for r in await conn.execute(PENDING, params)]
        return page_of_pending(rows, limit)

    async def pending_on_driver(
        self, pg: Any, device_id: str, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """`pending` on the asyncpg connection of `Database.driver_read` (PostgreSQL): every
        reconnecting client's `sync` reads its queue (messaging/pg_sync_read.py)."""
        return page_of_pending(await pg.fetch(_PENDING_PG, device_id, limit + 1), limit)

    async def store(
        self, sender: Principal, client_msg_id: str, items: list[ToDeviceItem]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(newly stored entries as (device_id, wire) pairs, ack). A concurrent retry on
        another node can trip the unique key between our check and insert: then the whole
        transaction is replayed once and sees that node's rows as already stored."""
        try:
            return await self._store_once(sender, client_msg_id, items)
        except IntegrityError:
            return await self._store_once(sender, client_msg_id, items)

    async def _store_once(
        self, sender: Principal, client_msg_id: str, items: list[ToDeviceItem]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        wanted = [i.device_id for i in items]
        ts = now_ms()
        async with self.db.write() as conn:
            allowed = await _reachable_devices(conn, sender.user_id, wanted)
            existing = set(
                (
                    await conn.execute(
                        select(ToDevice.recipient_device_id).where(
                            ToDevice.sender_device_id == sender.device_id,
                            ToDevice.client_msg_id == client_msg_id,
                            ToDevice.recipient_device_id.in_(wanted),
                        )
                    )
                ).scalars()
            )
            rows = [
                {
                    "recipient_device_id": i.device_id,
                    "recipient_user_id": allowed[i.device_id],
                    "sender_user_id": sender.user_id,
                    "sender_device_id": sender.device_id,
                    "client_msg_id": client_msg_id,
                    "type": i.type,
                    "payload": i.payload,
                    "created_at": ts,
                }
                for i in items
                if i.device_id in allowed and i.device_id not in existing
            ]
            fresh: list[dict[str, Any]] = []
            if rows:
                await conn.execute(insert(ToDevice), rows)
                # Read the ids back by the unique key (portable; RETURNING of a multi-row
                # insert has no guaranteed order).
                keys = [r["recipient_device_id"] for r in rows]
                stored = (
                    await conn.execute(
                        select(ToDevice.__table__)
                        .where(
                            ToDevice.sender_device_id == sender.device_id,
                            ToDevice.client_msg_id == client_msg_id,
                            ToDevice.recipient_device_id.in_(keys),
                        )
                        .order_by(ToDevice.id)
                    )
                ).all()
                fresh = [
                    {"device_id": r.recipient_device_id, "wire": _wire(r._mapping)} for r in stored
                ]
                await append(
                    conn,
                    [
                        AuditRecord(
                            "todevice.write",
                            sender.user_id,
                            sender.device_id,
                            ip=sender.ip,
                            ts=ts,
                            detail={
                                "stored": len(rows),
                                "duplicates": len(existing & set(allowed)),
                                "refused": len(wanted) - len(allowed),
                            },
                        )
                    ],
                )
        not_found = [d for d in wanted if d not in allowed]
        ack = {
            "stored": len(wanted) - len(not_found),
            "duplicates": len(existing & set(allowed)),
            "not_found": not_found,
        }
        return fresh, ack

    async def ack(self, device_id: str, up_to: int) -> int:
        async with self.db.write() as conn:
            res = await conn.execute(
                delete(ToDevice).where(
                    ToDevice.recipient_device_id == device_id, ToDevice.id <= up_to
                )
            )
        return int(res.rowcount or 0)

    async def count(self, device_id: str) -> int:
        """Entries still queued for a device (operations and tests)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ToDevice.id).where(ToDevice.recipient_device_id == device_id)
                )
            ).all()
        return len(rows)


@on(
    "todevice.send",
    ToDeviceSend,
    summary="Queue opaque payloads for devices of co-members or of the caller's own user.",
)
async def todevice_send(svc: Services, conn: Connection, p: ToDeviceSend) -> dict[str, Any]:
    limit = svc.settings.max_todevice_bytes
    seen: set[str] = set()
    for item in p.messages:
        if len(item.payload.encode()) > limit:
            raise ApiError("payload_too_large", f"to-device payload larger than {limit} bytes")
        if item.device_id in seen:
            raise ApiError("validation_failed", "a device appears twice in one request")
        seen.add(item.device_id)
    fresh, ack = await svc.parts.todevice.store(conn.principal, p.client_msg_id, p.messages)
    for entry in fresh:
        await svc.sio.emit("todevice.new", entry["wire"], to=device_room(entry["device_id"]))
    return ack


@on(
    "todevice.ack",
    ToDeviceAck,
    summary="Delete the caller's own queued to-device entries with id <= up_to.",
)
async def todevice_ack(svc: Services, conn: Connection, p: ToDeviceAck) -> dict[str, Any]:
    return {"deleted": await svc.parts.todevice.ack(conn.principal.device_id, p.up_to)}


def setup(svc: Services) -> None:
    svc.parts.todevice = ToDeviceQueue(svc.db)

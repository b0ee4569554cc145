"""Durable, ordered, idempotent message storage with group commit.

One writer task per process drains a queue of pending sends and commits them in one
transaction: membership check, idempotency check, per-room `seq` assignment
(`UPDATE rooms SET last_seq = last_seq + n ... RETURNING`), insert, audit — then resolves every
sender's future. A commit (and its fsync) is paid once per batch instead of once per message,
which is what lets a single node ack thousands of messages per second while still never acking
before the message is durable. Under light load a batch holds one message, so latency is one
transaction.

Across nodes on PostgreSQL the `rooms` row lock taken by the UPDATE orders concurrent writers of
one room; the unique constraints (room, seq) and (device, client_msg_id) are the last line of
defence, and a batch that trips one is retried message by message.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append
from server.auth.principal import Principal
from server.db.engine import Database
from server.db.models import Membership, Message, Room, new_id, now_ms
from server.errors import ApiError, not_found
from server.ops import metrics

log = logging.getLogger("relais.messaging")


@dataclass
class StoredMessage:
    id: str
    room_id: str
    seq: int
    ts: int
    sender_user_id: str
    sender_device_id: str
    client_msg_id: str
    envelope: str
    duplicate: bool = False
    members: list[str] = field(default_factory=list)

    def ack(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "ts": self.ts, "duplicate": self.duplicate}

    def wire(self) -> dict[str, Any]:
        """The `message.new` / `sync` form of a message."""
        return {
            "id": self.id,
            "room_id": self.room_id,
            "seq": self.seq,
            "ts": self.ts,
            "sender": {"user_id": self.sender_user_id, "device_id": self.sender_device_id},
            "client_msg_id": self.client_msg_id,
            "envelope": self.envelope,
        }


@dataclass
class _Pending:
    principal: Principal
    room_id: str
    client_msg_id: str
    envelope: str
    future: asyncio.Future[StoredMessage]
    # The membership-chain length the sender encrypted under (envelope `me`), when it says.
    chain_seen: int | None = None


class MessageStore:
    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="relais-message-writer")

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None

    async def send(
        self,
        principal: Principal,
        room_id: str,
        client_msg_id: str,
        envelope: str,
        *,
        chain_seen: int | None = None,
    ) -> StoredMessage:
        if self._task is None:
            raise ApiError("unavailable", "server is shutting down")
        fut: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(
            _Pending(principal, room_id, client_msg_id, envelope, fut, chain_seen)
        )
        return await fut

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit_batch(batch)

    async def _commit_batch(self, batch: list[_Pending]) -> None:
        metrics.WRITE_BATCH.observe(len(batch))
        try:
            async with self.db.write() as conn:
                results = await self._write(conn, batch)
        except IntegrityError:
            # A concurrent node raced us on a constraint: settle each message on its own.
            if len(batch) > 1:
                for p in batch:
                    await self._commit_batch([p])
                return
            results = [ApiError("conflict", "concurrent write, retry with the same client_msg_id")]
        except Exception as exc:
            log.exception("message batch failed", extra={"batch": len(batch)})
            err = ApiError("unavailable", "storage error, retry with the same client_msg_id")
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            del exc
            return
        for p, res in zip(batch, results, strict=True):
            if p.future.done():
                continue
            if isinstance(res, BaseException):
                p.future.set_exception(res)
            else:
                p.future.set_result(res)

    @staticmethod
    def _refuse_stale(
        batch: list[_Pending],
        per_room: dict[str, list[int]],
        chain_length: dict[str, int],
        results: list[StoredMessage | ApiError | None],
    ) -> None:
        """A sender that encrypted under an older membership chain than the room now has would
        share nothing with a new member, or keep a removed one's key alive: refuse it while the
        room row is locked, so no membership change can slip in between (docs/crypto.md §6.1)."""
        for room_id in list(per_room):
            keep = []
            for i in per_room[room_id]:
                seen = batch[i].chain_seen
                if seen is not None and seen < chain_length[room_id]:
                    results[i] = _stale(chain_length[room_id])
                else:
                    keep.append(i)
            if keep:
                per_room[room_id] = keep
            else:
                del per_room[room_id]

    async def _write(
        self, conn: AsyncConnection, batch: list[_Pending]
    ) -> list[StoredMessage | ApiError]:
        room_ids = {p.room_id for p in batch}
        members: dict[str, list[str]] = defaultdict(list)
        for row in await conn.execute(
            select(Membership.room_id, Membership.user_id).where(Membership.room_id.in_(room_ids))
        ):
            members[row.room_id].append(row.user_id)

        keys = [(p.principal.device_id, p.client_msg_id) for p in batch]
        existing: dict[tuple[str, str], StoredMessage] = {}
        # One cached statement (expanding IN over row values), whatever the batch size.
        for row in await conn.execute(_SELECT_EXISTING, {"keys": list(set(keys))}):
            existing[(row.sender_device_id, row.client_msg_id)] = row_to_stored(row, True)

        results: list[StoredMessage | ApiError | None] = [None] * len(batch)
        fresh: dict[tuple[str, str], int] = {}  # key -> index of the first request in this batch
        per_room: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(batch):
            key = keys[i]
            if p.principal.user_id not in members.get(p.room_id, ()):
                results[i] = not_found()
            elif key in existing:
                prior = existing[key]
                # Same id reused for another room: a client bug, never a silent redirect.
                results[i] = (
                    prior
                    if prior.room_id == p.room_id
                    else ApiError("conflict", "client_msg_id already used for another room")
                )
            elif key in fresh:
                if batch[fresh[key]].room_id != p.room_id:
                    results[i] = ApiError("conflict", "client_msg_id already used for another room")
                # else: resolved below from the first occurrence
            else:
                fresh[key] = i
                per_room[p.room_id].append(i)

        ts = now_ms()
        rows: list[dict[str, Any]] = []
        audit: list[AuditRecord] = []
        # Lock the batch's rooms in id order (concurrent nodes cannot deadlock), then move every
        # room's counter in one executemany: two round trips however many rooms.
        last_seq: dict[str, int] = {}
        if per_room:
            chain_length: dict[str, int] = {}
            for locked in await conn.execute(_LOCK_ROOMS, {"ids": sorted(per_room)}):
                last_seq[locked.id] = locked.last_seq
                chain_length[locked.id] = locked.chain_length
            self._refuse_stale(batch, per_room, chain_length, results)
        if per_room:
            await conn.execute(
                _BUMP_ROOM,
                [{"rid": r, "new_seq": last_seq[r] + len(idxs)} for r, idxs in per_room.items()],
            )
        for room_id, idxs in per_room.items():
            seq = last_seq[room_id]
            for i in idxs:
                seq += 1
                p = batch[i]
                msg = StoredMessage(
                    id=new_id("m"),
                    room_id=room_id,
                    seq=seq,
                    ts=ts,
                    sender_user_id=p.principal.user_id,
                    sender_device_id=p.principal.device_id,
                    client_msg_id=p.client_msg_id,
                    envelope=p.envelope,
                    members=members[room_id],
                )
                results[i] = msg
                rows.append(
                    {
                        "id": msg.id,
                        "room_id": room_id,
                        "seq": seq,
                        "sender_user_id": msg.sender_user_id,
                        "sender_device_id": msg.sender_device_id,
                        "client_msg_id": msg.client_msg_id,
                        "envelope": msg.envelope,
                        "created_at": ts,
                    }
                )
                audit.append(
                    AuditRecord(
                        "message.write",
                        p.principal.user_id,
                        p.principal.device_id,
                        room_id,
                        target=msg.id,
                        ip=p.principal.ip,
                        ts=ts,
                        detail={"seq": seq, "bytes": len(msg.envelope)},
                    )
                )
        if rows:
            await conn.execute(insert(Message), rows)
            await append(conn, audit)

        for i in range(len(batch)):
            if results[i] is None:
                first = results[fresh[keys[i]]]
                if isinstance(first, ApiError):
                    results[i] = first
                    continue
                assert isinstance(first, StoredMessage)
                results[i] = StoredMessage(**{**first.__dict__, "duplicate": True})
        return [r for r in results if r is not None]


def _stale(length: int) -> ApiError:
    return ApiError(
        "stale_membership",
        "the room's membership changed since this message was encrypted; "
        "refresh the membership chain and encrypt again",
        details={"membership_events": length},
    )


_SELECT_EXISTING = select(Message.__table__).where(
    tuple_(Message.sender_device_id, Message.client_msg_id).in_(bindparam("keys", expanding=True))
)
_LOCK_ROOMS = (
    select(Room.id, Room.last_seq, Room.chain_length)
    .where(Room.id.in_(bindparam("ids", expanding=True)))
    .order_by(Room.id)
    .with_for_update()
)
_ROOMS = cast(Table, Room.__table__)
_BUMP_ROOM = (
    update(_ROOMS).where(_ROOMS.c.id == bindparam("rid")).values(last_seq=bindparam("new_seq"))
)


def row_to_stored(row: Any, duplicate: bool = False) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        room_id=row.room_id,
        seq=row.seq,
        ts=row.created_at,
        sender_user_id=row.sender_user_id,
        sender_device_id=row.sender_device_id,
        client_msg_id=row.client_msg_id,
        envelope=row.envelope,
        duplicate=duplicate,
    )


async def messages_after(
    conn: AsyncConnection, room_id: str, after_seq: int, limit: int
) -> list[StoredMessage]:
    rows = await conn.execute(
        select(Message.__table__)
        .where(Message.room_id == room_id, Message.seq > after_seq)
        .order_by(Message.seq)
        .limit(limit)
    )
    return [row_to_stored(r) for r in rows]

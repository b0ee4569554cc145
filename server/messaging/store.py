"""Durable, ordered, idempotent message storage with group commit.

One writer task per process (server/db/group_commit.py) drains a queue of pending sends and
commits them in one transaction: membership check, idempotency check, per-room `seq` assignment
(`UPDATE rooms SET last_seq = last_seq + n ... RETURNING`), insert, audit — then resolves every
sender's future. A commit (and its fsync) is paid once per batch instead of once per message,
which is what lets a single node ack thousands of messages per second while still never acking
before the message is durable. Under light load a batch holds one message, so latency is one
transaction.

Across nodes on PostgreSQL the `rooms` row lock taken by the UPDATE orders concurrent writers of
one room; the unique constraints (room, seq) and (device, client_msg_id) are the last line of
defence, and a batch that trips one is retried message by message. The same lock lets one node
prepare its next batch while this one commits (PostgreSQL only): the next batch is let go once
this one holds its rooms' locks, so it queues behind them in the database and a sender's later
message still gets the later seq.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord, append, chained
from server.auth.principal import Principal
from server.db.engine import Database
from server.db.group_commit import GroupCommit, NextMayStart, serial
from server.db.models import Message, new_id, now_ms
from server.errors import ApiError, not_found
from server.messaging.pg_batch_write import lock_batch, read_batch, write_batch
from server.ops import metrics
from server.rooms import store as room_store

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
    # The membership-chain length the sender encrypted under (envelope `me`), when it says.
    chain_seen: int | None = None


class MessageStore:
    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        # PostgreSQL: the next batch prepares while this one commits (SQLite has one writer).
        self._writer: GroupCommit[_Pending, StoredMessage] = GroupCommit(
            self._commit_batch,
            max_batch=max_batch,
            name="relais-message-writer",
            overlap=1 if db.is_sqlite else 2,
        )

    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        """Commit everything already queued, then stop."""
        await self._writer.stop()

    async def send(
        self,
        principal: Principal,
        room_id: str,
        client_msg_id: str,
        envelope: str,
        *,
        chain_seen: int | None = None,
    ) -> StoredMessage:
        if not self._writer.running:
            raise ApiError("unavailable", "server is shutting down")
        return await self._writer.submit(
            _Pending(principal, room_id, client_msg_id, envelope, chain_seen)
        )

    async def _commit_batch(
        self, batch: list[_Pending], next_may_start: NextMayStart = serial
    ) -> list[StoredMessage | BaseException]:
        """One transaction; the next batch may start once this one's rows hold their rooms'
        locks and seqs (it then waits on those locks in the database for this COMMIT), so a
        sender's later message never gets an earlier seq."""
        metrics.WRITE_BATCH.observe(len(batch))
        try:
            async with self.db.write() as conn:
                results: list[StoredMessage | BaseException] = list(await self._write(conn, batch))
                next_may_start()
            return results
        except IntegrityError:
            # A concurrent writer raced us on a constraint (another node, or this node's batch
            # before, still committing a retry's first copy): settle each message on its own,
            # still ahead of the next batch (the writer lets it start once these are done).
            if len(batch) > 1:
                return [r for p in batch for r in await self._commit_batch([p])]
            return [ApiError("conflict", "concurrent write, retry with the same client_msg_id")]
        except Exception:
            log.exception("message batch failed", extra={"batch": len(batch)})
            err = ApiError("unavailable", "storage error, retry with the same client_msg_id")
            return [err] * len(batch)

    async def _write(
        self, conn: AsyncConnection, batch: list[_Pending]
    ) -> list[StoredMessage | ApiError]:
        """The batch's one transaction, in this order: members, retries, seq reservation under
        the rooms' row locks, insert and audit (on PostgreSQL one statement each for the reads,
        the locks and the writes: `messaging/pg_batch_write.py`)."""
        keys = [(p.principal.device_id, p.client_msg_id) for p in batch]
        rooms = {p.room_id for p in batch}
        if self.db.is_sqlite:
            members = await room_store.members_by_room(conn, rooms)
            existing = await _already_stored(conn, keys)
        else:
            members, stored = await read_batch(conn, rooms, keys)
            existing = {
                (r.sender_device_id, r.client_msg_id): row_to_stored(r._mapping, True)
                for r in stored
            }
        plan = _triage(batch, keys, members, existing)
        ts = now_ms()
        last_seq, tip = await _lock_rooms(conn, batch, plan, audit_tip=not self.db.is_sqlite)
        rows, audit = _new_messages(batch, plan, last_seq, members, ts)
        if rows:
            new_seqs = {r: last_seq[r] + len(idxs) for r, idxs in plan.per_room.items()}
            if self.db.is_sqlite:
                await room_store.set_last_seqs(conn, new_seqs)
                await conn.execute(insert(Message), rows)
                await append(conn, audit)
            else:
                assert tip is not None  # new rows mean locked rooms, and the tip with them
                await write_batch(conn, new_seqs, rows, chained(audit, *tip))
        return _settle_repeats(keys, plan)


@dataclass
class _Plan:
    """Where each request of a batch stands; `results[i]` stays None until it is settled."""

    results: list[StoredMessage | ApiError | None]
    # key -> index of its first request in this batch: later repeats share that one's outcome.
    first_of: dict[tuple[str, str], int]
    # room -> indexes of the requests that get a new message, in batch order.
    per_room: dict[str, list[int]]


async def _already_stored(
    conn: AsyncConnection, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], StoredMessage]:
    """The messages a retry would repeat. One cached statement (expanding IN over row values),
    whatever the batch size."""
    existing: dict[tuple[str, str], StoredMessage] = {}
    for row in await conn.execute(_SELECT_EXISTING, {"keys": list(set(keys))}):
        existing[(row.sender_device_id, row.client_msg_id)] = row_to_stored(row._mapping, True)
    return existing


def _triage(
    batch: list[_Pending],
    keys: list[tuple[str, str]],
    members: dict[str, list[str]],
    existing: dict[tuple[str, str], StoredMessage],
) -> _Plan:
    """Settle what needs no new row (not a member, a retry, an id reused for another room) and
    queue the rest per room."""
    plan = _Plan([None] * len(batch), {}, defaultdict(list))
    for i, p in enumerate(batch):
        key = keys[i]
        if p.principal.user_id not in members.get(p.room_id, ()):
            plan.results[i] = not_found()
        elif key in existing:
            prior = existing[key]
            # Same id reused for another room: a client bug, never a silent redirect.
            plan.results[i] = prior if prior.room_id == p.room_id else _reused()
        elif key in plan.first_of:
            if batch[plan.first_of[key]].room_id != p.room_id:
                plan.results[i] = _reused()
            # else: settled from the first occurrence by _settle_repeats
        else:
            plan.first_of[key] = i
            plan.per_room[p.room_id].append(i)
    return plan


async def _lock_rooms(
    conn: AsyncConnection, batch: list[_Pending], plan: _Plan, *, audit_tip: bool
) -> tuple[dict[str, int], tuple[int, str] | None]:
    """Lock the batch's rooms in id order (concurrent nodes cannot deadlock) and refuse what
    was encrypted under a stale chain. Returns each room's last seq before this batch (the
    caller moves the counters with its other writes), and with `audit_tip` (PostgreSQL) the
    audit chain's tip, locked after the rooms in the same round trip: the room locks and the
    tip's were two statements on the critical path, each answer waiting for a pass of the busy
    socket loop (docs/performance.md, Persisted send). Without new messages nothing is
    locked."""
    if not plan.per_room:
        return {}, None
    tip: tuple[int, str] | None = None
    if audit_tip:
        heads, tip = await lock_batch(conn, plan.per_room)
    else:
        heads = await room_store.lock_heads(conn, plan.per_room)
    _refuse_stale(batch, plan, {h.room_id: h.chain_length for h in heads})
    return {h.room_id: h.last_seq for h in heads}, tip


def _refuse_stale(batch: list[_Pending], plan: _Plan, chain_length: dict[str, int]) -> None:
    """A sender that encrypted under an older membership chain than the room now has would
    share nothing with a new member, or keep a removed one's key alive: refuse it while the
    room row is locked, so no membership change can slip in between (docs/crypto.md §6.1)."""
    for room_id in list(plan.per_room):
        keep = []
        for i in plan.per_room[room_id]:
            seen = batch[i].chain_seen
            if seen is not None and seen < chain_length[room_id]:
                plan.results[i] = _stale(chain_length[room_id])
            else:
                keep.append(i)
        if keep:
            plan.per_room[room_id] = keep
        else:
            del plan.per_room[room_id]


def _new_messages(
    batch: list[_Pending],
    plan: _Plan,
    last_seq: dict[str, int],
    members: dict[str, list[str]],
    ts: int,
) -> tuple[list[dict[str, Any]], list[AuditRecord]]:
    """The rows to insert and their audit records; each request's result is its new message."""
    rows: list[dict[str, Any]] = []
    audit: list[AuditRecord] = []
    for room_id, idxs in plan.per_room.items():
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
            plan.results[i] = msg
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
    return rows, audit


def _settle_repeats(keys: list[tuple[str, str]], plan: _Plan) -> list[StoredMessage | ApiError]:
    """A repeat inside the batch gets its first occurrence's outcome, as a duplicate when that
    one was stored."""
    out: list[StoredMessage | ApiError] = []
    for i, res in enumerate(plan.results):
        if res is None:
            first = plan.results[plan.first_of[keys[i]]]
            if isinstance(first, StoredMessage):
                res = StoredMessage(**{**first.__dict__, "duplicate": True})
            else:
                assert first is not None
                res = first
        out.append(res)
    return out


def _reused() -> ApiError:
    return ApiError("conflict", "client_msg_id already used for another room")


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


def row_to_stored(row: Mapping[Any, Any], duplicate: bool = False) -> StoredMessage:
    """A stored message from a `messages` row: a SQLAlchemy row's `_mapping`, or an asyncpg
    record (`pg_sync_read.py`)."""
    return StoredMessage(
        id=row["id"],
        room_id=row["room_id"],
        seq=row["seq"],
        ts=row["created_at"],
        sender_user_id=row["sender_user_id"],
        sender_device_id=row["sender_device_id"],
        client_msg_id=row["client_msg_id"],
        envelope=row["envelope"],
        duplicate=duplicate,
    )

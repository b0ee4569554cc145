"""Append-only, hash-chained audit log.

Each row's hash is SHA-256 over the previous row's hash and the canonical JSON of the row, so a
deleted, edited or reordered row breaks every later link. Appends lock the single `audit_head`
row inside the caller's transaction: the audit entry commits atomically with the action it
records, and concurrent nodes append one after the other. Nothing here ever holds content: only
who, what, which room, when, from where, and the outcome.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.group_commit import GroupCommit, NextMayStart, serial
from server.db.models import AuditEvent, AuditHead, now_ms

GENESIS_HASH = "0" * 64
CHAINED_FIELDS = (
    "id",
    "ts",
    "action",
    "actor_user_id",
    "actor_device_id",
    "on_behalf_of",
    "room_id",
    "target",
    "ip",
    "outcome",
    "detail",
)


@dataclass
class AuditRecord:
    action: str
    actor_user_id: str | None = None
    actor_device_id: str | None = None
    room_id: str | None = None
    target: str | None = None
    ip: str | None = None
    outcome: str = "ok"
    on_behalf_of: str | None = None
    detail: dict[str, Any] | None = None
    ts: int | None = None


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    canonical = json.dumps(
        {k: row.get(k) for k in CHAINED_FIELDS}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass
class Chained:
    """Audit rows ready to insert, hashed onto the chain's tip, and the tip after them."""

    rows: list[dict[str, Any]]
    last_id: int
    last_hash: str


async def lock_head(conn: AsyncConnection) -> tuple[int, str]:
    """Lock the chain's tip for the caller's transaction and read it: (last id, last hash)."""
    head = (
        await conn.execute(
            select(AuditHead.last_id, AuditHead.last_hash)
            .where(AuditHead.id == 1)
            .with_for_update()
        )
    ).one()
    return head.last_id, head.last_hash


def chained(records: Iterable[AuditRecord], last_id: int, last_hash: str) -> Chained:
    """The rows of `records` in order, each hashed onto the one before, from the given tip."""
    rows: list[dict[str, Any]] = []
    default_ts = now_ms()
    for rec in records:
        last_id += 1
        row = {
            "id": last_id,
            "ts": rec.ts or default_ts,
            "action": rec.action,
            "actor_user_id": rec.actor_user_id,
            "actor_device_id": rec.actor_device_id,
            "on_behalf_of": rec.on_behalf_of,
            "room_id": rec.room_id,
            "target": rec.target,
            "ip": rec.ip,
            "outcome": rec.outcome,
            "detail": json.dumps(rec.detail, sort_keys=True, separators=(",", ":"))
            if rec.detail is not None
            else None,
            "prev_hash": last_hash,
        }
        last_hash = chain_hash(last_hash, row)
        row["hash"] = last_hash
        rows.append(row)
    return Chained(rows, last_id, last_hash)


async def append(conn: AsyncConnection, records: Iterable[AuditRecord]) -> None:
    """Append records in order, inside the caller's write transaction."""
    records = list(records)
    if not records:
        return
    chain = chained(records, *await lock_head(conn))
    await conn.execute(insert(AuditEvent), chain.rows)
    await conn.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_id=chain.last_id, last_hash=chain.last_hash)
    )


# Errors that one caller's rows can cause (a value the column refuses, a detail JSON cannot
# hold), as opposed to the database being unreachable.
_ROW_ERRORS = (DataError, IntegrityError, TypeError, ValueError)


class AuditLog:
    """Audit rows written outside any other transaction (reads, logins, denials).

    Thousands of clients reading at once (a reconnection storm's `sync`) would otherwise queue
    one transaction each on the `audit_head` row lock; with the writer started they share group
    commits. `record` still returns only once its rows are durable. Before `start` (tools, the
    CLI) and after `stop`, each call is its own transaction.
    """

    def __init__(self, db: Database, *, max_batch: int = 256) -> None:
        self.db = db
        self._writer: GroupCommit[tuple[AuditRecord, ...], None] = GroupCommit(
            self._commit, max_batch=max_batch, name="relais-audit-writer"
        )

    def start(self) -> None:
        self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    async def record(self, *records: AuditRecord) -> None:
        if self._writer.running:
            await self._writer.submit(records)
        else:
            async with self.db.write() as conn:
                await append(conn, records)

    async def _commit(
        self, batch: list[tuple[AuditRecord, ...]], _next: NextMayStart = serial
    ) -> list[BaseException | None]:
        try:
            async with self.db.write() as conn:
                await append(conn, [r for records in batch for r in records])
            return [None] * len(batch)
        except _ROW_ERRORS as exc:
            if len(batch) == 1:
                return [exc]
        # One caller's rows failed the batch: settle each on its own. (A database that is down
        # fails the whole batch at once, in GroupCommit, rather than once per caller.)
        return [r for records in batch for r in await self._commit([records])]

    async def rows(self, batch: int = 1000) -> AsyncIterator[dict[str, Any]]:
        after = 0
        while True:
            async with self.db.read() as conn:
                page = (
                    await conn.execute(
                        select(AuditEvent.__table__)
                        .where(AuditEvent.id > after)
                        .order_by(AuditEvent.id)
                        .limit(batch)
                    )
                ).all()
            if not page:
                return
            for r in page:
                yield dict(r._mapping)
            after = page[-1].id

    async def verify(self) -> tuple[bool, int, str]:
        """(ok, rows checked, reason). Checks links, hashes, gaps and the head."""
        prev_hash, expected_id, count = GENESIS_HASH, 1, 0
        async for row in self.rows():
            if row["id"] != expected_id:
                return False, count, f"gap or reorder at id {expected_id} (found {row['id']})"
            if row["prev_hash"] != prev_hash:
                return False, count, f"broken link at id {row['id']}"
            if chain_hash(prev_hash, row) != row["hash"]:
                return False, count, f"row {row['id']} was altered"
            prev_hash, expected_id, count = row["hash"], expected_id + 1, count + 1
        async with self.db.read() as conn:
            head = (await conn.execute(select(AuditHead).where(AuditHead.id == 1))).one()
        if head.last_id != count or head.last_hash != prev_hash:
            return False, count, "chain head does not match the last row (rows removed at the end)"
        return True, count, "ok"

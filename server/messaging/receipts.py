"""Read receipts: durable, monotonic (one upsert that never moves back), announced to members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.audit.log import AuditRecord, append
from server.db.models import Membership, ReadReceipt, Room, now_ms
from server.errors import ApiError, not_found
from server.realtime.registry import on

from .schemas import MAX_INT64, Id, Strict

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

from server.rooms.member_cache import emit_to_users


class ReceiptRead(Strict):
    room_id: Id
    seq: Annotated[int, Field(ge=0, le=MAX_INT64)]


class ReceiptsGet(Strict):
    room_id: Id


def _upsert_receipt(is_sqlite: bool, room_id: str, user_id: str, seq: int, ts: int) -> Any:
    ins = (sqlite_insert if is_sqlite else pg_insert)(ReadReceipt).values(
        room_id=room_id, user_id=user_id, seq=seq, updated_at=ts
    )
    # Monotonic: the WHERE makes an older or equal seq a no-op, also under concurrent writers.
    return ins.on_conflict_do_update(
        index_elements=[ReadReceipt.room_id, ReadReceipt.user_id],
        set_={"seq": ins.excluded.seq, "updated_at": ins.excluded.updated_at},
        where=ReadReceipt.seq < ins.excluded.seq,
    )


@on(
    "receipt.read",
    ReceiptRead,
    summary="Mark the room read up to seq (never moves back); members get `receipt`.",
)
async def receipt_read(svc: Services, conn: Connection, p: ReceiptRead) -> dict[str, Any]:
    user = conn.principal
    ts = now_ms()
    async with svc.db.write() as c:
        room = (
            await c.execute(
                select(Room.last_seq)
                .join(Membership, Membership.room_id == Room.id)
                .where(Room.id == p.room_id, Membership.user_id == user.user_id)
            )
        ).first()
        if room is None:
            raise not_found()
        if p.seq > room.last_seq:
            raise ApiError("validation_failed", "seq is beyond the room's last message")
        moved = (
            await c.execute(_upsert_receipt(svc.db.is_sqlite, p.room_id, user.user_id, p.seq, ts))
        ).rowcount
        current = (
            await c.execute(
                select(ReadReceipt.seq).where(
                    ReadReceipt.room_id == p.room_id, ReadReceipt.user_id == user.user_id
                )
            )
        ).scalar_one()
        members: frozenset[str] = frozenset()
        if moved:
            await append(
                c,
                [
                    AuditRecord(
                        "receipt.write",
                        user.user_id,
                        user.device_id,
                        p.room_id,
                        ip=user.ip,
                        ts=ts,
                        detail={"seq": int(current)},
                    )
                ],
            )
            members = frozenset(
                (
                    await c.execute(
                        select(Membership.user_id).where(Membership.room_id == p.room_id)
                    )
                ).scalars()
            )
    if moved:
        await emit_to_users(
            svc,
            "receipt",
            {"room_id": p.room_id, "user_id": user.user_id, "seq": int(current)},
            members,
        )
    return {"room_id": p.room_id, "seq": int(current), "moved": bool(moved)}


@on("receipts.get", ReceiptsGet, summary="Every member's last read seq in a room (0: none).")
async def receipts_get(svc: Services, conn: Connection, p: ReceiptsGet) -> dict[str, Any]:
    user = conn.principal
    async with svc.db.read() as c:
        members = set(
            (
                await c.execute(select(Membership.user_id).where(Membership.room_id == p.room_id))
            ).scalars()
        )
        if user.user_id not in members:
            raise not_found()
        rows = (
            await c.execute(
                select(ReadReceipt.user_id, ReadReceipt.seq).where(ReadReceipt.room_id == p.room_id)
            )
        ).all()
    await svc.audit.record(
        AuditRecord("room.receipts_read", user.user_id, user.device_id, p.room_id, ip=user.ip)
    )
    seqs = {r.user_id: int(r.seq) for r in rows if r.user_id in members}
    return {"room_id": p.room_id, "receipts": {u: seqs.get(u, 0) for u in sorted(members)}}

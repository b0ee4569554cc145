"""Read receipts: durable, monotonic (one upsert that never moves back), announced to members."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from server.audit.log import AuditRecord, append
from server.db.models import now_ms
from server.errors import ApiError, not_found
from server.realtime.registry import on
from server.rooms import store as room_store
from server.rooms.member_cache import emit_to_users

from . import receipt_store
from .schemas import MAX_INT64, Id, Strict

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


class ReceiptRead(Strict):
    room_id: Id
    seq: Annotated[int, Field(ge=0, le=MAX_INT64)]


class ReceiptsGet(Strict):
    room_id: Id


@on(
    "receipt.read",
    ReceiptRead,
    summary="Mark the room read up to seq (never moves back); members get `receipt`.",
)
async def receipt_read(svc: Services, conn: Connection, p: ReceiptRead) -> dict[str, Any]:
    user = conn.principal
    ts = now_ms()
    async with svc.db.write() as c:
        last_seq = await room_store.last_seq_if_member(c, p.room_id, user.user_id)
        if last_seq is None:
            raise not_found()
        if p.seq > last_seq:
            raise ApiError("validation_failed", "seq is beyond the room's last message")
        moved, current = await receipt_store.advance(
            c, svc.db.is_sqlite, p.room_id, user.user_id, p.seq, ts
        )
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
                        detail={"seq": current},
                    )
                ],
            )
            members = frozenset(await room_store.member_ids(c, p.room_id))
    if moved:
        await emit_to_users(
            svc,
            "receipt",
            {"room_id": p.room_id, "user_id": user.user_id, "seq": current},
            members,
        )
    return {"room_id": p.room_id, "seq": current, "moved": moved}


@on("receipts.get", ReceiptsGet, summary="Every member's last read seq in a room (0: none).")
async def receipts_get(svc: Services, conn: Connection, p: ReceiptsGet) -> dict[str, Any]:
    user = conn.principal
    async with svc.db.read() as c:
        members = set(await room_store.member_ids(c, p.room_id))
        if user.user_id not in members:
            raise not_found()
        seqs = await receipt_store.positions(c, p.room_id)
    await svc.audit.record(
        AuditRecord("room.receipts_read", user.user_id, user.device_id, p.room_id, ip=user.ip)
    )
    return {"room_id": p.room_id, "receipts": {u: seqs.get(u, 0) for u in sorted(members)}}

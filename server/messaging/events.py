"""Socket events of the message path: send, sync, history."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from server.audit.log import AuditRecord
from server.errors import ApiError, not_found
from server.ops import metrics
from server.realtime.connections import user_room
from server.realtime.registry import on

from .history import SqlPageReads, missed_messages, older_messages
from .pg_sync_read import PgPageReads
from .schemas import History, MessageSend, Sync
from .store import StoredMessage

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def _wire(msg: StoredMessage) -> dict[str, Any]:
    out = msg.wire()
    out["envelope"] = json.loads(msg.envelope)
    return out


@on("message.send", MessageSend, summary="Store an encrypted message in a room and fan it out.")
async def message_send(svc: Services, conn: Connection, p: MessageSend) -> dict[str, Any]:
    envelope_obj = p.envelope.model_dump()
    if not p.envelope.extras_ok():
        raise ApiError("validation_failed", "envelope has too many or non-scalar fields")
    envelope = _dumps(envelope_obj)
    if len(envelope) > svc.settings.max_envelope_bytes:
        raise ApiError(
            "payload_too_large", f"envelope larger than {svc.settings.max_envelope_bytes} bytes"
        )
    me = envelope_obj.get("me")
    msg = await svc.messages.send(
        conn.principal,
        p.room_id,
        p.client_msg_id,
        envelope,
        chain_seen=me if isinstance(me, int) and not isinstance(me, bool) else None,
    )
    if not msg.duplicate:
        metrics.MESSAGES_STORED.inc()
        wire = msg.wire()
        wire["envelope"] = envelope_obj
        await svc.sio.emit(
            "message.new", wire, to=[user_room(u) for u in msg.members], skip_sid=conn.sid
        )
    return msg.ack()


@on("sync", Sync, summary="Everything missed since the given per-room seqs, paged.")
async def sync(svc: Services, conn: Connection, p: Sync) -> dict[str, Any]:
    user = conn.principal
    limit = min(p.limit or svc.settings.sync_page_size, svc.settings.sync_page_size)
    if svc.db.is_sqlite:
        async with svc.db.read() as reading:
            pages, more = await missed_messages(SqlPageReads(reading), user.user_id, p.since, limit)
            pending, td_more = await svc.parts.todevice.pending(reading, user.device_id, limit)
    else:  # every reconnecting client's first call: asyncpg's own statements (pg_sync_read.py)
        async with svc.db.driver_read() as pg:
            pages, more = await missed_messages(PgPageReads(pg), user.user_id, p.since, limit)
            queue = svc.parts.todevice
            pending, td_more = await queue.pending_on_driver(pg, user.device_id, limit)
    out_rooms: list[dict[str, Any]] = []
    reads: list[AuditRecord] = []
    for page in pages:
        out_rooms.append(
            {
                "room_id": page.room_id,
                "last_seq": page.last_seq,
                "messages": [_wire(m) for m in page.messages],
            }
        )
        if page.messages:
            reads.append(
                AuditRecord(
                    "room.read",
                    user.user_id,
                    user.device_id,
                    page.room_id,
                    ip=user.ip,
                    detail={"from_seq": page.messages[0].seq, "to_seq": page.messages[-1].seq},
                )
            )
    if reads:
        await svc.audit.record(*reads)
    return {"rooms": out_rooms, "more": more or td_more, "to_device": pending}


@on("room.history", History, summary="Older messages of one room, newest first, paged.")
async def history(svc: Services, conn: Connection, p: History) -> dict[str, Any]:
    user = conn.principal
    stored = await older_messages(svc.db, user.user_id, p.room_id, p.before_seq, p.limit)
    if stored is None:
        raise not_found()
    msgs = [_wire(m) for m in stored]
    if msgs:
        await svc.audit.record(
            AuditRecord(
                "room.read",
                user.user_id,
                user.device_id,
                p.room_id,
                ip=user.ip,
                detail={"from_seq": msgs[-1]["seq"], "to_seq": msgs[0]["seq"]},
            )
        )
    return {"room_id": p.room_id, "messages": msgs, "more": len(msgs) == p.limit}

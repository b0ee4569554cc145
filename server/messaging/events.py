"""Socket events of the message path: send, sync, history."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.audit.log import AuditRecord
from server.db.models import Membership, Message, Room
from server.errors import ApiError, not_found
from server.ops import metrics
from server.realtime.connections import user_room
from server.realtime.registry import on

from .schemas import History, MessageSend, Sync
from .store import StoredMessage, messages_after, row_to_stored

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


async def member_rooms(svc: Services, user_id: str) -> dict[str, int]:
    """room_id -> last_seq for every room the user is a member of."""
    async with svc.db.read() as c:
        rows = await c.execute(
            select(Room.id, Room.last_seq)
            .join(Membership, Membership.room_id == Room.id)
            .where(Membership.user_id == user_id)
            .order_by(Room.id)
        )
        return {r.id: r.last_seq for r in rows}


@on("sync", Sync, summary="Everything missed since the given per-room seqs, paged.")
async def sync(svc: Services, conn: Connection, p: Sync) -> dict[str, Any]:
    user = conn.principal
    limit = min(p.limit or svc.settings.sync_page_size, svc.settings.sync_page_size)
    rooms = await member_rooms(svc, user.user_id)
    out_rooms: list[dict[str, Any]] = []
    budget, more = limit, False
    reads: list[AuditRecord] = []
    async with svc.db.read() as c:
        for room_id, last_seq in rooms.items():
            since = p.since.get(room_id, 0)
            entry: dict[str, Any] = {"room_id": room_id, "last_seq": last_seq, "messages": []}
            if since < last_seq:
                if budget <= 0:
                    more = True
                else:
                    msgs = await messages_after(c, room_id, since, budget)
                    budget -= len(msgs)
                    entry["messages"] = [_wire(m) for m in msgs]
                    if msgs and msgs[-1].seq < last_seq:
                        more = True
                    if msgs:
                        reads.append(
                            AuditRecord(
                                "room.read",
                                user.user_id,
                                user.device_id,
                                room_id,
                                ip=user.ip,
                                detail={"from_seq": msgs[0].seq, "to_seq": msgs[-1].seq},
                            )
                        )
            out_rooms.append(entry)
    if reads:
        await svc.audit.record(*reads)
    result: dict[str, Any] = {"rooms": out_rooms, "more": more}
    todevice = svc.extras.get("todevice")
    if todevice is not None:
        pending, td_more = await todevice.pending(user.device_id, limit)
        result["to_device"] = pending
        result["more"] = result["more"] or td_more
    return result


@on("room.history", History, summary="Older messages of one room, newest first, paged.")
async def history(svc: Services, conn: Connection, p: History) -> dict[str, Any]:
    user = conn.principal
    async with svc.db.read() as c:
        member = (
            await c.execute(
                select(Membership.user_id).where(
                    Membership.room_id == p.room_id, Membership.user_id == user.user_id
                )
            )
        ).first()
        if member is None:
            raise not_found()
        stmt = select(Message.__table__).where(Message.room_id == p.room_id)
        if p.before_seq is not None:
            stmt = stmt.where(Message.seq < p.before_seq)
        rows = (await c.execute(stmt.order_by(Message.seq.desc()).limit(p.limit))).all()
    msgs = [_wire(row_to_stored(r)) for r in rows]
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

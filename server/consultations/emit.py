"""Reaching consultation participants over socket.io, on whichever node their sockets are.

Every participant who can hold a socket has an account (a guest who came by link has a guest
account), and every socket joins its user room `u:<user_id>` at connect, so an emit to user rooms
goes through the same fan-out manager (and Redis, with several nodes) as chat messages, with no
socket-room bookkeeping to keep in step across nodes. A walk-in patient represented by an
assistant (`user_id` None) is reached through the assistant. Payloads always carry the
consultation id: one user may be in several consultations.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import Consultation, ConsultationParticipant
from server.realtime.connections import user_room

from .store import OPEN, all_participants, public_participant

if TYPE_CHECKING:
    from server.services import Services


async def _emit(svc: Services, event: str, data: dict[str, Any], users: Iterable[str]) -> None:
    targets = sorted({user_room(u) for u in users})
    # Never emit with an empty target list: python-socketio treats `to=[]` as "everyone".
    if targets:
        await svc.sio.emit(event, data, to=targets)


async def _user_of(svc: Services, consultation_id: str, participant_id: str) -> str | None:
    async with svc.db.read() as conn:
        row = (
            await conn.execute(
                select(
                    ConsultationParticipant.user_id, ConsultationParticipant.represented_by
                ).where(
                    ConsultationParticipant.consultation_id == consultation_id,
                    ConsultationParticipant.id == participant_id,
                )
            )
        ).first()
        if row is None:
            return None
        if row.user_id is None and row.represented_by is not None:
            return await _user_of_conn(conn, consultation_id, row.represented_by)
        return str(row.user_id) if row.user_id is not None else None


async def _user_of_conn(
    conn: AsyncConnection, consultation_id: str, participant_id: str
) -> str | None:
    return (
        await conn.execute(
            select(ConsultationParticipant.user_id).where(
                ConsultationParticipant.consultation_id == consultation_id,
                ConsultationParticipant.id == participant_id,
            )
        )
    ).scalar_one_or_none()


async def emit_to_participant(
    svc: Services, consultation_id: str, participant_id: str, event: str, data: dict[str, Any]
) -> None:
    """Send `event` to every socket of one participant (their representative's for a walk-in
    patient)."""
    user = await _user_of(svc, consultation_id, participant_id)
    if user is not None:
        await _emit(svc, event, {"consultation_id": consultation_id, **data}, [user])


async def emit_to_consultation(
    svc: Services,
    consultation_id: str,
    event: str,
    data: dict[str, Any],
    *,
    states: tuple[str, ...] = ("admitted",),
    exclude: Iterable[str] = (),
) -> None:
    """Send `event` to every participant in one of `states` (admitted ones by default), except
    the participant ids in `exclude`."""
    skip = set(exclude)
    async with svc.db.read() as conn:
        rows = await all_participants(conn, consultation_id)
    users = [r.user_id for r in rows if r.state in states and r.user_id and r.id not in skip]
    await _emit(svc, event, {"consultation_id": consultation_id, **data}, users)


async def announce_roster(svc: Services, consultation_id: str) -> None:
    """`consult.participants` to the admitted, `consult.waiting` to the host: sent after every
    change of who is waiting, admitted or present."""
    async with svc.db.read() as conn:
        rows = await all_participants(conn, consultation_id)
        hosts = [r.user_id for r in rows if r.role == "host" and r.user_id]
        queue = await _waiting_for(conn, hosts[0]) if hosts else {}
    admitted = [r for r in rows if r.state == "admitted"]
    waiting = [r for r in rows if r.state == "waiting"]
    await _emit(
        svc,
        "consult.participants",
        {
            "consultation_id": consultation_id,
            "participants": [public_participant(r) for r in admitted],
        },
        [r.user_id for r in admitted if r.user_id],
    )
    await _emit(
        svc,
        "consult.waiting",
        {"consultation_id": consultation_id, "waiting": [public_participant(r) for r in waiting]},
        hosts,
    )
    # The wait of everyone in the host's queue may have changed (the host arrived, took someone
    # in, let someone go): a content-free nudge, their page asks `consult.wait` again.
    for other, users in queue.items():
        await _emit(svc, "consult.wait_changed", {"consultation_id": other}, users)


async def _waiting_for(conn: AsyncConnection, host_user_id: str) -> dict[str, list[str]]:
    """The users waiting in the host's open consultations, per consultation."""
    P = ConsultationParticipant
    rows = await conn.execute(
        select(P.consultation_id, P.user_id)
        .join(Consultation, Consultation.id == P.consultation_id)
        .where(
            Consultation.host_user_id == host_user_id,
            Consultation.status == OPEN,
            P.state == "waiting",
            P.user_id.is_not(None),
        )
    )
    out: dict[str, list[str]] = {}
    for consultation_id, user_id in rows:
        if user_id is not None:
            out.setdefault(consultation_id, []).append(user_id)
    return out


async def tell_participant_state(
    svc: Services, consultation_id: str, row: Any, state: str, chat_room_id: str | None
) -> None:
    """`consult.state` to the participant whose admission changed (admitted, denied)."""
    user = row.user_id
    if user is None:
        return
    data: dict[str, Any] = {
        "consultation_id": consultation_id,
        "participant_id": row.id,
        "state": state,
    }
    if state == "admitted":
        data["chat_room_id"] = chat_room_id
    await _emit(svc, "consult.state", data, [user])


async def tell_ended(svc: Services, consultation_id: str, users: Iterable[str]) -> None:
    await _emit(svc, "consult.ended", {"consultation_id": consultation_id}, users)


async def tell_invited(
    svc: Services, consultation_id: str, user_id: str, data: dict[str, Any]
) -> None:
    await _emit(svc, "consult.invited", {"consultation_id": consultation_id, **data}, [user_id])

"""What a person in the waiting room is told about their wait: whether their clinician is there,
busy with someone else, how many people are before them, and about how long it may take.

Why an estimate at all: an elderly patient alone in front of a silent page soon thinks it is
broken and closes it. Why this one: the server knows only the host's queue, so the estimate is
queue arithmetic on the host's own past: `typical` is the median length of the host's last
consultations (from the first admission to the end), the remainder of the one in progress is
`typical` minus its elapsed time (at least a minute: it has not ended yet), and each person
waiting longer than the caller in another of the host's consultations adds a `typical`. Without
enough history a default stands in. It is a rough figure, said as "about N minutes", never a
promise; a consultation the host has not opened yet gives no figure at all ("not connected yet").

Counts only: nothing about the other patients (names, consultations) reaches the caller.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from server.auth.principal import Principal
from server.db.models import Consultation, ConsultationParticipant, now_ms

from .store import OPEN, audit, require_participant

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from server.services import Services

# Past consultations of the host the typical length is taken from, and how many are enough.
HISTORY = 20
ENOUGH_HISTORY = 3
DEFAULT_TYPICAL_S = 10 * 60
# A typical length outside these bounds is more likely a forgotten open call than a habit.
MIN_TYPICAL_S = 3 * 60
MAX_TYPICAL_S = 45 * 60
MIN_REMAINING_S = 60


async def wait_info(svc: Services, p: Principal, consultation_id: str) -> dict[str, Any]:
    now = now_ms()
    async with svc.db.read() as conn:
        c, me = await require_participant(conn, p, consultation_id)
        body = await _estimate(conn, c, me, now)
    await svc.audit.record(audit("consult.wait_read", p, c.id, c.room_id))
    return {"consultation_id": c.id, "state": me.state, **body}


async def _estimate(conn: AsyncConnection, c: Any, me: Any, now: int) -> dict[str, Any]:
    P = ConsultationParticipant
    host_here = (
        await conn.execute(select(P.present).where(P.consultation_id == c.id, P.role == "host"))
    ).scalar()
    if me.state != "waiting":
        return {"host_present": bool(host_here), "host_busy": False, "ahead": 0, "estimate_s": None}

    # The host's other open consultations: who waits there since before me, and whether the
    # host is in one with someone admitted and present (busy).
    others = (
        (
            await conn.execute(
                select(Consultation.id).where(
                    Consultation.host_user_id == c.host_user_id,
                    Consultation.status == OPEN,
                    Consultation.id != c.id,
                )
            )
        )
        .scalars()
        .all()
    )
    ahead = 0
    busy_since: int | None = None
    if others:
        rows = (
            await conn.execute(
                select(
                    P.consultation_id, P.role, P.state, P.present, P.joined_at, P.admitted_at
                ).where(P.consultation_id.in_(others))
            )
        ).all()
        by_consultation: dict[str, list[Any]] = {}
        for row in rows:
            by_consultation.setdefault(row.consultation_id, []).append(row)
        mine = me.joined_at if me.joined_at is not None else now
        for parts in by_consultation.values():
            host_in = any(r.role == "host" and r.present for r in parts)
            with_someone = [
                r.admitted_at or now
                for r in parts
                if r.role != "host" and r.state == "admitted" and r.present
            ]
            if host_in and with_someone:
                started = min(with_someone)
                busy_since = started if busy_since is None else min(busy_since, started)
            elif any(
                r.role != "host" and r.state == "waiting" and (r.joined_at or now) < mine
                for r in parts
            ):
                ahead += 1
    host_present = bool(host_here)
    if not host_present and busy_since is None:
        # Not in this consultation nor with another patient: not started yet, no figure.
        return {"host_present": False, "host_busy": False, "ahead": ahead, "estimate_s": None}
    typical = await typical_length_s(conn, c.host_user_id)
    estimate = ahead * typical
    if busy_since is not None:
        estimate += max(MIN_REMAINING_S, typical - (now - busy_since) // 1000)
    return {
        "host_present": host_present,
        "host_busy": busy_since is not None,
        "ahead": ahead,
        "estimate_s": int(estimate),
    }


async def typical_length_s(conn: AsyncConnection, host_user_id: str) -> int:
    """The median length of the host's last ended consultations, first admission to end."""
    ended = (
        await conn.execute(
            select(Consultation.id, Consultation.ended_at)
            .where(
                Consultation.host_user_id == host_user_id,
                Consultation.ended_at.is_not(None),
            )
            .order_by(Consultation.ended_at.desc())
            .limit(HISTORY)
        )
    ).all()
    if len(ended) < ENOUGH_HISTORY:
        return DEFAULT_TYPICAL_S
    P = ConsultationParticipant
    rows = await conn.execute(
        select(P.consultation_id, func.min(P.admitted_at))
        .where(
            P.consultation_id.in_([r.id for r in ended]),
            P.role != "host",
            P.admitted_at.is_not(None),
        )
        .group_by(P.consultation_id)
    )
    admitted: dict[str, int] = {cid: at for cid, at in rows if at is not None}
    lengths = [
        (r.ended_at - admitted[r.id]) / 1000
        for r in ended
        if r.id in admitted and r.ended_at > admitted[r.id]
    ]
    if len(lengths) < ENOUGH_HISTORY:
        return DEFAULT_TYPICAL_S
    return int(min(MAX_TYPICAL_S, max(MIN_TYPICAL_S, statistics.median(lengths))))

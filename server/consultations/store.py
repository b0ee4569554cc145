"""Rows of the consultation tables and the few reads every consultation module shares.

Kept apart from the service so that links, assisted sessions and the record can read a
participant the same way without importing each other.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from server.audit.log import AuditRecord
from server.auth.principal import Principal
from server.db.models import Consultation, ConsultationEvent, ConsultationParticipant, now_ms
from server.errors import ApiError, not_found

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.consultations")

ROLES = ("host", "patient", "clinician", "assistant", "observer")
# invited: named (or link redeemed) but not yet in the waiting room.
STATES = ("invited", "waiting", "admitted", "left", "denied")
OPEN, ENDED = "open", "ended"
DENIAL_CODES = frozenset({"not_found", "forbidden", "not_admitted", "consultation_ended"})


@dataclass(frozen=True)
class Participant:
    id: str
    consultation_id: str
    user_id: str | None
    role: str
    display_name: str
    state: str  # invited / waiting / admitted / left / denied


def to_participant(row: Any) -> Participant:
    return Participant(
        row.id, row.consultation_id, row.user_id, row.role, row.display_name, row.state
    )


def public_participant(row: Any) -> dict[str, Any]:
    """One roster line, as participants and the host see it (identity-check data never)."""
    return {
        "participant_id": row.id,
        "user_id": row.user_id,
        "role": row.role,
        "display_name": row.display_name,
        "state": row.state,
        "present": bool(row.present),
        "guest": bool(row.guest),
        "represented_by": row.represented_by,
    }


async def consultation(conn: AsyncConnection, consultation_id: str) -> Any:
    return (
        await conn.execute(select(Consultation.__table__).where(Consultation.id == consultation_id))
    ).first()


async def participant_of(conn: AsyncConnection, consultation_id: str, user_id: str) -> Any:
    return (
        await conn.execute(
            select(ConsultationParticipant.__table__).where(
                ConsultationParticipant.consultation_id == consultation_id,
                ConsultationParticipant.user_id == user_id,
            )
        )
    ).first()


async def participant_by_id(conn: AsyncConnection, consultation_id: str, pid: str) -> Any:
    return (
        await conn.execute(
            select(ConsultationParticipant.__table__).where(
                ConsultationParticipant.consultation_id == consultation_id,
                ConsultationParticipant.id == pid,
            )
        )
    ).first()


async def all_participants(conn: AsyncConnection, consultation_id: str) -> list[Any]:
    rows = await conn.execute(
        select(ConsultationParticipant.__table__)
        .where(ConsultationParticipant.consultation_id == consultation_id)
        .order_by(ConsultationParticipant.invited_at, ConsultationParticipant.id)
    )
    return list(rows)


async def require_participant(
    conn: AsyncConnection, p: Principal, consultation_id: str, *, open_only: bool = True
) -> tuple[Any, Any]:
    """(consultation, caller's participant row). Unknown and "not yours" are one answer."""
    c = await consultation(conn, consultation_id)
    me = await participant_of(conn, consultation_id, p.user_id) if c is not None else None
    if c is None or me is None:
        raise not_found("consultation")
    if open_only and c.status != OPEN:
        raise ApiError("consultation_ended", "this consultation has ended")
    return c, me


async def require_host(
    conn: AsyncConnection, p: Principal, consultation_id: str
) -> tuple[Any, Any]:
    c, me = await require_participant(conn, p, consultation_id)
    if me.role != "host":
        raise ApiError("forbidden", "only the consultation's host may do this")
    return c, me


async def add_event(
    conn: AsyncConnection,
    consultation_id: str,
    kind: str,
    *,
    participant_id: str | None = None,
    actor_user_id: str | None = None,
    detail: dict[str, Any] | None = None,
    ts: int | None = None,
) -> None:
    await conn.execute(
        insert(ConsultationEvent).values(
            consultation_id=consultation_id,
            ts=ts or now_ms(),
            kind=kind,
            participant_id=participant_id,
            actor_user_id=actor_user_id,
            detail=json.dumps(detail, sort_keys=True, separators=(",", ":"))
            if detail is not None
            else None,
        )
    )


def audit(
    action: str,
    p: Principal | None,
    consultation_id: str,
    room_id: str | None,
    *,
    target: str | None = None,
    on_behalf_of: str | None = None,
    detail: dict[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditRecord:
    """An audit record about a consultation. Its room is the care room the consultation was
    opened from (if any), so an audit of a patient's room also shows its consultations."""
    return AuditRecord(
        action,
        p.user_id if p is not None else None,
        p.device_id if p is not None else None,
        room_id,
        target=target or consultation_id,
        ip=p.ip if p is not None else None,
        outcome=outcome,
        on_behalf_of=on_behalf_of,
        detail={"consultation_id": consultation_id, **(detail or {})},
    )


async def record_denial(
    svc: Services, p: Principal | None, consultation_id: str | None, what: str, code: str
) -> None:
    """Refused attempts on a consultation are audited like refused room accesses; a failure to
    record one is logged and never changes the answer."""
    if p is None or code not in DENIAL_CODES or consultation_id is None:
        return
    try:
        await svc.audit.record(
            AuditRecord(
                "access.denied",
                p.user_id,
                p.device_id,
                target=what[:80],
                ip=p.ip,
                outcome=code,
                detail={"consultation_id": consultation_id[:40]},
            )
        )
    except Exception:
        log.exception("could not audit a denied consultation access", extra={"code": code})

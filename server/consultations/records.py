"""The record of a consultation: who took part, in what role, when they joined, were admitted
and left, every mode change with its measured cause and the media side's leg events. No media and
no message content is ever part of it.

Readers: the host, and admins (for the clinic's records). Identity checks and consents of an
assisted consultation are patient data: the host sees them, admins get the record without them
and without patients' names (docs/security.md). Every read is audited, a refused one too.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.auth.principal import Principal
from server.db.models import ConsultationConsent, ConsultationEvent, ConsultationIdentity
from server.errors import ApiError, not_found

from .store import all_participants, audit, consultation, participant_of

if TYPE_CHECKING:
    from server.services import Services


async def read_record(svc: Services, p: Principal, consultation_id: str) -> dict[str, Any]:
    async with svc.db.read() as conn:
        c = await consultation(conn, consultation_id)
        me = await participant_of(conn, consultation_id, p.user_id) if c is not None else None
        if c is None or (me is None and not p.is_admin):
            raise not_found("consultation")
        is_host = me is not None and me.role == "host"
        if not is_host and not p.is_admin:
            raise ApiError("forbidden", "only the host and admins read the record")
        parts = await all_participants(conn, consultation_id)
        events = (
            await conn.execute(
                select(ConsultationEvent.__table__)
                .where(ConsultationEvent.consultation_id == consultation_id)
                .order_by(ConsultationEvent.id)
            )
        ).all()
        identities: list[Any] = []
        consents: list[Any] = []
        if is_host:
            identities = list(
                await conn.execute(
                    select(ConsultationIdentity.__table__).where(
                        ConsultationIdentity.consultation_id == consultation_id
                    )
                )
            )
            consents = list(
                await conn.execute(
                    select(ConsultationConsent.__table__).where(
                        ConsultationConsent.consultation_id == consultation_id
                    )
                )
            )
    await svc.audit.record(
        audit(
            "consult.record_read",
            p,
            c.id,
            c.room_id,
            detail={"patient_data": is_host and bool(identities)},
        )
    )
    return {
        "consultation_id": c.id,
        "status": c.status,
        "assisted": bool(c.assisted),
        "room_id": c.room_id,
        "chat_room_id": c.chat_room_id,
        "host_user_id": c.host_user_id,
        "created_by": c.created_by,
        "created_at": c.created_at,
        "ended_at": c.ended_at,
        "ended_by": c.ended_by,
        "participants": [
            {
                "participant_id": r.id,
                "user_id": r.user_id,
                "role": r.role,
                # A patient's name is patient data too: the host's view only.
                "display_name": r.display_name if is_host or r.role != "patient" else None,
                "state": r.state,
                "guest": bool(r.guest),
                "represented_by": r.represented_by,
                "invited_by": r.invited_by,
                "invited_at": r.invited_at,
                "joined_at": r.joined_at,
                "admitted_at": r.admitted_at,
                "left_at": r.left_at,
            }
            for r in parts
        ],
        "events": [
            {
                "ts": e.ts,
                "kind": e.kind,
                "participant_id": e.participant_id,
                "actor_user_id": e.actor_user_id,
                "detail": json.loads(e.detail) if e.detail else None,
            }
            for e in events
        ],
        # None: not shown to this reader (admins); [] : none recorded.
        "identity_checks": [
            {
                "participant_id": i.participant_id,
                "full_name": i.full_name,
                "birth_date": i.birth_date,
                "method": i.check_method,
                "detail": i.check_detail,
                "checked_by": i.checked_by,
                "checked_at": i.checked_at,
            }
            for i in identities
        ]
        if is_host
        else None,
        "consents": [
            {
                "consent_id": k.id,
                "participant_id": k.participant_id,
                "text_version": k.text_version,
                "method": k.method,
                "consented_at": k.consented_at,
                "recorded_by": k.recorded_by,
            }
            for k in consents
        ]
        if is_host
        else None,
    }

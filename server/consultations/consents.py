"""A participant's own consent to the consultation, given on their device (the patient's join page).

An assisted session records the walk-in patient's consent when it opens (`assisted.py`, method
verbal/written/on_device, recorded by the assistant). A patient who comes by link consents on the
join page before entering the waiting room: that consent is theirs, recorded here with method
`self`, the version of the text they were shown and the server's time. Recording it twice for the
same text is one consent (a reload re-sends it); a new text version is a new consent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from server.audit.log import append
from server.auth.principal import Principal
from server.db.models import ConsultationConsent, new_id, now_ms
from server.errors import ApiError, not_found

from .store import add_event, audit, consultation, participant_of

if TYPE_CHECKING:
    from server.services import Services

SELF = "self"


async def record_own(
    svc: Services, p: Principal, consultation_id: str, text_version: str
) -> dict[str, Any]:
    async with svc.db.write() as conn:
        c = await consultation(conn, consultation_id)
        me = await participant_of(conn, consultation_id, p.user_id) if c is not None else None
        if c is None or me is None:
            raise not_found("no such consultation")
        if c.status != "open":
            raise ApiError("consultation_ended", "the consultation has ended")
        known = (
            await conn.execute(
                select(ConsultationConsent.id, ConsultationConsent.consented_at).where(
                    ConsultationConsent.participant_id == me.id,
                    ConsultationConsent.text_version == text_version,
                )
            )
        ).first()
        if known is not None:
            return {"consent_id": known.id, "consented_at": known.consented_at, "new": False}
        consent_id, now = new_id("cc"), now_ms()
        await conn.execute(
            insert(ConsultationConsent).values(
                id=consent_id,
                consultation_id=consultation_id,
                participant_id=me.id,
                text_version=text_version,
                method=SELF,
                consented_at=now,
                recorded_by=p.user_id,
            )
        )
        await add_event(
            conn,
            consultation_id,
            "consent",
            participant_id=me.id,
            actor_user_id=p.user_id,
            detail={"consent_id": consent_id, "text_version": text_version, "method": SELF},
            ts=now,
        )
        await append(
            conn,
            [
                audit(
                    "consult.consent",
                    p,
                    consultation_id,
                    c.room_id,
                    target=consent_id,
                    detail={"text_version": text_version, "method": SELF},
                )
            ],
        )
    return {"consent_id": consent_id, "consented_at": now, "new": True}

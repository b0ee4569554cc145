"""Assisted consultations: a health-bus assistant opens one for a walk-in patient.

The patient has no account and no device of their own: they are a participant without a user id,
represented by the assistant (`represented_by`), and follow the assistant through the waiting
room. The assistant records the identity check (patient data, stored as the clinic needs it —
docs/security.md says who may read it) and the patient's consent (text version, time, who
recorded it); each of these, the opening and every later move of the assistant in the waiting
room are audited with `on_behalf_of` = the patient's participant id. The consultation goes to the
named clinician's queue: they are its host and are told (`consult.invited`) who assists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert

from server.audit.log import AuditRecord, append
from server.auth import accounts
from server.auth.principal import Principal
from server.db.models import ConsultationConsent, ConsultationIdentity, new_id, now_ms
from server.errors import not_found

from . import chat, emit
from .schemas import OpenAssisted
from .service import insert_consultation, insert_participant
from .store import add_event, audit

if TYPE_CHECKING:
    from server.services import Services


async def open_assisted(svc: Services, p: Principal, body: OpenAssisted) -> dict[str, Any]:
    now = now_ms()
    cid = new_id("c")
    consent_id = new_id("cc")
    async with svc.db.write() as conn:
        host = await accounts.account(conn, body.host_user_id)
        if host is None or host.disabled or host.role != "clinician":
            raise not_found("clinician")
        chat_room = await chat.create_room(conn, body.host_user_id, now)
        await insert_consultation(
            conn, cid, body.host_user_id, p.user_id, None, chat_room, now, assisted=True
        )
        host_pid = await insert_participant(
            conn, cid, body.host_user_id, "host", host.display_name, p.user_id, now
        )
        assistant_name = await accounts.display_name(conn, p.user_id)
        assistant_pid = await insert_participant(
            conn, cid, p.user_id, "assistant", assistant_name, p.user_id, now
        )
        patient_pid = await insert_participant(
            conn,
            cid,
            None,
            "patient",
            body.patient.full_name,
            p.user_id,
            now,
            represented_by=assistant_pid,
        )
        await conn.execute(
            insert(ConsultationIdentity).values(
                participant_id=patient_pid,
                consultation_id=cid,
                full_name=body.patient.full_name,
                birth_date=body.patient.birth_date,
                check_method=body.patient.method,
                check_detail=body.patient.detail,
                checked_by=p.user_id,
                checked_at=now,
            )
        )
        await conn.execute(
            insert(ConsultationConsent).values(
                id=consent_id,
                consultation_id=cid,
                participant_id=patient_pid,
                text_version=body.consent.text_version,
                method=body.consent.method,
                consented_at=now,
                recorded_by=p.user_id,
            )
        )
        # The record names the check's method and the consent's version, never identity values.
        await add_event(conn, cid, "create", actor_user_id=p.user_id, detail={"assisted": True})
        await add_event(
            conn,
            cid,
            "identity_check",
            participant_id=patient_pid,
            actor_user_id=p.user_id,
            detail={"method": body.patient.method},
        )
        await add_event(
            conn,
            cid,
            "consent",
            participant_id=patient_pid,
            actor_user_id=p.user_id,
            detail={"consent_id": consent_id, "text_version": body.consent.text_version},
        )
        await append(
            conn,
            [
                audit(
                    "consult.create",
                    p,
                    cid,
                    None,
                    on_behalf_of=patient_pid,
                    detail={"assisted": True, "host_user_id": body.host_user_id},
                ),
                AuditRecord(
                    "room.create",
                    p.user_id,
                    p.device_id,
                    chat_room,
                    ip=p.ip,
                    detail={"consultation_id": cid},
                ),
                audit(
                    "consult.identity_check",
                    p,
                    cid,
                    None,
                    target=patient_pid,
                    on_behalf_of=patient_pid,
                    detail={"method": body.patient.method},
                ),
                audit(
                    "consult.consent",
                    p,
                    cid,
                    None,
                    target=consent_id,
                    on_behalf_of=patient_pid,
                    detail={
                        "text_version": body.consent.text_version,
                        "method": body.consent.method,
                    },
                ),
            ],
        )
    await emit.tell_invited(
        svc,
        cid,
        body.host_user_id,
        {
            "participant_id": host_pid,
            "role": "host",
            "assisted_by": {
                "participant_id": assistant_pid,
                "user_id": p.user_id,
                "display_name": assistant_name,
            },
        },
    )
    return {
        "consultation_id": cid,
        "chat_room_id": chat_room,
        "host_user_id": body.host_user_id,
        "host_participant_id": host_pid,
        "assistant_participant_id": assistant_pid,
        "patient_participant_id": patient_pid,
        "consent_id": consent_id,
        "created_at": now,
    }

"""Wire schemas of the consultation routes and events (extra fields refused; strict on the
socket like every other event)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from server.messaging.schemas import Id, Strict

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateConsultation(Body):
    room_id: Id | None = None


class InviteParticipant(Body):
    user_id: Id
    role: Literal["patient", "clinician", "assistant", "observer"]


class CreateLink(Body):
    display_name: Name
    with_code: bool = False


class RedeemLink(Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None
    device_name: Annotated[str, StringConstraints(max_length=200)] = "device"


class IdentityCheck(Body):
    full_name: Name
    birth_date: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    method: Literal[
        "id_card", "passport", "residence_permit", "health_card", "known_to_staff", "other"
    ]
    detail: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None

    @field_validator("birth_date")
    @classmethod
    def _real_past_date(cls, value: str) -> str:
        day = dt.date.fromisoformat(value)
        if day > dt.date.today() or day.year < 1880:
            raise ValueError("birth date out of range")
        return value


class ConsentGiven(Body):
    text_version: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    method: Literal["verbal", "written", "on_device"]


class OwnConsent(Body):
    """The version of the consent text the participant was shown and agreed to."""

    text_version: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class OpenAssisted(Body):
    host_user_id: Id
    patient: IdentityCheck
    consent: ConsentGiven


class ConsultationRef(Strict):
    consultation_id: Id


class ParticipantRef(Strict):
    consultation_id: Id
    participant_id: Id

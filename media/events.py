"""What the media layer reports to whoever hosts it (the consultation server, a test, a bench).

`media/` knows calls and legs by opaque ids only; it never learns who the participants are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Cause(StrEnum):
    """Why a leg's mode changed, as a kind: the metrics' `cause` label. Set where the change is
    decided (the policy, a manual switch); the human reason text goes alongside, unparsed."""

    RATE = "rate"
    LOSS = "loss"
    DEAD_LINK = "dead_link"
    PROBE = "probe"
    MANUAL = "manual"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Quality:
    """Once a second per leg: the measured link and the current decision."""

    call_id: str
    leg_id: str
    mode: str
    probing: str | None
    measured: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModeChange:
    """A leg's committed mode changed. `send` is what that participant should send now."""

    call_id: str
    leg_id: str
    mode: str
    previous: str
    reason: str
    measured: dict[str, Any]
    send: dict[str, Any] = field(default_factory=dict)
    cause: Cause = Cause.OTHER


@dataclass(frozen=True, slots=True)
class SendPlan:
    """What a participant should send (its uplink): changes with its own mode, its probes and
    what the others can receive."""

    call_id: str
    leg_id: str
    send: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LegState:
    """Leg lifecycle: connected, failed, ice_timeout, closed, replaced."""

    call_id: str
    leg_id: str
    state: str
    detail: dict[str, Any] = field(default_factory=dict)


MediaEvent = Quality | ModeChange | SendPlan | LegState

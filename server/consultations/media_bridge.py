"""The seam between consultations and `media/`: one `media.Call` per consultation on this node.

`media/` knows calls and legs by id only; this module maps a consultation to a call and a
participant to a leg, turns media events into socket events and record entries, and closes legs
when the lifecycle says so (leave, deny, last connection lost, end).

Media events arrive synchronously from the media layer (on the event loop, once a second per
leg at most); they go through one queue and one consumer task per node, so a slow database write
never stalls a relay and there is no task per event.

Media is in-process: every leg of a consultation must reach the node that holds its call. With
several nodes this needs consultation-affine routing (docs/architecture.md, known limits).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import TYPE_CHECKING, Any

from media.call import Call
from media.events import LegState, MediaEvent, ModeChange, Quality, SendPlan
from media.leg import MediaConfig
from server.errors import ApiError

from .service import Participant, emit_to_consultation, emit_to_participant
from .service import service as consultations

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.consultations.media")

# The featured source of each receiver: the care team watches the patient, the patient the
# clinician.
QUALITY_SLOW_EVERY = 5
ROLE_PRIORITY = {"patient": 3, "host": 2, "assistant": 1, "observer": 0}


def ice_servers_from_settings(raw: str, username: str, credential: str) -> list[dict[str, Any]]:
    """`RELAIS_ICE_SERVERS`: either a JSON list of RTCIceServer dicts, or comma-separated
    stun:/turn: URLs (TURN ones get `RELAIS_TURN_USERNAME` / `RELAIS_TURN_CREDENTIAL`)."""
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        parsed = json.loads(raw)
        if not isinstance(parsed, list) or not all(
            isinstance(e, dict) and "urls" in e for e in parsed
        ):
            raise ValueError("RELAIS_ICE_SERVERS must be a list of {urls, ...} objects")
        return parsed
    servers: list[dict[str, Any]] = []
    for url in (u.strip() for u in raw.split(",")):
        if not url:
            continue
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ValueError(f"not a STUN/TURN URL: {url}")
        entry: dict[str, Any] = {"urls": url}
        if url.startswith("turn") and username:
            entry["username"] = username
            entry["credential"] = credential
        servers.append(entry)
    return servers


class MediaBridge:
    def __init__(self, svc: Services, config: MediaConfig, client_ice: list[dict[str, Any]]):
        self.svc = svc
        self.config = config
        self.client_ice_servers = client_ice
        self.calls: dict[str, Call] = {}
        self._queue: asyncio.Queue[MediaEvent | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._quality_count: dict[tuple[str, str], int] = {}

    # -- lifecycle listener ---------------------------------------------------------------

    async def participant_left(self, consultation_id: str, participant_id: str) -> None:
        call = self.calls.get(consultation_id)
        if call is not None:
            await call.close_leg(participant_id)
            if not call.legs:
                await self._end_call(consultation_id)

    async def consultation_ended(self, consultation_id: str) -> None:
        await self._end_call(consultation_id)

    async def _end_call(self, consultation_id: str) -> None:
        for key in [k for k in self._quality_count if k[0] == consultation_id]:
            del self._quality_count[key]
        call = self.calls.pop(consultation_id, None)
        if call is not None:
            await call.close()

    # -- signalling ---------------------------------------------------------------------

    def _call(self, consultation_id: str) -> Call:
        call = self.calls.get(consultation_id)
        if call is None or call.closed:
            call = Call(consultation_id, self._queue.put_nowait, self.config)
            self.calls[consultation_id] = call
        self._ensure_consumer()
        return call

    async def offer(self, participant: Participant, sdp: str) -> str:
        call = self._call(participant.consultation_id)
        return await call.offer(participant.id, sdp, ROLE_PRIORITY.get(participant.role, 0))

    async def candidate(self, participant: Participant, candidate: dict[str, Any] | None) -> None:
        call = self.calls.get(participant.consultation_id)
        if call is None:
            raise ApiError("no_media_leg", "send consult.offer before ICE candidates")
        await call.candidate(participant.id, candidate)

    async def hangup(self, participant: Participant) -> None:
        await self.participant_left(participant.consultation_id, participant.id)

    async def close(self) -> None:
        for consultation_id in list(self.calls):
            await self._end_call(consultation_id)
        if self._consumer is not None:
            self._queue.put_nowait(None)
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None

    # -- media events -> sockets and the record ------------------------------------------

    def _quality_due(self, event: Quality) -> bool:
        """Once a second per leg, but every 5 s for a leg in audio-only or text-only: the
        signalling shares that participant's starved link (mode changes always go at once)."""
        key = (event.call_id, event.leg_id)
        count = self._quality_count.get(key, 0)
        self._quality_count[key] = count + 1
        if event.mode in ("audio-only", "text-only") and event.probing is None:
            return count % QUALITY_SLOW_EVERY == 0
        return True

    def _ensure_consumer(self) -> None:
        if self._consumer is None or self._consumer.done():
            self._consumer = asyncio.ensure_future(self._consume())

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            try:
                await self._deliver(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media event %s could not be delivered", type(event).__name__)

    async def _deliver(self, event: MediaEvent) -> None:
        svc, cid = self.svc, event.call_id
        if isinstance(event, Quality):
            if not self._quality_due(event):
                return
            await emit_to_consultation(
                svc,
                cid,
                "consult.quality",
                {
                    "participant_id": event.leg_id,
                    "mode": event.mode,
                    "probing": event.probing,
                    "measured": event.measured,
                },
            )
        elif isinstance(event, ModeChange):
            await emit_to_consultation(
                svc,
                cid,
                "consult.mode",
                {
                    "participant_id": event.leg_id,
                    "mode": event.mode,
                    "previous": event.previous,
                    "reason": event.reason,
                    "measured": event.measured,
                },
            )
            await consultations(svc).record_mode_change(
                cid,
                event.leg_id,
                event.mode,
                event.reason[:80] or "policy",
                _numbers(event.measured),
            )
        elif isinstance(event, SendPlan):
            await emit_to_participant(svc, cid, event.leg_id, "consult.send", {"send": event.send})
        elif isinstance(event, LegState):
            await emit_to_participant(
                svc, cid, event.leg_id, "consult.leg", {"state": event.state, **event.detail}
            )
            if event.state != "connected":
                await consultations(svc).record_leg_event(cid, event.leg_id, event.state, {})


def _numbers(measured: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in measured.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }

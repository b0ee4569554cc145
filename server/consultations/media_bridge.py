"""The seam between consultations and `media/`: one `media.Call` per consultation on this node.

`media/` knows calls and legs by id only; this module maps a consultation to a call and a
participant to a leg, turns media events into socket events and record entries, and closes legs
when the lifecycle says so (leave, deny, last connection lost, end).

Media events arrive synchronously from the media layer (on the event loop, once a second per
leg at most); they go through one queue and one consumer task per node, so a slow database write
never stalls a relay and there is no task per event.

Media is in-process: every leg of a consultation lives in the worker that holds its call; with
several workers, signalling reaches that worker over Redis (media_homes.py).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from media.call import Call
from media.events import Cause, LegState, MediaEvent, ModeChange, Quality, SendPlan
from media.leg import MediaConfig
from media.policy import Mode
from server.errors import ApiError
from server.ops import metrics

from .service import Participant, emit_to_consultation, emit_to_participant
from .turn_credentials import IceServers

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.consultations.media")

# The featured source of each receiver: the care team watches the patient, the patient the
# clinician.
QUALITY_SLOW_EVERY = 5
# How long a leg outlives its participant's last socket without a rejoin.
DISCONNECT_GRACE_S = 45.0
# Undelivered media events beyond which quality samples are dropped (~5 minutes of samples of a
# 3-leg call): a stalled database must not grow the node's memory without bound.
MAX_PENDING_EVENTS = 1000
FRESH_LEG = "fresh media leg"
# Leg states after which the server holds no leg for the participant any more (clients offer a
# fresh one when told: client/consult.py, web_client/src/call/leg.js).
LOST_LEG_STATES = ("failed", "ice_timeout")
ROLE_PRIORITY = {"patient": 3, "host": 2, "clinician": 2, "assistant": 1, "observer": 0}


@dataclass
class BridgedLeg:
    """What the bridge keeps about one participant's leg in a consultation. The key outlives a
    leg: a fresh leg after a lost one is the same participant's, and what was announced about
    the old one decides what to announce about the new one."""

    quality_samples: int = 0  # Quality events seen: every `QUALITY_SLOW_EVERY`-th goes out
    mode: str | None = None  # the committed mode its samples last told; None once it ended
    announced: str | None = None  # the mode last announced (consult.mode), across legs
    grace: asyncio.TimerHandle | None = None  # closes it if its participant does not rejoin


class MediaBridge:
    def __init__(self, svc: Services, config: MediaConfig, client_ice: IceServers):
        self.svc = svc
        self.config = config
        self.client_ice_servers = client_ice
        self.calls: dict[str, Call] = {}
        self._queue: asyncio.Queue[MediaEvent | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._legs: dict[tuple[str, str], BridgedLeg] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self.disconnect_grace_s = DISCONNECT_GRACE_S
        # Participants whose last leg was lost (failed, ice_timeout) and not replaced yet: the
        # `consult.leg` that said so may have gone to a socket that was dropping at that moment
        # (a starved link loses both together), so a rejoin hears it again. Outlives the call,
        # which ends when its last leg is lost; cleared by a fresh leg, a leave or the end.
        self._lost: dict[tuple[str, str], str] = {}
        # Told when one of our calls ends (media_homes.py gives its home up then).
        self.call_ended: Callable[[str], Awaitable[None]] | None = None

    # -- lifecycle listener ---------------------------------------------------------------

    async def participant_left(self, consultation_id: str, participant_id: str) -> None:
        self._lost.pop((consultation_id, participant_id), None)
        call = self.calls.get(consultation_id)
        if call is not None:
            await call.close_leg(participant_id)
            if not call.legs:
                await self._end_call(consultation_id)

    async def consultation_ended(self, consultation_id: str) -> None:
        for key in [k for k in self._lost if k[0] == consultation_id]:
            del self._lost[key]
        await self._end_call(consultation_id)

    async def participant_disconnected(self, consultation_id: str, participant_id: str) -> None:
        """Their last socket closed: the leg may go on (a collapsed link drops sockets first)
        but not for ever: without a rejoin within the grace period it is closed, so a revoked
        session or a vanished device does not keep receiving the consultation."""
        key = (consultation_id, participant_id)
        self._cancel_grace(key)
        loop = asyncio.get_running_loop()
        self._leg(key).grace = loop.call_later(
            self.disconnect_grace_s, lambda: self._spawn(self._grace_expired(key))
        )

    async def participant_rejoined(self, consultation_id: str, participant_id: str) -> None:
        """Present again: the grace ends, and a participant whose leg was lost while their
        socket was down hears it now. Without this, a client still holding its side of the dead
        leg waits for its own ICE consent to fail (~30 s), or for ever where it does not watch
        it; the collapse shaped-link test caught it: leg and socket dropped in the same second."""
        key = (consultation_id, participant_id)
        self._cancel_grace(key)
        lost = self._lost.get(key)
        call = self.calls.get(consultation_id)
        if lost is not None and (call is None or participant_id not in call.legs):
            await emit_to_participant(
                self.svc, consultation_id, participant_id, "consult.leg", {"state": lost}
            )

    def _leg(self, key: tuple[str, str]) -> BridgedLeg:
        return self._legs.setdefault(key, BridgedLeg())

    def _cancel_grace(self, key: tuple[str, str]) -> None:
        leg = self._legs.get(key)
        if leg is not None and leg.grace is not None:
            leg.grace.cancel()
            leg.grace = None

    async def _grace_expired(self, key: tuple[str, str]) -> None:
        leg = self._legs.get(key)
        if leg is not None:
            leg.grace = None
        await self.participant_left(*key)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end_call(self, consultation_id: str) -> None:
        for key in [k for k in self._legs if k[0] == consultation_id]:
            self._cancel_grace(key)
            del self._legs[key]
        self._publish_modes()
        call = self.calls.pop(consultation_id, None)
        if call is not None:
            await call.close()
            if self.call_ended is not None:
                await self.call_ended(consultation_id)

    # -- signalling ---------------------------------------------------------------------

    def _call(self, consultation_id: str) -> Call:
        call = self.calls.get(consultation_id)
        if call is None or call.closed:
            call = Call(consultation_id, self._enqueue, self.config)
            self.calls[consultation_id] = call
        self._ensure_consumer()
        return call

    async def offer(self, participant: Participant, sdp: str) -> str:
        self._cancel_grace((participant.consultation_id, participant.id))
        call = self._call(participant.consultation_id)
        try:
            return await call.offer(participant.id, sdp, ROLE_PRIORITY.get(participant.role, 0))
        finally:
            if not call.legs:  # a refused first offer must not leave an empty call ticking
                await self._end_call(participant.consultation_id)

    async def set_mode(
        self, consultation_id: str, participant_id: str, cap: Mode | None, by: str
    ) -> None:
        """A mode chosen by hand (sound only, text only; None: automatic again): the call applies
        it at its next tick (`consult.mode`, reason `manual` / `automatic again`); everyone admitted
        hears of the choice now (`consult.mode_choice`), so the screens show the switch's state."""
        self._call(consultation_id).set_cap(participant_id, cap)
        await emit_to_consultation(
            self.svc,
            consultation_id,
            "consult.mode_choice",
            {"participant_id": participant_id, "mode": cap.value if cap else "auto", "by": by},
        )

    async def candidate(self, participant: Participant, candidate: dict[str, Any] | None) -> None:
        call = self.calls.get(participant.consultation_id)
        if call is None:
            raise ApiError("no_media_leg", "send consult.offer before ICE candidates")
        await call.candidate(participant.id, candidate)

    async def hangup(self, participant: Participant) -> None:
        await self.participant_left(participant.consultation_id, participant.id)

    async def close(self) -> None:
        for key in list(self._legs):
            self._cancel_grace(key)
        for consultation_id in list(self.calls):
            await self._end_call(consultation_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consumer is not None:
            self._queue.put_nowait(None)
            await asyncio.gather(self._consumer, return_exceptions=True)
            self._consumer = None

    # -- media events -> sockets and the record ------------------------------------------

    def _observe(self, event: Quality) -> None:
        loss = max(event.measured.get("loss_up") or 0.0, event.measured.get("loss_down") or 0.0)
        metrics.MEDIA_LOSS.observe(loss)
        rtt = event.measured.get("rtt_ms")
        if isinstance(rtt, int | float) and rtt >= 0:
            metrics.MEDIA_RTT.observe(rtt / 1000.0)
        leg = self._leg((event.call_id, event.leg_id))
        if leg.mode != event.mode:
            leg.mode = event.mode
            self._publish_modes()

    def _publish_modes(self) -> None:
        for mode in Mode:
            metrics.MEDIA_LEGS.labels(mode.value).set(
                sum(1 for leg in self._legs.values() if leg.mode == mode)
            )

    def _quality_due(self, event: Quality) -> bool:
        """Once a second per leg, but every 5 s for a leg in audio-only or text-only: the
        signalling shares that participant's starved link (mode changes always go at once)."""
        leg = self._leg((event.call_id, event.leg_id))
        count = leg.quality_samples
        leg.quality_samples += 1
        if event.mode in (Mode.AUDIO_ONLY, Mode.TEXT_ONLY) and event.probing is None:
            return count % QUALITY_SLOW_EVERY == 0
        return True

    def _enqueue(self, event: MediaEvent) -> None:
        """Keep the backlog bounded when deliveries fall behind (a slow database): quality
        samples are dropped first, as the next one a second later supersedes them; mode changes,
        leg states and send plans are always kept."""
        if isinstance(event, Quality) and self._queue.qsize() >= MAX_PENDING_EVENTS:
            metrics.MEDIA_EVENTS_DROPPED.inc()
            return
        self._queue.put_nowait(event)

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
            self._observe(event)
            leg = self._leg((cid, event.leg_id))
            if leg.announced is None:
                leg.announced = event.mode
            announced = leg.announced
            if announced != event.mode:
                # A fresh leg (after a lost one, or a network change) starts in its own mode
                # with no policy change to report: announce it, or everyone keeps believing
                # the mode the old leg last had.
                await self._deliver(
                    ModeChange(
                        cid,
                        event.leg_id,
                        event.mode,
                        announced,
                        FRESH_LEG,
                        event.measured,
                        cause=Cause.OTHER,
                    )
                )
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
            self._leg((cid, event.leg_id)).announced = event.mode
            metrics.MEDIA_MODE_CHANGES.labels(event.mode, event.cause.value).inc()
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
            await svc.parts.consultations.record_mode_change(
                cid,
                event.leg_id,
                event.mode,
                event.reason[:80] or "policy",
                _numbers(event.measured),
                previous=event.previous,
            )
        elif isinstance(event, SendPlan):
            await emit_to_participant(svc, cid, event.leg_id, "consult.send", {"send": event.send})
        elif isinstance(event, LegState):
            metrics.MEDIA_LEG_EVENTS.labels(event.state).inc()
            if event.state in LOST_LEG_STATES:
                self._lost[(cid, event.leg_id)] = event.state
            else:
                self._lost.pop((cid, event.leg_id), None)
            if event.state != "connected":
                ended = self._legs.get((cid, event.leg_id))
                if ended is not None:
                    ended.mode = None
                self._publish_modes()
            await emit_to_participant(
                svc, cid, event.leg_id, "consult.leg", {"state": event.state, **event.detail}
            )
            if event.state != "connected":
                await svc.parts.consultations.record_leg_event(cid, event.leg_id, event.state, {})
                call = self.calls.get(cid)
                if call is not None and not call.legs:  # nothing left to relay or tick
                    await self._end_call(cid)


def _numbers(measured: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in measured.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }

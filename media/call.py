"""A call: the legs of one consultation and the routing between them.

Each receiving leg has one audio and one video track (the offers our clients make).

- **Two legs**: each leg's audio and video go to the other through `RelayTrack`s, as encoded
  frames, handed to the receiver's queue synchronously: no task per receiver, no decode.
- **Three legs or more**: everyone hears everyone. Audio is mixed minus the receiver on a
  worker thread (`media/mixminus.py`: decoded once per source, encoded once per receiver at the
  receiver's own Opus rate) and reaches each receiver's audio track under `MIX_SOURCE`. Video is
  still relayed without decoding, from the active speaker (`media/speaker.py`, by the levels the
  mixer measures, with hysteresis); the speaker sees whoever spoke before. Until someone has
  spoken, a receiver sees the *featured* other leg: the one with the highest priority the host
  gave (the patient for the care team, the clinician for the patient).

Rates follow the receivers: a source is asked (REMB) for no more video than the best of its
video receivers can take and its own uplink carries, and is told (`SendPlan`) to stop sending
video nobody can receive, or anything at all in text-only. One task per call samples every leg
once a second and runs the policies; it also closes legs that never finish ICE.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from av.packet import Packet

from media import aiortc_adapt
from media.aiortc_adapt import AdaptiveOpusEncoder
from media.errors import MediaError
from media.events import LegState, MediaEvent, SendPlan
from media.leg import VIDEO_MODES, Leg, MediaConfig
from media.mixminus import MIX_SOURCE, MixOutput, MixWorker
from media.policy import LADDER, Mode, min_total_kbps, targets_for
from media.speaker import ActiveSpeaker

log = logging.getLogger("relais.media.call")

_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)
# "Send no video" as a REMB (aiortc_adapt.VIDEO_STOP_BPS): our clients stop, browsers fall to
# their minimum; the send plan tells both.
IDLE_VIDEO_CAP_BPS = 1
PLAN_REPEAT_TICKS = 5
# How often, between ticks, legs are checked for a dead link.
SILENCE_WATCH_S = 0.1
# From this many legs, audio is mixed (below it, relayed as it is).
MIX_FROM_LEGS = 3
# How long a participant's last leg's mode says where their next leg starts (`Call._start_mode`).
RESTART_MEMORY_S = 60.0


def min_audio_kbps() -> int:
    return min_total_kbps(Mode.AUDIO_ONLY)


def ice_ufrag(sdp: str) -> str | None:
    found = _UFRAG.search(sdp)
    return found.group(1) if found else None


class Call:
    def __init__(
        self,
        call_id: str,
        on_event: Callable[[MediaEvent], None],
        config: MediaConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 1.0,
    ) -> None:
        self.id = call_id
        self._on_event = on_event
        self.config = config or MediaConfig()
        self._clock = clock
        self._tick_s = tick_s
        self.legs: dict[str, Leg] = {}
        self._priority: dict[str, int] = {}
        self._ufrag: dict[str, str | None] = {}
        self._plans: dict[str, dict[str, Any]] = {}
        self._plan_age: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._ticker: asyncio.Task[None] | None = None
        self.closed = False
        self.mixer: MixWorker | None = None
        self._stopped_mixers: list[MixWorker] = []
        self.speaker = ActiveSpeaker()
        # Modes chosen by hand per participant (sound only, text only): kept across their legs,
        # so a fresh leg after a lost one keeps the choice.
        self.caps: dict[str, Mode] = {}
        # The policy's mode of each participant's last leg when it ended, and when (see
        # `_start_mode`).
        self._left: dict[str, tuple[Mode, float]] = {}
        aiortc_adapt.install_codec_parameters()

    def set_cap(self, leg_id: str, cap: Mode | None) -> None:
        """A participant's mode by hand (None: automatic again), now and for their later legs."""
        if cap is None:
            self.caps.pop(leg_id, None)
        else:
            self.caps[leg_id] = cap
        leg = self.legs.get(leg_id)
        if leg is not None:
            leg.set_cap(cap)

    # -- the Router protocol used by legs ----------------------------------------------------

    def emit(self, event: Any) -> None:
        if isinstance(event, LegState) and event.state == "connected":
            self._update_mix_rates()  # a newly connected leg hears the mix at once
        try:
            self._on_event(event)
        except Exception:
            log.exception("media event handler failed")

    def on_frame(self, leg_id: str, kind: str, packet: Packet[Any], keyframe: bool) -> None:
        if kind == "audio" and self.mixer is not None:
            self.mixer.feed(leg_id, packet)
            return
        for leg in self.legs.values():
            track = leg.out[kind]
            if track.source == leg_id:
                track.push(leg_id, packet, keyframe)

    def keyframe_wanted(self, leg_id: str) -> None:
        leg = self.legs.get(leg_id)
        source = self.legs.get(leg.out["video"].source or "") if leg else None
        if source is not None:
            source.request_keyframe()

    def uplink_cap_bps(self, leg_id: str, kind: str = "video") -> int | None:
        source = self.legs.get(leg_id)
        if source is None or source.decision is None:
            return None
        if kind == "audio":
            # 1 bit/s: "send nothing" (text-only); REMB cannot carry a zero.
            audio = self.audio_send_kbps(leg_id)
            return audio * 1000 if audio else 1
        wanted = [
            leg.targets.video_kbps * 1000
            for leg in self._video_viewers(leg_id)
            if leg.decision is not None and leg.receiving_mode in VIDEO_MODES
        ]
        own = source.targets.video_kbps * 1000
        if not wanted or own <= 0:
            return IDLE_VIDEO_CAP_BPS
        return max(30_000, min(max(wanted), own))

    def audio_send_kbps(self, leg_id: str) -> int | None:
        """The Opus rate a participant should send (None: no leg or no decision yet; 0: none).

        Its own mode bounds it. With one other participant, whose audio is relayed as it is
        (no transcoding below three), it is also no more than that receiver's mode takes: a
        patient in sound only on a 60 kbit/s downlink was sent the clinician's 32 kbit/s Opus in
        20 ms packets, ~52 kbit/s on the wire, and the loss it caused dropped them to text
        (found by tests/web/test_call.py). Never below the least audio-only rate, even for a
        receiver in text-only: a source that stopped sending would read as a dead link."""
        source = self.legs.get(leg_id)
        if source is None or source.decision is None:
            return None
        if source.receiving_mode is Mode.TEXT_ONLY:
            return 0
        own = source.targets.audio_kbps
        if self.mixer is not None:
            return own
        listeners = [
            leg.targets.audio_kbps if leg.receiving_mode is not Mode.TEXT_ONLY else 0
            for other, leg in self.legs.items()
            if other != leg_id and leg.decision is not None and leg.out["audio"].source == leg_id
        ]
        if not listeners:
            return own
        return min(own, max(min_audio_kbps(), *listeners))

    def audio_packet_kbps(self, leg_id: str) -> int | None:
        """The rate the answer's Opus parameters and packet length are shaped for: the audio
        send rate, but by the committed mode rather than a probe's, so that a probe does not
        make a browser offer again for a packet length it would leave two seconds later."""
        audio = self.audio_send_kbps(leg_id)
        leg = self.legs.get(leg_id)
        if audio is None or leg is None:
            return None
        committed = targets_for(leg.mode).audio_kbps or targets_for(Mode.AUDIO_ONLY).audio_kbps
        return min(audio, committed) if audio else committed

    # -- signalling entry points --------------------------------------------------------------

    async def offer(self, leg_id: str, sdp: str, priority: int = 0) -> str:
        """Answer a participant's offer. A new participant, a changed ICE ufrag (ICE restart:
        aiortc cannot restart ICE) or a failed/closed leg gets a fresh leg; otherwise the
        offer renegotiates the existing one."""
        if self.closed:
            raise MediaError("bad_state", "this consultation's media has ended")
        if not isinstance(sdp, str) or "v=0" not in sdp[:200]:
            raise MediaError("bad_sdp", "the offer is not an SDP session description")
        async with self._lock:
            self._priority[leg_id] = priority
            leg = self.legs.get(leg_id)
            ufrag = ice_ufrag(sdp)
            fresh = (
                leg is None
                or leg.closed
                or leg.pc.connectionState in ("failed", "closed")
                or ufrag != self._ufrag.get(leg_id)
            )
            if fresh:
                if leg is not None:
                    await self._drop(leg_id, "replaced")
                leg = Leg(self.id, leg_id, self, self.config, self._clock, self._start_mode(leg_id))
                leg.set_cap(self.caps.get(leg_id))
                self.legs[leg_id] = leg
                self._ufrag[leg_id] = ufrag
            assert leg is not None
            try:
                answer = await leg.negotiate(sdp)
            except Exception as exc:
                # A fresh leg, or one left half-negotiated (aiortc has no rollback), is unusable.
                # A live leg broken by a renegotiation (the browser's ptime change offers again)
                # is reported lost (`failed`): its participant then offers a fresh leg at once.
                # Reported `closed` (a leg ended on purpose), the browser kept its side and waited
                # for its own ICE consent to fail, ~30 s without sound or picture.
                if fresh or leg.pc.signalingState != "stable":
                    await self._drop(leg_id, "closed" if fresh else "failed")
                    self._route()
                if isinstance(exc, MediaError):
                    raise
                raise MediaError(
                    "bad_sdp", f"the offer was refused: {type(exc).__name__}"
                ) from None
            self._route()
            self._ensure_ticker()
            return answer

    async def candidate(self, leg_id: str, candidate: dict[str, Any] | None) -> None:
        leg = self.legs.get(leg_id)
        if leg is None:
            raise MediaError("no_media_leg", "send an offer before ICE candidates")
        await leg.add_ice_candidate(candidate)

    async def close_leg(self, leg_id: str) -> None:
        async with self._lock:
            await self._drop(leg_id, "closed")
            self._route()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        async with self._lock:
            for leg_id in list(self.legs):
                await self._drop(leg_id, "closed")
            self._route()
        for worker in self._stopped_mixers:
            await worker.aclose()
        self._stopped_mixers.clear()

    async def _drop(self, leg_id: str, state: str) -> None:
        leg = self.legs.pop(leg_id, None)
        self._plans.pop(leg_id, None)
        self._plan_age.pop(leg_id, None)
        self.speaker.forget(leg_id)
        if self.mixer is not None:
            self.mixer.remove_source(leg_id)
        # Receivers of this source start over (timestamps rebased, wait for a keyframe) when
        # `_route` gives them the same participant's fresh leg.
        for other in self.legs.values():
            for track in other.out.values():
                if track.source == leg_id:
                    track.set_source(None)
        if leg is not None:
            self._left[leg_id] = (leg.policy.mode, self._clock())
            # Shielded: a close interrupted by `Call.close()` cancelling the ticker would leave
            # the peer connection (sockets, tasks) behind.
            await asyncio.shield(leg.close())
            self.emit(LegState(self.id, leg_id, state))

    def _start_mode(self, leg_id: str) -> Mode:
        """Where a participant's fresh leg starts: video-high (the configured start), unless
        their previous leg ended lower less than `RESTART_MEMORY_S` ago. A leg lost on a
        starved link (ICE consent fails once the queue outlasts its checks) is most often
        replaced on the same link, and a fresh leg in video-high pushed ~500 kbit/s into a
        20 kbit/s link again, starving the socket that carries the consultation's text (the
        shaped-link test, under load). It starts no lower than sound: in text-only nothing flows
        to show signs of life with, and the policy finds text within its hold if sound does
        not fit. A participant back on a good link climbs from there by probes."""
        start = self.config.start_mode
        left = self._left.get(leg_id)
        if left is None or self._clock() - left[1] > RESTART_MEMORY_S:
            return start
        floor = max(left[0], Mode.AUDIO_ONLY, key=LADDER.index)
        return min(floor, start, key=LADDER.index)

    # -- routing and the per-second loop ------------------------------------------------------

    def _route(self) -> None:
        """Point every leg's outgoing tracks at their sources: with one other leg, that leg
        (relayed as it is); with more, the mix for audio and the active speaker for video."""
        self._set_mixing(len(self.legs) >= MIX_FROM_LEGS and not self.closed)
        for leg_id, leg in self.legs.items():
            others = [other for other in self.legs if other != leg_id]
            featured = max(others, key=lambda o: (self._priority.get(o, 0), o), default=None)
            video = featured
            if len(others) > 1:
                video = self.speaker.shown_to(leg_id, others) or featured
            leg.out["video"].set_source(video)
            leg.out["audio"].set_source(MIX_SOURCE if self.mixer is not None else featured)
        self._update_mix_rates()

    def _set_mixing(self, on: bool) -> None:
        if on and self.mixer is None:
            self.mixer = MixWorker(self._on_mixed)
            self.mixer.start()
        elif not on and self.mixer is not None:
            self.mixer.stop()  # ends within a tick; joined when the call closes
            self._stopped_mixers = [w for w in self._stopped_mixers if w.alive] + [self.mixer]
            self.mixer = None

    def _update_mix_rates(self) -> None:
        """Each receiver's mix is encoded at the Opus rate of its own mode (none in text-only):
        the per-receiver adaptation a relayed stream cannot have."""
        if self.mixer is None:
            return
        rates = {}
        for leg_id, leg in self.legs.items():
            mode = leg.receiving_mode
            if mode is Mode.TEXT_ONLY or not leg.connected:
                continue
            targets = leg.targets if leg.decision else targets_for(mode, None)
            if targets.audio_kbps > 0:
                rates[leg_id] = targets.audio_kbps * 1000
        self.mixer.set_receivers(rates)

    def _on_mixed(self, output: MixOutput) -> None:
        """A mixer tick, on the event loop: queue each receiver's packets, follow the speaker."""
        for receiver, packets in output.packets.items():
            leg = self.legs.get(receiver)
            if leg is None:
                continue
            track = leg.out["audio"]
            for packet in packets:
                track.push(MIX_SOURCE, packet, True)
        before = self.speaker.current
        if self.speaker.update(self._clock(), output.levels) != before:
            self._route()

    def _video_viewers(self, leg_id: str) -> list[Leg]:
        """The legs that show, or may be switched to, `leg_id`'s video. With three or more,
        everyone may become the speaker at any moment: their video keeps flowing (within their
        own mode), or each switch would wait for a stopped sender to restart."""
        others = [leg for other, leg in self.legs.items() if other != leg_id]
        if len(self.legs) >= MIX_FROM_LEGS:
            return others
        return [leg for leg in others if leg.out["video"].source == leg_id]

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        """Tick once a second, and at once when a leg with media goes silent for the dead-link
        time: waiting for the next tick would add up to a second to the ~3 s the issue allows."""
        due = self._clock() + self._tick_s
        while not self.closed:
            await asyncio.sleep(max(0.0, min(SILENCE_WATCH_S, due - self._clock())))
            if self._clock() < due and not self._a_leg_went_silent():
                continue
            due = self._clock() + self._tick_s
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("media tick failed for a call")

    def _a_leg_went_silent(self) -> bool:
        dead_after = self.config.policy.dead_after_s
        return any(
            leg.connected
            and leg.decision is not None
            and leg.mode is not Mode.TEXT_ONLY
            and leg.meter.silent_for() >= dead_after
            for leg in self.legs.values()
        )

    async def tick(self) -> None:
        now = self._clock()
        for leg_id, leg in list(self.legs.items()):
            if not leg.connected and now - leg.created > self.config.ice_timeout_s:
                async with self._lock:
                    if self.legs.get(leg_id) is leg:
                        await self._drop(leg_id, "ice_timeout")
                        self._route()
                continue
            if not leg.connected:
                continue  # no policy before ICE+DTLS: silence would count from the offer
            if leg.pc.connectionState in ("failed", "closed"):
                # ICE consent expired (aiortc: ~30 s) or the peer went away: the participant
                # will offer again when it can; nothing to keep.
                async with self._lock:
                    if self.legs.get(leg_id) is leg:
                        await self._drop(leg_id, "failed")
                        self._route()
                continue
            await leg.refresh_rtt()
            leg.tick()
        for leg_id, leg in list(self.legs.items()):
            self._send_plan(leg_id, leg)
            leg.push_uplink_cap()
        self._update_mix_rates()

    def _send_plan(self, leg_id: str, leg: Leg) -> None:
        """Tell a participant what to send: its own mode bounds it, and video only if someone
        can receive it."""
        if leg.decision is None:
            return
        mode = leg.receiving_mode
        audio_kbps = self.audio_send_kbps(leg_id) or 0
        receivers_want_video = any(
            other.receiving_mode in VIDEO_MODES for other in self._video_viewers(leg_id)
        )
        cap = leg.uplink_video_ceiling() or 0
        plan = {
            "mode": mode.value,
            "video": mode in VIDEO_MODES and receivers_want_video,
            "video_kbps": cap // 1000 if mode in VIDEO_MODES and receivers_want_video else 0,
            "audio": mode != Mode.TEXT_ONLY,
            "audio_kbps": audio_kbps,
            "audio_fec": leg.targets.audio_fec,
            # The packet length the server's answer asks for at that rate: a browser whose last
            # answer said otherwise offers again (media/answer_shaping.py).
            "audio_ptime_ms": AdaptiveOpusEncoder.ptime_for(
                (self.audio_packet_kbps(leg_id) or 0) * 1000
            ),
        }
        self._plan_age[leg_id] = self._plan_age.get(leg_id, 0) + 1
        # Sent on change, and again every few seconds: a participant whose socket dropped on a
        # starved link and came back must not wait for the next change.
        if self._plans.get(leg_id) != plan or self._plan_age[leg_id] >= PLAN_REPEAT_TICKS:
            self._plans[leg_id] = plan
            self._plan_age[leg_id] = 0
            self.emit(SendPlan(self.id, leg_id, dict(plan)))

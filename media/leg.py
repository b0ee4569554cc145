"""One participant's leg: the server's aiortc peer for that participant.

The leg answers the participant's offers, relays what it receives to the call (no decoding),
sends what the call routes to it, measures its link, and runs the adaptation policy for it.
aiortc cannot restart ICE, so a participant whose network changed gets a fresh leg (see `Call`);
a leg that never connects is closed after `ice_timeout_s`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtp import AnyRtcpPacket, RtpPacket
from av.packet import Packet

from media import aiortc_adapt
from media.answer_shaping import shape_answer
from media.errors import MediaError
from media.events import Cause, LegState, ModeChange, Quality
from media.frame_stall import FrameStallGuard
from media.ice import MAX_CANDIDATES, add_remote_candidate
from media.measure import LinkMeter
from media.policy import (
    LADDER,
    AdaptationPolicy,
    Decision,
    LinkSample,
    Mode,
    PolicyConfig,
    Targets,
    targets_for,
)
from media.relay import RelayTrack
from media.retransmits import RETRANSMIT_SHARE, RetransmitBudget

log = logging.getLogger("relais.media.leg")

VIDEO_MODES = (Mode.VIDEO_HIGH, Mode.VIDEO_LOW)
# The modes a person may choose by hand (a ceiling on the policy): sound only, text only.
MANUAL_CAPS = (Mode.AUDIO_ONLY, Mode.TEXT_ONLY)
# Reasons of mode changes made by hand, as `consult.mode` reports them (the policy's own reasons
# are measurements: "loss ...", "rate ...", "no packets ...", "probe ok ...").
MANUAL = "manual"
AUTOMATIC = "automatic again"
# Uplink loss above the link's background from which aiortc's estimate is passed on to the
# source as its ceiling.
CONGESTED_LOSS = 0.05
CAP_REPEAT_TICKS = 2
KEYFRAME_INTERVAL_S = 1.0


def _check_sections(sdp: str) -> None:
    """One audio and one video section at most, nothing else: each leg relays one stream of
    each kind, and every extra section would be a transceiver (ports, tasks) for nothing."""
    kinds = [line[2:].split(" ", 1)[0] for line in sdp.splitlines() if line.startswith("m=")]
    if (
        not kinds
        or any(k not in ("audio", "video") for k in kinds)
        or len(kinds) != len(set(kinds))
    ):
        raise MediaError("bad_sdp", "the offer must have at most one audio and one video section")


_live_peers: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()


def track_peer(pc: RTCPeerConnection) -> None:
    """Every server peer (legs and link probes) is counted until closed."""
    _live_peers.add(pc)


def live_peer_connections() -> int:
    """Server peers not yet closed (the fault tests assert this drops to zero)."""
    return sum(1 for pc in _live_peers if pc.connectionState != "closed")


@dataclass(frozen=True)
class MediaConfig:
    ice_servers: tuple[dict[str, Any], ...] = ()
    ice_timeout_s: float = 15.0
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    start_mode: Mode = Mode.VIDEO_HIGH


class Router(Protocol):
    """What a leg needs from its call."""

    def on_frame(self, leg_id: str, kind: str, packet: Packet[Any], keyframe: bool) -> None: ...
    def keyframe_wanted(self, leg_id: str) -> None: ...
    def uplink_cap_bps(self, leg_id: str, kind: str = "video") -> int | None: ...
    def audio_packet_kbps(self, leg_id: str) -> int | None: ...
    def emit(self, event: Any) -> None: ...


def ice_servers_of(config: MediaConfig) -> list[RTCIceServer]:
    servers = []
    for entry in config.ice_servers:
        servers.append(
            RTCIceServer(
                urls=entry["urls"],
                username=entry.get("username"),
                credential=entry.get("credential"),
            )
        )
    return servers


class Leg:
    def __init__(
        self,
        call_id: str,
        leg_id: str,
        router: Router,
        config: MediaConfig,
        clock: Callable[[], float] = time.monotonic,
        start_mode: Mode | None = None,
    ) -> None:
        self.call_id = call_id
        self.id = leg_id
        self._router = router
        self._config = config
        self._clock = clock
        self.created = clock()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers_of(config)))
        track_peer(self.pc)
        self.meter = LinkMeter(clock)
        self.policy = AdaptationPolicy(config.policy, start=start_mode or config.start_mode)
        self.decision: Decision | None = None
        self.last_sample: LinkSample | None = None  # what the policy was given (benches log it)
        # A mode chosen by hand (the host's or the participant's own switch): a ceiling on what
        # the policy decides, which keeps measuring underneath, so "automatic" again returns to
        # what the link can carry now. `_cap_moved`: the next tick reports the change as manual.
        self.cap: Mode | None = None
        self._cap_moved = False
        self._ticked_mode: Mode | None = None  # `mode` as of the last tick: what was reported
        self._ticked_receiving: Mode | None = None  # `receiving_mode` as of the last tick
        # Per kind: which NACKed packets are resent, and the counts (resent / refused).
        self.retransmits: dict[str, RetransmitBudget] = {}
        self.out: dict[str, RelayTrack] = {
            kind: RelayTrack(kind, lambda: router.keyframe_wanted(leg_id), clock)
            for kind in ("audio", "video")
        }
        for kind, track in self.out.items():
            track.on_bytes = partial(self._count_out, kind)
        self._receivers: dict[str, RTCRtpReceiver] = {}
        self._senders: dict[str, RTCRtpSender] = {}
        self._remote_ssrc: dict[str, int] = {}
        self._rtx_pts: set[int] = set()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._sent_cap: dict[str, int] = {}
        self._cap_age: dict[str, int] = {}
        self.connected = False
        self.closed = False
        self._candidates = 0
        self._last_key_request = -1e9
        # The participant's video frame assembly, restarted when it sticks (media/frame_stall.py).
        self.video_frames = FrameStallGuard(self._unstall_video, clock)
        self.up_estimate_bps: int | None = None
        self.pc.on("connectionstatechange", self._on_state)

    # -- signalling ---------------------------------------------------------------------------

    async def negotiate(self, offer_sdp: str) -> str:
        """Apply the participant's offer (first one or a renegotiation) and return our answer."""
        if self.closed:
            raise MediaError("bad_state", "this media leg is closed")
        if self.pc.signalingState != "stable":
            raise MediaError("bad_state", "an offer is already being negotiated")
        _check_sections(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MediaError(
                "bad_sdp", f"the offer could not be parsed: {type(exc).__name__}"
            ) from None
        for transceiver in self.pc.getTransceivers():
            if not aiortc_adapt.pin_codecs(transceiver):
                want = aiortc_adapt.RELAYED_CODECS.get(transceiver.kind, "?")
                raise MediaError("bad_sdp", f"the offer has no {want} for its {transceiver.kind}")
            codecs = getattr(transceiver, aiortc_adapt.INTERNALS["transceiver_codecs"])
            self._rtx_pts |= {c.payloadType for c in codecs if c.mimeType.lower().endswith("/rtx")}
        self._attach_transceivers()
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        # What the participant's Opus sender should do in this leg's mode, or for the thinner
        # link of the one it is relayed to (answer_shaping.py, media/call.py).
        sdp = str(self.pc.localDescription.sdp)
        return shape_answer(sdp, self.mode, self._router.audio_packet_kbps(self.id))

    async def add_ice_candidate(self, candidate: dict[str, Any] | None) -> None:
        if self.closed:
            raise MediaError("bad_state", "this media leg is closed")
        if candidate is None or not candidate.get("candidate"):
            return
        self._candidates += 1
        if self._candidates > MAX_CANDIDATES:
            raise MediaError("bad_candidate", f"more than {MAX_CANDIDATES} ICE candidates")
        await add_remote_candidate(self.pc, candidate)

    def _attach_transceivers(self) -> None:
        for transceiver in self.pc.getTransceivers():
            kind = transceiver.kind
            if kind not in self.out or kind in self._receivers:
                continue
            receiver, sender = transceiver.receiver, transceiver.sender
            self._receivers[kind] = receiver
            self._senders[kind] = sender
            aiortc_adapt.tap_receiver(
                receiver,
                on_frame=partial(self._on_frame, kind),
                on_rtp=partial(self._on_rtp, kind),
                on_rtcp=self.meter.on_rtcp_in,
            )
            aiortc_adapt.tap_sender(
                sender,
                on_rtcp=partial(self._on_rtcp_about_us, kind),
                on_keyframe_request=partial(self._keyframe_requested, kind),
                retransmits=self.retransmits.setdefault(
                    kind,
                    RetransmitBudget(
                        partial(self._retransmit_kbps, kind), self._rtt_s, self._clock
                    ),
                ),
            )
            if kind == "video":
                aiortc_adapt.cap_remb(receiver, self._uplink_ceiling, self._on_up_estimate)
            self.pc.addTrack(self.out[kind])
            # Relayed frames go through `pack`; these encoders only encode if a transcoded
            # rendition is ever attached, and count it (`rebuilds`), so tests can prove it isn't.
            aiortc_adapt.use_encoder(
                sender,
                aiortc_adapt.AdaptiveVp8Encoder()
                if kind == "video"
                else aiortc_adapt.AdaptiveOpusEncoder(),
            )

    def _on_frame(self, kind: str, codec_name: str, packet: Packet[Any], keyframe: bool) -> None:
        if kind == "video":
            self.video_frames.frame()
        self._router.on_frame(self.id, kind, packet, keyframe)

    def _unstall_video(self) -> None:
        receiver = self._receivers.get("video")
        if receiver is None or self.closed:
            return
        aiortc_adapt.restart_video_frames(receiver)
        self.request_keyframe()

    def _on_rtcp_about_us(self, kind: str, packet: AnyRtcpPacket) -> None:
        self.meter.on_rtcp_in(packet, kind)

    def _retransmit_kbps(self, kind: str) -> float:
        """What resends of `kind` may take (media/retransmits.py): a share of what the leg
        sends of it now, nothing for a stream it is not sending."""
        if not self.out[kind].enabled:
            return 0.0
        targets = self.targets
        rate = targets.video_kbps if kind == "video" else targets.audio_kbps
        return rate * RETRANSMIT_SHARE

    def _rtt_s(self) -> float | None:
        return None if self.meter.rtt_ms is None else self.meter.rtt_ms / 1000.0

    def _keyframe_requested(self, kind: str) -> None:
        if kind == "video":
            self._router.keyframe_wanted(self.id)

    def uplink_video_ceiling(self) -> int | None:
        """The video ceiling for this participant now (what REMB and the send plan say)."""
        if self.up_estimate_bps is None:
            return self._router.uplink_cap_bps(self.id, "video")
        return self._uplink_ceiling(self.up_estimate_bps)

    def _on_up_estimate(self, bps: int) -> None:
        self.up_estimate_bps = bps
        self.meter.on_uplink_estimate(bps)

    def _uplink_ceiling(self, estimate: int) -> int | None:
        """What the source is told (REMB): the call's cap for its video, lowered to aiortc's
        estimate only when the uplink shows congestion. An uncongested estimate only trails
        what is sent; forwarding it would make every restart of video crawl up from its first
        second's throughput.

        Loss is congestion: the estimate is forwarded as it is. An estimate under what
        arrives, without loss, is aiortc's delay-based detector, which also fires on CPU
        jitter and on the keyframe burst of every video restart; forwarded as it is, the source
        slows, the next "overuse" cuts 15 % of that, and the leg spiralled to ~17 kbit/s of
        video after a restore (seen in bench.media_link). So it is forwarded down to the
        least video rate of the leg's mode only: below that, leaving the mode is the policy's
        call, on loss or a collapsed estimate, within `degrade_hold_s`."""
        cap = self._router.uplink_cap_bps(self.id, "video")
        if cap is None:
            return None
        last = self.meter.last
        # Above the link's own background loss (the policy's baseline): at a steady 5 % random
        # loss every second "congested" forwarded aiortc's falling estimate, and the source's
        # video spiralled 530 -> 34 kbit/s on a 1 Mbit/s link (the steady-loss shaped test).
        if last.loss_up >= self.policy.background_loss + CONGESTED_LOSS:
            return min(cap, estimate)
        if estimate < last.video_in_kbps * 900:
            mode_least = targets_for(self.receiving_mode, 0.0).video_kbps * 1000
            return min(cap, max(estimate, mode_least))
        return cap

    def _on_rtp(self, kind: str, packet: RtpPacket, arrival_ms: int) -> None:
        # REMBs and PLIs name the source's media SSRC; an RTX retransmission has its own, and
        # naming that one made the source ignore every REMB after a cut (the last packets
        # before the "stop" were retransmissions), so its video never came back.
        if packet.payload_type not in self._rtx_pts:
            self._remote_ssrc[kind] = packet.ssrc
            if kind == "video":
                self.video_frames.packet()
        self.meter.on_rtp_in(packet, arrival_ms, kind)

    def _count_out(self, kind: str, size: int) -> None:
        self.meter.on_bytes_out(size, kind)

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.connected:
            self.connected = True
            self.meter.heard()  # silence counts from the connection, not from the offer
            self._router.emit(LegState(self.call_id, self.id, "connected"))
        elif state == "failed":
            self._router.emit(LegState(self.call_id, self.id, "failed"))

    # -- control from the call ----------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def request_keyframe(self) -> None:
        """Ask this participant for a video keyframe (a receiver of its video needs one)."""
        receiver, ssrc = self._receivers.get("video"), self._remote_ssrc.get("video")
        now = self._clock()
        # Several lossy receivers must not turn into a keyframe storm on a 2G uplink.
        if now - self._last_key_request < KEYFRAME_INTERVAL_S:
            return
        if receiver is not None and ssrc is not None and not self.closed:
            self._last_key_request = now
            self._spawn(aiortc_adapt.request_keyframe(receiver, ssrc))

    def push_uplink_cap(self) -> None:
        """Send the participant its new video and audio ceilings (REMB naming each SSRC) when
        they move by > 20 %. Browsers act on the video one; our Python clients on both."""
        for kind in ("video", "audio"):
            cap = (
                self.uplink_video_ceiling()
                if kind == "video"
                else self._router.uplink_cap_bps(self.id, kind)
            )
            receiver, ssrc = self._receivers.get(kind), self._remote_ssrc.get(kind)
            if cap is None or receiver is None or ssrc is None or self.closed:
                continue
            sent = self._sent_cap.get(kind)
            age = self._cap_age.get(kind, 0) + 1
            # Also repeated every few seconds: one RTCP packet on a collapsed link is easily
            # lost, and a participant that never hears "stop" keeps flooding its uplink.
            if sent is None or abs(cap - sent) > 0.2 * max(sent, 1) or age >= CAP_REPEAT_TICKS:
                self._sent_cap[kind] = cap
                age = 0
                self._spawn(aiortc_adapt.send_remb(receiver, cap, [ssrc]))
            self._cap_age[kind] = age

    async def refresh_rtt(self) -> None:
        rtts = []
        for sender in self._senders.values():
            try:
                report = await sender.getStats()
            except Exception:  # a sender not yet started has no transport stats
                log.debug("no stats yet for a sender", exc_info=True)
                continue
            for stat in report.values():
                rtt = getattr(stat, "roundTripTime", None)
                # aiortc smooths now - LSR time - DLSR; a peer whose DLSR overstates its hold
                # (a starved or busy receiver) drives it below zero: no measurement, not a value.
                if stat.type == "remote-inbound-rtp" and rtt is not None and rtt >= 0:
                    rtts.append(float(rtt) * 1000.0)
        if rtts:
            self.meter.rtt_ms = min(rtts)

    def _capped(self, mode: Mode) -> Mode:
        if self.cap is not None and LADDER.index(mode) > LADDER.index(self.cap):
            return self.cap
        return mode

    @property
    def mode(self) -> Mode:
        """The leg's mode: the policy's, under the manual ceiling when there is one."""
        return self._capped(self.policy.mode)

    @property
    def probing(self) -> Mode | None:
        """The higher mode being tried, unless the manual ceiling forbids it."""
        probing = self.decision.probing if self.decision else None
        return probing if probing is not None and self._capped(probing) == probing else None

    @property
    def receiving_mode(self) -> Mode:
        """What this participant can receive now: the probe's mode while probing."""
        return self.probing or self.mode

    @property
    def targets(self) -> Targets:
        """The encoder targets of `receiving_mode`: the policy's, or the ceiling's own."""
        mode = self.receiving_mode
        decision = self.decision
        if decision is not None and mode == (decision.probing or decision.mode):
            return decision.targets
        return targets_for(mode, self.last_sample.available_kbps if self.last_sample else None)

    def set_cap(self, cap: Mode | None) -> None:
        """Sound only or text only by hand (None: automatic again), from the next tick on."""
        if cap is not None and cap not in MANUAL_CAPS:
            raise ValueError(f"not a manual mode: {cap}")
        if cap != self.cap:
            self.cap = cap
            self._cap_moved = True

    def tick(self) -> Decision:
        """One second passed: sample the link, run the policy, apply the decision."""
        sample = self.meter.sample()
        self.last_sample = sample
        previous = self._ticked_mode or self.mode
        decision = self.policy.update(sample)
        self.decision = decision
        mode = self.receiving_mode
        if self._ticked_receiving is not None and LADDER.index(mode) < LADDER.index(
            self._ticked_receiving
        ):
            # Less goes down to the participant from now on: the reports that still cover the
            # heavier load must not judge the lighter one (media/measure.py `lowered`).
            self.meter.lowered()
        self._ticked_receiving = mode
        self.meter.expect_video(mode in VIDEO_MODES)
        self.out["video"].set_enabled(mode in VIDEO_MODES)
        self.out["audio"].set_enabled(mode != Mode.TEXT_ONLY)
        measured = self.meter.last.as_dict()
        # Figures only (rates, loss, RTT): the per-second trail that explains a mode change.
        log.debug(
            "leg %s second: mode=%s probing=%s reason=%s measured=%s resent=%s",
            self.id,
            decision.mode.value,
            decision.probing.value if decision.probing else None,
            decision.reason,
            measured,
            {k: (r.resent, r.refused) for k, r in self.retransmits.items()},
        )
        now = self.mode
        if now != previous:
            if self._cap_moved:
                reason = MANUAL if self.cap is not None else AUTOMATIC
                cause = Cause.MANUAL
            else:
                reason = decision.reason or ""
                cause = decision.cause or Cause.OTHER
            self._router.emit(
                ModeChange(
                    self.call_id,
                    self.id,
                    now.value,
                    previous.value,
                    reason,
                    measured,
                    cause=cause,
                )
            )
        self._cap_moved = False
        self._ticked_mode = now
        self._router.emit(
            Quality(
                self.call_id,
                self.id,
                now.value,
                self.probing.value if self.probing else None,
                measured,
            )
        )
        return decision

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for track in self.out.values():
            track.stop()
        for task in list(self._tasks):
            task.cancel()
        await aiortc_adapt.close_peer(self.pc)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

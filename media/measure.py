"""Per-leg link measurement: packet hooks in, one `LinkSample` per second out.

Both directions of a participant's link are seen from the server:
- uplink (participant -> server): the RTP we receive (bytes, sequence gaps = loss) and the
  receive-side bandwidth estimate aiortc computes for it (the REMB our receiver sends);
- downlink (server -> participant): the RTCP the participant sends about our streams: receiver
  reports (fraction lost, jitter) and its own REMB, plus the RTT aiortc derives from them.
The policy gets the worse of the two, because a consultation over a link that carries one
direction only is not a consultation. Any RTP or RTCP from the participant counts as a sign of
life; `silence_s` is the dead-link detector (aiortc itself needs 24-36 s of failed consent checks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.rtp import AnyRtcpPacket, RtpPacket

from media.aiortc_adapt import remb_of, report_blocks
from media.policy import LinkSample

log = logging.getLogger("relais.media.measure")

# An estimate older than this no longer describes the link (nothing flows that direction).
ESTIMATE_TTL_S = 2.5
RTP_HEADER_BYTES = 12
# IPv4 + UDP + SRTP auth tag: what a packet costs on the wire beyond its RTP packet.
WIRE_OVERHEAD_BYTES = 20 + 8 + 10
# Headers of ~1,100-byte video packets, as a share of their payload.
VIDEO_HEADER_SHARE = 0.05
# Less video than this in a direction over a second: none flows (RTCP and a stray packet).
NO_VIDEO_KBPS = 2.0
# A direction losing less than this delivered all it was sent.
CLEAN_LOSS = 0.02
CLOCK_RATE = {"audio": 48000, "video": 90000}
# Nothing of a kind sent for this long: the stream is paused, and reports on it are about the
# past.
PAUSED_S = 0.5
# A stream silent this long paused (a mode without it, or a dead link): the sequence numbers
# its source spent meanwhile, lost on a cut or collapsed link, are not loss of the second in
# which it resumes. Counting them made every climb's first probe "fail" on a healthy link.
RESUME_GAP_S = 1.0


@dataclass(slots=True)
class _SeqState:
    highest: int = -1  # extended sequence number
    received: int = 0
    base_highest: int = -1
    base_received: int = 0
    last_at: float = 0.0


@dataclass(slots=True)
class _ReportState:
    """What the participant last reported about one of our streams."""

    highest: int
    advanced_at: float  # when its highest sequence number last moved
    reported_at: float  # when the last report on the stream arrived
    stalled: bool = False  # a report since then said nothing new had arrived for a while
    # The last report's extended highest sequence number and cumulative lost count, and the
    # point the current second's loss counts from (moved past a report that is left out).
    last_highest: int = 0
    last_lost: int = 0
    base_highest: int = 0
    base_lost: int = 0


@dataclass(slots=True)
class Snapshot:
    """The raw figures of one second, kept for metrics and the consultation record."""

    in_kbps: float = 0.0
    video_in_kbps: float = 0.0
    out_kbps: float = 0.0
    loss_up: float = 0.0
    loss_down: float = 0.0
    up_estimate_kbps: float | None = None
    down_estimate_kbps: float | None = None
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    silence_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float | None]:
        return {
            "in_kbps": round(self.in_kbps, 1),
            "out_kbps": round(self.out_kbps, 1),
            "loss_up": round(self.loss_up, 3),
            "loss_down": round(self.loss_down, 3),
            "up_estimate_kbps": _r(self.up_estimate_kbps),
            "down_estimate_kbps": _r(self.down_estimate_kbps),
            "rtt_ms": _r(self.rtt_ms),
            "jitter_ms": _r(self.jitter_ms),
            "silence_s": round(self.silence_s, 2),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class LinkMeter:
    """Collects one leg's packet events; `sample()` turns the last second into a `LinkSample`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        start = clock()
        self._last_heard = start
        self._last_sample = start
        self._bytes_in = 0
        self._bytes_out = 0
        self._audio_in = 0
        self._audio_out = 0
        self._seq: dict[int, _SeqState] = {}
        self._reports: dict[int, _ReportState] = {}
        self._out_at: dict[str, float] = {}  # when each kind last went out
        self._resumed_at = float("-inf")  # when a kind last went out again after a pause
        self._lowered_at = float("-inf")  # when the load sent down last went down
        self._down_reported = False  # a report covered packets we sent, last second
        self._video_expected = True  # whether the participant's mode has it send video
        self._jitter_down_ms: list[float] = []
        self._up_estimate: tuple[float, float] | None = None  # (bps, at)
        self._down_estimate: tuple[float, float] | None = None
        self.rtt_ms: float | None = None
        self.last = Snapshot()

    # -- hooks (called on the event loop by the aiortc taps) ----------------------------------

    def heard(self) -> None:
        """A sign of life that is not a packet (the leg just connected)."""
        self._last_heard = self._clock()

    def silent_for(self) -> float:
        """Seconds since anything arrived from the participant, now (between samples)."""
        return max(0.0, self._clock() - self._last_heard)

    def on_rtp_in(self, packet: RtpPacket, arrival_ms: int = 0, kind: str = "video") -> None:
        now = self._last_heard = self._clock()
        size = len(packet.payload) + RTP_HEADER_BYTES + packet.padding_size + WIRE_OVERHEAD_BYTES
        self._bytes_in += size
        if kind == "audio":
            self._audio_in += size
        state = self._seq.get(packet.ssrc)
        if state is None:
            state = self._seq[packet.ssrc] = _SeqState()
            state.highest = state.base_highest = packet.sequence_number - 1
        ext = _extend(state.highest, packet.sequence_number)
        if now - state.last_at > RESUME_GAP_S and ext > state.highest + 1:
            # The stream resumes after a pause: what its source sent into the pause is gone
            # already and says nothing about the link now.
            state.base_highest += ext - 1 - state.highest
            state.highest = ext - 1
        state.last_at = now
        if ext > state.highest:
            state.highest = ext
        state.received += 1

    def on_rtcp_in(self, packet: AnyRtcpPacket, kind: str | None = None) -> None:
        now = self._last_heard = self._clock()
        for block in report_blocks(packet):
            heavier = self._covers_heavier_load(block.ssrc, now)
            first = block.ssrc not in self._reports
            skip = (
                self._spans_pause(block.ssrc, block.highest_sequence, now)
                or heavier
                or self._paused(kind, now)
            )
            log.debug(
                "report on %s %s: highest=%s lost=%s fraction=%s first=%s skipped=%s",
                kind,
                block.ssrc,
                block.highest_sequence,
                block.packets_lost,
                block.fraction_lost,
                first,
                skip,
            )
            state = self._reports[block.ssrc]
            state.last_highest, state.last_lost = block.highest_sequence, block.packets_lost
            if first or skip:
                state.base_highest, state.base_lost = state.last_highest, state.last_lost
                continue
            if kind in CLOCK_RATE:
                self._jitter_down_ms.append(block.jitter * 1000.0 / CLOCK_RATE[kind])
        remb = remb_of(packet)
        if remb is not None:
            self._down_estimate = (float(remb), self._clock())

    def on_uplink_estimate(self, bps: int) -> None:
        self._up_estimate = (float(bps), self._clock())

    def on_bytes_out(self, count: int, kind: str = "video") -> None:
        now = self._clock()
        last = self._out_at.get(kind)
        if last is not None and now - last > RESUME_GAP_S:
            self._resumed_at = now
        self._out_at[kind] = now
        self._bytes_out += count + RTP_HEADER_BYTES + WIRE_OVERHEAD_BYTES
        if kind == "audio":
            self._audio_out += count + RTP_HEADER_BYTES + WIRE_OVERHEAD_BYTES

    def _paused(self, kind: str | None, now: float) -> bool:
        """Whether we stopped sending the stream a report is about: what it says then is the
        tail of the load before the pause (the last packets of a flood, still in the
        bottleneck's queue when the leg stepped down, reported lost a second later: 50 % of 8
        packets read as a sound-only leg's loss in the mode-times bench)."""
        if kind is None:
            return False
        last = self._out_at.get(kind)
        return last is None or now - last > PAUSED_S

    def expect_video(self, expected: bool) -> None:
        """Whether the participant is to send video now (its mode carries video)."""
        self._video_expected = expected

    def lowered(self) -> None:
        """The leg now sends the participant less (a lower mode, or a probe given up)."""
        self._lowered_at = self._clock()

    def _covers_heavier_load(self, ssrc: int, now: float) -> bool:
        """Whether a receiver report's loss is that of the load before the last step down.

        A report's fraction lost covers the packets since the receiver's previous report on the
        stream, and browsers report audio only every few seconds (libwebrtc: ~5 s for audio,
        ~1 s for video). The first report after a step down then still counts the flood that
        caused it, and two such reports in a row (the video stream's, then the audio's) read as
        two seconds of 90 % loss in a sound-only leg carrying a fifth of the link: a step to
        text the link did not call for. Such a report is left out; the next one on the stream
        covers the new load only. Uplink loss is counted by the server itself per second, and
        is not affected.
        """
        state = self._reports.get(ssrc)
        # Packets sent just before the step arrive up to a round trip later (queue included).
        settled = self._lowered_at + (self.rtt_ms or 0.0) / 1000.0
        return state is not None and state.reported_at <= settled and self._lowered_at <= now

    def _spans_pause(self, ssrc: int, highest: int, now: float) -> bool:
        """Whether a receiver report's loss covers a pause of our stream (it is then skipped).

        When we stop sending a stream (a mode without video, or text-only) and resume it, the
        first report that sees new packets counts as lost everything we had sent into a cut or
        collapsed link before the pause. That is the past, not the probe that resumed the
        stream. A pause shows as a report that saw nothing new for `RESUME_GAP_S` while
        reports still got through, or, when the link was dead and no report got through, as
        the first one since we resumed sending after a pause.
        """
        state = self._reports.get(ssrc)
        if state is None:
            self._reports[ssrc] = _ReportState(highest, now, now)
            return False
        state.reported_at = now
        if highest <= state.highest:
            if now - state.advanced_at >= RESUME_GAP_S:
                state.stalled = True
            return False
        spans = state.stalled or (
            now - state.advanced_at >= RESUME_GAP_S and state.advanced_at < self._resumed_at
        )
        state.highest, state.advanced_at, state.stalled = highest, now, False
        return spans

    # -- the per-second sample ---------------------------------------------------------------

    def _uplink_loss(self) -> float:
        expected = received = 0
        for state in self._seq.values():
            expected += max(0, state.highest - state.base_highest)
            received += state.received - state.base_received
            state.base_highest = state.highest
            state.base_received = state.received
        if expected <= 0:
            return 0.0
        return max(0.0, min(1.0, (expected - received) / expected))

    def _downlink_loss(self) -> float:
        """Lost over expected packets of our streams, from the cumulative counts of the reports
        that came in this second. Not the reports' fraction lost: under loss a browser sends a
        compound report with every NACK, tens a second, each over the few packets since the
        previous one, so their fractions read 0 % or 50 % (1 of 2) and the worst of them said
        50-85 % on a link losing a fifth (the shaped-link browser test)."""
        expected = lost = 0
        for state in self._reports.values():
            e = state.last_highest - state.base_highest
            if e > 0:
                expected += e
                lost += max(0, min(e, state.last_lost - state.base_lost))
            state.base_highest, state.base_lost = state.last_highest, state.last_lost
        self._down_reported = expected > 0
        return lost / expected if expected else 0.0

    def _fresh(self, estimate: tuple[float, float] | None, now: float) -> float | None:
        if estimate is None or now - estimate[1] > ESTIMATE_TTL_S:
            return None
        return estimate[0] / 1000.0

    def sample(self) -> LinkSample:
        now = self._clock()
        span = max(now - self._last_sample, 1e-3)
        self._last_sample = now
        snap = Snapshot(
            in_kbps=self._bytes_in * 8 / 1000.0 / span,
            video_in_kbps=(self._bytes_in - self._audio_in) * 8 / 1000.0 / span,
            out_kbps=self._bytes_out * 8 / 1000.0 / span,
            loss_up=self._uplink_loss(),
            loss_down=self._downlink_loss(),
            up_estimate_kbps=self._fresh(self._up_estimate, now),
            down_estimate_kbps=self._fresh(self._down_estimate, now),
            rtt_ms=self.rtt_ms,
            jitter_ms=max(self._jitter_down_ms, default=None),
            silence_s=max(0.0, now - self._last_heard),
        )
        audio_in = self._audio_in * 8 / 1000.0 / span
        audio_out = self._audio_out * 8 / 1000.0 / span
        self._bytes_in = self._bytes_out = self._audio_in = self._audio_out = 0
        self._jitter_down_ms.clear()
        self.last = snap
        # Both estimates are REMBs of video receivers: they count video payload only, so the
        # audio flowing the same way and the headers are added. A REMB trails what is sent
        # (AIMD, with false "overuse" under CPU jitter), and what a direction delivered it has
        # shown it carries, lossy or not (under overflow, delivered is the link's capacity): a
        # direction's figure is the higher of the two. Without video that way the REMB is about
        # a paused stream: a browser keeps sending it, stuck at what it was when the video
        # stopped (5 kbit/s after a flood, seen in the shaped-link browser test), and a
        # sound-only leg judged on it fell to text. Then a lossy direction's figure is what it
        # delivered (the link's limit), and a clean one has none: what it delivered is only what
        # was sent, and as an estimate it would pin sound at its lowest rate for good. Each
        # comes with the rate that was pushed that way (the uplink's including what was lost),
        # so the policy can tell a refused load from a light one.
        sent_up = snap.in_kbps / max(1e-3, 1.0 - snap.loss_up)
        video_out = snap.out_kbps - audio_out
        directions = []
        for remb, audio, video, pushed, delivered, lost in (
            (
                snap.up_estimate_kbps,
                audio_in,
                snap.video_in_kbps,
                sent_up,
                snap.in_kbps,
                snap.loss_up,
            ),
            (
                snap.down_estimate_kbps,
                audio_out,
                video_out,
                snap.out_kbps,
                snap.out_kbps * (1.0 - snap.loss_down),
                snap.loss_down,
            ),
        ):
            if remb is None:
                continue
            if video > NO_VIDEO_KBPS:
                figure = max(delivered, remb * (1 + VIDEO_HEADER_SHARE) + audio)
            elif lost >= CLEAN_LOSS:
                figure = delivered
            else:
                continue
            directions.append((figure, pushed))
        available, pushed = min(directions) if directions else (None, snap.out_kbps)
        return LinkSample(
            t=now,
            available_kbps=available,
            loss=max(snap.loss_up, snap.loss_down),
            rtt_ms=snap.rtt_ms,
            jitter_ms=snap.jitter_ms,
            silence_s=snap.silence_s,
            sent_kbps=pushed,
            stray_kbps=0.0
            if self._video_expected or snap.video_in_kbps <= NO_VIDEO_KBPS
            else snap.video_in_kbps,
            reported=self._down_reported,
        )


def _extend(highest: int, seq: int) -> int:
    """Extend a 16-bit sequence number next to the highest one seen (RFC 3550 A.1)."""
    base = highest & ~0xFFFF
    candidate = base | seq
    if candidate < highest - 0x8000:
        candidate += 0x10000
    elif candidate > highest + 0x8000 and candidate >= 0x10000:
        candidate -= 0x10000
    return candidate

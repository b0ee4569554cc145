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

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.rtp import AnyRtcpPacket, RtpPacket

from media.aiortc_adapt import remb_of, report_blocks
from media.policy import LinkSample

# An estimate older than this no longer describes the link (nothing flows that direction).
ESTIMATE_TTL_S = 2.5
RTP_HEADER_BYTES = 12
# IPv4 + UDP + SRTP auth tag: what a packet costs on the wire beyond its RTP packet.
WIRE_OVERHEAD_BYTES = 20 + 8 + 10
# Headers of ~1,100-byte video packets, as a share of their payload.
VIDEO_HEADER_SHARE = 0.05
# A direction losing less than this delivered what it carried.
CLEAN_LOSS = 0.02
CLOCK_RATE = {"audio": 48000, "video": 90000}
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
    stalled: bool = False  # a report since then said nothing new had arrived for a while


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
        self._loss_down: list[float] = []
        self._reports: dict[int, _ReportState] = {}
        self._out_at: dict[str, float] = {}  # when each kind last went out
        self._resumed_at = float("-inf")  # when a kind last went out again after a pause
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
            if self._spans_pause(block.ssrc, block.highest_sequence, now):
                continue
            self._loss_down.append(block.fraction_lost / 256.0)
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
            self._reports[ssrc] = _ReportState(highest, now)
            return False
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
            loss_down=max(self._loss_down, default=0.0),
            up_estimate_kbps=self._fresh(self._up_estimate, now),
            down_estimate_kbps=self._fresh(self._down_estimate, now),
            rtt_ms=self.rtt_ms,
            jitter_ms=max(self._jitter_down_ms, default=None),
            silence_s=max(0.0, now - self._last_heard),
        )
        audio_in = self._audio_in * 8 / 1000.0 / span
        audio_out = self._audio_out * 8 / 1000.0 / span
        self._bytes_in = self._bytes_out = self._audio_in = self._audio_out = 0
        self._loss_down.clear()
        self._jitter_down_ms.clear()
        self.last = snap
        # Both estimates are REMBs of video receivers: they count video payload only, so the
        # audio flowing the same way and the headers are added. And a REMB trails what is sent
        # (AIMD, with false "overuse" under CPU jitter), while a direction that delivered a
        # rate without loss has shown it carries that rate: a clean direction's figure is the
        # higher of the two. Each comes with the rate that was pushed that way (the uplink's
        # including what was lost), so the policy can tell a refused load from a light one.
        sent_up = snap.in_kbps / max(1e-3, 1.0 - snap.loss_up)
        directions = []
        for remb, audio, pushed, delivered, lost in (
            (snap.up_estimate_kbps, audio_in, sent_up, snap.in_kbps, snap.loss_up),
            (snap.down_estimate_kbps, audio_out, snap.out_kbps, snap.out_kbps, snap.loss_down),
        ):
            if remb is None:
                continue
            figure = remb * (1 + VIDEO_HEADER_SHARE) + audio
            if lost < CLEAN_LOSS:
                figure = max(figure, delivered)
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

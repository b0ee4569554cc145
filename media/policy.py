"""Per-leg adaptation policy: from one leg's per-second link samples to a mode and encoder targets.

Pure and deterministic on purpose: no I/O, clock, randomness or aiortc here, so the same samples
always give the same decisions and the policy can be tested and benchmarked on recorded traces
(docs/media.md, "Adaptation policy"). The media leg measures, calls `AdaptationPolicy.update` once
a second and applies `Decision.targets`; announcing a change (`consult.mode`) is the caller's job.

The shape, in short:
- **Down fast, but not on one bad second.** Loss at or above the mode's threshold, or an estimate
  below what the mode needs, must last `degrade_hold_s` (2 s) before the mode drops; a rate
  collapse jumps straight to the highest mode the estimate still carries. A leg silent for
  `dead_after_s` (3 s) goes to text-only at once.
- **Up only after a probe.** After `climb_hold_s` of headroom (low loss, an estimate clearly above
  what is sent), the leg sends the next mode's targets for a probe; the mode is committed only if
  the probe shows no loss rise and an estimate that carries it. A failed probe — or a fall soon
  after a climb — backs off exponentially and lengthens the next probe, which is what keeps a
  flapping link from flapping the call. From text-only no media flows, so the way back starts
  from signs of life (packets and an RTT again) with an audio probe.
- **Loss against the leg's own baseline.** Rural links lose a few percent of packets at any
  rate; loss that does not grow with what is sent is not congestion. The policy keeps the
  median loss of the leg's recent uncongested seconds (`_Baseline`, bursts left out) and judges
  headroom, probe failures (on the probe's mean) and loss degrades against that baseline plus
  the binomial noise of a second's reading, never against a bare threshold the noise of one
  second crosses. The absolute limits still bound it: steady loss
  above a mode's ceiling (`loss_ceiling_video`, `loss_ceiling_audio`) is too much for that mode.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from media.events import Cause
from media.video_ladder import rung_at

__all__ = [
    "LADDER",
    "AdaptationPolicy",
    "Decision",
    "LinkSample",
    "Mode",
    "PolicyConfig",
    "Targets",
    "min_total_kbps",
    "min_wire_kbps",
    "targets_for",
]


class Mode(StrEnum):
    VIDEO_HIGH = "video-high"
    VIDEO_LOW = "video-low"
    AUDIO_ONLY = "audio-only"
    TEXT_ONLY = "text-only"


# Lowest first: a climb is one step up this ladder, a degrade one or more steps down.
LADDER: tuple[Mode, ...] = (Mode.TEXT_ONLY, Mode.AUDIO_ONLY, Mode.VIDEO_LOW, Mode.VIDEO_HIGH)
_RANK = {m: i for i, m in enumerate(LADDER)}


@dataclass(frozen=True, slots=True)
class LinkSample:
    """One second of one leg, as the measurement code sees it (see the issue, item 4)."""

    t: float  # seconds (monotonic), strictly increasing
    available_kbps: float | None  # min(receive-side estimate of the uplink, REMB for our downlink)
    loss: float  # 0..1, worst direction, over the last second
    rtt_ms: float | None
    jitter_ms: float | None
    silence_s: float  # seconds since any RTP/RTCP packet arrived from the participant
    sent_kbps: float  # what was pushed in the direction of `available_kbps` in the last second
    # Video still arriving from the participant although its mode carries none (kbit/s): its
    # sender has not yet obeyed the plan that followed a step down.
    stray_kbps: float = 0.0
    # A receiver report covering packets we sent reached us this second. Without one the
    # downlink's loss is unknown and `loss` holds the uplink's only: browsers report audio
    # every ~5 s, and a starved uplink loses the reports.
    reported: bool = True


@dataclass(frozen=True, slots=True)
class Targets:
    """Encoder targets for a mode: what the leg sends (or asks the source to send)."""

    video_kbps: int
    width: int
    height: int
    fps: int
    audio_kbps: int
    audio_fec: bool
    audio_dtx: bool
    audio_channels: int

    @property
    def total_kbps(self) -> int:
        """Codec rates, video + audio."""
        return self.video_kbps + self.audio_kbps

    @property
    def wire_kbps(self) -> int:
        """What the targets take on the link, audio packet headers included."""
        return self.total_kbps + audio_overhead_kbps(self.audio_kbps)


@dataclass(frozen=True, slots=True)
class Decision:
    mode: Mode  # committed mode
    probing: Mode | None  # higher mode being tried now (targets are its targets), else None
    targets: Targets  # what to send now
    changed: bool  # True on the sample where `mode` changed
    reason: str | None  # why, when changed
    cause: Cause | None = None  # the kind of `reason`, for metrics


# -- the mode table ----------------------------------------------------------------------------

# Share of the estimate the media may use: the rest is RTP/UDP/IP/SRTP headers, RTCP and slack,
# so that an estimate that is only just right does not fill the bottleneck queue.
USABLE_FRACTION = 0.9

# (min, max) codec kbit/s. Audio rides along in both video modes (mono Opus with in-band FEC);
# video-low stays around 100-150 kbit/s in total, as the issue asks. Video-high goes down to 180
# kbit/s of video once in it (entered at 425 in all), so that a link wandering around 300 kbit/s
# keeps its picture size instead of swapping modes (issue 14: switches); relayed video is the
# browser's encoder's, which follows the REMB that far down.
_AUDIO_ONLY_KBPS = (12, 24)
_VIDEO_LOW_KBPS, _VIDEO_LOW_AUDIO = (70, 126), 24
_VIDEO_HIGH_KBPS, _VIDEO_HIGH_AUDIO = (180, 1468), 32
# Used when the estimate is unknown: the mode's comfortable middle, never its maximum.
_VIDEO_HIGH_UNKNOWN = 600
# Audio costs more on the wire than its codec rate, and how much depends on the packet length
# the encoder is configured for. At 20 ms, 50 packets/s x ~50 bytes of IPv4/UDP/RTP/SRTP
# headers = 20 kbit/s, as much as the speech itself at the low end. At or below 24 kbit/s Opus
# (audio-only and video-low) every sender Relais configures sends 60 ms packets: its own encoder
# (`media/aiortc_adapt.py` `AdaptiveOpusEncoder.LONG_PACKET_BPS`) and browsers, told so by the
# server's answer (`media/answer_shaping.py`): 16.7 packets/s x ~64 bytes (aiortc's, the larger
# headers) = 9 kbit/s. Estimates count packets on the wire, so floors and budgets include it;
# video packets are large enough for their headers to fit in the USABLE_FRACTION slack.
AUDIO_PACKET_OVERHEAD_KBPS = 20
AUDIO_LONG_PACKET_OVERHEAD_KBPS = 9
AUDIO_LONG_PACKET_MAX_KBPS = 24


def audio_overhead_kbps(audio_kbps: int) -> int:
    """Header cost on the wire of Opus at `audio_kbps`, by the packet length it is sent in."""
    if audio_kbps <= 0:
        return 0
    if audio_kbps <= AUDIO_LONG_PACKET_MAX_KBPS:
        return AUDIO_LONG_PACKET_OVERHEAD_KBPS
    return AUDIO_PACKET_OVERHEAD_KBPS


AUDIO_PACKETS_PER_S = 50
VIDEO_PACKET_BYTES = 1100
# What the audio of a video mode takes on the wire (32 kbit/s Opus + headers, at most).
AUDIO_WIRE_KBPS = 32 + AUDIO_PACKET_OVERHEAD_KBPS


def _clamp(x: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, x)))


def min_total_kbps(mode: Mode) -> int:
    """The least codec rate (video + audio) of a mode; below it the mode is not worth having."""
    return {
        Mode.TEXT_ONLY: 0,
        Mode.AUDIO_ONLY: _AUDIO_ONLY_KBPS[0],
        Mode.VIDEO_LOW: _VIDEO_LOW_KBPS[0] + _VIDEO_LOW_AUDIO,
        Mode.VIDEO_HIGH: _VIDEO_HIGH_KBPS[0] + _VIDEO_HIGH_AUDIO,
    }[mode]


def min_wire_kbps(mode: Mode) -> int:
    """`min_total_kbps` on the wire (audio headers included)."""
    total = min_total_kbps(mode)
    return total + audio_overhead_kbps(targets_for(mode).audio_kbps) if total else 0


def targets_for(mode: Mode, available_kbps: float | None = None) -> Targets:
    """Targets of `mode`, scaled to the estimate when one is known.

    Within the mode's range the wire rate follows `USABLE_FRACTION` of the estimate, so the
    encoder tracks the link between mode changes; it never goes below the mode's minimum (the
    policy leaves the mode instead when the estimate stays below it).
    """
    if mode is Mode.TEXT_ONLY:
        return Targets(0, 0, 0, 0, 0, False, False, 0)
    audio_of_mode = {
        Mode.AUDIO_ONLY: _AUDIO_ONLY_KBPS[1],
        Mode.VIDEO_LOW: _VIDEO_LOW_AUDIO,
        Mode.VIDEO_HIGH: _VIDEO_HIGH_AUDIO,
    }[mode]
    budget = (
        None
        if available_kbps is None
        else max(0.0, available_kbps) * USABLE_FRACTION - audio_overhead_kbps(audio_of_mode)
    )
    if mode is Mode.AUDIO_ONLY:
        lo, hi = _AUDIO_ONLY_KBPS
        # Between the two: the most the budget carries, in steps of 4 kbit/s (a new rate is a
        # rebuild of the encoder, so not every second's wobble).
        audio = hi if budget is None else _clamp(budget // 4 * 4, lo, hi)
        return Targets(0, 0, 0, 0, audio, True, True, 1)
    if mode is Mode.VIDEO_LOW:
        lo, hi = _VIDEO_LOW_KBPS
        video = hi if budget is None else _clamp(budget - _VIDEO_LOW_AUDIO, lo, hi)
        pic = rung_at(video).target
        return Targets(video, pic.width, pic.height, pic.fps, _VIDEO_LOW_AUDIO, True, False, 1)
    lo, hi = _VIDEO_HIGH_KBPS
    video = _VIDEO_HIGH_UNKNOWN if budget is None else _clamp(budget - _VIDEO_HIGH_AUDIO, lo, hi)
    pic = rung_at(video).target
    return Targets(video, pic.width, pic.height, pic.fps, _VIDEO_HIGH_AUDIO, True, False, 1)


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyConfig:
    """Thresholds and hold times. Times are trace seconds (sample `t`), never wall time.

    The defaults are the product's. The thresholds an operator may have reason to move (the
    floors and climb margin, the loss limits and ceilings, the degrade hold, the dead-link time,
    the back-off cap) are server settings (`RELAIS_MEDIA_*`, server/settings.py, listed in
    docs/configuration.md) passed in through `MediaConfig`; the rest are the code's.
    """

    # Loss baseline: the median loss of the last `baseline_window` uncongested seconds with
    # media, trusted from `baseline_min_samples` of them; a burst above it counts only after
    # `baseline_persist_s` seconds in a row.
    baseline_window: int = 30
    baseline_min_samples: int = 8
    baseline_persist_s: int = 10
    # Steady loss at or above a mode's ceiling is too much for it, whatever the baseline: video
    # with NACK/FEC copes with ~10-15% random loss, Opus with in-band FEC with ~30-40%.
    loss_ceiling_video: float = 0.15
    loss_ceiling_audio: float = 0.40
    # Loss degrades only when it exceeds the baseline by this plus three noises (and reaches the
    # mode's absolute limit): steady loss the link always had does not degrade a mode.
    loss_excess: float = 0.05
    # Least estimate (kbit/s) that keeps each mode; below it for `degrade_hold_s` the mode is left.
    # Video floors are the mode's minimum wire rate over USABLE_FRACTION, rounded up. The audio
    # floor is 24: 12 kbit/s Opus in 60 ms packets is 21 kbit/s on the wire, and a link a little
    # short of it loses a few percent of packets, which in-band FEC covers; that beats dropping
    # to text. Climbs need floor x `climb_margin`, which for every mode covers the minimum wire
    # rate.
    floor_audio_kbps: float = 24.0
    floor_video_low_kbps: float = 130.0
    floor_video_high_kbps: float = 340.0
    # A probe commits only if the estimate reaches floor x this margin: a climb lands with room.
    climb_margin: float = 1.25
    # Loss that degrades a video mode by one step when it lasts `degrade_hold_s`.
    loss_degrade: float = 0.10
    # Audio-only goes to text above this: Opus in-band FEC + concealment stays intelligible to
    # about 10-20% random loss; beyond ~30% speech is lost either way.
    loss_degrade_audio: float = 0.30
    degrade_hold_s: float = 2.0
    # Loss that is not congestion (the estimate carries what is sent) takes sound to text only
    # when it lasts this long.
    audio_loss_hold_s: float = 5.0
    # How long a participant still sending the video of the mode it left is waited for.
    obey_grace_s: float = 3.0
    # How long loss from an overshoot (the estimate still carries the mode, the targets follow
    # it) is left to the rate before it counts against the mode.
    overshoot_grace_s: float = 3.0
    # A low estimate counts as a collapse only if it is below this share of what was pushed
    # (otherwise the sender, not the link, limited it).
    congested_share: float = 0.9
    # No packet at all for this long: dead link, text-only at once. Under 3 s so that, with the
    # call's 0.1 s silence watch between samples (media/call.py), a dead link is announced
    # within 3 s.
    dead_after_s: float = 2.8
    # Headroom: loss at most this, no congestion, for `climb_hold_s`, before a probe starts.
    headroom_loss: float = 0.02
    climb_hold_s: float = 2.0
    # Probe length; each recent failure of that mode adds `probe_extra_s`, up to `probe_max_s`,
    # so a link that is good in short bursts cannot pass a probe.
    probe_s: float = 2.0
    probe_extra_s: float = 1.0
    probe_max_s: float = 4.0
    # A clean probe whose estimate still grows by `probe_ramp_gain` per sample may run this long.
    probe_ramp_max_s: float = 10.0
    probe_ramp_gain: float = 1.02
    # An audio probe no receiver report has told yet waits this long for one (a video probe
    # waits `probe_ramp_max_s`: video is reported every second). An audio probe (from
    # text-only) is told only by the reports on our sound, which browsers send every 5 s
    # randomised over 2.5-7.5 s (libwebrtc's audio interval), and the first one after the
    # stream resumed is left out (it spans the pause: media/measure.py): the first that counts
    # can come 15 s into the probe. Failing it at `probe_ramp_max_s` failed about one probe in
    # six on a clean link, and each such failure lengthened the back-off a restored link then
    # waited out before sound came back. The uplink half still fails the probe at once on a
    # clear overflow, and a silent participant within a second.
    probe_report_wait_s: float = 16.0
    # A probe fails as soon as loss exceeds the loss before it by more than this.
    probe_loss_rise: float = 0.03
    # Signs of life in text-only: a packet within this long and an RTT, for `life_hold_s`.
    life_silence_s: float = 1.0
    life_hold_s: float = 1.0
    # After the n-th failure of a mode, the next probe of it waits base (n <= 2: a dip's first
    # two failures must not delay the restore past 10 s), then base x 2^(n-2), at most max.
    # The cap bounds what probing costs a starved link: a probe of the next mode's load into a
    # link that cannot carry it loses a second of media, so at most one such second per 30 s
    # (at 12 s, a patient on a 60 kbit/s link heard a glitch every 12 s, 8 % of the call).
    # The price is a restore after a long starvation: up to 30 s before the first probe.
    backoff_base_s: float = 4.0
    backoff_max_s: float = 30.0
    # A degrade this soon after climbing into a mode counts as a failed probe of that mode; a
    # climb that lasts this long clears the mode's failures.
    unstable_s: float = 10.0

    def __post_init__(self) -> None:
        for mode in (Mode.AUDIO_ONLY, Mode.VIDEO_LOW, Mode.VIDEO_HIGH):
            if self.floor(mode) * USABLE_FRACTION < min_total_kbps(mode):
                raise ValueError(f"floor of {mode} is below what its targets need")
            if self.floor(mode) * self.climb_margin * USABLE_FRACTION < min_wire_kbps(mode):
                raise ValueError(f"a climb to {mode} would not carry its packets")
        if not (self.floor_audio_kbps < self.floor_video_low_kbps < self.floor_video_high_kbps):
            raise ValueError("mode floors must increase up the ladder")
        if self.climb_margin < 1.0:
            raise ValueError("climb_margin must be >= 1")
        for limit, ceiling in (
            (self.loss_degrade, self.loss_ceiling_video),
            (self.loss_degrade_audio, self.loss_ceiling_audio),
        ):
            if not 0.0 < limit <= ceiling <= 1.0:
                raise ValueError("loss limits must be above 0 and at most their ceiling, <= 1")
        if self.degrade_hold_s <= 0 or self.dead_after_s <= 0:
            raise ValueError("degrade_hold_s and dead_after_s must be positive")
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be >= backoff_base_s")

    def floor(self, mode: Mode) -> float:
        return {
            Mode.TEXT_ONLY: 0.0,
            Mode.AUDIO_ONLY: self.floor_audio_kbps,
            Mode.VIDEO_LOW: self.floor_video_low_kbps,
            Mode.VIDEO_HIGH: self.floor_video_high_kbps,
        }[mode]

    def stay_floor(self, mode: Mode) -> float:
        """The least estimate that keeps `mode` once in it: where its least targets still fit
        in the usable share (video-high: 180 kbit/s of video, 258 kbit/s in all), never above
        the floor a climb is judged on."""
        return min(self.floor(mode), min_wire_kbps(mode) / USABLE_FRACTION)

    def loss_limit(self, mode: Mode) -> float:
        return self.loss_degrade_audio if mode is Mode.AUDIO_ONLY else self.loss_degrade

    def loss_ceiling(self, mode: Mode) -> float:
        return self.loss_ceiling_audio if mode is Mode.AUDIO_ONLY else self.loss_ceiling_video


# -- the policy --------------------------------------------------------------------------------


@dataclass
class _Window:
    """A condition that has held since `since` (the start of the first sample's second)."""

    since: float | None = None
    worst: float = 0.0  # the value that best speaks for the condition over the window
    total: float = 0.0  # sum of value x weight over the window
    weight: float = 0.0

    def hold(self, start: float, value: float, better: bool, weight: float = 1.0) -> None:
        """Extend (or open) the window; `better` picks max (rates) or min (losses) as `worst`."""
        if self.since is None:
            self.since, self.worst, self.total, self.weight = start, value, 0.0, 0.0
        else:
            self.worst = max(self.worst, value) if better else min(self.worst, value)
        self.total += value * weight
        self.weight += weight

    @property
    def mean(self) -> float:
        return self.total / self.weight if self.weight > 0 else self.worst

    def clear(self) -> None:
        self.since = None

    def lasted(self, t: float) -> float:
        return 0.0 if self.since is None else t - self.since


@dataclass
class _Shortfall:
    """How far the seconds of a rate collapse fell short of what was pushed, pooled over their
    packets, and how much of it their loss explains (`AdaptationPolicy._refusal_proven`)."""

    short: float = 0.0  # sum of shortfall x packets
    by_loss: float = 0.0  # sum of min(shortfall, loss) x packets
    packets: float = 0.0

    def add(self, shortfall: float, loss: float, packets: float) -> None:
        self.short += shortfall * packets
        self.by_loss += min(shortfall, loss) * packets
        self.packets += packets

    def clear(self) -> None:
        self.short = self.by_loss = self.packets = 0.0

    def proven(self, allowed: float) -> bool:
        """The pooled shortfall exceeds `allowed` (the share loss may take on a link that
        refuses nothing), plus the binomial noise of the explained part at that level."""
        if self.packets <= 0:
            return False
        p = min(0.5, max(allowed, 0.0))
        explained = self.by_loss / self.short if self.short > 0 else 0.0
        noise = math.sqrt(p * (1.0 - p) / max(1.0, self.packets))
        return self.short / self.packets >= allowed + explained * noise


@dataclass
class _Probe:
    mode: Mode
    started: float  # t of the decision that started it
    length: float
    base_loss: float
    headroom: str  # what justified it, for the commit reason
    best_est: float = 0.0  # highest estimate seen during the probe (is it still ramping?)
    clean: bool = True  # every second of it had headroom (low loss, no congestion)
    loss_sum: float = 0.0
    seconds: int = 0  # seconds whose downlink loss a receiver report told
    up_loss_sum: float = 0.0
    up_seconds: int = 0  # seconds no report told: their loss is the uplink's alone


class _Baseline:
    """The leg's background loss: the median of its recent uncongested seconds.

    Its noise is not measured but known: a second's loss is lost packets out of that second's
    packets, so steady loss p over n packets reads p ± sqrt(p(1-p)/n). (A measured spread would
    be inflated by the very bursts the policy must still react to.) A second far above the
    level is a burst, not background, and is left out, unless such seconds go on for
    `persist` seconds in a row: then the link's background has moved and they count."""

    def __init__(self, window: int, min_samples: int, persist: int) -> None:
        self._losses: deque[float] = deque(maxlen=window)
        self._min = min_samples
        self._persist = persist
        self._high = 0
        self.level = 0.0
        self.trusted = False

    def add(self, loss: float, packets: float) -> None:
        if self.trusted and loss > self.level + max(BURST_MIN_LOSS, 4 * self.noise(packets)):
            self._high += 1
            if self._high < self._persist:
                return
        else:
            self._high = 0
        self._losses.append(loss)
        if len(self._losses) >= self._min:
            self.trusted = True
            self.level = statistics.median(self._losses)

    def noise(self, packets: float) -> float:
        """The standard deviation of one second's loss reading at this level."""
        p = min(0.5, max(self.level, 0.0))
        return math.sqrt(p * (1 - p) / max(1.0, packets))


# A probe whose source sent less than this share of the probe's rate was limited by the source
# (a still picture does not fill 400 kbit/s), not by the link.
SENDER_LIMITED = 0.8
# Sound-only's loss-based rate climbs by this each clean second.
SOUND_RATE_GAIN = 1.08
# A second this much above the baseline (or four noises, if more) is a burst.
BURST_MIN_LOSS = 0.05


# How far the uplink's loss alone, in seconds no report told, must rise over the reference to
# fail a probe (`_judge_probe`).
UPLINK_FAIL_RISE = 0.10


def packets_per_second(sent_kbps: float) -> float:
    """About how many packets a leg sending `sent_kbps` puts on the wire in a second: the audio's
    50 (20 ms, the worst case) plus the rest in ~1,100-byte video packets."""
    if sent_kbps <= 0:
        return 1.0
    video_kbps = max(0.0, sent_kbps - AUDIO_WIRE_KBPS)
    return AUDIO_PACKETS_PER_S + video_kbps * 1000 / 8 / VIDEO_PACKET_BYTES


@dataclass
class _Backoff:
    failures: int = 0
    marginal: int = 0  # failures that were not a flood in the first second
    not_before: float = float("-inf")


@dataclass
class _State:
    mode: Mode
    prev_t: float | None = None
    loss_bad: _Window = field(default_factory=_Window)
    rate_bad: _Window = field(default_factory=_Window)
    rate_short: _Shortfall = field(default_factory=_Shortfall)
    overshoot: _Window = field(default_factory=_Window)
    good: _Window = field(default_factory=_Window)
    probe: _Probe | None = None
    climbed_at: float | None = None  # t of the last climb into the current mode
    probe_ended: float | None = None  # t of the sample on which the last probe failed
    lowered_at: float | None = None  # t of the last step down
    rtt_s: float = 0.0  # the last known round trip
    probe_echo: bool = False  # the current sample covers a probe's load or its echo
    was_dead: bool = False  # fell from media to text-only on silence, not revived since
    backoff: dict[Mode, _Backoff] = field(default_factory=lambda: {m: _Backoff() for m in LADDER})
    switches: int = 0
    sound_kbps: float | None = None  # sound-only's loss-based rate, when it has no estimate
    baseline: _Baseline = field(default_factory=lambda: _Baseline(30, 8, 10))

    def clear_rate(self) -> None:
        """Forget a rate collapse in the making: its window and its pooled shortfall go together."""
        self.rate_bad.clear()
        self.rate_short.clear()


class _Change(NamedTuple):
    """A change of committed mode the policy decided, with its reason and the reason's kind."""

    mode: Mode
    reason: str
    cause: Cause


def _kbps(x: float) -> str:
    return f"{x:.0f}"


def _secs(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


class AdaptationPolicy:
    """The policy of one receiving leg; feed it that leg's samples in order."""

    def __init__(
        self, config: PolicyConfig = PolicyConfig(), start: Mode = Mode.VIDEO_HIGH
    ) -> None:
        self._cfg = config
        self._s = _State(mode=start)
        self._s.baseline = _Baseline(
            config.baseline_window, config.baseline_min_samples, config.baseline_persist_s
        )
        self._packets = float(AUDIO_PACKETS_PER_S)  # the last second's, for the loss noise

    @property
    def mode(self) -> Mode:
        return self._s.mode

    @property
    def switches(self) -> int:
        return self._s.switches

    @property
    def config(self) -> PolicyConfig:
        return self._cfg

    @property
    def background_loss(self) -> float:
        """The leg's steady loss, once known (0 before): loss at this level is the link's, at
        any rate, and no sign of congestion."""
        b = self._s.baseline
        return b.level if b.trusted else 0.0

    def update(self, sample: LinkSample) -> Decision:
        s = self._s
        if s.prev_t is not None and not sample.t > s.prev_t:
            raise ValueError(f"sample time {sample.t} does not follow {s.prev_t}")
        # A sample speaks for the second before it; the first one is assumed to cover 1 s.
        start = sample.t - 1.0 if s.prev_t is None else s.prev_t
        s.prev_t = sample.t
        loss = min(1.0, max(0.0, sample.loss))
        sample_est = sample.available_kbps
        est = None if sample_est is None else max(0.0, sample_est)
        self._packets = packets_per_second(sample.sent_kbps)

        self._settle(sample.t)
        # The second this sample covers followed a failed probe by less than a round trip: the
        # participant's sender obeys, and the receiver's reports arrive, a round trip later, so
        # on a 2G link at 800 ms the probe's flood still shows for a second after it ended.
        # What such a second shows judges the probe (already failed), not the mode below it.
        # (The probe's own seconds count: a collapse that starts during a probe must still be
        # answered within the hold.)
        if sample.rtt_ms is not None:
            s.rtt_s = sample.rtt_ms / 1000.0
        s.probe_echo = (
            s.probe is None
            and s.probe_ended is not None
            and sample.t - s.probe_ended <= round(s.rtt_s) + 1e-6
        )
        change = self._degrade(sample, start, loss, est)
        if change is None and s.probe is not None:
            change = self._judge_probe(sample, loss, est)
        if change is None and s.probe is None:
            self._maybe_probe(sample, start, loss, est)

        if change is not None:
            probe = s.probe
            self._commit(change.mode, sample.t)
            if probe is not None and probe.mode is change.mode and probe.clean:
                # A clean probe is headroom evidence for the mode it proved: it carried that
                # mode's load at floor x margin without loss or congestion. Counting its
                # seconds lets the next step be probed at once instead of after a fresh
                # `climb_hold_s` (two steps: 4 s less from audio-only to video-high).
                s.good.since = probe.started
                s.good.worst = est if est is not None else 0.0
        else:
            self._learn(sample, loss, est)
        if s.probe is not None:
            # A probe pushes what the mode must prove it gets (floor x margin): receive-side
            # estimates only rise to about what is sent, so probing at the mode's low end
            # could never show the margin.
            need = self._cfg.floor(s.probe.mode) * self._cfg.climb_margin
            targets = targets_for(s.probe.mode, max(est or 0.0, need))
        else:
            targets = targets_for(
                s.mode, est if est is not None else self._sound_rate(sample, loss)
            )
        return Decision(
            mode=s.mode,
            probing=None if s.probe is None else s.probe.mode,
            targets=targets,
            changed=change is not None,
            reason=None if change is None else change.reason,
            cause=None if change is None else change.cause,
        )

    def _sound_rate(self, sample: LinkSample, loss: float) -> float | None:
        """What sound-only sends when no estimate exists (no video flows, so no REMB): a rate
        from loss, the way loss-based controllers do it. Loss over the link's background is
        the link refusing the load, so the rate goes to what got through; a clean second lets
        it climb 8 %. Without it a 22 kbit/s link was sent 24 kbit/s Opus (33 on the wire),
        lost a third of it and went to text, where 12 kbit/s (21 on the wire) fits."""
        s, cfg = self._s, self._cfg
        if s.mode is not Mode.AUDIO_ONLY or sample.sent_kbps <= 0:
            s.sound_kbps = None
            return None
        if loss > self.background_loss + cfg.loss_excess + 2 * s.baseline.noise(self._packets):
            s.sound_kbps = sample.sent_kbps * (1.0 - loss)
        elif s.sound_kbps is not None and loss <= self._headroom_loss():
            s.sound_kbps *= SOUND_RATE_GAIN
            if s.sound_kbps >= targets_for(Mode.AUDIO_ONLY).wire_kbps / USABLE_FRACTION:
                s.sound_kbps = None  # the mode's full rate fits again
        return s.sound_kbps

    # -- loss judged against the baseline ------------------------------------------------------

    def loss_limit(self, mode: Mode) -> float:
        """Loss that degrades `mode`: its absolute limit, raised to baseline + excess + three
        noises on a link that always loses that much, never above the mode's ceiling. Before
        the baseline is known (a call's first seconds) the ceiling: a start on a link that always
        loses 8% must not read as a collapse; a real one shows in the rate as well."""
        cfg, b = self._cfg, self._s.baseline
        if not b.trusted:
            return cfg.loss_ceiling(mode)
        steady = b.level + cfg.loss_excess + 3 * b.noise(self._packets)
        return max(cfg.loss_limit(mode), min(cfg.loss_ceiling(mode), steady))

    def _refusal_proven(self) -> bool:
        """The seconds of a rate collapse, pooled, fell short of what was pushed by more than
        `congested_share` allows plus the leg's background loss, and, for the part of the
        shortfall that loss explains, by more than the pooled seconds' binomial noise (the loss
        rule's test: each second over, and the pool by more than its noise).

        Why: when the receive-side estimate has fallen under what gets through (aiortc's REMB
        cuts to 85 % of the incoming rate on each overuse it detects, from a keyframe's
        queueing or a busy event loop, and climbs back at ~8 %/s), a direction's figure is what
        it delivered (media/measure.py), and its shortfall is only that second's loss: steady
        5 % over the ~25 packets of a leg the collapsed estimate throttled reads 10-20 % one
        second in eight. Judged second by second, two such seconds running dropped a 1 Mbit/s
        call to video-low, then to sound (the shaped-link test, in CI). A shortfall no loss
        explains is the estimate's own word, and needs no margin; a link that refuses the load
        (a cut to 60 kbit/s under 450 pushed: 87 % short) is far past it either way."""
        return self._s.rate_short.proven(1.0 - self._cfg.congested_share + self.background_loss)

    def _headroom_loss(self) -> float:
        b = self._s.baseline
        return b.level + self._cfg.headroom_loss + 2 * b.noise(self._packets)

    def _probe_rise(self) -> float:
        return max(self._cfg.probe_loss_rise, 3 * self._s.baseline.noise(self._packets))

    def _learn(self, sample: LinkSample, loss: float, est: float | None) -> None:
        """Count this second in the baseline if it says something about background loss: media
        flowed, no probe was pushing, and the estimate shows no congestion."""
        cfg, s = self._cfg, self._s
        if (
            s.mode is Mode.TEXT_ONLY
            or s.probe is not None
            or sample.silence_s > cfg.life_silence_s
            or (est is not None and est < sample.sent_kbps * cfg.congested_share)
        ):
            return
        s.baseline.add(loss, self._packets)

    # -- steps ---------------------------------------------------------------------------------

    def _settle(self, t: float) -> None:
        """A climb that has lasted `unstable_s` is trusted again: its mode's failures clear,
        and those of the modes below it (a leg that passed through video-low on its way to
        a video-high that held has shown the link carries video-low too; keeping video-low's
        old failures would make the next recovery wait out their back-off)."""
        s = self._s
        if s.climbed_at is not None and t - s.climbed_at >= self._cfg.unstable_s:
            for mode in LADDER[: _RANK[s.mode] + 1]:
                s.backoff[mode] = _Backoff()
            s.climbed_at = None

    def _degrade(
        self, sample: LinkSample, start: float, loss: float, est: float | None
    ) -> _Change | None:
        cfg, s = self._cfg, self._s
        if sample.silence_s >= cfg.dead_after_s:
            # Only a link that died under media re-arms the fresh start on revival: in
            # text-only, a link that "dies" again is most often one our own probe flooded
            # (a starved link), and forgetting that probe's failure would probe it again at
            # once, every time, and starve the text channel too.
            s.was_dead = s.was_dead or s.mode is not Mode.TEXT_ONLY
            s.loss_bad.clear()
            s.clear_rate()
            if s.probe is not None:
                self._fail(s.probe.mode, sample.t)
            if s.mode is Mode.TEXT_ONLY:
                return None
            return _Change(
                Mode.TEXT_ONLY, f"no packets for {sample.silence_s:.1f} s", Cause.DEAD_LINK
            )
        if s.mode is Mode.TEXT_ONLY:
            return None

        if s.probe_echo:
            # Neither counts nor clears: a collapse that outlasts the probe shows after it.
            return None
        if (
            sample.stray_kbps > 0
            and s.lowered_at is not None
            and sample.t - s.lowered_at <= cfg.obey_grace_s + 1e-6
        ):
            # The participant still sends the video of the mode it left: the plan telling it
            # to stop travels over the socket of the link that just collapsed (TCP in back-off),
            # and a browser never goes under its ~30 kbit/s video floor on REMB alone. Until it
            # obeys, the uplink shows the old load, not this mode's (a sound-only leg on 60
            # kbit/s went to text on it, in the mode-times bench). Bounded: a sender that never
            # obeys is judged after `obey_grace_s`.
            return None
        limit = self.loss_limit(s.mode)
        # Hysteresis: a mode is entered at floor x climb_margin and left only below the least
        # estimate its least targets fit in (`stay_floor`). Between the two the targets follow
        # the estimate; a leg at the edge of video-high (recorded 3G at 330 kbit/s for 2 s)
        # no longer swaps resolution for it.
        need = cfg.stay_floor(s.mode)
        # During a probe the link is judged for the mode against the mode's own load: a link
        # that refuses the probe's extra (146 kbit/s of video-low pushed into a 22 kbit/s link
        # that carries sound) fails the probe, not the mode. A collapse that would refuse the
        # mode's load as well still counts from the probe's first second.
        sent = sample.sent_kbps
        if s.probe is not None:
            sent = min(sent, float(targets_for(s.mode, est).wire_kbps))
            if (
                loss >= limit
                and est is not None
                and sent * cfg.congested_share <= est < sample.sent_kbps * cfg.congested_share
            ):
                loss = 0.0  # the probe's overflow: the link refused the probe, not the mode
        # Loss from an overshoot: the link took less than was sent, but its estimate still
        # carries the mode. The targets follow the estimate from the next second on (within the
        # mode the encoder tracks the link), so that loss is for the rate to answer, not the
        # mode: on recorded 3G traces a capacity falling from 1,400 to 700 kbit/s over two
        # seconds lost 10-15 % each second and made video-high step down on a link that
        # carried it. Overshoot seconds neither count nor clear the loss window, for
        # `overshoot_grace_s`; loss that outlasts it (the sender did not follow) counts.
        if est is not None and need <= est < sent * cfg.congested_share:
            overshoot = True
            s.overshoot.hold(start, est, better=True)
        else:
            overshoot = False
            s.overshoot.clear()
        excused = overshoot and s.overshoot.lasted(sample.t) <= cfg.overshoot_grace_s + 1e-6
        if loss >= limit and not excused:
            s.loss_bad.hold(start, loss, better=False, weight=self._packets)
        elif loss < limit:
            s.loss_bad.clear()
        if est is not None and est < need:
            # A receive-side estimate tracks what is sent (REMB/AIMD: it cannot see far beyond
            # it), so a low one is evidence of a collapse only when it falls below what was
            # pushed: the link refused the load. A leg whose source sends little (the other
            # side's video is limited) has a low estimate and a fine link.
            if est < sent * cfg.congested_share:
                s.rate_bad.hold(start, est, better=True)
                s.rate_short.add(1.0 - est / sent, loss, self._packets)
        elif est is not None:
            s.clear_rate()  # an unknown estimate neither confirms nor clears a collapse

        hold = cfg.degrade_hold_s - 1e-6
        candidates: list[_Change] = []
        lasted = s.rate_bad.lasted(sample.t)
        if lasted >= hold and self._refusal_proven():
            # Land where a climb could have brought the leg (floor x margin): a mode the link
            # only just carries is left again at the first loss, and climbing back to it would
            # never pass its probe (2G at 150 kbit/s: video-low, 60 s of 13-20 % loss, sound).
            carried = max(
                (
                    m
                    for m in LADDER[: _RANK[s.mode]]
                    if cfg.floor(m) * cfg.climb_margin <= s.rate_bad.worst
                ),
                key=_RANK.__getitem__,
                default=Mode.TEXT_ONLY,
            )
            candidates.append(
                _Change(
                    carried,
                    f"rate {_kbps(s.rate_bad.worst)} kbit/s < {_kbps(need)} for {_secs(lasted)} s",
                    Cause.RATE,
                )
            )
        lasted = s.loss_bad.lasted(sample.t)
        # Each second of the window is over the limit, and so is their pooled loss by more than
        # its binomial noise: a second's loss is a few lost packets out of a few dozen in the
        # low modes (video-low: ~28 packets/s), and steady 5 % loss reads 10-16 % in two seconds
        # running often enough to drop a 1 Mbit/s call to sound (the shaped-link test at 5 %).
        pooled = s.loss_bad.mean
        margin = math.sqrt(limit * (1 - limit) / max(1.0, s.loss_bad.weight))
        if (
            s.mode is Mode.AUDIO_ONLY
            and (
                (est is not None and est >= sent * cfg.congested_share)
                # no estimate (no video flows): loss past the ceiling is a collapse
                or (est is None and pooled < cfg.loss_ceiling_audio)
            )
            and lasted < cfg.audio_loss_hold_s - 1e-6
        ):
            # Sound stops only on loss that is the link refusing it, or that lasts: text-only
            # does not lower a loss that does not grow with the rate, and sound costs ~30
            # kbit/s. A 2 s burst of 80 % loss on a 1 Mbit/s link dropped a call to text for
            # 22 s (its way back probes into the next bursts).
            lasted = 0.0
        if lasted >= hold and pooled >= limit + margin:
            candidates.append(
                _Change(
                    LADDER[_RANK[s.mode] - 1],
                    f"loss {pooled:.0%} >= {limit:.0%} for {_secs(lasted)} s",
                    Cause.LOSS,
                )
            )
        if not candidates:
            return None
        change = min(candidates, key=lambda c: _RANK[c.mode])
        if change.mode is Mode.TEXT_ONLY and s.mode in (Mode.VIDEO_HIGH, Mode.VIDEO_LOW):
            # Video first, then see: while video floods a collapsed link, its estimate and loss
            # say nothing about what audio alone would get. Audio-only judges that within
            # `degrade_hold_s`; only a dead link skips straight to text.
            change = change._replace(mode=Mode.AUDIO_ONLY)
        if s.probe is not None:
            self._fail(s.probe.mode, sample.t)
        if s.climbed_at is not None and sample.t - s.climbed_at < cfg.unstable_s:
            self._fail(s.mode, sample.t)  # we climbed into it too early: treat as a failed probe
        return change

    def _judge_probe(self, sample: LinkSample, loss: float, est: float | None) -> _Change | None:
        cfg, s = self._cfg, self._s
        probe = s.probe
        assert probe is not None
        # Against the baseline when there is one (the second before the probe is one noisy
        # draw), and on the probe's mean loss: one second over the line is noise, a flood shows
        # at once (twice the rise) and a real rise shows in the mean. Without a baseline, the
        # second before, but never above headroom: a probe from a media mode starts only at
        # headroom anyway, and in text-only the loss before the probe is that of a stream the
        # participant was told to stop and has not yet (its plan is late on the starved socket),
        # not the link's. Taking it as the reference let a probe commit sound at 32 % loss on a
        # 20 kbit/s link, whose overflow then starved the text channel for good (CI, stop 20).
        reference = (
            s.baseline.level if s.baseline.trusted else min(probe.base_loss, self._headroom_loss())
        )
        # The probe pushes the downlink; only a receiver report tells what that cost. Seconds
        # without one read no downlink loss, and judging a probe on them committed sound into
        # a 20 kbit/s link whose starved uplink lost every report (CI, stop 21).
        if sample.reported:
            probe.loss_sum += loss
            probe.seconds += 1
        else:
            probe.up_loss_sum += loss
            probe.up_seconds += 1
        rise = self._probe_rise()
        mean = probe.loss_sum / probe.seconds if probe.seconds else 0.0
        # A second no report told still tells the uplink's loss, and the probe loads the uplink
        # too (the participant is told to send the probed mode): the worst direction lost at
        # least that. A probe the uplink alone fails need not wait 10 s for a report to fail it
        # (into a 20 kbit/s link, audio probes from text-only ran 8-10 s at 22 % loss each).
        up_mean = probe.up_loss_sum / probe.up_seconds if probe.up_seconds else 0.0
        # ... but only on a clear overflow: a second's uplink is a few dozen audio packets, and
        # a sound stream that just resumed loses one or two of them on a clean link (6 % and
        # 12 % failed a probe after a 20 kbit/s cut had lifted, over and over, in CI).
        up_rise = max(2 * rise, UPLINK_FAIL_RISE)
        limit = self.loss_limit(probe.mode)  # the base may be a flooded link's
        flood = max(reference + 2 * rise, limit + 3 * s.baseline.noise(self._packets))
        if (
            sample.silence_s > cfg.life_silence_s
            or loss > flood
            or (probe.seconds >= 2 and (mean > reference + rise or mean >= limit))
            or (probe.up_seconds >= 2 and (up_mean > reference + up_rise or up_mean >= limit))
        ):
            # A probe flooded in its first second met a link far below the mode: that says
            # nothing about a link good in short bursts, so it does not lengthen the next probe.
            self._fail(probe.mode, sample.t, marginal=not (probe.seconds == 1 and loss > flood))
            return None
        if loss > self._headroom_loss() or (
            est is not None and est < sample.sent_kbps * cfg.congested_share
        ):
            probe.clean = False
        if sample.t - probe.started < probe.length - 1e-6:
            return None
        if probe.seconds == 0:
            # Nothing has told what the probe's load cost yet: wait for a report (for sound, two
            # of the browser's audio intervals, `probe_report_wait_s`; video is reported every
            # second); a link that loses every report fails it.
            wait = cfg.probe_ramp_max_s
            if probe.mode is Mode.AUDIO_ONLY:
                wait = max(wait, cfg.probe_report_wait_s)
            if sample.t - probe.started >= wait - 1e-6:
                self._fail(probe.mode, sample.t)
            return None
        if probe.seconds < 2 and (mean > reference + rise or mean >= limit):
            # One report told it (audio is reported every ~5 s): it covers all the packets
            # since the last one, not a second's noisy few, so its mean judges the probe.
            self._fail(probe.mode, sample.t)
            return None
        need = cfg.floor(probe.mode) * cfg.climb_margin
        # Receive-side estimators ramp up (aiortc's AIMD: ~8 %/s) and cannot run far ahead of
        # what is sent, so a clean probe whose estimate is still rising is given time, up to
        # `probe_ramp_max_s`, to show the link carries the mode.
        ramping = sample.t - probe.started < cfg.probe_ramp_max_s - 1e-6 and (
            est is None or est > probe.best_est * cfg.probe_ramp_gain
        )
        if est is not None:
            probe.best_est = max(probe.best_est, est)
        if est is None and probe.mode is not Mode.AUDIO_ONLY:
            if not ramping:
                self._fail(probe.mode, sample.t)  # nothing shows the link carries video
            return None
        if est is not None and est < need:
            # The probe pushed the mode's load and the link took all of it, cleanly: the source
            # had less to send than `need` (a still picture does not fill 400 kbit/s), and the
            # link carried what the mode gives. That is what the mode needs from the link.
            clean = loss <= self._headroom_loss() and est >= sample.sent_kbps * cfg.congested_share
            # ... and only if the source really sent less than the probe asked for: a load the
            # link took all of at the probe's rate is the link's limit, not a light source (at
            # 150 kbit/s with 10 % loss video-low committed at 146 kbit/s and fell back to
            # sound 90 s later, over and over).
            light = sample.sent_kbps < SENDER_LIMITED * targets_for(probe.mode, need).wire_kbps
            if clean and light and est >= cfg.floor(probe.mode) * 0.5:
                carried = f"sender-limited {_kbps(est)} kbit/s, no congestion, "
                return _Change(
                    probe.mode,
                    f"{probe.headroom}, probe ok ({carried}loss {loss:.0%})",
                    Cause.PROBE,
                )
            if not ramping:
                self._fail(probe.mode, sample.t)
            return None
        carried = "" if est is None else f"{_kbps(est)} >= {_kbps(need)} kbit/s, "
        return _Change(
            probe.mode, f"{probe.headroom}, probe ok ({carried}loss {loss:.0%})", Cause.PROBE
        )

    def _maybe_probe(
        self, sample: LinkSample, start: float, loss: float, est: float | None
    ) -> None:
        cfg, s = self._cfg, self._s
        if s.mode is Mode.VIDEO_HIGH:
            return
        if s.mode is Mode.TEXT_ONLY:
            alive = sample.silence_s <= cfg.life_silence_s and sample.rtt_ms is not None
            hold = cfg.life_hold_s
            if alive and s.was_dead:
                # The link died and came back: the failures before say nothing about the link
                # now (often another path), and waiting out their back-off is what made a
                # restored link take ~28 s to reach video again. Probing still starts low.
                s.was_dead = False
                s.backoff = {m: _Backoff() for m in LADDER}
        else:
            # Headroom is a clean, uncongested link: receive-side estimates trail what is sent
            # (and in audio-only there is none: they are the video receivers'), so they cannot
            # show room above the current mode; the probe, which pushes the next mode's load,
            # is what shows it.
            nxt_mode = LADDER[_RANK[s.mode] + 1]
            alive = (
                loss <= self._headroom_loss()
                # a link that always loses more than the next mode bears is no headroom for it
                and s.baseline.level + cfg.loss_excess <= cfg.loss_ceiling(nxt_mode)
                and sample.silence_s <= cfg.life_silence_s
                and (est is None or est >= sample.sent_kbps * cfg.congested_share)
            )
            hold = cfg.climb_hold_s
        if not alive:
            s.good.clear()
            return
        s.good.hold(start, est if est is not None else 0.0, better=False)
        lasted = s.good.lasted(sample.t)
        nxt = LADDER[_RANK[s.mode] + 1]
        backoff = s.backoff[nxt]
        if lasted < hold - 1e-6 or sample.t < backoff.not_before:
            return
        if s.mode is Mode.TEXT_ONLY:
            why = f"signs of life for {_secs(lasted)} s"
        else:
            why = f"headroom {_kbps(s.good.worst)} kbit/s for {_secs(lasted)} s"
        length = min(cfg.probe_max_s, cfg.probe_s + cfg.probe_extra_s * backoff.marginal)
        s.probe = _Probe(nxt, sample.t, length, loss, why)
        s.good.clear()

    def _fail(self, mode: Mode, t: float, marginal: bool = True) -> None:
        cfg, s = self._cfg, self._s
        b = s.backoff[mode]
        b.failures += 1
        b.marginal += marginal
        b.not_before = t + min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** max(0, b.failures - 2))
        if s.probe is not None and s.probe.mode is mode:
            s.probe = None
            s.probe_ended = t
            # The participant was told to send the probed mode and is now told to stop: like
            # after a step down, what it still sends of the probe until the plan reaches it (over
            # the socket of the link the probe just flooded) is not the mode's load. Without
            # this, a failed video probe's stray video judged a sound-only leg on a 60 kbit/s
            # link and dropped it to text (the shaped-link browser test, in CI).
            s.lowered_at = t

    def _commit(self, mode: Mode, t: float) -> None:
        s = self._s
        climbing = _RANK[mode] > _RANK[s.mode]
        s.mode = mode
        s.switches += 1
        s.probe = None
        s.lowered_at = None if climbing else t
        s.climbed_at = t if climbing else None
        s.loss_bad.clear()
        s.clear_rate()
        s.overshoot.clear()
        s.good.clear()

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

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
        return self.total_kbps + (AUDIO_PACKET_OVERHEAD_KBPS if self.audio_kbps else 0)


@dataclass(frozen=True, slots=True)
class Decision:
    mode: Mode  # committed mode
    probing: Mode | None  # higher mode being tried now (targets are its targets), else None
    targets: Targets  # what to send now
    changed: bool  # True on the sample where `mode` changed
    reason: str | None  # why, when changed


# -- the mode table ----------------------------------------------------------------------------

# Share of the estimate the media may use: the rest is RTP/UDP/IP/SRTP headers, RTCP and slack,
# so that an estimate that is only just right does not fill the bottleneck queue.
USABLE_FRACTION = 0.9

# (min, max) codec kbit/s. Audio rides along in both video modes (mono Opus with in-band FEC);
# video-low stays around 100-150 kbit/s in total, as the issue asks; the VP8 floor of video-high
# is about what aiortc's own encoder would accept (it clamps at 250 kbit/s).
_AUDIO_ONLY_KBPS = (16, 24)
_VIDEO_LOW_KBPS, _VIDEO_LOW_AUDIO = (70, 126), 24
_VIDEO_HIGH_KBPS, _VIDEO_HIGH_AUDIO = (250, 1468), 32
# Used when the estimate is unknown: the mode's comfortable middle, never its maximum.
_VIDEO_HIGH_UNKNOWN = 600
# Audio costs more on the wire than its codec rate: 50 packets/s (20 ms Opus frames, as browsers
# send) x ~50 bytes of IPv4/UDP/RTP/SRTP headers = 20 kbit/s, as much as the speech itself at
# the low end. Estimates count packets on the wire, so floors and budgets include it; video
# packets are large enough for their headers to fit in the USABLE_FRACTION slack. Our own
# encoder sends 60 ms packets at audio-only rates (~7 kbit/s of headers), but a leg relays
# whichever source it features: the policy assumes the browser's worst case.
AUDIO_PACKET_OVERHEAD_KBPS = 20


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
    return total + AUDIO_PACKET_OVERHEAD_KBPS if total else 0


def targets_for(mode: Mode, available_kbps: float | None = None) -> Targets:
    """Targets of `mode`, scaled to the estimate when one is known.

    Within the mode's range the wire rate follows `USABLE_FRACTION` of the estimate, so the
    encoder tracks the link between mode changes; it never goes below the mode's minimum (the
    policy leaves the mode instead when the estimate stays below it).
    """
    budget = (
        None
        if available_kbps is None
        else max(0.0, available_kbps) * USABLE_FRACTION - AUDIO_PACKET_OVERHEAD_KBPS
    )
    if mode is Mode.TEXT_ONLY:
        return Targets(0, 0, 0, 0, 0, False, False, 0)
    if mode is Mode.AUDIO_ONLY:
        lo, hi = _AUDIO_ONLY_KBPS
        audio = hi if budget is None or budget >= hi else lo
        return Targets(0, 0, 0, 0, audio, True, True, 1)
    if mode is Mode.VIDEO_LOW:
        lo, hi = _VIDEO_LOW_KBPS
        video = hi if budget is None else _clamp(budget - _VIDEO_LOW_AUDIO, lo, hi)
        w, h, fps = (320, 240, 15) if video >= 100 else (320, 180, 10)
        return Targets(video, w, h, fps, _VIDEO_LOW_AUDIO, True, False, 1)
    lo, hi = _VIDEO_HIGH_KBPS
    video = _VIDEO_HIGH_UNKNOWN if budget is None else _clamp(budget - _VIDEO_HIGH_AUDIO, lo, hi)
    if video >= 700:
        w, h, fps = 640, 480, 30
    elif video >= 400:
        w, h, fps = 480, 360, 25
    else:
        w, h, fps = 320, 240, 25
    return Targets(video, w, h, fps, _VIDEO_HIGH_AUDIO, True, False, 1)


# -- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyConfig:
    """Thresholds and hold times. Times are trace seconds (sample `t`), never wall time."""

    # Least estimate (kbit/s) that keeps each mode; below it for `degrade_hold_s` the mode is left.
    # Video floors are the mode's minimum wire rate over USABLE_FRACTION, rounded up. The audio
    # floor is lower (32 < 36/0.9): a link a little short of 16 kbit/s Opus + headers loses a
    # few percent of packets, which in-band FEC covers, and that beats dropping to text. Climbs
    # need floor x `climb_margin`, which for every mode covers the minimum wire rate.
    floor_audio_kbps: float = 32.0
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
    # A probe fails as soon as loss exceeds the loss before it by more than this.
    probe_loss_rise: float = 0.03
    # Signs of life in text-only: a packet within this long and an RTT, for `life_hold_s`.
    life_silence_s: float = 1.0
    life_hold_s: float = 1.0
    # After the n-th failure of a mode, the next probe of it waits base x 2^(n-1), at most max.
    backoff_base_s: float = 4.0
    backoff_max_s: float = 12.0
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

    def floor(self, mode: Mode) -> float:
        return {
            Mode.TEXT_ONLY: 0.0,
            Mode.AUDIO_ONLY: self.floor_audio_kbps,
            Mode.VIDEO_LOW: self.floor_video_low_kbps,
            Mode.VIDEO_HIGH: self.floor_video_high_kbps,
        }[mode]

    def loss_limit(self, mode: Mode) -> float:
        return self.loss_degrade_audio if mode is Mode.AUDIO_ONLY else self.loss_degrade


# -- the policy --------------------------------------------------------------------------------


@dataclass
class _Window:
    """A condition that has held since `since` (the start of the first sample's second)."""

    since: float | None = None
    worst: float = 0.0  # the value that best speaks for the condition over the window

    def hold(self, start: float, value: float, better: bool) -> None:
        """Extend (or open) the window; `better` picks max (rates) or min (losses) as `worst`."""
        if self.since is None:
            self.since, self.worst = start, value
        else:
            self.worst = max(self.worst, value) if better else min(self.worst, value)

    def clear(self) -> None:
        self.since = None

    def lasted(self, t: float) -> float:
        return 0.0 if self.since is None else t - self.since


@dataclass
class _Probe:
    mode: Mode
    started: float  # t of the decision that started it
    length: float
    base_loss: float
    headroom: str  # what justified it, for the commit reason
    best_est: float = 0.0  # highest estimate seen during the probe (is it still ramping?)
    clean: bool = True  # every second of it had headroom (low loss, no congestion)


@dataclass
class _Backoff:
    failures: int = 0
    not_before: float = float("-inf")


@dataclass
class _State:
    mode: Mode
    prev_t: float | None = None
    loss_bad: _Window = field(default_factory=_Window)
    rate_bad: _Window = field(default_factory=_Window)
    good: _Window = field(default_factory=_Window)
    probe: _Probe | None = None
    climbed_at: float | None = None  # t of the last climb into the current mode
    was_dead: bool = False  # fell from media to text-only on silence, not revived since
    backoff: dict[Mode, _Backoff] = field(default_factory=lambda: {m: _Backoff() for m in LADDER})
    switches: int = 0


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

    @property
    def mode(self) -> Mode:
        return self._s.mode

    @property
    def switches(self) -> int:
        return self._s.switches

    @property
    def config(self) -> PolicyConfig:
        return self._cfg

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

        self._settle(sample.t)
        change = self._degrade(sample, start, loss, est)
        if change is None and s.probe is not None:
            change = self._judge_probe(sample, loss, est)
        if change is None and s.probe is None:
            self._maybe_probe(sample, start, loss, est)

        if change is not None:
            new_mode, reason = change
            probe = s.probe
            self._commit(new_mode, sample.t)
            if probe is not None and probe.mode is new_mode and probe.clean:
                # A clean probe is headroom evidence for the mode it proved: it carried that
                # mode's load at floor x margin without loss or congestion. Counting its
                # seconds lets the next step be probed at once instead of after a fresh
                # `climb_hold_s` (two steps: 4 s less from audio-only to video-high).
                s.good.since = probe.started
                s.good.worst = est if est is not None else 0.0
        else:
            reason = None
        if s.probe is not None:
            # A probe pushes what the mode must prove it gets (floor x margin): receive-side
            # estimates only rise to about what is sent, so probing at the mode's low end
            # could never show the margin.
            need = self._cfg.floor(s.probe.mode) * self._cfg.climb_margin
            targets = targets_for(s.probe.mode, max(est or 0.0, need))
        else:
            targets = targets_for(s.mode, est)
        return Decision(
            mode=s.mode,
            probing=None if s.probe is None else s.probe.mode,
            targets=targets,
            changed=change is not None,
            reason=reason,
        )

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
    ) -> tuple[Mode, str] | None:
        cfg, s = self._cfg, self._s
        if sample.silence_s >= cfg.dead_after_s:
            # Only a link that died under media re-arms the fresh start on revival: in
            # text-only, a link that "dies" again is most often one our own probe flooded
            # (a starved link), and forgetting that probe's failure would probe it again at
            # once, every time, and starve the text channel too.
            s.was_dead = s.was_dead or s.mode is not Mode.TEXT_ONLY
            s.loss_bad.clear()
            s.rate_bad.clear()
            if s.probe is not None:
                self._fail(s.probe.mode, sample.t)
            if s.mode is Mode.TEXT_ONLY:
                return None
            return Mode.TEXT_ONLY, f"no packets for {sample.silence_s:.1f} s"
        if s.mode is Mode.TEXT_ONLY:
            return None

        limit = cfg.loss_limit(s.mode)
        if loss >= limit:
            s.loss_bad.hold(start, loss, better=False)
        else:
            s.loss_bad.clear()
        need = cfg.floor(s.mode)
        if est is not None and est < need:
            # A receive-side estimate tracks what is sent (REMB/AIMD: it cannot see far beyond
            # it), so a low one is evidence of a collapse only when it falls below what was
            # pushed: the link refused the load. A leg whose source sends little (the other
            # side's video is limited) has a low estimate and a fine link.
            if est < sample.sent_kbps * cfg.congested_share:
                s.rate_bad.hold(start, est, better=True)
        elif est is not None:
            s.rate_bad.clear()  # an unknown estimate neither confirms nor clears a collapse

        hold = cfg.degrade_hold_s - 1e-6
        candidates: list[tuple[Mode, str]] = []
        lasted = s.rate_bad.lasted(sample.t)
        if lasted >= hold:
            carried = max(
                (m for m in LADDER[: _RANK[s.mode]] if cfg.floor(m) <= s.rate_bad.worst),
                key=_RANK.__getitem__,
                default=Mode.TEXT_ONLY,
            )
            candidates.append(
                (
                    carried,
                    f"rate {_kbps(s.rate_bad.worst)} kbit/s < {_kbps(need)} for {_secs(lasted)} s",
                )
            )
        lasted = s.loss_bad.lasted(sample.t)
        if lasted >= hold:
            candidates.append(
                (
                    LADDER[_RANK[s.mode] - 1],
                    f"loss {s.loss_bad.worst:.0%} >= {limit:.0%} for {_secs(lasted)} s",
                )
            )
        if not candidates:
            return None
        target, reason = min(candidates, key=lambda c: _RANK[c[0]])
        if target is Mode.TEXT_ONLY and s.mode in (Mode.VIDEO_HIGH, Mode.VIDEO_LOW):
            # Video first, then see: while video floods a collapsed link, its estimate and loss
            # say nothing about what audio alone would get. Audio-only judges that within
            # `degrade_hold_s`; only a dead link skips straight to text.
            target = Mode.AUDIO_ONLY
        if s.probe is not None:
            self._fail(s.probe.mode, sample.t)
        if s.climbed_at is not None and sample.t - s.climbed_at < cfg.unstable_s:
            self._fail(s.mode, sample.t)  # we climbed into it too early: treat as a failed probe
        return target, reason

    def _judge_probe(
        self, sample: LinkSample, loss: float, est: float | None
    ) -> tuple[Mode, str] | None:
        cfg, s = self._cfg, self._s
        probe = s.probe
        assert probe is not None
        if (
            sample.silence_s > cfg.life_silence_s
            or loss > probe.base_loss + cfg.probe_loss_rise
            or loss >= cfg.loss_limit(probe.mode)  # the base may be a flooded link's
        ):
            self._fail(probe.mode, sample.t)
            return None
        if loss > cfg.headroom_loss or (
            est is not None and est < sample.sent_kbps * cfg.congested_share
        ):
            probe.clean = False
        if sample.t - probe.started < probe.length - 1e-6:
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
            clean = loss <= cfg.headroom_loss and est >= sample.sent_kbps * cfg.congested_share
            if clean and est >= cfg.floor(probe.mode) * 0.5:
                carried = f"sender-limited {_kbps(est)} kbit/s, no congestion, "
                return probe.mode, f"{probe.headroom}, probe ok ({carried}loss {loss:.0%})"
            if not ramping:
                self._fail(probe.mode, sample.t)
            return None
        carried = "" if est is None else f"{_kbps(est)} >= {_kbps(need)} kbit/s, "
        return probe.mode, f"{probe.headroom}, probe ok ({carried}loss {loss:.0%})"

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
            alive = (
                loss <= cfg.headroom_loss
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
        length = min(cfg.probe_max_s, cfg.probe_s + cfg.probe_extra_s * backoff.failures)
        s.probe = _Probe(nxt, sample.t, length, loss, why)
        s.good.clear()

    def _fail(self, mode: Mode, t: float) -> None:
        cfg, s = self._cfg, self._s
        b = s.backoff[mode]
        b.failures += 1
        b.not_before = t + min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (b.failures - 1))
        if s.probe is not None and s.probe.mode is mode:
            s.probe = None

    def _commit(self, mode: Mode, t: float) -> None:
        s = self._s
        climbing = _RANK[mode] > _RANK[s.mode]
        s.mode = mode
        s.switches += 1
        s.probe = None
        s.climbed_at = t if climbing else None
        s.loss_bad.clear()
        s.rate_bad.clear()
        s.good.clear()

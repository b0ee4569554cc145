"""A deterministic model of one leg's link, to drive the adaptation policy in tests and benches.

It turns a capacity series (kbit/s, one value per second) and optional loss into the `LinkSample`
a real leg would measure each second, given what the policy told the leg to send the second
before — a closed loop, because what a leg can measure depends on what it sends. The model:

- **sent_kbps** is the wire rate of the targets the leg followed during the second (codec rates
  plus audio packet headers, `Targets.wire_kbps`; 0 in text-only).
- **loss** is the scheduled random loss plus overflow: when more is sent than the link carries,
  the excess is dropped, `1 - capacity / sent` (a tail-drop bottleneck at steady state).
- **available_kbps** is `min(capacity, max(1.5 x delivered + 10, 50))`. Receive-side estimators
  (REMB/GCC delay-based, aiortc's own) only learn from the packets they see: libwebrtc's AIMD
  controller caps its estimate near 1.5 x the acknowledged rate + 10 kbit/s, so a leg sending
  24 kbit/s of audio cannot "see" 1 Mbit/s of spare capacity. The 50 kbit/s floor stands for
  RTCP and ICE consent traffic, and for the start value estimators use before they have data.
  This is why the policy must probe to climb: nothing else reveals headroom.
- **silence_s** counts from the end of the last second in which the link carried anything
  (capacity >= `dead_below_kbps`): a dead link stops RTP and RTCP both ways. While dead, the
  estimate and RTT are unknown (no RTCP) and loss reads 0 (no receiver report arrives to say).
- **rtt_ms / jitter_ms** are a base value plus queueing when the link is overfull.

Only the downlink to the participant is modelled; its uplink shows up only through silence.
Randomness (loss noise, bursts) comes from a `random.Random` seeded by the caller, so a run is
reproducible. Recorded traces (`load_trace`) are the Pensieve/MMSys'13 3G traces kept in
tests/data/link-traces (their README gives the format and the licence).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from media.policy import LADDER, AdaptationPolicy, Decision, LinkSample, Mode, Targets, targets_for

__all__ = [
    "LinkModel",
    "Step",
    "bursty_loss",
    "collapse_latencies",
    "load_trace",
    "modes_seconds",
    "recovery_times",
    "simulate",
    "trace_files",
]

ESTIMATE_GAIN, ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS = 1.5, 10.0, 50.0


@dataclass
class LinkModel:
    """One leg's link over time; call `measure` once per second, in order."""

    capacity_kbps: Sequence[float]
    loss: Sequence[float] | float = 0.0  # scheduled random loss, per second or constant
    seed: int = 0
    loss_noise: float = 0.0  # up to this much extra random loss per second
    base_rtt_ms: float = 60.0
    dead_below_kbps: float = 1.0
    _rng: random.Random = field(init=False, repr=False)
    _last_packet: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __len__(self) -> int:
        return len(self.capacity_kbps)

    def measure(self, second: int, targets: Targets) -> LinkSample:
        """The sample at the end of `second` (t = second + 1) when the leg sent `targets`."""
        cap = max(0.0, float(self.capacity_kbps[second]))
        t = float(second + 1)
        scheduled = self.loss if isinstance(self.loss, float | int) else self.loss[second]
        noise = self._rng.uniform(0.0, self.loss_noise) if self.loss_noise > 0 else 0.0
        if cap < self.dead_below_kbps:
            return LinkSample(
                t=t,
                available_kbps=None,
                loss=0.0,
                rtt_ms=None,
                jitter_ms=None,
                silence_s=t - self._last_packet,
                sent_kbps=float(targets.wire_kbps),
            )
        self._last_packet = t
        sent = float(targets.wire_kbps)
        overflow = 1.0 - cap / sent if sent > cap else 0.0
        random_loss = min(1.0, float(scheduled) + noise)
        loss = 1.0 - (1.0 - overflow) * (1.0 - random_loss)
        delivered = min(sent, cap)
        estimate = min(
            cap, max(ESTIMATE_GAIN * delivered + ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS)
        )
        queueing = 300.0 * overflow  # a full bottleneck queue adds up to ~300 ms
        return LinkSample(
            t=t,
            available_kbps=estimate,
            loss=loss,
            rtt_ms=self.base_rtt_ms + queueing,
            jitter_ms=5.0 + queueing / 10,
            silence_s=0.0,
            sent_kbps=sent,
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One second of a simulated call: the link's capacity, what the leg measured, the decision."""

    capacity_kbps: float
    sample: LinkSample
    decision: Decision


def simulate(policy: AdaptationPolicy, link: LinkModel, seconds: int | None = None) -> list[Step]:
    """Run the closed loop: each second the leg sends the previous decision's targets."""
    targets = targets_for(policy.mode)
    steps: list[Step] = []
    for second in range(len(link) if seconds is None else seconds):
        sample = link.measure(second, targets)
        decision = policy.update(sample)
        steps.append(Step(float(link.capacity_kbps[second]), sample, decision))
        targets = decision.targets
    return steps


def bursty_loss(
    seconds: int,
    seed: int,
    *,
    start_p: float = 0.05,
    length: tuple[int, int] = (2, 6),
    level: tuple[float, float] = (0.12, 0.25),
    background: float = 0.0,
) -> list[float]:
    """A per-second loss series with random bursts (Gilbert-Elliott-like, seeded)."""
    rng = random.Random(seed)
    out: list[float] = []
    left, current = 0, 0.0
    for _ in range(seconds):
        if left == 0 and rng.random() < start_p:
            left, current = rng.randint(*length), rng.uniform(*level)
        if left > 0:
            out.append(current)
            left -= 1
        else:
            out.append(background)
    return out


def load_trace(path: Path, scale: float = 1.0) -> list[float]:
    """Capacity per second (kbit/s) from a trace file of `seconds<TAB>Mbit/s` lines.

    Samples are irregular and each holds until the next, so every second gets the time-weighted
    mean of the values in force during it; the last value holds to the end of its second.
    """
    points: list[tuple[float, float]] = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            points.append((float(parts[0]), float(parts[1]) * 1000.0 * scale))
    if not points:
        raise ValueError(f"{path}: no samples")
    points.sort()
    times = [p[0] for p in points]

    def value_at(x: float) -> float:
        return points[max(0, bisect.bisect_right(times, x) - 1)][1]

    out: list[float] = []
    for second in range(max(1, math.ceil(times[-1] - 1e-9))):
        lo, hi = float(second), float(second + 1)
        cuts = [lo, *(x for x in times if lo < x < hi), hi]
        out.append(sum(value_at(a) * (b - a) for a, b in itertools.pairwise(cuts)))
    return out


def trace_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.tsv"))


def modes_seconds(steps: Iterable[Step]) -> dict[str, int]:
    """Seconds spent in each committed mode."""
    out: dict[str, int] = {}
    for step in steps:
        out[step.decision.mode.value] = out.get(step.decision.mode.value, 0) + 1
    return out


# -- figures of a simulated run (tests and bench/adaptation_traces.py) --------------------------


def _loss_at(link: LinkModel, second: int) -> float:
    return float(link.loss if isinstance(link.loss, float | int) else link.loss[second])


def collapse_latencies(
    steps: Sequence[Step], link: LinkModel, policy: AdaptationPolicy, start: Mode
) -> list[float | None]:
    """Seconds from each sustained collapse to the mode change it calls for (None: missed).

    A collapse starts in the second where the link stops carrying the mode then in force
    (capacity under its floor and under what is sent, or scheduled loss at its loss limit) and
    lasts at least the degrade hold; it is answered by the first step down. A sample speaks for
    the second before it, so a change decided at step j (t = j + 1) after a collapse starting in
    second k took j + 1 - k seconds. After a step down, a link still short of the new mode is a
    new collapse.
    """
    cfg = policy.config
    hold = round(cfg.degrade_hold_s)
    out: list[float | None] = []
    pending: int | None = None
    was_short = False
    for k, step in enumerate(steps):
        before = steps[k - 1].decision.mode if k else start
        # The link stops carrying the mode when it is under the mode's floor *and* refuses the
        # load actually sent (the policy's congestion test): a link that carries all that is
        # sent at a slightly lower rate than the floor is not a collapse.
        refused = step.capacity_kbps < step.sample.sent_kbps * cfg.congested_share
        short = before is not Mode.TEXT_ONLY and (
            (step.capacity_kbps < cfg.floor(before) and refused)
            or _loss_at(link, k) >= cfg.loss_limit(before)
        )
        if pending is None and short and not was_short:
            pending = k
        was_short = short
        if pending is None:
            continue
        if step.decision.changed and LADDER.index(step.decision.mode) < LADDER.index(before):
            out.append(float(k + 1 - pending))
            pending, was_short = None, False
        elif not short:
            if k - pending >= hold:
                out.append(None)
            pending = None
    return out


def recovery_times(
    steps: Sequence[Step],
    link: LinkModel,
    policy: AdaptationPolicy,
    start: Mode,
    restored_kbps: float = 500.0,
) -> tuple[list[float], int]:
    """Seconds from each full restoration of the link to video-high, and how many were cut short.

    A restoration starts in the first second, while below video-high, where capacity reaches
    `restored_kbps` with under 2% loss; it is cut short if capacity falls under the video-high
    floor again before video-high is committed.
    """
    cfg = policy.config
    times: list[float] = []
    interrupted = 0
    begun: int | None = None
    for k, step in enumerate(steps):
        before = steps[k - 1].decision.mode if k else start
        if before is Mode.VIDEO_HIGH:
            begun = None
            continue
        cap, loss = step.capacity_kbps, _loss_at(link, k)
        if begun is None and cap >= restored_kbps and loss <= 0.02:
            begun = k
        elif begun is not None and (cap < cfg.floor(Mode.VIDEO_HIGH) or loss > 0.02):
            begun = None
            interrupted += 1
        if begun is not None and step.decision.mode is Mode.VIDEO_HIGH:
            times.append(float(k + 1 - begun))
            begun = None
    return times, interrupted

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
- **rtt_ms / jitter_ms** are a base value (`base_rtt_ms`, with `rtt_jitter_ms` of seeded random
  wander per second) plus queueing when the link is overfull (up to `queue_ms` a direction).
- **per-packet loss** (`packet_loss=True`): the scheduled random loss is a probability per
  packet, and the second's measured loss is drawn as a real receiver counts it, lost packets out
  of the second's packets (`packets_per_second`: ~50 for audio, plus ~1,100-byte video packets).
  A steady 5% then reads 0-12% from one second to the next, the noise a policy judging a single
  second against a fixed threshold trips on.

Rural radio links need more than that (issue 14), and each of these is off by default, so that
a model built with the original arguments gives the very same samples:

- **bursty loss** (`burst=GilbertElliott(...)`): a two-state channel stepped every 20 ms, each
  packet lost with its state's probability. Fading and handovers lose packets in runs, which a
  per-second average hides and a per-packet coin cannot make. It adds to the scheduled loss.
- **the uplink** (`up_capacity_kbps`, `up_loss`): the participant's sender, which the policy's
  targets also govern (told over signalling, it obeys a second late when the RTT is >= 500 ms),
  gets its own overflow loss and receive-side estimate, counted by the server every second. The
  sample takes the worse loss and the lower estimate, as media/measure.py does.
- **receiver reports** (`report_interval_s`, `audio_report_interval_s`, `report_loss`): the
  server learns downlink loss and the participant's estimate only from RTCP, sent every ~1 s
  while video flows and every ~5 s for audio alone (randomised 0.5-1.5 x, RFC 3550), carried
  by the uplink (so lost with it, and late by a one-way trip once that exceeds a second). A
  second with no report reads no downlink loss; the last estimate holds for 2.5 s.

Randomness (loss noise, bursts, RTT wander, report timing and loss) comes from `random.Random`s
seeded from `seed`, one per process so that turning one on leaves the others' draws unchanged,
and a run is reproducible. Recorded traces (`load_trace`) are the Pensieve/MMSys'13 3G traces
kept in tests/data/link-traces (their README gives the format and the licence).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from media.policy import (
    AUDIO_PACKETS_PER_S,
    LADDER,
    VIDEO_PACKET_BYTES,
    AdaptationPolicy,
    Decision,
    LinkSample,
    Mode,
    Targets,
    min_wire_kbps,
    targets_for,
)

__all__ = [
    "GilbertElliott",
    "LinkModel",
    "Step",
    "bursty_loss",
    "collapse_events",
    "collapse_latencies",
    "load_trace",
    "modes_seconds",
    "packets_per_second",
    "recovery_events",
    "recovery_times",
    "simulate",
    "trace_files",
]

ESTIMATE_GAIN, ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS = 1.5, 10.0, 50.0
# The Gilbert-Elliott channel changes state at most once per 20 ms: an audio packet's length,
# and about the coherence time of a slow-fading mobile channel.
GE_SLOTS_PER_S = 50
# media/measure.py ESTIMATE_TTL_S (not imported: that module pulls in aiortc).
ESTIMATE_TTL_S = 2.5
# From this RTT on, the participant's sender follows a new target a sample late (the signalling
# message and the sender's reaction take a good part of a second).
SIGNAL_LAG_RTT_MS = 500.0
# The least video rate of video-high: tells a video-high load from a video-low one.
_VIDEO_HIGH_MIN_KBPS = targets_for(Mode.VIDEO_HIGH, 0.0).video_kbps


@dataclass(frozen=True, slots=True)
class GilbertElliott:
    """A two-state (good/bad) loss channel: Markov steps every 20 ms slot.

    The mean loss alone does not say how a link hurts: 5% lost in 1-second runs every 20 s blanks
    video and trips loss holds, 5% spread evenly is concealed by FEC. The two transition
    probabilities set how often bursts come (1 / p_enter_bad slots apart on average) and how
    long they last (1 / p_leave_bad slots).
    """

    p_enter_bad: float  # per slot, good -> bad
    p_leave_bad: float  # per slot, bad -> good
    loss_good: float = 0.0  # per packet, in the good state
    loss_bad: float = 1.0  # per packet, in the bad state

    def __post_init__(self) -> None:
        if not (0.0 < self.p_enter_bad <= 1.0 and 0.0 < self.p_leave_bad <= 1.0):
            raise ValueError("transition probabilities must be in (0, 1]")
        if not (0.0 <= self.loss_good <= 1.0 and 0.0 <= self.loss_bad <= 1.0):
            raise ValueError("loss probabilities must be in [0, 1]")

    @property
    def bad_share(self) -> float:
        """The stationary share of time in the bad state."""
        return self.p_enter_bad / (self.p_enter_bad + self.p_leave_bad)

    @property
    def mean_loss(self) -> float:
        b = self.bad_share
        return (1.0 - b) * self.loss_good + b * self.loss_bad

    @property
    def mean_burst_s(self) -> float:
        """The mean time in the bad state, once entered."""
        return 1.0 / self.p_leave_bad / GE_SLOTS_PER_S

    def states(self, rng: random.Random, slots: int, bad: bool) -> list[bool]:
        """The next `slots` states (True: bad) of a channel now in state `bad`."""
        out: list[bool] = []
        for _ in range(slots):
            bad = rng.random() >= self.p_leave_bad if bad else rng.random() < self.p_enter_bad
            out.append(bad)
        return out

    def lost(self, rng: random.Random, states: Sequence[bool], packets: int) -> int:
        """How many of `packets`, spread evenly over the slots of `states`, are lost."""
        if packets <= 0 or not states:
            return 0
        n = len(states)
        lost = 0
        for i in range(packets):
            p = self.loss_bad if states[i * n // packets] else self.loss_good
            if p > 0.0 and rng.random() < p:
                lost += 1
        return lost


@dataclass(slots=True)
class _Report:
    """A receiver report in flight from the participant to the server."""

    made: int  # the second at whose end it was sent
    arrives: int  # the second in whose sample it shows
    loss: float | None  # None: it covers a heavier load than now, and is left out
    estimate_kbps: float


def _scheduled(loss: Sequence[float] | float, second: int) -> float:
    return float(loss if isinstance(loss, float | int) else loss[second])


def _rank(targets: Targets) -> int:
    """Where on the ladder a load is: a step down is what media/leg.py calls `lowered`."""
    if targets.wire_kbps <= 0:
        return 0
    if targets.video_kbps <= 0:
        return 1
    return 3 if targets.video_kbps >= _VIDEO_HIGH_MIN_KBPS else 2


@dataclass
class LinkModel:
    """One leg's link over time; call `measure` once per second, in order."""

    capacity_kbps: Sequence[float]  # downlink (server -> participant); both ways if no uplink
    loss: Sequence[float] | float = 0.0  # scheduled random loss, per second or constant
    seed: int = 0
    loss_noise: float = 0.0  # up to this much extra random loss per second
    base_rtt_ms: float = 60.0
    dead_below_kbps: float = 1.0
    packet_loss: bool = False  # draw each second's random loss packet by packet
    burst: GilbertElliott | None = None  # bursty loss on top of `loss`, both directions
    rtt_jitter_ms: float = 0.0  # the base RTT wanders by up to +- this, every second
    queue_ms: float = 300.0  # queueing delay of a full bottleneck, per direction
    up_capacity_kbps: Sequence[float] | None = None  # the uplink, modelled when given
    up_loss: Sequence[float] | float | None = None  # its scheduled loss (None: as `loss`)
    report_interval_s: int = 1  # receiver reports while video flows down
    audio_report_interval_s: int | None = None  # ... while audio alone does (None: as above)
    report_loss: float = 0.0  # chance a receiver report is lost, besides the uplink's loss
    # Whether a leg sending no video still gets an estimate (the first model's). A real leg's
    # estimates are video REMBs: without video its figure is what it delivered when the link
    # loses packets, and none when it is clean (media/measure.py).
    estimate_without_video: bool = True
    # A receive-side estimate fallen under what the link delivers (aiortc's REMB cuts to 85 % of
    # the incoming rate on each false overuse, from a keyframe's queueing or a busy event loop,
    # and climbs back at ~8 %/s; on a 1 Mbit/s link with 5 % loss it sat at 30-200 kbit/s for
    # tens of seconds in the shaped-link test). Video estimates are capped at this, and the
    # leg's figure is then what each direction delivered after its loss (media/measure.py).
    estimate_cap_kbps: float | None = None
    _rng: random.Random = field(init=False, repr=False)
    _rng_up: random.Random = field(init=False, repr=False)
    _rng_burst: random.Random = field(init=False, repr=False)
    _rng_rtt: random.Random = field(init=False, repr=False)
    _rng_report: random.Random = field(init=False, repr=False)
    _last_packet: float = field(init=False, default=0.0)
    _bad: bool = field(init=False, default=False)
    _wander: float = field(init=False, default=0.0)
    _prev_rtt: float | None = field(init=False, default=None)
    _prev_targets: Targets | None = field(init=False, default=None)
    _prev_rank: int | None = field(init=False, default=None)
    _lowered_at: int = field(init=False, default=-1)
    _due: int = field(init=False, default=0)
    _prev_interval: int = field(init=False, default=0)
    _covered_from: int = field(init=False, default=0)
    _pending: list[tuple[float, int]] = field(init=False, default_factory=list)
    _in_flight: list[_Report] = field(init=False, default_factory=list)
    _shown: _Report | None = field(init=False, default=None)
    _reported: bool = field(init=False, default=False)  # a report with a loss arrived
    _burst_loss: list[float] = field(init=False, default_factory=list)  # per measured second

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # str seeds hash deterministically (not through PYTHONHASHSEED).
        self._rng_up = random.Random(f"{self.seed}/up")
        self._rng_burst = random.Random(f"{self.seed}/burst")
        self._rng_rtt = random.Random(f"{self.seed}/rtt")
        self._rng_report = random.Random(f"{self.seed}/report")
        if self.burst is not None:
            self._bad = self._rng_burst.random() < self.burst.bad_share
        if not 0.0 <= self.rtt_jitter_ms < self.base_rtt_ms:
            raise ValueError("rtt_jitter_ms must be >= 0 and below base_rtt_ms")
        if self.up_capacity_kbps is not None and len(self.up_capacity_kbps) < len(self):
            raise ValueError("up_capacity_kbps is shorter than capacity_kbps")
        interval = self.audio_report_interval_s
        if self.report_interval_s < 1 or (interval is not None and interval < 1):
            raise ValueError("report intervals are whole seconds, at least 1")
        if not 0.0 <= self.report_loss <= 1.0:
            raise ValueError("report_loss must be in [0, 1]")

    def __len__(self) -> int:
        return len(self.capacity_kbps)

    # -- what the link was scheduled to do (the figures' reference, not what the leg sees) -----

    def capacity_at(self, second: int) -> float:
        """What the link carries both ways in `second`: the thinner direction."""
        down = float(self.capacity_kbps[second])
        if self.up_capacity_kbps is None:
            return down
        return min(down, float(self.up_capacity_kbps[second]))

    def steady_loss(self, second: int) -> float:
        """The random loss the link has in `second` whatever is sent: the worse direction's
        scheduled loss, with a burst channel's long-run mean on top (a burst itself is luck)."""
        loss = _scheduled(self.loss, second)
        if self.up_capacity_kbps is not None and self.up_loss is not None:
            loss = max(loss, _scheduled(self.up_loss, second))
        if self.burst is not None:
            loss = 1.0 - (1.0 - loss) * (1.0 - self.burst.mean_loss)
        return loss

    def loss_in(self, second: int) -> float:
        """The random loss the link had in `second` (once measured): `steady_loss`, but with
        the burst channel's actual share of bad time that second instead of its mean, so a
        figure can tell a second inside an 80 % burst from the link's usual seconds."""
        loss = self.steady_loss(second)
        if self.burst is None or second >= len(self._burst_loss):
            return loss
        base = 1.0 - (1.0 - loss) / (1.0 - self.burst.mean_loss)
        return 1.0 - (1.0 - base) * (1.0 - self._burst_loss[second])

    def dead_at(self, second: int) -> bool:
        """Nothing reaches the server: the link, or with an uplink modelled the uplink, is dead."""
        cap = (
            self.capacity_kbps[second]
            if self.up_capacity_kbps is None
            else self.up_capacity_kbps[second]
        )
        return max(0.0, float(cap)) < self.dead_below_kbps

    # -- the sample --------------------------------------------------------------------------

    def measure(self, second: int, targets: Targets) -> LinkSample:
        """The sample at the end of `second` (t = second + 1) when the leg sent `targets`."""
        cap = max(0.0, float(self.capacity_kbps[second]))
        t = float(second + 1)
        scheduled = _scheduled(self.loss, second)
        noise = self._rng.uniform(0.0, self.loss_noise) if self.loss_noise > 0 else 0.0
        states = self._advance_burst()
        prev_wander, self._wander = self._wander, self._next_wander()
        # The participant's sender is told the targets over signalling; on a long RTT it
        # follows a second late.
        lagging = self._prev_rtt is not None and self._prev_rtt >= SIGNAL_LAG_RTT_MS
        up_targets = self._prev_targets if lagging and self._prev_targets else targets
        self._prev_targets = targets
        rank = _rank(targets)
        if self._prev_rank is not None and rank < self._prev_rank:
            self._lowered_at = second
        self._prev_rank = rank
        self._prev_rtt = self.base_rtt_ms + self._wander
        if self.dead_at(second):
            self._lose_reports(second)
            return LinkSample(
                t=t,
                available_kbps=None,
                loss=0.0,
                rtt_ms=None,
                jitter_ms=None,
                silence_s=t - self._last_packet,
                sent_kbps=float(targets.wire_kbps),
                reported=False,
            )
        self._last_packet = t
        sent = float(targets.wire_kbps)
        overflow = 1.0 - cap / sent if sent > cap else 0.0
        random_loss = min(1.0, float(scheduled) + noise)
        n = packets_per_second(targets)
        if self.packet_loss and random_loss > 0:
            random_loss = sum(self._rng.random() < random_loss for _ in range(n)) / n
        loss = 1.0 - (1.0 - overflow) * (1.0 - random_loss)
        if self.burst is not None and sent > 0:
            loss = 1.0 - (1.0 - loss) * (1.0 - self.burst.lost(self._rng_burst, states, n) / n)
        delivered = min(sent, cap)
        estimate = min(
            cap, max(ESTIMATE_GAIN * delivered + ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS)
        )
        queueing = self.queue_ms * overflow  # a full bottleneck queue adds up to `queue_ms`
        directions: list[tuple[float, float]] = []
        up_lost = 0.0
        if self.up_capacity_kbps is not None:
            up_lost, up_estimate, up_sent, up_queueing = self._uplink(second, up_targets, states)
            figure = self._figure(up_estimate, up_targets, up_sent * (1.0 - up_lost), up_lost)
            if figure is not None:
                directions.append((figure, up_sent))
            queueing += up_queueing
        rtt = self.base_rtt_ms + self._wander + queueing
        self._prev_rtt = rtt
        down_loss, down_estimate = self._reports(second, loss, n, estimate, up_lost, rtt)
        if down_estimate is not None:
            figure = self._figure(down_estimate, targets, sent * (1.0 - down_loss), down_loss)
            if figure is not None:
                directions.append((figure, sent))
        available, pushed = min(directions) if directions else (None, sent)
        return LinkSample(
            t=t,
            available_kbps=available,
            loss=max(up_lost, down_loss),
            rtt_ms=rtt,
            # RFC 3550 jitter is one-way: half the RTT's move since the last second.
            jitter_ms=5.0 + abs(self._wander - prev_wander) / 2 + queueing / 10,
            silence_s=0.0,
            sent_kbps=pushed,
            reported=self._reported,
        )

    def _figure(
        self, estimate: float, targets: Targets, delivered: float, lost: float
    ) -> float | None:
        """A direction's estimate as the leg holds it: the model's, or, for a direction that
        carries no video when `estimate_without_video` is off, what it delivered if it lost
        packets and none if it did not (media/measure.py). With `estimate_cap_kbps`, a video
        direction's figure is the higher of the capped estimate and what it delivered."""
        if targets.video_kbps > 0 and self.estimate_cap_kbps is not None:
            return max(delivered, min(estimate, self.estimate_cap_kbps))
        if self.estimate_without_video or targets.video_kbps > 0:
            return estimate
        return None

    def _advance_burst(self) -> list[bool]:
        """The burst channel's states over this second (it runs whatever the leg sends)."""
        if self.burst is None:
            return []
        states = self.burst.states(self._rng_burst, GE_SLOTS_PER_S, self._bad)
        self._bad = states[-1]
        bad = sum(states) / len(states)
        self._burst_loss.append(bad * self.burst.loss_bad + (1 - bad) * self.burst.loss_good)
        return states

    def _next_wander(self) -> float:
        if self.rtt_jitter_ms <= 0:
            return 0.0
        return self._rng_rtt.uniform(-self.rtt_jitter_ms, self.rtt_jitter_ms)

    def _uplink(
        self, second: int, targets: Targets, states: Sequence[bool]
    ) -> tuple[float, float, float, float]:
        """(loss, estimate, sent, queueing) of the participant's sending direction, as the
        server counts them itself each second (sequence gaps, its receive-side estimator)."""
        assert self.up_capacity_kbps is not None
        cap = max(0.0, float(self.up_capacity_kbps[second]))
        sent = float(targets.wire_kbps)
        if sent <= 0:
            # No RTP, no sequence numbers: nothing to count as lost.
            return 0.0, min(cap, ESTIMATE_FLOOR_KBPS), 0.0, 0.0
        scheduled = _scheduled(self.loss if self.up_loss is None else self.up_loss, second)
        overflow = 1.0 - cap / sent if sent > cap else 0.0
        random_loss = min(1.0, scheduled)
        n = packets_per_second(targets)
        if self.packet_loss and random_loss > 0:
            random_loss = sum(self._rng_up.random() < random_loss for _ in range(n)) / n
        loss = 1.0 - (1.0 - overflow) * (1.0 - random_loss)
        if self.burst is not None:
            loss = 1.0 - (1.0 - loss) * (1.0 - self.burst.lost(self._rng_burst, states, n) / n)
        delivered = min(sent, cap)
        estimate = min(
            cap, max(ESTIMATE_GAIN * delivered + ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS)
        )
        return loss, estimate, sent, self.queue_ms * overflow

    # -- receiver reports (the downlink as the server learns it) -----------------------------

    def _interval(self, targets: Targets) -> int:
        if targets.video_kbps > 0 or self.audio_report_interval_s is None:
            return self.report_interval_s
        return self.audio_report_interval_s

    def _next_due(self, second: int, interval: int) -> int:
        if interval <= 1:
            return second + 1
        return second + max(1, round(interval * self._rng_report.uniform(0.5, 1.5)))

    def _reports(
        self, second: int, loss: float, packets: int, estimate: float, up_lost: float, rtt: float
    ) -> tuple[float, float | None]:
        """(downlink loss, downlink estimate) the server holds at the end of `second`.

        With the defaults (a report every second, none lost, none late) these are the second's
        own figures. Otherwise a report covers the seconds since the last one (packet-weighted),
        and one covering seconds before a step down is left out, as media/measure.py does, so
        that a flood's reports do not judge the lighter load that answered it.
        """
        self._pending.append((loss, packets))
        targets = self._prev_targets
        assert targets is not None
        interval = self._interval(targets)
        if interval < self._prev_interval:
            # A video stream that starts gets its own reports at once.
            self._due = min(self._due, second + interval - 1)
        self._prev_interval = interval
        if second >= self._due:
            if len(self._pending) == 1:
                covered = loss
            else:
                total = sum(p for _, p in self._pending)
                covered = sum(x * p for x, p in self._pending) / total
            heavier = self._covered_from < self._lowered_at <= second
            lost_p = 1.0 - (1.0 - self.report_loss) * (1.0 - up_lost)
            if not (lost_p > 0 and self._rng_report.random() < lost_p):
                one_way_s = rtt / 2000.0
                late = round(one_way_s) if one_way_s >= 1.0 else 0
                report = _Report(second, second + late, None if heavier else covered, estimate)
                self._in_flight.append(report)
            self._pending.clear()
            self._covered_from = second + 1
            self._due = self._next_due(second, interval)
        arrived = [r for r in self._in_flight if r.arrives <= second]
        self._in_flight = [r for r in self._in_flight if r.arrives > second]
        self._reported = any(r.loss is not None for r in arrived)
        for r in arrived:
            if self._shown is None or r.made > self._shown.made:
                self._shown = r
        down_loss = max((r.loss for r in arrived if r.loss is not None), default=0.0)
        shown = self._shown
        if shown is None or second - shown.arrives > ESTIMATE_TTL_S:
            return down_loss, None
        return down_loss, shown.estimate_kbps

    def _lose_reports(self, second: int) -> None:
        """Nothing gets through a dead link: reports due or arriving now are gone."""
        self._in_flight = [r for r in self._in_flight if r.arrives > second]
        self._pending.clear()
        self._covered_from = second + 1
        if second >= self._due:
            targets = self._prev_targets
            assert targets is not None
            self._due = self._next_due(second, self._interval(targets))


def packets_per_second(targets: Targets) -> int:
    """Packets a leg sending `targets` puts on the link in a second (at least one: RTCP)."""
    audio = AUDIO_PACKETS_PER_S if targets.audio_kbps else 0
    video = round(targets.video_kbps * 1000 / 8 / VIDEO_PACKET_BYTES)
    return max(1, audio + video)


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
        steps.append(Step(link.capacity_at(second), sample, decision))
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


def collapse_latencies(
    steps: Sequence[Step], link: LinkModel, policy: AdaptationPolicy, start: Mode
) -> list[float | None]:
    """Seconds from each sustained collapse to the mode change it calls for (None: missed)."""
    return [latency for _, latency in collapse_events(steps, link, policy, start)]


def collapse_events(
    steps: Sequence[Step], link: LinkModel, policy: AdaptationPolicy, start: Mode
) -> list[tuple[int, float | None]]:
    """Each sustained collapse as (the second it started, seconds to the mode change or None).

    A collapse starts in the second where the link stops carrying the mode then in force
    (capacity under its floor and under what is sent, or scheduled loss at its loss limit) and
    lasts at least the degrade hold; it is answered by the first step down. A sample speaks for
    the second before it, so a change decided at step j (t = j + 1) after a collapse starting in
    second k took j + 1 - k seconds. After a step down, a link still short of the new mode is a
    new collapse.
    """
    cfg = policy.config
    hold = round(cfg.degrade_hold_s)
    out: list[tuple[int, float | None]] = []
    pending: int | None = None
    was_short = False
    for k, step in enumerate(steps):
        before = steps[k - 1].decision.mode if k else start
        # The link stops carrying the mode when it is under the mode's least wire rate *and*
        # refuses the load actually sent (the policy's congestion test): a link that carries all
        # that is sent at a slightly lower rate is not a collapse.
        refused = step.capacity_kbps < step.sample.sent_kbps * cfg.congested_share
        short = before is not Mode.TEXT_ONLY and (
            (step.capacity_kbps < min_wire_kbps(before) and refused)
            or link.steady_loss(k) >= cfg.loss_limit(before)
        )
        if pending is None and short and not was_short:
            pending = k
        was_short = short
        if pending is None:
            continue
        if step.decision.changed and LADDER.index(step.decision.mode) < LADDER.index(before):
            out.append((pending, float(k + 1 - pending)))
            pending, was_short = None, False
        elif not short:
            if k - pending >= hold:
                out.append((pending, None))
            pending = None
    return out


def recovery_times(
    steps: Sequence[Step],
    link: LinkModel,
    policy: AdaptationPolicy,
    start: Mode,
    restored_kbps: float = 500.0,
) -> tuple[list[float], int]:
    """Seconds from each full restoration of the link to video-high, and how many were cut short."""
    events, interrupted = recovery_events(steps, link, policy, start, restored_kbps)
    return [took for _, took in events], interrupted


def recovery_events(
    steps: Sequence[Step],
    link: LinkModel,
    policy: AdaptationPolicy,
    start: Mode,
    restored_kbps: float = 500.0,
) -> tuple[list[tuple[int, float]], int]:
    """Each full restoration as (the second it began, seconds to video-high), and how many
    were cut short.

    A restoration starts in the first second, while below video-high, where capacity reaches
    `restored_kbps` with under 2% loss; it is cut short if capacity falls under the video-high
    floor again before video-high is committed.
    """
    cfg = policy.config
    events: list[tuple[int, float]] = []
    interrupted = 0
    begun: int | None = None
    for k, step in enumerate(steps):
        before = steps[k - 1].decision.mode if k else start
        if before is Mode.VIDEO_HIGH:
            begun = None
            continue
        cap, loss = step.capacity_kbps, link.steady_loss(k)
        if begun is None and cap >= restored_kbps and loss <= 0.02:
            begun = k
        elif begun is not None and (cap < cfg.floor(Mode.VIDEO_HIGH) or loss > 0.02):
            begun = None
            interrupted += 1
        if begun is not None and step.decision.mode is Mode.VIDEO_HIGH:
            events.append((begun, float(k + 1 - begun)))
            begun = None
    return events, interrupted

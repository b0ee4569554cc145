"""The link model itself (media/link_model.py): the benches and policy tests are only as good as
the links they replay, so its rural-link features (issue 14) are checked against their own
parameters here, and its defaults against the model the older figures were measured with."""

from __future__ import annotations

import itertools
import random
import statistics

import pytest

from media.link_model import (
    ESTIMATE_FLOOR_KBPS,
    ESTIMATE_GAIN,
    ESTIMATE_SLACK_KBPS,
    GilbertElliott,
    LinkModel,
    packets_per_second,
)
from media.policy import LinkSample, Mode, Targets, targets_for

HIGH = targets_for(Mode.VIDEO_HIGH, 1000.0)
LOW = targets_for(Mode.VIDEO_LOW)
AUDIO = targets_for(Mode.AUDIO_ONLY)
TEXT = targets_for(Mode.TEXT_ONLY)


def samples(link: LinkModel, targets: Targets | list[Targets], n: int) -> list[LinkSample]:
    plan = targets if isinstance(targets, list) else [targets] * n
    return [link.measure(i, plan[i]) for i in range(n)]


# -- Gilbert-Elliott bursts ----------------------------------------------------------------------


def runs(states: list[bool], value: bool) -> list[int]:
    return [len(list(g)) for k, g in itertools.groupby(states) if k is value]


@pytest.mark.parametrize(
    "ge",
    [
        GilbertElliott(0.002, 0.1, 0.0, 0.5),
        GilbertElliott(0.001, 0.02, 0.01, 0.8),
        GilbertElliott(0.01, 0.25, 0.0, 1.0),
    ],
)
def test_burst_channel_matches_its_parameters(ge: GilbertElliott) -> None:
    states = ge.states(random.Random(7), 400_000, bad=False)
    assert statistics.mean(states) == pytest.approx(ge.bad_share, rel=0.1)
    assert statistics.mean(runs(states, True)) == pytest.approx(1 / ge.p_leave_bad, rel=0.1)
    assert statistics.mean(runs(states, False)) == pytest.approx(1 / ge.p_enter_bad, rel=0.1)


@pytest.mark.parametrize("seed", range(3))
def test_burst_loss_mean_and_burstiness_show_in_the_samples(seed: int) -> None:
    ge = GilbertElliott(0.002, 0.05, 0.0, 0.6)  # 0.4 s bursts every ~10 s, ~2.3% on average
    seconds = 3000
    link = LinkModel([2000.0] * seconds, seed=seed, burst=ge)
    losses = [s.loss for s in samples(link, HIGH, seconds)]
    assert statistics.mean(losses) == pytest.approx(ge.mean_loss, rel=0.2)
    # The same mean lost packet by packet would spread evenly; bursts make most seconds clean
    # and a few heavy, a variance many times the binomial one.
    n = packets_per_second(HIGH)
    binomial = ge.mean_loss * (1 - ge.mean_loss) / n
    assert statistics.pvariance(losses) > 10 * binomial
    assert sum(x == 0 for x in losses) > 0.6 * seconds
    assert max(losses) > 0.3


def test_burst_loss_adds_to_scheduled_loss_and_is_reproducible() -> None:
    ge = GilbertElliott(0.005, 0.1)
    a = samples(LinkModel([2000.0] * 500, 0.05, seed=4, burst=ge), HIGH, 500)
    b = samples(LinkModel([2000.0] * 500, 0.05, seed=4, burst=ge), HIGH, 500)
    assert a == b
    assert all(s.loss >= 0.05 - 1e-12 for s in a)
    assert statistics.mean(s.loss for s in a) == pytest.approx(
        1 - 0.95 * (1 - ge.mean_loss), rel=0.2
    )


# -- RTT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "jitter"), [(30.0, 10.0), (80.0, 20.0), (300.0, 100.0), (800.0, 200.0)]
)
def test_rtt_stays_within_base_and_jitter_on_a_clear_link(base: float, jitter: float) -> None:
    link = LinkModel([5000.0] * 600, seed=2, base_rtt_ms=base, rtt_jitter_ms=jitter)
    rtts = [s.rtt_ms for s in samples(link, HIGH, 600)]
    assert all(r is not None and base - jitter <= r <= base + jitter for r in rtts)
    values = [r for r in rtts if r is not None]
    assert max(values) - min(values) > jitter  # it does wander, over most of its range
    assert statistics.mean(values) == pytest.approx(base, abs=jitter / 5)
    jit = [
        s.jitter_ms for s in samples(LinkModel([5000.0] * 50, seed=2, rtt_jitter_ms=20), HIGH, 50)
    ]
    assert all(j is not None and 5.0 <= j <= 5.0 + 20.0 for j in jit)


def test_queueing_adds_to_rtt_in_both_directions() -> None:
    link = LinkModel(
        [200.0] * 20, base_rtt_ms=100.0, rtt_jitter_ms=10.0, up_capacity_kbps=[100.0] * 20
    )
    for s in samples(link, HIGH, 20):
        assert s.rtt_ms is not None
        down, up = 1 - 200 / HIGH.wire_kbps, 1 - 100 / HIGH.wire_kbps
        assert s.rtt_ms == pytest.approx(100.0 + 300 * (down + up), abs=10.0)


def test_rtt_jitter_must_stay_below_the_base() -> None:
    with pytest.raises(ValueError):
        LinkModel([100.0], base_rtt_ms=30.0, rtt_jitter_ms=40.0)


# -- receiver reports --------------------------------------------------------------------------


def test_lost_reports_hide_downlink_loss_and_the_estimate() -> None:
    link = LinkModel([1000.0] * 30, 0.3, report_loss=1.0)
    for s in samples(link, HIGH, 30):
        assert s.loss == 0.0 and s.available_kbps is None
        assert s.rtt_ms is not None  # the link is alive; only its reports are gone


def test_some_lost_reports_read_as_clean_seconds_and_hold_the_estimate() -> None:
    link = LinkModel([1000.0] * 400, 0.3, seed=1, report_loss=0.3)
    got = samples(link, HIGH, 400)
    clean = [s for s in got if s.loss == 0.0]
    assert 0.2 * 400 < len(clean) < 0.4 * 400
    assert all(s.loss == pytest.approx(0.3) for s in got if s.loss > 0)
    # Three reports lost in a row are rare at 30%; the estimate survives two.
    assert sum(s.available_kbps is None for s in got) < 0.05 * 400


def test_late_reports_show_downlink_loss_a_second_late() -> None:
    # 2.4 s RTT: a report takes 1.2 s to come back, so it shows in the next second's sample.
    loss = [0.0] * 10 + [0.4] * 10 + [0.0] * 10
    got = samples(LinkModel([3000.0] * 30, loss, base_rtt_ms=2400.0), HIGH, 30)
    assert [round(s.loss, 3) for s in got] == [0.0] * 11 + [0.4] * 10 + [0.0] * 9
    # The uplink is counted by the server itself: its loss shows at once.
    up = samples(
        LinkModel(
            [3000.0] * 30,
            0.0,
            base_rtt_ms=2400.0,
            up_capacity_kbps=[3000.0] * 30,
            up_loss=loss,
        ),
        HIGH,
        30,
    )
    assert [round(s.loss, 3) for s in up] == [0.0] * 10 + [0.4] * 10 + [0.0] * 10


def test_audio_reports_come_every_few_seconds_and_the_estimate_expires() -> None:
    link = LinkModel([100.0] * 300, 0.2, seed=3, audio_report_interval_s=5)
    got = samples(link, AUDIO, 300)
    reported = [i for i, s in enumerate(got) if s.loss > 0]
    gaps = [b - a for a, b in itertools.pairwise(reported)]
    assert 4 <= statistics.mean(gaps) <= 6 and min(gaps) >= 2 and max(gaps) <= 8
    for i, s in enumerate(got):
        last = max((j for j in reported if j <= i), default=None)
        fresh = last is not None and i - last <= 2
        assert (s.available_kbps is not None) == fresh, i
    # A report covers its whole interval, so its loss is the scheduled loss.
    assert all(got[i].loss == pytest.approx(0.2) for i in reported)


def test_a_report_that_covers_a_heavier_load_is_left_out() -> None:
    # Video-high floods a 100 kbit/s link for 10 s, then audio-only fits. Reports come every
    # ~5 s: the one that still counts the flood must not judge the audio.
    link = LinkModel([100.0] * 40, report_interval_s=5, audio_report_interval_s=5, seed=1)
    got = samples(link, [HIGH] * 10 + [AUDIO] * 30, 40)
    assert any(s.loss > 0.5 for s in got[:10])
    assert all(s.loss == 0.0 for s in got[10:])
    assert any(s.available_kbps is not None for s in got[10:])


# -- the uplink --------------------------------------------------------------------------------


def test_a_thin_uplink_overflows_into_the_sample() -> None:
    link = LinkModel([1000.0] * 10, up_capacity_kbps=[64.0] * 10)
    for s in samples(link, LOW, 10):
        assert s.loss == pytest.approx(1 - 64 / LOW.wire_kbps)
        assert s.available_kbps == 64.0  # the lower direction's estimate...
        assert s.sent_kbps == LOW.wire_kbps  # ...with what was pushed that way
    for s in samples(LinkModel([1000.0] * 10, up_capacity_kbps=[64.0] * 10), AUDIO, 10):
        assert s.loss == 0.0
        assert s.available_kbps == min(
            64.0, max(ESTIMATE_GAIN * AUDIO.wire_kbps + ESTIMATE_SLACK_KBPS, ESTIMATE_FLOOR_KBPS)
        )


@pytest.mark.parametrize(("rtt", "lags"), [(80.0, False), (600.0, True)])
def test_the_uplink_follows_the_targets_a_second_late_on_a_long_rtt(rtt: float, lags: bool) -> None:
    link = LinkModel([1000.0] * 3, base_rtt_ms=rtt, up_capacity_kbps=[64.0] * 3)
    first, second, third = samples(link, [LOW, AUDIO, AUDIO], 3)
    assert first.loss > 0.3
    assert (second.loss > 0.3) is lags
    assert third.loss == 0.0


def test_a_dead_uplink_is_silence() -> None:
    link = LinkModel([1000.0] * 10, up_capacity_kbps=[1000.0] * 3 + [0.0] * 4 + [1000.0] * 3)
    got = samples(link, LOW, 10)
    assert [s.silence_s for s in got] == [0, 0, 0, 1, 2, 3, 4, 0, 0, 0]
    assert all(s.rtt_ms is None and s.available_kbps is None for s in got[3:7])
    assert link.capacity_at(4) == 0.0 and link.capacity_at(8) == 1000.0


# -- the defaults are the model the older figures were measured with -----------------------------


class OldModel:
    """media/link_model.py `LinkModel.measure` before issue 14, verbatim in substance."""

    def __init__(
        self,
        capacity: list[float],
        loss: list[float] | float = 0.0,
        seed: int = 0,
        loss_noise: float = 0.0,
        base_rtt_ms: float = 60.0,
        packet_loss: bool = False,
    ) -> None:
        self.capacity, self.loss, self.loss_noise = capacity, loss, loss_noise
        self.base_rtt_ms, self.packet_loss = base_rtt_ms, packet_loss
        self.rng = random.Random(seed)
        self.last_packet = 0.0

    def measure(self, second: int, targets: Targets) -> LinkSample:
        cap = max(0.0, float(self.capacity[second]))
        t = float(second + 1)
        scheduled = self.loss if isinstance(self.loss, float | int) else self.loss[second]
        noise = self.rng.uniform(0.0, self.loss_noise) if self.loss_noise > 0 else 0.0
        if cap < 1.0:
            # (`reported` came later: no report crosses a dead link.)
            return LinkSample(
                t,
                None,
                0.0,
                None,
                None,
                t - self.last_packet,
                float(targets.wire_kbps),
                reported=False,
            )
        self.last_packet = t
        sent = float(targets.wire_kbps)
        overflow = 1.0 - cap / sent if sent > cap else 0.0
        random_loss = min(1.0, float(scheduled) + noise)
        if self.packet_loss and random_loss > 0:
            n = packets_per_second(targets)
            random_loss = sum(self.rng.random() < random_loss for _ in range(n)) / n
        loss = 1.0 - (1.0 - overflow) * (1.0 - random_loss)
        delivered = min(sent, cap)
        estimate = min(cap, max(1.5 * delivered + 10.0, 50.0))
        queueing = 300.0 * overflow
        return LinkSample(
            t, estimate, loss, self.base_rtt_ms + queueing, 5.0 + queueing / 10, 0.0, sent
        )


@pytest.mark.parametrize("seed", range(6))
def test_defaults_reproduce_the_old_samples(seed: int) -> None:
    rng = random.Random(seed)
    n = 120
    capacity = [rng.choice([0.0, 10.0, 40.0, 150.0, 400.0, 2500.0]) for _ in range(n)]
    loss: list[float] | float = [rng.choice([0.0, 0.03, 0.2]) for _ in range(n)]
    if seed % 3 == 0:
        loss = 0.05
    plan = [rng.choice([HIGH, LOW, AUDIO, TEXT, targets_for(Mode.VIDEO_HIGH)]) for _ in range(n)]
    kwargs = {"seed": seed, "loss_noise": 0.02 * (seed % 2), "packet_loss": seed % 2 == 0}
    old = OldModel(capacity, loss, base_rtt_ms=45.0, **kwargs)  # type: ignore[arg-type]
    new = LinkModel(capacity, loss, base_rtt_ms=45.0, **kwargs)  # type: ignore[arg-type]
    assert [new.measure(i, plan[i]) for i in range(n)] == [
        old.measure(i, plan[i]) for i in range(n)
    ]

"""The adaptation policy on synthetic and recorded link traces (issue 5, item 5).

Every test drives the policy in closed loop through the deterministic link model
(media/link_model.py) and asserts on modes, switch counts and sample-time latencies — never on
wall time. Recorded traces are the 3G commute traces kept in tests/data/link-traces.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.link_model import (
    LinkModel,
    Step,
    bursty_loss,
    collapse_latencies,
    load_trace,
    modes_seconds,
    recovery_times,
    simulate,
    trace_files,
)
from media.policy import (
    LADDER,
    AdaptationPolicy,
    LinkSample,
    Mode,
    PolicyConfig,
    min_total_kbps,
    targets_for,
)

ROOT = Path(__file__).resolve().parents[2]
TRACE_DIRS = (ROOT / "tests" / "data" / "link-traces", ROOT.parent / "shared/data/link-traces")
REQUIRE = os.environ.get("RELAIS_REQUIRE_SERVICES") == "1"
VIDEO = {Mode.VIDEO_HIGH, Mode.VIDEO_LOW}
RANK = {m: i for i, m in enumerate(LADDER)}


def run(
    capacity: list[float],
    loss: list[float] | float = 0.0,
    start: Mode = Mode.VIDEO_HIGH,
    seed: int = 0,
) -> tuple[AdaptationPolicy, LinkModel, list[Step]]:
    policy = AdaptationPolicy(start=start)
    link = LinkModel(capacity, loss, seed=seed)
    return policy, link, simulate(policy, link)


def modes(steps: list[Step]) -> list[Mode]:
    return [s.decision.mode for s in steps]


def first_index(steps: list[Step], pred: object, after: int = 0) -> int:
    assert callable(pred)
    return next(i for i, s in enumerate(steps) if i >= after and pred(s.decision.mode))


def traces() -> list[Path]:
    for d in TRACE_DIRS:
        files = trace_files(d)
        if len(files) >= 10:
            return files
    if REQUIRE:
        pytest.fail(f"link traces are required (RELAIS_REQUIRE_SERVICES=1): none in {TRACE_DIRS}")
    pytest.skip(f"link traces not found in {TRACE_DIRS}")


# -- synthetic traces --------------------------------------------------------------------------


def test_step_down_to_60_kbps_ends_in_audio_only() -> None:
    policy, link, steps = run([2000.0] * 20 + [60.0] * 40)
    assert set(modes(steps[:20])) == {Mode.VIDEO_HIGH}
    # Collapse in second 20; the sample at index i speaks for second i, so leaving video-high
    # by index 21 is within 2 samples (2 s) of the collapse.
    left = first_index(steps, lambda m: m is not Mode.VIDEO_HIGH)
    assert 20 <= left <= 21
    assert (steps[left].decision.reason or "").startswith("rate ")
    assert modes(steps)[-1] is Mode.AUDIO_ONLY
    assert set(modes(steps[22:])) == {Mode.AUDIO_ONLY}  # failed probes never commit
    assert policy.switches == 1  # one jump, straight past video-low
    assert collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH) == [2.0]


def test_step_down_to_15_kbps_ends_in_text_only() -> None:
    policy, _, steps = run([2000.0] * 20 + [15.0] * 40)
    # Video goes first (within 2 s), then audio-only proves audio does not fit (2 s more).
    left = first_index(steps, lambda m: m is Mode.AUDIO_ONLY)
    assert left <= 21
    assert first_index(steps, lambda m: m is Mode.TEXT_ONLY) <= left + 2
    assert set(modes(steps[24:])) == {Mode.TEXT_ONLY}
    assert policy.switches == 2
    # The link is alive, so audio is probed (with back-off) but never carried.
    probes = [i for i, s in enumerate(steps) if s.decision.probing is Mode.AUDIO_ONLY]
    assert probes, "signs of life must lead to audio probes"
    assert len(probes) <= 8


def test_single_bad_second_does_not_degrade() -> None:
    cap = [2000.0] * 20 + [40.0] + [2000.0] * 20
    loss = [0.0] * 30 + [0.5] + [0.0] * 10
    policy, _, steps = run(cap, loss)
    assert set(modes(steps)) == {Mode.VIDEO_HIGH}
    assert policy.switches == 0


def test_dead_link_goes_text_only_within_3_s_and_stays_alive() -> None:
    policy, link, steps = run([2000.0] * 20 + [0.0] * 20)
    i = first_index(steps, lambda m: m is Mode.TEXT_ONLY)
    assert i + 1 - 20 <= 3  # sample t = i + 1, collapse at the start of second 20
    assert steps[i].decision.reason == "no packets for 3.0 s"
    assert set(modes(steps[i:])) == {Mode.TEXT_ONLY}
    assert all(s.decision.probing is None for s in steps[20:])  # no life, no probe
    assert policy.switches == 1
    assert collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH) == [3.0]


def test_loss_burst_degrades_then_recovers() -> None:
    loss = [0.0] * 20 + [0.15] * 5 + [0.0] * 60
    policy, link, steps = run([2000.0] * len(loss), loss)
    i = first_index(steps, lambda m: m is not Mode.VIDEO_HIGH)
    assert i <= 21
    assert (steps[i].decision.reason or "").startswith("loss 15%")
    worst = min(modes(steps), key=RANK.__getitem__)
    assert worst in {Mode.VIDEO_LOW, Mode.AUDIO_ONLY}
    assert modes(steps)[-1] is Mode.VIDEO_HIGH
    assert policy.switches <= 4
    lat = collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH)
    assert lat and all(x is not None and x <= 2 for x in lat)
    times, _ = recovery_times(steps, link, policy, Mode.VIDEO_HIGH)
    assert times and max(times) <= 15


def test_random_loss_bursts_bounded_switches() -> None:
    seconds = 300
    for seed in range(5):
        loss = bursty_loss(seconds, seed, start_p=0.04)
        policy, link, steps = run([1500.0] * seconds, loss, seed=seed)
        lat = collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH)
        # A burst just over the limit (12-13 % against 10 %) is confirmed on the pooled loss of
        # a few more seconds: the price of not dropping a call whose steady 5 % reads 10-16 %
        # in a second. Clear bursts are answered within the 2 s hold.
        assert all(x is not None and x <= 4 for x in lat), (seed, lat)
        assert sum(1 for x in lat if x is not None and x <= 2) >= 0.85 * len(lat), (seed, lat)
        bursts = sum(1 for a, b in zip([0.0, *loss], loss, strict=False) if b > 0 and a == 0)
        assert policy.switches <= 4 * bursts + 2, (seed, policy.switches, bursts)
        secs = modes_seconds(steps)
        assert secs.get(Mode.VIDEO_HIGH.value, 0) + secs.get(Mode.VIDEO_LOW.value, 0) > seconds / 2
        assert Mode.TEXT_ONLY.value not in secs  # bursts of 12-25% loss: audio carries on


def test_slow_recovery_ramp_climbs_step_by_step_with_probes() -> None:
    ramp = [15.0] * 10 + [15.0 + 10.0 * i for i in range(60)] + [700.0] * 30
    policy, _, steps = run(ramp, start=Mode.TEXT_ONLY)
    seen: list[Mode] = [Mode.TEXT_ONLY]
    for k, s in enumerate(steps):
        d = s.decision
        if d.changed:
            assert RANK[d.mode] == RANK[seen[-1]] + 1, "a climb is one step"
            assert steps[k - 1].decision.probing is d.mode, "a climb follows a probe"
            seen.append(d.mode)
    assert seen == list(LADDER)
    assert modes(steps)[-1] is Mode.VIDEO_HIGH
    assert policy.switches == 3


def test_flapping_every_2_s_does_not_flap_the_call() -> None:
    for bad in (60.0, 150.0):
        cap = ([2000.0] * 2 + [bad] * 2) * 15  # 60 s
        policy, _, steps = run(cap)
        assert policy.switches <= 3, (bad, policy.switches)
    loss = ([0.0] * 2 + [0.2] * 2) * 15
    policy, _, steps = run([2000.0] * 60, loss)
    assert policy.switches <= 3, policy.switches
    assert modes(steps)[-1] is not Mode.TEXT_ONLY  # 20% loss is carried by audio with FEC


@pytest.mark.parametrize("dead_s", [5, 30])
def test_restored_link_back_to_video_high_within_15_s(dead_s: int) -> None:
    cap = [2000.0] * 10 + [0.0] * dead_s + [2000.0] * 30
    policy, link, steps = run(cap)
    back = 10 + dead_s
    assert modes(steps)[back - 1] is Mode.TEXT_ONLY
    i = first_index(steps, lambda m: m is Mode.VIDEO_HIGH, after=back)
    assert i + 1 - back <= 15
    assert policy.switches == 4  # down once, up three steps
    assert recovery_times(steps, link, policy, Mode.VIDEO_HIGH)[0] == [float(i + 1 - back)]


def test_a_revived_dead_link_forgets_the_failures_before_it() -> None:
    """Probes of video failed for 30 s on a 100 kbit/s link, then the link died and came back
    whole: the failures were about the link before, so no back-off of theirs is waited out
    (it was: 17 s back to video-high here)."""
    cap = [2000.0] * 10 + [100.0] * 30 + [0.0] * 5 + [2000.0] * 30
    policy, link, steps = run(cap)
    assert any(s.decision.probing is Mode.VIDEO_LOW for s in steps[10:40])
    back = 45
    assert modes(steps)[back - 1] is Mode.TEXT_ONLY
    times = recovery_times(steps, link, policy, Mode.VIDEO_HIGH)[0]
    assert times[-1] <= 10, times


def test_a_probe_that_silences_a_starved_link_keeps_its_back_off() -> None:
    """Only the death of a link carrying media clears failures on revival. On a starved link
    our own audio probe can silence it; that failure must keep its back-off, or every revival
    would be probed at once (flooding the link the text channel needs)."""
    policy = AdaptationPolicy()
    pattern = [3.5] * 4 + [0.1]  # dead under video-high, then alive: the fresh start
    pattern += [1.5, 2.5, 3.5, 0.1] * 8  # each revival lasts a second, then silence again
    starts, probing = [], None
    for t, silence in enumerate(pattern, start=1):
        d = policy.update(LinkSample(float(t), None, 0.0, 50.0, 3.0, silence, 0.0))
        if d.probing is not None and probing is None:
            starts.append(t)
        probing = d.probing
    assert policy.mode is Mode.TEXT_ONLY
    # Back-off 4, 8, 12, 12 s after each failure: at most 4 probes in 32 s, not one a cycle.
    assert 2 <= len(starts) <= 4, starts


def test_a_held_climb_clears_the_failures_of_the_modes_below() -> None:
    """Video-low failed its probes during a first collapse, then the leg climbed through it to
    video-high and held there: a second collapse must not wait out video-low's old back-off
    (it did: 19 s against 9 s for the first recovery)."""
    cap = [2000.0] * 10 + [100.0] * 30 + [2000.0] * 40 + [100.0] * 6 + [2000.0] * 30
    policy, link, steps = run(cap)
    times = recovery_times(steps, link, policy, Mode.VIDEO_HIGH)[0]
    # The second dip's own failed probe may cost a second or two; the old back-off was 10 s more.
    assert len(times) == 2 and times[1] <= max(times[0] + 2, 10), times


def test_a_clean_probe_counts_as_headroom_for_the_next_step() -> None:
    """Each step is still probed and committed one at a time, but a probe that carried its
    mode cleanly is the headroom for the next: the next probe starts on the following sample."""
    policy, _, steps = run([2000.0] * 30, start=Mode.TEXT_ONLY)
    climbs = [k for k, s in enumerate(steps) if s.decision.changed]
    assert [steps[k].decision.mode for k in climbs] == list(LADDER[1:])
    for k in climbs[:-1]:
        assert steps[k + 1].decision.probing is LADDER[RANK[steps[k].decision.mode] + 1]
    # A probe with some loss (within the rise it tolerates, above headroom) still commits,
    # but the next step waits for `climb_hold_s` of headroom of its own.
    policy = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    probing_at = []
    for t in range(1, 16):
        loss = 0.025 if 3 <= t <= 5 else 0.0
        d = policy.update(_s(float(t), 260.0 if t > 3 else None, loss=loss, sent=200.0))
        if d.probing is not None:
            probing_at.append((t, d.probing))
    assert policy.mode is Mode.VIDEO_HIGH
    low_done = max(t for t, m in probing_at if m is Mode.VIDEO_LOW)
    high_from = min(t for t, m in probing_at if m is Mode.VIDEO_HIGH)
    assert high_from - low_done >= policy.config.climb_hold_s


def test_probe_failure_backs_off_exponentially() -> None:
    policy, _, steps = run([300.0] * 200, start=Mode.VIDEO_LOW)
    starts = [
        k
        for k, s in enumerate(steps)
        if s.decision.probing is Mode.VIDEO_HIGH
        and (k == 0 or steps[k - 1].decision.probing is None)
    ]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) >= 4
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]
    cfg = policy.config
    assert max(gaps) <= cfg.backoff_max_s + cfg.probe_max_s + 1  # bounded
    assert policy.switches == 0


# -- recorded traces ---------------------------------------------------------------------------


def test_trace_loader_holds_irregular_samples(tmp_path: Path) -> None:
    f = tmp_path / "t.tsv"
    f.write_text("0.0\t1.0\n0.5\t2.0\n2.0\t0.5\n3.2\t1.0\n")
    assert load_trace(f) == pytest.approx([1500.0, 2000.0, 500.0, 900.0])
    assert load_trace(f, 0.1) == pytest.approx([150.0, 200.0, 50.0, 90.0])


def test_real_traces_full_scale_mostly_video_few_switches() -> None:
    for path in traces():
        cap = load_trace(path, 1.0)
        policy, link, steps = run(cap)
        secs = modes_seconds(steps)
        video = secs.get(Mode.VIDEO_HIGH.value, 0) + secs.get(Mode.VIDEO_LOW.value, 0)
        assert video >= 0.9 * len(steps), (path.name, secs)
        assert policy.switches <= max(6, len(steps) // 20), (path.name, policy.switches)
        lat = collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH)
        assert all(x is not None and x <= 2 for x in lat), (path.name, lat)


def test_real_traces_scaled_down_move_among_low_modes() -> None:
    visited: set[Mode] = set()
    for path in traces():
        cap = load_trace(path, 0.1)
        policy, link, steps = run(cap)
        # 20-440 kbit/s: no full video once the link is below what video-high's least targets
        # need (a start at 250-290 kbit/s keeps it a few seconds: it fits, at 180 kbit/s video).
        after_start = modes(steps)[20:]
        assert Mode.VIDEO_HIGH not in after_start, path.name
        visited |= set(after_start)
        text_with_room = [
            k
            for k, st in enumerate(steps)
            if st.decision.mode is Mode.TEXT_ONLY and st.capacity_kbps >= 24
        ]
        assert text_with_room == [], (path.name, text_with_room)
        assert policy.switches <= max(6, len(steps) // 20), (path.name, policy.switches)
        lat = collapse_latencies(steps, link, policy, Mode.VIDEO_HIGH)
        assert all(x is not None and x <= 3 for x in lat), (path.name, lat)
    # Text-only only where the link carries less than sound needs (issue 14): none of these
    # traces does for long, so none may go there while it carries >= 24 kbit/s.
    assert {Mode.VIDEO_LOW, Mode.AUDIO_ONLY} <= visited


# -- properties --------------------------------------------------------------------------------

samples = st.lists(
    st.tuples(
        st.one_of(st.none(), st.floats(0, 3000, allow_nan=False)),
        st.floats(0, 1, allow_nan=False),
        st.one_of(st.none(), st.floats(10, 1000, allow_nan=False)),
        st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.0, 2.0, 3.0, 6.0]),
        st.floats(0, 2000, allow_nan=False),
        st.sampled_from([0.5, 1.0, 1.0, 1.0, 1.5]),
    ),
    min_size=1,
    max_size=120,
)


def _samples(
    raw: list[tuple[float | None, float, float | None, float, float, float]],
) -> list[LinkSample]:
    out, t = [], 0.0
    for est, loss, rtt, silence, sent, dt in raw:
        t += dt
        out.append(LinkSample(t, est, loss, rtt, None, silence, sent))
    return out


@settings(max_examples=150, deadline=None)
@given(samples, st.sampled_from(LADDER))
def test_same_samples_same_decisions(raw: list[tuple], start: Mode) -> None:  # type: ignore[type-arg]
    xs = _samples(raw)
    a, b = AdaptationPolicy(start=start), AdaptationPolicy(start=start)
    assert [a.update(x) for x in xs] == [b.update(x) for x in xs]


@settings(max_examples=150, deadline=None)
@given(samples, st.sampled_from(LADDER))
def test_decision_invariants(raw: list[tuple], start: Mode) -> None:  # type: ignore[type-arg]
    policy = AdaptationPolicy(start=start)
    cfg = policy.config
    prev_mode, prev_probe, switches = start, None, 0
    for x in _samples(raw):
        d = policy.update(x)
        # A mode changes only with a reason, and the reason comes only with a change.
        assert d.changed == (d.mode is not prev_mode)
        assert (d.reason is not None) == d.changed
        switches += d.changed
        # Never climbs without a probe of that very mode just before.
        if RANK[d.mode] > RANK[prev_mode]:
            assert prev_probe is d.mode and RANK[d.mode] == RANK[prev_mode] + 1
        # A probe is one step above the committed mode.
        if d.probing is not None:
            assert RANK[d.probing] == RANK[d.mode] + 1
        # Dead link: text-only.
        if x.silence_s >= cfg.dead_after_s:
            assert d.mode is Mode.TEXT_ONLY and d.probing is None
        # Targets are the shown mode's and fit the estimate whenever it carries that mode.
        # A probe pushes the load its mode must prove (floor x margin), beyond the estimate.
        est = x.available_kbps
        if d.probing is not None:
            need = cfg.floor(d.probing) * cfg.climb_margin
            assert d.targets == targets_for(d.probing, max(est or 0.0, need))
        elif est is None and d.mode is Mode.AUDIO_ONLY:
            # Sound without an estimate follows its loss-based rate, within the mode's range.
            assert d.targets.video_kbps == 0
            assert 12 <= d.targets.audio_kbps <= targets_for(Mode.AUDIO_ONLY).audio_kbps
        else:
            assert d.targets == targets_for(d.mode, est)
            if est is not None and est >= cfg.floor(d.mode):
                assert d.targets.total_kbps <= est
        prev_mode, prev_probe = d.mode, d.probing
    assert policy.switches == switches


@given(st.sampled_from(LADDER), st.one_of(st.none(), st.floats(0, 1e5, allow_nan=False)))
def test_targets_table(mode: Mode, est: float | None) -> None:
    t = targets_for(mode, est)
    if mode is Mode.TEXT_ONLY:
        assert t.total_kbps == 0 and t.audio_channels == 0
        return
    assert t.audio_channels == 1 and t.audio_fec
    assert t.total_kbps >= min_total_kbps(mode)
    if mode is Mode.AUDIO_ONLY:
        assert 12 <= t.audio_kbps <= 24 and t.audio_dtx and t.video_kbps == 0
    elif mode is Mode.VIDEO_LOW:
        assert t.total_kbps <= 150 and (t.width, t.height) in {(320, 180), (320, 240)}
        assert 10 <= t.fps <= 15
    else:
        assert t.total_kbps <= 1500 and t.width <= 640 and t.fps <= 30
        assert 24 <= t.audio_kbps <= 32
    if est is not None and est >= PolicyConfig().floor(mode):
        assert t.total_kbps <= est


def test_rejects_time_going_backwards() -> None:
    policy = AdaptationPolicy()
    policy.update(LinkSample(5.0, 1000.0, 0.0, 50.0, 5.0, 0.0, 800.0))
    with pytest.raises(ValueError):
        policy.update(LinkSample(5.0, 1000.0, 0.0, 50.0, 5.0, 0.0, 800.0))


def test_config_rejects_floor_below_mode_minimum() -> None:
    with pytest.raises(ValueError):
        PolicyConfig(floor_video_low_kbps=60.0)


def test_a_sender_limited_estimate_is_not_a_collapse() -> None:
    """The clinician's leg while the patient's video has stopped: little is sent to it, so its
    receive estimate is low, but nothing is lost; that is not a collapse of its link."""
    policy = AdaptationPolicy()
    for t in range(1, 31):
        d = policy.update(
            LinkSample(
                t=float(t),
                available_kbps=80.0,
                loss=0.0,
                rtt_ms=40.0,
                jitter_ms=2.0,
                silence_s=0.1,
                sent_kbps=40.0,
            )
        )
    assert d.mode is Mode.VIDEO_HIGH and policy.switches == 0
    # The same estimate while the sender pushes 500 kbit/s into the link is a collapse.
    for t in range(31, 35):
        d = policy.update(LinkSample(float(t), 80.0, 0.0, 40.0, 2.0, 0.1, 500.0))
    assert d.mode is Mode.AUDIO_ONLY


def _s(t: float, est: float | None, loss: float = 0.0, sent: float = 40.0) -> LinkSample:
    return LinkSample(t, est, loss, 50.0, 3.0, 0.05, sent)


def test_audio_only_climbs_without_an_estimate_and_waits_for_a_ramping_one() -> None:
    """In audio-only no video flows, so there is no receive-side estimate at all; the video
    probe starts on clean audio, and the estimate that appears with its video ramps up (AIMD)
    for a few seconds before it shows the margin: the probe waits while it rises."""
    policy = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    t = 0.0
    d = None
    for _ in range(3):
        t += 1
        d = policy.update(_s(t, None))
    assert d is not None and d.probing is Mode.VIDEO_LOW
    assert d.targets.video_kbps > 0
    ramp = [None, 110.0, 125.0, 140.0, 155.0, 170.0]
    committed = []
    for est in ramp:
        t += 1
        d = policy.update(_s(t, est, sent=150.0))
        if d.changed:
            committed.append((t, d.mode))
    assert [m for _, m in committed] == [Mode.VIDEO_LOW], committed


def test_a_clean_sender_limited_probe_commits() -> None:
    """A still picture does not fill video-high's 425 kbit/s: a probe whose whole load got
    through without loss or congestion commits anyway; one that met loss does not."""
    policy = AdaptationPolicy(start=Mode.VIDEO_LOW)
    t = 0.0
    for _ in range(12):
        t += 1
        d = policy.update(_s(t, 260.0, sent=250.0))
    assert policy.mode is Mode.VIDEO_HIGH, d
    lossy = AdaptationPolicy(start=Mode.VIDEO_LOW)
    for i in range(12):
        d = lossy.update(_s(float(i + 1), 260.0, loss=0.0 if i < 3 else 0.06, sent=250.0))
    assert lossy.mode is Mode.VIDEO_LOW


def test_a_probe_from_a_flooded_link_fails_on_loss() -> None:
    """Text-only entered under 60 % loss: an audio probe that still loses 60 % must fail even
    though loss did not *rise* from that base."""
    policy = AdaptationPolicy(start=Mode.TEXT_ONLY)
    for t in range(1, 12):
        d = policy.update(_s(float(t), None, loss=0.6))
    assert d.mode is Mode.TEXT_ONLY


def test_a_probe_from_text_only_is_not_judged_against_a_stray_stream() -> None:
    """Text-only entered while the participant, whose plan is late on a starved socket, still
    sends the sound of the mode it left (68 % loss): that loss is no reference for the audio
    probe. A probe losing a third of its packets is the link refusing sound, and must fail,
    or sound's overflow keeps the starved socket starved (seen in CI on a 20 kbit/s link)."""
    policy = AdaptationPolicy(start=Mode.TEXT_ONLY)
    losses = iter([0.68, 0.68, 0.68] + [0.35, 0.29] * 20)
    committed = []
    for t in range(1, 40):
        d = policy.update(_s(float(t), None, loss=next(losses)))
        committed.append(d.mode)
    assert set(committed) == {Mode.TEXT_ONLY}, committed


def test_a_probe_is_judged_on_what_receiver_reports_told() -> None:
    """An audio probe from text-only into a link whose uplink loses every receiver report reads
    no loss at all: that is no evidence the link carries sound. Without a report the probe runs
    on and fails when none came; with one, its loss judges the probe."""
    silent = AdaptationPolicy(start=Mode.TEXT_ONLY)
    for t in range(1, 40):
        d = silent.update(LinkSample(float(t), None, 0.0, 50.0, 3.0, 0.05, 20.0, reported=False))
        assert d.mode is Mode.TEXT_ONLY, t
    told = AdaptationPolicy(start=Mode.TEXT_ONLY)
    for t in range(1, 40):
        reported = t % 5 == 0  # browsers report audio every ~5 s
        loss = 0.3 if reported else 0.0
        d = told.update(LinkSample(float(t), None, loss, 50.0, 3.0, 0.05, 20.0, reported=reported))
        assert d.mode is Mode.TEXT_ONLY, t
    clean = AdaptationPolicy(start=Mode.TEXT_ONLY)
    for t in range(1, 20):
        reported = t % 5 == 0
        d = clean.update(LinkSample(float(t), None, 0.0, 50.0, 3.0, 0.05, 20.0, reported=reported))
    assert d.mode is Mode.AUDIO_ONLY


def test_a_probe_the_uplink_alone_fails_ends_without_waiting_for_a_report() -> None:
    """A second no report told still tells the uplink's loss, which the probe loads too: an
    audio probe from text-only whose uplink loses 22 % (a 20 kbit/s link) fails on that within
    its length, instead of flooding the link for the 10 s it may wait for a report."""
    policy = AdaptationPolicy(start=Mode.TEXT_ONLY)
    started: float | None = None
    ended: float | None = None
    for t in range(1, 30):
        probing = started is not None and ended is None
        loss = 0.22 if probing else 0.0
        d = policy.update(LinkSample(float(t), None, loss, 50.0, 3.0, 0.05, 20.0, reported=False))
        assert d.mode is Mode.TEXT_ONLY, t
        if d.probing is Mode.AUDIO_ONLY and started is None:
            started = float(t)
        elif started is not None and ended is None and d.probing is None:
            ended = float(t)
    assert started is not None and ended is not None
    assert ended - started <= 3, (started, ended)


def test_a_probe_is_not_failed_on_the_uplinks_few_lost_packets() -> None:
    """The uplink alone fails a probe only on a clear overflow: a sound stream that just resumed
    loses one or two of its ~17 packets a second on a clean link (6 % and 12 %, a 20 kbit/s cut
    just lifted, CI), and a probe failed on that never let sound back. The clean report that
    follows commits it."""
    policy = AdaptationPolicy(start=Mode.TEXT_ONLY)
    probing_from: float | None = None
    for t in range(1, 30):
        into = None if probing_from is None else t - probing_from
        reported = into == 4
        loss = {1: 0.06, 2: 0.12}.get(into or 0, 0.0) if not reported else 0.01
        d = policy.update(
            LinkSample(float(t), None, loss, 50.0, 3.0, 0.05, 20.0, reported=reported)
        )
        if d.mode is Mode.AUDIO_ONLY:
            break
        if d.probing is Mode.AUDIO_ONLY and probing_from is None:
            probing_from = float(t)
        assert probing_from is None or d.probing is Mode.AUDIO_ONLY, (t, d.reason)
    assert d.mode is Mode.AUDIO_ONLY


def test_an_audio_probe_waits_for_the_second_report_of_a_clean_link() -> None:
    """Browsers report on our sound every 2.5-7.5 s and the first report after the stream
    resumed is left out (it spans the pause), so the first one that counts may come 15 s into
    an audio probe from text-only. A clean link whose report came 12 s in is sound again, not a
    failed probe whose back-off a restored link then waits out (one probe in six on a clean
    link, the shaped-link browser test's climb back that never came)."""
    policy = AdaptationPolicy(start=Mode.TEXT_ONLY)
    probing_from: int | None = None
    into = None
    for t in range(1, 40):
        into = None if probing_from is None else t - probing_from
        d = policy.update(
            LinkSample(float(t), None, 0.0, 50.0, 3.0, 0.05, 20.0, reported=into == 12)
        )
        if d.mode is Mode.AUDIO_ONLY:
            break
        if d.probing is Mode.AUDIO_ONLY and probing_from is None:
            probing_from = t
        assert probing_from is None or d.probing is Mode.AUDIO_ONLY, (t, d.reason)
    assert d.mode is Mode.AUDIO_ONLY and into == 12, (into, d.reason)


def test_a_failed_video_probes_stray_video_does_not_judge_sound_only() -> None:
    """A video probe from sound-only that fails leaves the participant sending video until the
    plan reaches it over the flooded link; those seconds (the probe's video over the uplink's
    estimate) are not sound's load, and drop the leg to text only if they outlast the grace a
    step down gets (`obey_grace_s`)."""
    policy = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    t = 0
    d = None
    while d is None or d.probing is not Mode.VIDEO_LOW:
        t += 1
        d = policy.update(LinkSample(float(t), None, 0.0, 50.0, 3.0, 0.05, 40.0))
        assert t < 10, d
    t += 1
    d = policy.update(LinkSample(float(t), 30.0, 0.5, 400.0, 3.0, 0.05, 150.0))  # the flood
    assert d.probing is None and d.mode is Mode.AUDIO_ONLY, d.reason
    failed = t
    stray = []
    for _ in range(8):
        t += 1
        d = policy.update(LinkSample(float(t), 12.0, 0.2, 400.0, 3.0, 0.05, 90.0, stray_kbps=60.0))
        stray.append((t - failed, d.mode))
    within = [m for dt, m in stray if dt <= policy.config.obey_grace_s]
    assert set(within) == {Mode.AUDIO_ONLY}, stray
    assert stray[-1][1] is Mode.TEXT_ONLY, stray  # a sender that never obeys is judged after it

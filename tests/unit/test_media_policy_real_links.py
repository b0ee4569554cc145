"""What issue 14 found on real and replayed links, one rule per test (media/policy.py): each test
plays the second-by-second samples that made the policy take a wrong step, and asserts the step
is no longer taken, and that the real collapse next to it still is."""

from __future__ import annotations

from media.link_model import LinkModel, simulate
from media.policy import AdaptationPolicy, LinkSample, Mode, PolicyConfig


def sample(
    t: float,
    est: float | None,
    loss: float = 0.0,
    sent: float = 40.0,
    rtt: float = 50.0,
) -> LinkSample:
    return LinkSample(t, est, loss, rtt, 3.0, 0.05, sent)


def feed(policy: AdaptationPolicy, rows: list[tuple[float | None, float, float]]) -> list[Mode]:
    """rows: (estimate, loss, sent) a second, from t = 1."""
    modes = []
    for i, (est, loss, sent) in enumerate(rows):
        modes.append(policy.update(sample(float(i + 1), est, loss, sent)).mode)
    return modes


def test_video_high_is_kept_between_its_least_targets_and_its_floor() -> None:
    """At 300 kbit/s video-high's least targets (180 kbit/s of video) fit: no swap of modes for
    a link wandering under 340; below 258 the mode is left within the hold."""
    policy = AdaptationPolicy(start=Mode.VIDEO_HIGH)
    modes = feed(policy, [(900.0, 0.0, 800.0)] * 5 + [(300.0, 0.0, 270.0)] * 20)
    assert set(modes) == {Mode.VIDEO_HIGH}
    modes = feed_from(policy, 26, [(240.0, 0.0, 270.0)] * 3)
    assert modes[-1] is Mode.VIDEO_LOW
    assert policy.config.stay_floor(Mode.VIDEO_HIGH) < policy.config.floor(Mode.VIDEO_HIGH)


def feed_from(
    policy: AdaptationPolicy, t0: int, rows: list[tuple[float | None, float, float]]
) -> list[Mode]:
    return [
        policy.update(sample(float(t0 + i), est, loss, sent)).mode
        for i, (est, loss, sent) in enumerate(rows)
    ]


def test_a_collapse_lands_where_a_climb_could_have_brought_the_leg() -> None:
    """150 kbit/s carries video-low's floor (130) but not its climb (162): the leg goes to sound
    once, not to a video-low it would leave again at the first loss."""
    steps = simulate(
        AdaptationPolicy(start=Mode.VIDEO_HIGH),
        LinkModel([150.0] * 300, 0.10, seed=6, packet_loss=True, base_rtt_ms=500.0),
    )
    changes = [(k, s.decision.mode) for k, s in enumerate(steps) if s.decision.changed]
    assert changes == [(1, Mode.AUDIO_ONLY)], changes


def test_a_refused_probe_does_not_take_sound_to_text() -> None:
    """A sound-only leg on a 22 kbit/s link (its 12 kbit/s Opus fits) probed video-low: the
    probe's second read 85 % loss and an estimate far under what it pushed, and the link stayed
    at 22 after it. That is the probe's failure; the leg stays in sound (it used to go to text:
    the probe's second and the next, under the 24 kbit/s floor, made the 2 s hold)."""
    policy = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    modes, t, probed = [], 0, 0
    est = 30.0
    for _ in range(40):
        t += 1
        d = policy.update(sample(float(t), est, 0.0, 21.0 if est < 30 else 29.0))
        modes.append(d.mode)
        if d.probing is not None:
            t += 1
            modes.append(policy.update(sample(float(t), 22.0, 0.85, 146.0)).mode)
            probed += 1
            est = 22.0  # the link is as thin after the probe as during it
    assert probed >= 1
    assert Mode.TEXT_ONLY not in modes, modes


def test_steady_loss_in_a_few_packets_is_not_a_collapse() -> None:
    """A clean start (baseline 0: limit 10 %), then 5 % steady loss over video-low's ~60 packets
    a second: two seconds running read 10.7 %. The pooled loss of those seconds is judged against
    the limit plus its noise; a real 20 % loss still steps down within the hold."""
    policy = AdaptationPolicy(start=Mode.VIDEO_LOW)
    modes = feed(policy, [(250.0, 0.0, 140.0)] * 20)
    noisy = [0.036, 0.107, 0.107, 0.036, 0.071, 0.0, 0.107, 0.107, 0.0, 0.036]
    modes = feed_from(policy, 21, [(250.0, x, 140.0) for x in noisy])
    assert set(modes) <= {Mode.VIDEO_LOW, Mode.VIDEO_HIGH}, modes
    before = policy.mode
    modes = feed_from(policy, 31, [(250.0, 0.2, 140.0)] * 3)
    assert modes[-1] is not before


def test_sound_stops_on_loss_only_when_congested_or_lasting() -> None:
    """80 % loss for 2-4 s that does not come from the load (the estimate carries what is sent)
    keeps sound; 5 s of it, or 2 s of loss with the link refusing the load, is text."""
    burst = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    modes = feed(
        burst, [(60.0, 0.0, 33.0)] * 10 + [(60.0, 0.8, 33.0)] * 4 + [(60.0, 0.0, 33.0)] * 5
    )
    assert Mode.TEXT_ONLY not in modes
    lasting = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    modes = feed(lasting, [(60.0, 0.0, 33.0)] * 10 + [(60.0, 0.8, 33.0)] * 6)
    assert modes[-1] is Mode.TEXT_ONLY
    refused = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    modes = feed(refused, [(60.0, 0.0, 33.0)] * 10 + [(10.0, 0.8, 33.0)] * 2)
    assert modes[-1] is Mode.TEXT_ONLY


def test_a_probe_echo_at_long_rtt_does_not_count_against_the_mode() -> None:
    """At 800 ms the participant's sender still pushes a failed probe's load for a second after
    the probe ended, and reports come that late: that second judges the probe, not the mode."""
    policy = AdaptationPolicy(start=Mode.VIDEO_LOW)
    t, modes, probes = 0, [], 0
    for _ in range(60):
        t += 1
        d = policy.update(sample(float(t), 300.0, 0.0, 140.0, rtt=800.0))
        modes.append(d.mode)
        if d.probing is not None:
            probes += 1
            t += 1  # the probe floods the link ...
            modes.append(policy.update(sample(float(t), 300.0, 0.5, 420.0, rtt=800.0)).mode)
            t += 1  # ... and its echo shows a second later, after it failed
            modes.append(policy.update(sample(float(t), 300.0, 0.5, 420.0, rtt=800.0)).mode)
    assert probes >= 1
    assert Mode.AUDIO_ONLY not in modes and Mode.TEXT_ONLY not in modes, modes


def test_a_source_that_fills_the_probe_is_not_sender_limited() -> None:
    """A probe of video-low that pushed 146 kbit/s into a 150 kbit/s link used to commit as
    "sender-limited" (the estimate was not under what was pushed); the source sent what it was
    asked, so the link was the limit and the probe cannot show video-low's 162 kbit/s."""
    policy = AdaptationPolicy(start=Mode.AUDIO_ONLY)
    modes, t, probes = [], 0, 0
    for _ in range(60):
        t += 1
        d = policy.update(sample(float(t), 150.0, 0.02, 33.0))
        modes.append(d.mode)
        while d.probing is not None:
            probes += 1
            t += 1
            d = policy.update(sample(float(t), 150.0, 0.02, 146.0))
            modes.append(d.mode)
    assert probes >= 1
    assert set(modes) == {Mode.AUDIO_ONLY}


def test_a_participant_slow_to_stop_its_video_is_waited_for() -> None:
    """After the step to sound, the browser's video goes on until the plan reaches it over a
    socket in TCP back-off: the uplink shows the old load (loss, a refused rate) for a second or
    two. That is not the sound-only leg's link, for up to `obey_grace_s`; a sender that never
    obeys is judged after it."""
    cfg = PolicyConfig()
    obeys = AdaptationPolicy(start=Mode.VIDEO_HIGH)
    rows = [(60.0, 0.5, 400.0)] * 3  # the collapse: video-high -> sound
    modes = feed(obeys, rows)
    assert modes[-1] is Mode.AUDIO_ONLY
    t = len(rows)
    for _ in range(2):  # the stray video: 40 % loss, a rate far under what arrives
        t += 1
        modes.append(obeys.update(stray(float(t))).mode)
    modes += feed_from(obeys, t + 1, [(None, 0.0, 33.0)] * 5)
    assert Mode.TEXT_ONLY not in modes, modes
    never = AdaptationPolicy(start=Mode.VIDEO_HIGH)
    modes = feed(never, rows)
    t = len(rows)
    for _ in range(int(cfg.obey_grace_s) + 3):
        t += 1
        modes.append(never.update(stray(float(t))).mode)
    assert modes[-1] is Mode.TEXT_ONLY


def stray(t: float) -> LinkSample:
    return LinkSample(t, 20.0, 0.4, 50.0, 3.0, 0.05, 45.0, stray_kbps=25.0)

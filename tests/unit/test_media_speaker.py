"""Active speaker detection (media/speaker.py) on made-up level traces: who takes the picture,
when, and what keeps it from flapping."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from media.speaker import ActiveSpeaker, SpeakerConfig

TICK = 0.02


def run(
    detector: ActiveSpeaker,
    seconds: float,
    levels: Callable[[float], Mapping[str, float]],
    start: float = 0.0,
) -> list[tuple[float, str | None]]:
    """Feed 20 ms level samples; returns (time, speaker) at each switch."""
    switches = []
    t = start
    last = detector.current
    while t < start + seconds - 1e-9:
        t += TICK
        now = detector.update(t, levels(t))
        if now != last:
            switches.append((round(t, 2), now))
            last = now
    return switches


def test_the_loudest_takes_over_after_the_hold() -> None:
    d = ActiveSpeaker()
    switches = run(d, 2.0, lambda t: {"a": -20.0, "b": -40.0})
    assert [who for _, who in switches] == ["a"]
    assert switches[0][0] >= d.config.hold_s
    assert d.shown_to("b", ["a", "b"]) == "a"
    assert d.shown_to("a", ["a", "b"]) is None  # nobody spoke before the first speaker


def test_silence_and_background_noise_make_no_speaker() -> None:
    d = ActiveSpeaker()
    assert run(d, 3.0, lambda t: {"a": -70.0, "b": -127.0}) == []
    assert d.current is None


def test_a_short_burst_or_a_cough_does_not_take_the_picture() -> None:
    d = ActiveSpeaker()
    run(d, 3.0, lambda t: {"a": -25.0, "b": -45.0})
    # b coughs for 300 ms, much louder than a.
    burst = run(d, 2.0, lambda t: {"a": -25.0, "b": -5.0 if t < 3.3 else -45.0}, start=3.0)
    assert burst == [] and d.current == "a"


def test_a_slightly_louder_voice_does_not_steal_the_picture() -> None:
    """Within the margin, the current speaker keeps it: two people talking at once at similar
    levels must not make the video flap between them."""
    d = ActiveSpeaker()
    run(d, 2.0, lambda t: {"a": -25.0})
    assert run(d, 5.0, lambda t: {"a": -25.0, "b": -21.0}, start=2.0) == []
    switches = run(d, 3.0, lambda t: {"a": -25.0, "b": -15.0}, start=7.0)
    assert [who for _, who in switches] == ["b"]


def test_alternating_speakers_switch_at_most_once_per_dwell() -> None:
    d = ActiveSpeaker()
    cfg = d.config
    # a and b take turns every 1.2 s: long enough for each turn to take the picture, but never
    # two switches within the dwell.
    switches = run(d, 20.0, lambda t: {"a": -20.0} if int(t / 1.2) % 2 == 0 else {"b": -20.0})
    times = [t for t, _ in switches]
    assert len(switches) >= 2
    assert all(b - a >= cfg.min_dwell_s - 1e-6 for a, b in itertools.pairwise(times))
    assert len(switches) <= 20.0 / cfg.min_dwell_s + 1


def test_the_speaker_sees_the_previous_speaker_and_leavers_are_forgotten() -> None:
    d = ActiveSpeaker()
    run(d, 2.0, lambda t: {"a": -20.0})
    run(d, 3.0, lambda t: {"b": -20.0}, start=2.0)
    assert d.history == ["b", "a"]
    present = ["a", "b", "c"]
    assert d.shown_to("c", present) == "b"
    assert d.shown_to("b", present) == "a"
    d.forget("a")
    assert d.shown_to("b", ["b", "c"]) is None
    d.forget("b")
    assert d.current is None


def test_a_new_voice_takes_over_within_a_second_of_the_last_one_stopping() -> None:
    d = ActiveSpeaker()
    run(d, 3.0, lambda t: {"a": -20.0})
    switches = run(d, 3.0, lambda t: {"b": -30.0}, start=3.0)
    assert [who for _, who in switches] == ["b"] and switches[0][0] - 3.0 <= 1.0, switches


def test_a_quiet_current_speaker_yields_without_the_margin() -> None:
    d = ActiveSpeaker(SpeakerConfig(margin_db=20.0))
    run(d, 2.0, lambda t: {"a": -20.0})
    switches = run(d, 3.0, lambda t: {"b": -45.0}, start=2.0)  # a stopped; b speaks softly
    assert [who for _, who in switches] == ["b"]

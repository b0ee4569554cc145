"""Steady background loss (issue 14, first item): real rural 3G/4G links lose a few percent of
packets all the time, whatever the rate. The policy judges loss against the leg's own baseline,
so such a link keeps video, and comes back to it after a dip, instead of being locked out of
video by a fixed 2% headroom threshold. Loss is drawn packet by packet (media/link_model.py
`packet_loss`), so each second reads the noise a real receiver report carries."""

from __future__ import annotations

import pytest

from media.link_model import LinkModel, Step, simulate
from media.policy import AdaptationPolicy, Mode

VIDEO = {Mode.VIDEO_HIGH, Mode.VIDEO_LOW}


def call(
    capacity: list[float], loss: float, seed: int, start: Mode = Mode.VIDEO_HIGH
) -> list[Step]:
    policy = AdaptationPolicy(start=start)
    link = LinkModel(capacity, loss, seed=seed, packet_loss=True)
    return simulate(policy, link)


def switches_in_any_minute(steps: list[Step]) -> int:
    changes = [i for i, s in enumerate(steps) if s.decision.changed]
    return max((sum(1 for j in changes if i <= j < i + 60) for i in changes), default=0)


SEEDS = range(10)


@pytest.mark.parametrize("loss", [0.02, 0.03, 0.05, 0.08])
@pytest.mark.parametrize("seed", SEEDS)
def test_steady_loss_keeps_video(loss: float, seed: int) -> None:
    steps = call([1000.0] * 180, loss, seed)
    video = sum(1 for s in steps if s.decision.mode in VIDEO)
    assert video >= 0.95 * len(steps), (
        loss,
        seed,
        [s.decision.reason for s in steps if s.decision.changed],
    )
    assert switches_in_any_minute(steps) <= 1


@pytest.mark.parametrize("loss", [0.02, 0.03, 0.05, 0.08])
@pytest.mark.parametrize("seed", SEEDS)
def test_steady_loss_and_a_dip_come_back_to_video(loss: float, seed: int) -> None:
    # 30 s of a good link, a 10 s dip to 40 kbit/s, then the good link again for 110 s.
    capacity = [1000.0] * 30 + [40.0] * 10 + [1000.0] * 110
    steps = call(capacity, loss, seed)
    after = steps[40:]
    back = next((i for i, s in enumerate(after) if s.decision.mode is Mode.VIDEO_HIGH), None)
    # Before issue 14 video never came back (118-120 s of audio-only). The dip's failed probes
    # back off 4 s, 4 s, then double: the goal of 10 s from a restored link holds.
    assert back is not None and back <= 10, (
        loss,
        seed,
        [s.decision.reason for s in steps if s.decision.changed],
    )
    video = sum(1 for s in after[back:] if s.decision.mode in VIDEO)
    assert video >= 0.95 * len(after[back:])


@pytest.mark.parametrize("seed", SEEDS)
def test_audio_holds_at_twenty_percent_steady_loss(seed: int) -> None:
    # Opus with in-band FEC stays intelligible at 20% random loss: sound, never text.
    steps = call([100.0] * 300, 0.20, seed, start=Mode.AUDIO_ONLY)
    assert all(s.decision.mode is not Mode.TEXT_ONLY for s in steps), [
        (i, s.decision.reason) for i, s in enumerate(steps) if s.decision.changed
    ]


@pytest.mark.parametrize("seed", SEEDS)
def test_steady_loss_keeps_video_when_the_estimate_has_fallen_under_what_gets_through(
    seed: int,
) -> None:
    """aiortc's REMB cuts to 85 % of the incoming rate on each overuse it detects (a keyframe's
    queueing, a busy event loop) and climbs back slowly; on a 1 Mbit/s link with 5 % loss it sat
    at 30-200 kbit/s for tens of seconds (the shaped-link test). The leg's figure is then what it
    delivered, after the second's loss, and that reads 10-18 % under what was pushed in one
    second out of ten: the link refusing nothing. Judged as a refusal, two such seconds running
    dropped the call to video-low, then to sound (a clean-clone CI run)."""
    policy = AdaptationPolicy(start=Mode.VIDEO_HIGH)
    link = LinkModel([1000.0] * 300, 0.05, seed=seed, packet_loss=True, estimate_cap_kbps=40.0)
    steps = simulate(policy, link)
    video = sum(1 for s in steps if s.decision.mode in VIDEO)
    assert video >= 0.95 * len(steps), [s.decision.reason for s in steps if s.decision.changed]

"""Where a participant's fresh leg starts (media/call.py `Call._start_mode`): a leg lost on a
starved link is most often replaced on the same link, and must not flood it with video again."""

from __future__ import annotations

import pytest

from media.call import RESTART_MEMORY_S, Call
from media.leg import MediaConfig
from media.policy import Mode


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (Mode.TEXT_ONLY, Mode.AUDIO_ONLY),  # text-only shows no signs of life: sound first
        (Mode.AUDIO_ONLY, Mode.AUDIO_ONLY),
        (Mode.VIDEO_LOW, Mode.VIDEO_LOW),
        (Mode.VIDEO_HIGH, Mode.VIDEO_HIGH),
    ],
)
def test_a_fresh_leg_starts_where_the_last_one_ended(last: Mode, expected: Mode) -> None:
    clock = Clock()
    call = Call("c", lambda _e: None, MediaConfig(), clock)
    assert call._start_mode("p") is Mode.VIDEO_HIGH  # a first leg: the configured start
    call._left["p"] = (last, clock())
    clock.now += RESTART_MEMORY_S - 1
    assert call._start_mode("p") is expected
    assert call._start_mode("someone else") is Mode.VIDEO_HIGH
    # Long after, the link it ended on says nothing about this one.
    clock.now += 2
    assert call._start_mode("p") is Mode.VIDEO_HIGH


def test_never_above_the_configured_start() -> None:
    clock = Clock()
    call = Call("c", lambda _e: None, MediaConfig(start_mode=Mode.AUDIO_ONLY), clock)
    call._left["p"] = (Mode.VIDEO_HIGH, clock())
    assert call._start_mode("p") is Mode.AUDIO_ONLY

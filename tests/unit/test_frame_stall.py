"""The frame-stall guard's rule (media/frame_stall.py) on a fake clock: a restart needs both the
time and the packets, and comes at most once per stall period."""

from __future__ import annotations

import itertools

from media.frame_stall import FRAME_STALL_PACKETS, FRAME_STALL_S, FrameStallGuard


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard() -> tuple[FrameStallGuard, Clock, list[float]]:
    clock = Clock()
    restarts: list[float] = []
    return FrameStallGuard(lambda: restarts.append(clock.now), clock), clock, restarts


def test_frames_flowing_never_restart() -> None:
    g, clock, restarts = guard()
    for _ in range(1000):
        clock.now += 0.01
        g.packet()
        g.frame()
    assert restarts == []


def test_a_slow_keyframe_is_not_a_stall() -> None:
    """Few packets over a long time: a keyframe crawling over a 60 kbit/s link."""
    g, clock, restarts = guard()
    for _ in range(FRAME_STALL_PACKETS - 1):
        clock.now += 0.5
        g.packet()
    assert restarts == []


def test_a_burst_is_not_a_stall() -> None:
    """Many packets in a short time: one large frame at a high rate."""
    g, clock, restarts = guard()
    for _ in range(10 * FRAME_STALL_PACKETS):
        clock.now += 0.001
        g.packet()
    assert restarts == []


def test_packets_without_frames_restart_once_per_period() -> None:
    g, clock, restarts = guard()
    g.frame()
    for _ in range(400):  # 20 s at 20 packets/s, no frame out
        clock.now += 0.05
        g.packet()
    assert len(restarts) >= 8
    assert all(b - a >= FRAME_STALL_S for a, b in itertools.pairwise(restarts))
    assert g.restarts == len(restarts)
    # A frame out ends the stall: no restart for the next stall period.
    g.frame()
    before = len(restarts)
    for _ in range(30):
        clock.now += 0.05
        g.packet()
    assert len(restarts) == before

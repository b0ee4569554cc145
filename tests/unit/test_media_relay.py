"""RelayTrack: what a receiving leg gets of its source's encoded frames."""

from __future__ import annotations

import fractions
from typing import Any

from av.packet import Packet

from media.relay import MAX_BACKLOG, RelayTrack


def frame(pts: int, rate: int = 48000) -> Packet[Any]:
    packet = Packet(b"\x00" * 10)
    packet.pts = pts
    packet.time_base = fractions.Fraction(1, rate)
    return packet


def drain(track: RelayTrack) -> list[int]:
    out = []
    while not track._queue.empty():
        item = track._queue.get_nowait()
        assert item is not None
        out.append(int(item.pts or 0))
    return out


def test_a_source_switch_continues_at_the_sources_own_frame_spacing() -> None:
    track = RelayTrack("audio", request_keyframe=lambda: None)
    track.set_source("a")
    for pts in (0, 2880, 5760):  # 60 ms Opus packets
        track.push("a", frame(pts), keyframe=True)
    track.push("b", frame(123), keyframe=True)  # not the featured source: ignored
    track.set_source("b")
    for pts in (50_000, 52_880):
        track.push("b", frame(pts), keyframe=True)
    assert drain(track) == [5760 + 2880, 5760 + 2 * 2880]
    assert track.frames_forwarded == 5


def test_video_waits_for_a_keyframe_and_asks_for_one() -> None:
    asked = []
    track = RelayTrack("video", request_keyframe=lambda: asked.append(1), clock=lambda: 0.0)
    track.set_source("a")
    track.push("a", frame(0, 90000), keyframe=False)
    track.push("a", frame(3000, 90000), keyframe=True)
    track.push("a", frame(6000, 90000), keyframe=False)
    assert drain(track) == [3000, 6000]
    assert track.frames_dropped == 1 and asked  # rate-limited: one request at this clock


def test_a_receiver_far_behind_is_skipped_not_fed_stale_media() -> None:
    track = RelayTrack("audio", request_keyframe=lambda: None)
    track.set_source("a")
    for i in range(MAX_BACKLOG["audio"] + 1):
        track.push("a", frame(i * 960), keyframe=True)
    assert drain(track) == [MAX_BACKLOG["audio"] * 960]
    assert track.frames_dropped == MAX_BACKLOG["audio"]

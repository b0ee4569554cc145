"""The media bridge's event backlog stays bounded when delivery falls behind."""

from __future__ import annotations

from typing import Any

from media.events import ModeChange, Quality
from server.consultations.media_bridge import MAX_PENDING_EVENTS, MediaBridge
from server.ops import metrics


async def test_quality_samples_are_dropped_first_when_delivery_falls_behind() -> None:
    # No consumer runs: everything stays queued, as behind a stalled database.
    bridge = MediaBridge(svc=None, config=None, client_ice=[])  # type: ignore[arg-type]
    before = metrics.MEDIA_EVENTS_DROPPED._value.get()
    sample: dict[str, Any] = {"in_kbps": 1.0}
    for _ in range(MAX_PENDING_EVENTS + 50):
        bridge._enqueue(Quality("c", "p", "video-high", None, sample))
    change = ModeChange("c", "p", "audio-only", "video-high", "rate", sample)
    bridge._enqueue(change)
    assert bridge._queue.qsize() == MAX_PENDING_EVENTS + 1
    assert metrics.MEDIA_EVENTS_DROPPED._value.get() - before == 50
    items = [bridge._queue.get_nowait() for _ in range(bridge._queue.qsize())]
    assert items[-1] is change

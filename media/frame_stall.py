"""Noticing that a receiver's video frame assembly is stuck, and restarting it.

aiortc's video jitter buffer hands frames out from its oldest packet on. When a packet is lost
for good (its retransmission lost too, or never sent: the server's resend budget refuses some on
purpose), no later frame comes out until 128 packets have piled up behind the hole: at the
100-200 kbit/s a rural link carries, 6 to 11 s of frozen picture while packets keep arriving, and
the keyframe request that ends it meets the same odds. Browsers do not freeze this way
(libwebrtc's frame buffer skips to the next decodable frame), so every aiortc receiver of Relais
(the server's legs and the Python SDK) restarts the assembly itself: `FrameStallGuard` watches
packets against frames and calls `restart` (drop the buffer, ask for a keyframe) when packets
keep coming without a frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Video packets arriving without a complete frame for this long, and this many of them: the
# assembly is stuck. Both, so that a keyframe crawling over a thin link (10 KB at 60 kbit/s is
# 1.3 s, ~9 packets) is never mistaken for a stall, nor a burst at a high rate.
FRAME_STALL_S = 2.0
FRAME_STALL_PACKETS = 30


class FrameStallGuard:
    """One video receiver's watch: `packet()` for each media packet (not retransmission-only
    ones), `frame()` for each frame out of the assembly."""

    def __init__(
        self,
        restart: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
        stall_s: float = FRAME_STALL_S,
        stall_packets: int = FRAME_STALL_PACKETS,
    ) -> None:
        self._restart = restart
        self._clock = clock
        self._stall_s = stall_s
        self._stall_packets = stall_packets
        self._frame_at = clock()
        self._restarted_at = -1e9
        self._packets_since_frame = 0
        self.restarts = 0

    def frame(self) -> None:
        self._frame_at = self._clock()
        self._packets_since_frame = 0

    def packet(self) -> None:
        """Restart at most once per `stall_s`: the keyframe asked for needs a round trip and,
        on a thin link, a second or so to arrive whole."""
        now = self._clock()
        self._packets_since_frame += 1
        if (
            now - self._frame_at < self._stall_s
            or self._packets_since_frame < self._stall_packets
            or now - self._restarted_at < self._stall_s
        ):
            return
        self._restarted_at = now
        self._packets_since_frame = 0
        self.restarts += 1
        self._restart()

"""Forwarding one source's encoded frames to one receiving leg, without decoding them.

A `RelayTrack` is the outgoing track of a receiving leg. The source leg's receiver hands it each
complete encoded frame (see `aiortc_adapt.tap_receiver`); aiortc's sender then packetises it with
`Encoder.pack`, so relaying costs a copy and an SRTP pass, not a decode and an encode.

Video can only start on a keyframe: after the track is (re)enabled, after its source changes or
after it had to drop frames, it waits for one and asks the source for it (rate-limited, since a
PLI storm on a 2G uplink is itself a collapse).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Any

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.packet import Packet

# A receiver that falls this far behind (frames) is skipped to the next keyframe instead of
# being fed stale media.
MAX_BACKLOG = {"audio": 25, "video": 30}
KEYFRAME_REQUEST_INTERVAL_S = 0.5
# Frame spacing before any is seen (30 fps video at 90 kHz, 20 ms Opus at 48 kHz); a larger gap
# than MAX_STEP (1 s at 90 kHz) is a pause, not a frame spacing.
DEFAULT_STEP = {"audio": 960, "video": 3000}
MAX_STEP = 90_000


class RelayTrack(MediaStreamTrack):
    """Encoded frames of the current source, for one receiving leg and one kind."""

    def __init__(
        self,
        kind: str,
        request_keyframe: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue[Packet[Any] | None] = asyncio.Queue()
        self._request_keyframe = request_keyframe
        self._clock = clock
        self._enabled = True
        self._waiting_key = kind == "video"
        self._last_key_request = -1e9
        self._source: str | None = None
        self._offset = 0
        self._last_out: int | None = None
        self._rebase = False
        # The source's frame spacing in timestamp units (Opus packets may be 20 or 60 ms): where
        # the next source's first frame goes after a switch.
        self._step = DEFAULT_STEP[kind]
        self._last_in: int | None = None
        self.frames_forwarded = 0
        self.frames_dropped = 0
        self.on_bytes: Callable[[int], None] | None = None

    @property
    def enabled(self) -> bool:
        return self._enabled

    @property
    def source(self) -> str | None:
        return self._source

    def set_enabled(self, enabled: bool) -> None:
        if enabled and not self._enabled and self.kind == "video":
            self._waiting_key = True
            self._ask_keyframe()
        self._enabled = enabled
        if not enabled:
            self._flush()

    def set_source(self, source: str | None) -> None:
        """Switch to another source leg; timestamps stay monotonic for the receiver."""
        if source == self._source:
            return
        self._source = source
        self._flush()
        self._rebase = True
        self._last_in = None
        if self.kind == "video":
            self._waiting_key = True
            if source is not None:
                self._ask_keyframe()

    def _flush(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def _ask_keyframe(self) -> None:
        now = self._clock()
        if now - self._last_key_request >= KEYFRAME_REQUEST_INTERVAL_S:
            self._last_key_request = now
            self._request_keyframe()

    def push(self, source: str, packet: Packet[Any], keyframe: bool) -> None:
        """Called from the source's receiver for every complete frame (on the event loop)."""
        if not self._enabled or source != self._source or self.readyState != "live":
            return
        if self._waiting_key:
            if not keyframe:
                self.frames_dropped += 1
                self._ask_keyframe()
                return
            self._waiting_key = False
        if self._queue.qsize() >= MAX_BACKLOG[self.kind]:
            self._flush()
            self.frames_dropped += MAX_BACKLOG[self.kind]
            if self.kind == "video":
                self._waiting_key = True
                self._ask_keyframe()
                return
        pts = int(packet.pts or 0)
        if self._last_in is not None and 0 < pts - self._last_in <= MAX_STEP:
            self._step = pts - self._last_in
        self._last_in = pts
        if self._rebase:
            self._offset = 0 if self._last_out is None else self._last_out + self._step - pts
            self._rebase = False
        if self._offset:
            out = Packet(bytes(packet))
            out.pts = pts + self._offset
            out.time_base = packet.time_base or fractions.Fraction(1, 90000)
            packet = out
        self._last_out = pts + self._offset
        self.frames_forwarded += 1
        self._queue.put_nowait(packet)

    async def recv(self) -> Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            raise MediaStreamError
        if self.on_bytes is not None:
            self.on_bytes(packet.size)
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self._flush()
            self._queue.put_nowait(None)
        super().stop()

"""A consultation participant's WebRTC side in Python: aiortc peer, synthetic camera and
microphone, counters of what arrives, and obedience to the server's send plan.

Used by tests, benchmarks and bots the way a browser would be used: it offers audio+video
sendrecv, sends a tone and a moving picture, and lowers or stops what it sends when the server
says its link cannot carry it (`apply_plan`). Encoders are Relais's adaptive ones, so REMB below
250 kbit/s is honoured (stock aiortc would flood a 2G uplink).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket

from media import aiortc_adapt
from media.frame_stall import FrameStallGuard

AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms
VIDEO_CLOCK = 90000
# Arrival times of received audio frames kept for gap analysis (bench/media_link.py): 2 min.
AUDIO_ARRIVALS_KEPT = 6000


class ToneTrack(MediaStreamTrack):
    """A sine tone (440 Hz by default) at real-time pace: 20 ms mono s16 frames. Several
    participants with distinct tones let a test tell, by frequency, whom it hears;
    `amplitude` may be changed while the track runs (0: silence)."""

    kind = "audio"

    def __init__(self, frequency: int = 440, amplitude: int = 6000) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None
        self.frequency = frequency
        self._amplitude = -1
        # One whole number of cycles, so the tone repeats without a seam.
        self._period_len = AUDIO_RATE // math.gcd(frequency, AUDIO_RATE)
        self._period = b""
        self.amplitude = amplitude

    @property
    def amplitude(self) -> int:
        return self._amplitude

    @amplitude.setter
    def amplitude(self, value: int) -> None:
        if value == self._amplitude:
            return
        self._amplitude = value
        one = b"".join(
            int(value * math.sin(2 * math.pi * self.frequency * k / AUDIO_RATE)).to_bytes(
                2, "little", signed=True
            )
            for k in range(self._period_len)
        )
        # Long enough to cut any 20 ms frame out of it at any phase.
        self._period = one * (AUDIO_SAMPLES // self._period_len + 2)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._pts / AUDIO_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        offset = (self._pts % self._period_len) * 2
        frame.planes[0].update(self._period[offset : offset + AUDIO_SAMPLES * 2])
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += AUDIO_SAMPLES
        return frame


class PatternTrack(MediaStreamTrack):
    """A moving gradient at 30 fps, 640x480: enough detail to make VP8 spend its rate. `tint`
    is the constant (U, V) chroma, so a test can tell whose picture it receives."""

    kind = "video"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        tint: tuple[int, int] = (128, 128),
    ) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.tint = tint
        self._n = 0
        self._start: float | None = None
        base = bytes((x * 7) & 0xFF for x in range(width + 256))
        self._rows = [base[(y * 3) % 256 : (y * 3) % 256 + width] for y in range(height)]

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.VideoFrame(width=self.width, height=self.height, format="yuv420p")
        shift = (self._n * 4) % self.width
        luma = b"".join(row[shift:] + row[:shift] for row in self._rows)
        frame.planes[0].update(luma)
        frame.planes[1].update(bytes([self.tint[0]]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([self.tint[1]]) * frame.planes[2].buffer_size)
        frame.pts = self._n * (VIDEO_CLOCK // self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._n += 1
        return frame


@dataclass
class Counters:
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    last_frame_at: dict[str, float] = field(default_factory=dict)
    video_sizes: set[tuple[int, int]] = field(default_factory=set)
    # Monotonic arrival time of each audio frame, newest last (bounded): gaps show lost speech.
    audio_arrivals: deque[float] = field(default_factory=lambda: deque(maxlen=AUDIO_ARRIVALS_KEPT))


class MediaPeer:
    """One participant's peer connection to the Relais server."""

    def __init__(
        self,
        ice_servers: list[Any] | None = None,
        video: tuple[int, int, int] = (640, 480, 30),
        tone_hz: int = 440,
        tint: tuple[int, int] = (128, 128),
    ) -> None:
        from aiortc import RTCConfiguration

        aiortc_adapt.install_codec_parameters()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or []))
        self.audio_source = ToneTrack(tone_hz)
        self.video_source = PatternTrack(*video, tint=tint)
        self.audio_encoder = aiortc_adapt.AdaptiveOpusEncoder()
        self.video_encoder = aiortc_adapt.AdaptiveVp8Encoder()
        self.audio_sender = self.pc.addTrack(self.audio_source)
        self.video_sender = self.pc.addTrack(self.video_source)
        aiortc_adapt.use_encoder(self.audio_sender, self.audio_encoder)
        aiortc_adapt.use_encoder(self.video_sender, self.video_encoder)
        self.counters = Counters()
        self.plan: dict[str, Any] = {}
        # Called with every decoded frame received (kind, frame): tests analyse what arrives.
        self.on_frame: Callable[[str, av.AudioFrame | av.VideoFrame], None] | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self._keyframe_asks: set[asyncio.Future[None]] = set()
        # Received video whose frame assembly sticks is restarted (media/frame_stall.py), as
        # the server's legs do: a browser never freezes on one lost packet, nor should we.
        self.video_frames: FrameStallGuard | None = None
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            receiver = next(
                t.receiver for t in self.pc.getTransceivers() if t.receiver.track is track
            )
            self._guard_video(receiver)
        self._consumers.append(asyncio.ensure_future(self._consume(track)))

    def _guard_video(self, receiver: RTCRtpReceiver) -> None:
        source_ssrc: list[int] = []

        def restart() -> None:
            aiortc_adapt.restart_video_frames(receiver)
            if source_ssrc:
                ask = asyncio.ensure_future(aiortc_adapt.request_keyframe(receiver, source_ssrc[0]))
                self._keyframe_asks.add(ask)
                ask.add_done_callback(self._keyframe_asks.discard)

        guard = FrameStallGuard(restart)

        def on_rtp(packet: RtpPacket, arrival_ms: int, resent: bool) -> None:
            if not resent:
                source_ssrc[:] = [packet.ssrc]
                guard.packet()

        aiortc_adapt.observe_rtp(receiver, on_rtp)
        self.video_frames = guard

    async def _consume(self, track: MediaStreamTrack) -> None:
        kind = track.kind
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                self.counters.frames[kind] += 1
                self.counters.last_frame_at[kind] = now
                if kind == "video" and self.video_frames is not None:
                    self.video_frames.frame()
                if kind == "audio":
                    self.counters.audio_arrivals.append(now)
                if isinstance(frame, av.VideoFrame):
                    self.counters.video_sizes.add((frame.width, frame.height))
                if self.on_frame is not None and isinstance(frame, av.AudioFrame | av.VideoFrame):
                    self.on_frame(kind, frame)
        except MediaStreamError:
            return

    async def offer(self) -> str:
        offer = await self.pc.createOffer()
        await self.pc.setLocalDescription(offer)
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    def apply_plan(self, plan: dict[str, Any]) -> None:
        """Follow the server's send plan: what to send and at which ceiling."""
        self.plan = dict(plan)
        video_kbps = int(plan.get("video_kbps") or 0) if plan.get("video") else 0
        self.video_encoder.set_cap(video_kbps * 1000)
        audio_kbps = int(plan.get("audio_kbps") or 0) if plan.get("audio", True) else 0
        self.audio_encoder.set_cap(audio_kbps * 1000)

    async def stats(self) -> dict[str, dict[str, int]]:
        """Packets and bytes received and sent per kind, from aiortc's own getStats()."""
        out: dict[str, dict[str, int]] = {"audio": {}, "video": {}}
        report = await self.pc.getStats()
        for stat in report.values():
            kind = getattr(stat, "kind", None)
            if kind not in out:
                continue
            if stat.type == "inbound-rtp":
                out[kind]["packets_received"] = int(stat.packetsReceived)
                out[kind]["bytes_received"] = int(getattr(stat, "bytesReceived", 0) or 0)
            elif stat.type == "outbound-rtp":
                out[kind]["packets_sent"] = int(stat.packetsSent)
        return out

    async def close(self) -> None:
        for task in [*self._consumers, *self._keyframe_asks]:
            task.cancel()
        await asyncio.gather(*self._consumers, *self._keyframe_asks, return_exceptions=True)
        self.audio_source.stop()
        self.video_source.stop()
        await aiortc_adapt.close_peer(self.pc)

"""The audio of a call of three or more: decoded once per participant, mixed minus each
receiver and encoded once per receiver at that receiver's Opus rate, on a worker thread.

`Call` feeds every received Opus packet here (`feed`, on the event loop: a copy into a queue)
and gets back, every 20 ms, one list of encoded packets per receiver and the level of every
source (`MixOutput`, delivered on the event loop with `call_soon_threadsafe`). The packets go
into the receiver's ordinary audio `RelayTrack` under the source name `MIX_SOURCE`, so
timestamps stay continuous when a call grows from two to three (relay -> mix) or shrinks back,
and backlog, byte counting and enabling work as for a relayed stream.

Why a thread: decoding, mixing and encoding cost ~11 ms of CPU per participant per second of
audio (bench/mix_cost.py, docs/performance.md §11), and one tick's work for three or four
participants takes 2.5-4.5 ms every 20 ms; on the event loop that is latency added to every
socket and relayed frame of the node. libopus runs without the GIL (PyAV releases it around
the codec calls: two threads encoding do twice the work in the same wall time, checked), so
the thread costs the loop little; the loop's own share is the queue put per packet and one
callback per tick (~2 ms/s for a call of three, measured).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import av
from av.packet import Packet

from media.aiortc_adapt import AUDIO_TIME_BASE, AdaptiveOpusEncoder
from media.mixer import FRAME_SAMPLES, RATE, MixMinus

log = logging.getLogger("relais.media.mixminus")

# The RelayTrack source name of mixed audio; leg ids are participant ids, never this.
MIX_SOURCE = "\x00mix"
TICK_S = FRAME_SAMPLES / RATE
# Behind schedule by more than this (a stalled machine), the mixer skips ahead instead of
# producing a burst of ticks that would only pile up in the receivers' queues.
MAX_LATE_S = 0.2


@dataclass(slots=True)
class MixOutput:
    """One tick's result: encoded packets per receiver, and each sounding source's level."""

    packets: dict[str, list[Packet[Any]]]
    levels: dict[str, float]


@dataclass(slots=True)
class MixStats:
    """What the worker did, for tests and the bench."""

    ticks: int = 0
    packets_in: int = 0
    decode_errors: int = 0
    cpu_s: float = 0.0  # the worker thread's CPU time (decode + mix + encode)
    late_skips: int = 0
    encoders: dict[str, int] = field(default_factory=dict)  # receiver -> Opus rate now


class _Decoder:
    """One source's Opus decoder, output normalised to 48 kHz mono s16 whatever the stream."""

    def __init__(self) -> None:
        self._codec: Any = av.CodecContext.create("libopus", "r")
        self._codec.sample_rate = RATE
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)

    def decode(self, data: bytes, pts: int) -> bytes:
        packet = Packet(data)
        packet.pts = pts
        packet.time_base = AUDIO_TIME_BASE
        out = bytearray()
        for frame in self._codec.decode(packet):
            for chunk in self._resampler.resample(frame):
                out += bytes(chunk.planes[0])[: chunk.samples * 2]
        return bytes(out)


class MixWorker:
    """The mixer of one call: its own thread, ticking every 20 ms while the call has 3+ legs."""

    def __init__(
        self,
        deliver: Callable[[MixOutput], None],
        loop: asyncio.AbstractEventLoop | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self._deliver = deliver
        self._loop = loop or asyncio.get_running_loop()
        self._tick_s = tick_s
        self._inbox: queue.SimpleQueue[tuple[str, bytes, int] | tuple[str, None, int]] = (
            queue.SimpleQueue()
        )
        # receiver -> Opus bit/s; replaced whole by the loop, read whole by the thread.
        self._rates: Mapping[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relais-mix", daemon=True)
        self.stats = MixStats()
        self.mixer = MixMinus()
        self._decoders: dict[str, _Decoder] = {}
        self._encoders: dict[str, AdaptiveOpusEncoder] = {}
        self._pts: dict[str, int] = {}

    # -- from the event loop ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def feed(self, source: str, packet: Packet[Any]) -> None:
        """An Opus packet received from `source` (copied: the caller's buffer is reused)."""
        self._inbox.put((source, bytes(packet), int(packet.pts or 0)))

    def remove_source(self, source: str) -> None:
        self._inbox.put((source, None, 0))

    def set_receivers(self, rates: Mapping[str, int]) -> None:
        """Who gets a mix, at which Opus rate (a receiver missing here gets nothing encoded)."""
        self._rates = dict(rates)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ask the thread to end (it does within a tick); does not wait."""
        self._stop.set()

    async def aclose(self) -> None:
        self.stop()
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    # -- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            if now < due:
                self._stop.wait(due - now)
                continue
            if now - due > MAX_LATE_S:
                self.stats.late_skips += 1
                due = now
            due += self._tick_s
            started = time.thread_time()
            try:
                output = self.step()
            except Exception:  # a codec error must not end the call's audio
                log.exception("mix tick failed")
                continue
            finally:
                self.stats.cpu_s += time.thread_time() - started
            try:
                self._loop.call_soon_threadsafe(self._deliver, output)
            except RuntimeError:  # the loop is closed: the call is gone
                return

    def step(self) -> MixOutput:
        """One tick: decode what arrived, mix 20 ms for every receiver, encode each mix.
        Public for the bench, which runs it without the thread."""
        self._drain()
        rates = self._rates
        tick = self.mixer.tick(rates)
        self.stats.ticks += 1
        packets: dict[str, list[Packet[Any]]] = {}
        for receiver, pcm in tick.mixes.items():
            encoder = self._encoders.get(receiver)
            if encoder is None:
                encoder = self._encoders[receiver] = AdaptiveOpusEncoder(rates[receiver])
            encoder.set_cap(rates[receiver])
            packets[receiver] = self._encode(receiver, encoder, pcm)
        for gone in set(self._encoders) - set(rates):
            del self._encoders[gone]
            self._pts.pop(gone, None)
        self.stats.encoders = {r: e.bitrate for r, e in self._encoders.items()}
        return MixOutput(packets, tick.levels)

    def _drain(self) -> None:
        while True:
            try:
                source, data, pts = self._inbox.get_nowait()
            except queue.Empty:
                return
            if data is None:
                self.mixer.remove(source)
                self._decoders.pop(source, None)
                continue
            decoder = self._decoders.get(source)
            if decoder is None:
                decoder = self._decoders[source] = _Decoder()
            self.stats.packets_in += 1
            try:
                pcm = decoder.decode(data, pts)
            except (av.FFmpegError, ValueError):
                self.stats.decode_errors += 1
                continue
            self.mixer.push(source, pcm)

    def _encode(self, receiver: str, encoder: AdaptiveOpusEncoder, pcm: bytes) -> list[Packet[Any]]:
        pts = self._pts.get(receiver, 0)
        self._pts[receiver] = pts + FRAME_SAMPLES
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.sample_rate = RATE
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, RATE)
        payloads, timestamp = encoder.encode(frame)
        out = []
        for payload in payloads:
            packet = Packet(payload)
            packet.pts = timestamp
            packet.time_base = AUDIO_TIME_BASE
            out.append(packet)
        return out

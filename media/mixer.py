"""Mix-minus of decoded audio: each receiver hears every other participant, never itself.

Pure PCM (48 kHz, mono, signed 16-bit), no codec, thread or clock, so it is unit-tested alone;
`media/mixminus.py` decodes what the legs receive, calls `MixMinus.tick` every 20 ms on its
worker thread and encodes the result once per receiver.

Why these choices:
- **A small jitter buffer per source.** Packets arrive in bursts (a 60 ms Opus packet is three
  ticks of audio at once) and with network jitter, while the mix is taken on a steady 20 ms
  clock. A source starts being mixed once it holds one packet plus `JITTER_MARGIN_SAMPLES`; on an
  underrun it is mixed with what it has, padded with silence, and waits for that depth again (a
  gap is heard as a gap, not as a crackle of half-empty ticks). Beyond `MAX_EXTRA_SAMPLES` over
  that depth the oldest audio is dropped: clock drift or a burst after a stall must not turn
  into growing delay.
- **Sum wide, clip once.** Sources are summed in 32 bits (with headroom for `MAX_SOURCES`) and
  clipped to 16 bits once at the end. Clipping at each pairwise add would make the result depend
  on the order of the sources (+30000 +30000 -30000 gives 2767 instead of 30000).
- **`audioop`** does the sample arithmetic in C (the standard library up to Python 3.12,
  deprecated there; from 3.13 the `audioop-lts` backport, a dependency with that marker). Pure
  Python costs ~0.3 µs a sample, about 50 ms of CPU a second for a three-way call: too much.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 48000
FRAME_SAMPLES = 960  # 20 ms: one mix tick
SAMPLE_BYTES = 2
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES
SILENCE = bytes(FRAME_BYTES)
# Depth a source must reach (beyond one packet) before it is mixed: jitter of a few tens of ms.
JITTER_MARGIN_SAMPLES = 1920  # 40 ms
# How far beyond that depth a source may grow before its oldest audio is dropped.
MAX_EXTRA_SAMPLES = 5760  # 120 ms
# Sources summed without overflow in the 32-bit accumulator before the final clip.
MAX_SOURCES = 8
SILENT_DBOV = -127.0


def level_dbov(pcm: bytes) -> float:
    """RMS level relative to full scale (0 dBov: a full-scale square wave), as RFC 6464 counts
    it; silence is -127."""
    if not pcm:
        return SILENT_DBOV
    rms = audioop.rms(pcm, SAMPLE_BYTES)
    if rms <= 0:
        return SILENT_DBOV
    return max(SILENT_DBOV, 20.0 * math.log10(rms / 32768.0))


def mix(frames: Iterable[bytes]) -> bytes:
    """Sum equal-length 16-bit frames, clipping once at the end (saturation, no wrap-around)."""
    parts = list(frames)
    if not parts:
        return SILENCE
    if len(parts) == 1:
        return parts[0]
    wide: bytes | None = None
    for frame in parts:
        # 16 -> 32 bits puts the sample in the high half; dividing by MAX_SOURCES leaves room to
        # add that many full-scale frames without the 32-bit add saturating.
        part = audioop.mul(audioop.lin2lin(frame, SAMPLE_BYTES, 4), 4, 1.0 / MAX_SOURCES)
        wide = part if wide is None else audioop.add(wide, part, 4)
    assert wide is not None
    # `mul` saturates at the 32-bit limits, which are the 16-bit limits once narrowed.
    return audioop.lin2lin(audioop.mul(wide, 4, float(MAX_SOURCES)), 4, SAMPLE_BYTES)


class SourceBuffer:
    """One participant's decoded audio waiting to be mixed."""

    def __init__(self) -> None:
        self._pcm = bytearray()
        self._primed = False
        self._packet_samples = FRAME_SAMPLES
        self.underruns = 0
        self.dropped_samples = 0

    @property
    def depth_samples(self) -> int:
        return len(self._pcm) // SAMPLE_BYTES

    @property
    def prefetch_samples(self) -> int:
        """Depth needed before mixing (re)starts: the latest packet length plus the margin."""
        return self._packet_samples + JITTER_MARGIN_SAMPLES

    @property
    def sounding(self) -> bool:
        return self._primed

    def push(self, pcm: bytes) -> None:
        """One decoded packet (any whole number of samples)."""
        samples = len(pcm) // SAMPLE_BYTES
        if samples == 0:
            return
        self._packet_samples = max(FRAME_SAMPLES, samples)
        self._pcm += pcm[: samples * SAMPLE_BYTES]
        excess = self.depth_samples - (self.prefetch_samples + MAX_EXTRA_SAMPLES)
        if excess > 0:
            drop = self.depth_samples - self.prefetch_samples
            del self._pcm[: drop * SAMPLE_BYTES]
            self.dropped_samples += drop

    def pull(self) -> bytes | None:
        """The next 20 ms, or None while the source is not (or no longer) sounding."""
        if not self._primed:
            if self.depth_samples < self.prefetch_samples:
                return None
            self._primed = True
        if len(self._pcm) >= FRAME_BYTES:
            out = bytes(self._pcm[:FRAME_BYTES])
            del self._pcm[:FRAME_BYTES]
            return out
        # Underrun: what is left, then silence until the buffer is deep enough again.
        self.underruns += 1
        self._primed = False
        out = bytes(self._pcm) + bytes(FRAME_BYTES - len(self._pcm))
        self._pcm.clear()
        return out


@dataclass(frozen=True, slots=True)
class MixTick:
    """One 20 ms tick: the mix for each receiver, and the level of each sounding source."""

    mixes: dict[str, bytes]
    levels: dict[str, float]


class MixMinus:
    """The decoded audio of a call's participants, mixed for each receiver minus itself."""

    def __init__(self) -> None:
        self._sources: dict[str, SourceBuffer] = {}

    @property
    def sources(self) -> dict[str, SourceBuffer]:
        return self._sources

    def push(self, source: str, pcm: bytes) -> None:
        """Decoded 48 kHz mono s16 audio of `source` (one packet's worth)."""
        buffer = self._sources.get(source)
        if buffer is None:
            buffer = self._sources[source] = SourceBuffer()
        buffer.push(pcm)

    def remove(self, source: str) -> None:
        self._sources.pop(source, None)

    def tick(self, receivers: Iterable[str]) -> MixTick:
        """Take 20 ms from every sounding source; mix all but itself for each receiver."""
        frames = {}
        for source, buffer in self._sources.items():
            frame = buffer.pull()
            if frame is not None:
                frames[source] = frame
        levels = {source: level_dbov(frame) for source, frame in frames.items()}
        mixes = {
            receiver: mix(frame for source, frame in frames.items() if source != receiver)
            for receiver in receivers
        }
        return MixTick(mixes, levels)

"""The mix-minus mixer (media/mixer.py) and its worker's codec path (media/mixminus.py), without
the network: saturation, a source that stops and comes back, jitter buffering, and streams of
other rates and channel layouts than the mixer's own."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
from typing import Any

import av
import pytest

from media.aiortc_adapt import AdaptiveOpusEncoder
from media.mixer import (
    FRAME_BYTES,
    FRAME_SAMPLES,
    JITTER_MARGIN_SAMPLES,
    MAX_EXTRA_SAMPLES,
    SILENCE,
    MixMinus,
    SourceBuffer,
    level_dbov,
    mix,
)
from media.mixminus import MixOutput, MixWorker


def const(value: int, samples: int = FRAME_SAMPLES) -> bytes:
    return array.array("h", [value] * samples).tobytes()


def tone(hz: float, amplitude: int, samples: int, rate: int = 48000, start: int = 0) -> list[int]:
    return [
        int(amplitude * math.sin(2 * math.pi * hz * (start + k) / rate)) for k in range(samples)
    ]


def values(pcm: bytes) -> array.array[int]:
    return array.array("h", pcm)


def amplitude_at(samples: array.array[int] | list[int], hz: float, rate: int = 48000) -> float:
    n = len(samples)
    re = sum(x * math.cos(2 * math.pi * hz * k / rate) for k, x in enumerate(samples))
    im = sum(x * math.sin(2 * math.pi * hz * k / rate) for k, x in enumerate(samples))
    return 2 * math.hypot(re, im) / n


def primed(mixer: MixMinus, source: str, value: int) -> None:
    """Enough of `source` to be mixed from the next tick on (one packet plus the margin)."""
    for _ in range(1 + JITTER_MARGIN_SAMPLES // FRAME_SAMPLES):
        mixer.push(source, const(value))


# -- mixing ------------------------------------------------------------------------------------


def test_loud_sources_saturate_instead_of_wrapping() -> None:
    assert set(values(mix([const(30000), const(30000)]))) == {32767}
    assert set(values(mix([const(-30000), const(-30000), const(-30000)]))) == {-32768}


def test_the_sum_is_clipped_once_whatever_the_order_of_the_sources() -> None:
    # Clipping each pairwise add would give 32767 - 30000 = 2767 in the first order.
    for order in ((30000, 30000, -30000), (-30000, 30000, 30000)):
        assert set(values(mix([const(v) for v in order]))) == {30000}


def test_mixing_is_exact_below_full_scale() -> None:
    a, b = tone(440, 10000, FRAME_SAMPLES), tone(660, 10000, FRAME_SAMPLES)
    mixed = values(mix([array.array("h", a).tobytes(), array.array("h", b).tobytes()]))
    assert max(abs(m - (x + y)) for m, x, y in zip(mixed, a, b, strict=True)) <= 1


def test_nothing_to_mix_is_silence_and_one_source_is_passed_as_it_is() -> None:
    assert mix([]) == SILENCE
    assert mix([const(1234)]) == const(1234)
    assert level_dbov(SILENCE) == -127.0
    assert -1.0 < level_dbov(const(32767)) <= 0.0


def test_each_receiver_gets_everyone_but_itself() -> None:
    mixer = MixMinus()
    for source, value in (("a", 100), ("b", 1000), ("c", 10000)):
        primed(mixer, source, value)
    tick = mixer.tick(["a", "b", "c", "listener"])
    assert set(values(tick.mixes["a"])) == {11000}
    assert set(values(tick.mixes["b"])) == {10100}
    assert set(values(tick.mixes["c"])) == {1100}
    assert set(values(tick.mixes["listener"])) == {11100}  # not a source: hears all
    assert tick.levels["c"] > tick.levels["b"] > tick.levels["a"]


# -- a source's buffer ---------------------------------------------------------------------------


def test_a_source_is_mixed_once_it_holds_a_packet_and_the_jitter_margin() -> None:
    buffer = SourceBuffer()
    buffer.push(const(1))
    assert buffer.pull() is None  # 20 ms held, 60 needed
    buffer.push(const(1))
    assert buffer.pull() is None
    buffer.push(const(1))
    assert buffer.pull() == const(1) and buffer.sounding


def test_a_source_that_stops_mid_way_goes_silent_then_rebuffers() -> None:
    mixer = MixMinus()
    primed(mixer, "a", 500)
    primed(mixer, "b", 7)
    heard_by_b = []
    for _ in range(6):  # "a" sent three frames and stopped; "b" keeps sending
        mixer.push("b", const(7))
        heard_by_b.append(set(values(mixer.tick(["b"]).mixes["b"])))
    assert heard_by_b[:3] == [{500}] * 3
    assert heard_by_b[3:] == [{0}] * 3  # silence, not a repeat or a wrap
    assert mixer.sources["a"].underruns == 1 and not mixer.sources["a"].sounding
    # "a" comes back: one packet is not enough, it waits for the margin again.
    mixer.push("a", const(600))
    assert set(values(mixer.tick(["b"]).mixes["b"])) == {0}
    mixer.push("a", const(600))
    mixer.push("a", const(600))
    mixer.push("a", const(600))
    assert set(values(mixer.tick(["b"]).mixes["b"])) == {600}


def test_a_partial_last_frame_is_padded_with_silence() -> None:
    buffer = SourceBuffer()
    for _ in range(3):
        buffer.push(const(9))
    buffer.push(const(9, 100))
    for _ in range(3):
        assert buffer.pull() == const(9)
    last = buffer.pull()
    assert last is not None and len(last) == FRAME_BYTES
    assert values(last)[:100].tolist() == [9] * 100 and set(values(last)[100:]) == {0}


def test_60_ms_packets_raise_the_depth_and_a_backlog_is_cut_to_it() -> None:
    buffer = SourceBuffer()
    buffer.push(const(1, 2880))
    assert buffer.prefetch_samples == 2880 + JITTER_MARGIN_SAMPLES
    for _ in range(10):  # a burst after a stall: 600 ms at once
        buffer.push(const(1, 2880))
    assert buffer.depth_samples <= buffer.prefetch_samples + MAX_EXTRA_SAMPLES
    assert buffer.dropped_samples > 0


# -- the worker's codec path -------------------------------------------------------------------


def opus_packets(
    hz: float, seconds: float, rate: int = 48000, layout: str = "mono", coded: str = "mono"
) -> list[av.Packet]:
    """A tone encoded as Opus from a source of some sample rate and channel layout, coded mono
    (our encoder, which resamples) or stereo (a plain libopus encoder, as a browser may send)."""
    encoder = AdaptiveOpusEncoder(32000)
    stereo: Any = None
    if coded == "stereo":
        stereo = av.CodecContext.create("libopus", "w")
        stereo.bit_rate, stereo.format, stereo.layout = 64000, "s16", "stereo"
        stereo.sample_rate, stereo.time_base = 48000, fractions.Fraction(1, 48000)
    channels = 2 if layout == "stereo" else 1
    per_frame = rate // 50
    out = []
    for i in range(int(seconds * 50)):
        samples = tone(hz, 8000, per_frame, rate, i * per_frame)
        frame = av.AudioFrame(format="s16", layout=layout, samples=per_frame)
        interleaved = [s for s in samples for _ in range(channels)]
        frame.planes[0].update(array.array("h", interleaved).tobytes())
        frame.sample_rate = rate
        frame.pts = i * per_frame
        frame.time_base = fractions.Fraction(1, rate)
        if stereo is not None:
            out += list(stereo.encode(frame))
            continue
        payloads, timestamp = encoder.encode(frame)
        for payload in payloads:
            packet = av.Packet(payload)
            packet.pts = timestamp
            out.append(packet)
    return out


@pytest.mark.parametrize(
    ("rate", "layout", "coded"),
    [(48000, "mono", "mono"), (16000, "stereo", "mono"), (48000, "stereo", "stereo")],
)
async def test_the_worker_decodes_mixes_and_encodes_per_receiver(
    rate: int, layout: str, coded: str
) -> None:
    """Source "a" is a 48 kHz mono, a 16 kHz stereo (resampled by its encoder) or a stereo-coded
    Opus stream, "b" 48 kHz mono: each comes out decoded to the mixer's 48 kHz mono, mixed minus
    the receiver, and encoded as Opus at each receiver's own rate."""
    outputs: list[MixOutput] = []
    worker = MixWorker(outputs.append, asyncio.get_running_loop())
    worker.set_receivers({"a": 16000, "b": 32000, "c": 24000})
    sources = {"a": opus_packets(440, 1.0, rate, layout, coded), "b": opus_packets(990, 1.0)}
    decoder = {r: av.CodecContext.create("libopus", "r") for r in ("a", "b", "c")}
    for codec in decoder.values():
        codec.format, codec.layout, codec.sample_rate = "s16", "mono", 48000
    pcm: dict[str, list[int]] = {r: [] for r in decoder}
    for i in range(50):
        for source, packets in sources.items():
            if i < len(packets):
                worker.feed(source, packets[i])
        out = worker.step()
        for receiver, packets in out.packets.items():
            for packet in packets:
                for frame in decoder[receiver].decode(packet):
                    pcm[receiver] += values(bytes(frame.planes[0]))[: frame.samples].tolist()
    assert worker.stats.decode_errors == 0
    assert worker.stats.packets_in == sum(map(len, sources.values())) >= 98
    assert worker.stats.encoders == {"a": 16000, "b": 32000, "c": 24000}
    steady = {r: samples[-24000:] for r, samples in pcm.items()}
    for receiver, own, other in (("a", 440, 990), ("b", 990, 440)):
        heard, self_heard = (
            amplitude_at(steady[receiver], other),
            amplitude_at(steady[receiver], own),
        )
        assert self_heard < 0.05 * heard, (receiver, heard, self_heard)
    both = (amplitude_at(steady["c"], 440), amplitude_at(steady["c"], 990))
    assert min(both) > 0.5 * max(both), both
    await worker.aclose()

"""What mix-minus costs: CPU per participant of a call of 2, 3 and 4 (docs/media.md, "Everyone
hears everyone").

    python -m bench.mix_cost [--seconds 20] [--live-seconds 10] [--no-live] [--no-doc]

Two measurements:

1. **Offline, per stage** (deterministic input, no network): each participant's distinct tone
   is encoded once beforehand as a browser sends it (Opus, 20 ms packets, 32 kbit/s). Then, for
   `--seconds` of audio, the mixer's own code runs tick by tick (`media/mixminus.py`
   `MixWorker.step`, without its thread), and each stage is timed separately with
   `time.thread_time()`: decoding every source once (`_Decoder`), mixing 20 ms minus each
   receiver (`MixMinus.tick`), and encoding once per receiver (`AdaptiveOpusEncoder`) at two
   receiver rates: 32 kbit/s in 20 ms packets (video-high) and 16 kbit/s in 60 ms packets
   (audio-only). Figures are CPU milliseconds per second of audio. A call of 2 is *relayed*
   (no decode, no encode): its mix figures say what mixing it would cost, which is why it is
   not mixed.
2. **Live** (`--live-seconds`, N = 3 and 4): real aiortc participants (client/media_peer.py,
   tones and a small video) and a real `media.Call` in this process. The worker thread's CPU
   (`MixStats.cpu_s`) per second of call, and the event loop's own share of mixing: the time
   spent in `Call.on_frame` for audio (a copy into the worker's queue) and in `Call._on_mixed`
   (queueing the packets, the speaker's update), measured with `time.thread_time()` around them.

Writes "## 11. Mix-minus audio cost" of docs/performance.md (other sections untouched).
"""

from __future__ import annotations

import argparse
import array
import asyncio
import fractions
import math
import subprocess
import sys
import time
from typing import Any

import av

from bench import doc_sections
from bench.media_link import machine
from media.aiortc_adapt import AdaptiveOpusEncoder
from media.mixer import FRAME_SAMPLES, RATE, MixMinus
from media.mixminus import _Decoder

HEADING = "## 11. Mix-minus audio cost"
TONES = (440, 660, 990, 1320)
RATES = {"32 kbit/s, 20 ms (video-high)": 32_000, "16 kbit/s, 60 ms (audio-only)": 16_000}


def log(msg: str) -> None:
    print(f"[mix_cost {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def browser_packets(hz: int, seconds: float) -> list[tuple[bytes, int]]:
    """A tone as a browser would send it: Opus, 20 ms packets, 32 kbit/s."""
    codec: Any = av.CodecContext.create("libopus", "w")
    codec.bit_rate, codec.format, codec.layout = 32_000, "s16", "mono"
    codec.sample_rate, codec.time_base = RATE, fractions.Fraction(1, RATE)
    out = []
    for i in range(int(seconds * 50)):
        samples = [
            int(6000 * math.sin(2 * math.pi * hz * (i * FRAME_SAMPLES + k) / RATE))
            for k in range(FRAME_SAMPLES)
        ]
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(array.array("h", samples).tobytes())
        frame.sample_rate, frame.pts = RATE, i * FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, RATE)
        out += [(bytes(p), i * FRAME_SAMPLES) for p in codec.encode(frame)]
    return out


def offline(n: int, seconds: float, receiver_bps: int) -> dict[str, float]:
    """CPU ms per second of audio for one call of `n`, by stage."""
    names = [f"p{i}" for i in range(n)]
    packets = {name: browser_packets(TONES[i], seconds) for i, name in enumerate(names)}
    decoders = {name: _Decoder() for name in names}
    mixer = MixMinus()
    encoders = {name: AdaptiveOpusEncoder(receiver_bps) for name in names}
    spent = {"decode": 0.0, "mix": 0.0, "encode": 0.0}
    longest = 0.0
    ticks = int(seconds * 50)
    for i in range(ticks):
        t0 = time.thread_time()
        for name in names:
            data, pts = packets[name][i]
            mixer.push(name, decoders[name].decode(data, pts))
        t1 = time.thread_time()
        tick = mixer.tick(names)
        t2 = time.thread_time()
        for name, pcm in tick.mixes.items():
            frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
            frame.planes[0].update(pcm)
            frame.sample_rate, frame.pts = RATE, i * FRAME_SAMPLES
            frame.time_base = fractions.Fraction(1, RATE)
            encoders[name].encode(frame)
        t3 = time.thread_time()
        spent["decode"] += t1 - t0
        spent["mix"] += t2 - t1
        spent["encode"] += t3 - t2
        longest = max(longest, t3 - t0)
    per_s = {stage: 1000.0 * v / seconds for stage, v in spent.items()}
    per_s["total"] = sum(per_s.values())
    per_s["per_participant"] = per_s["total"] / n
    per_s["longest_tick_ms"] = 1000.0 * longest
    return per_s


async def live(n: int, seconds: float) -> dict[str, float]:
    """A real call of `n` aiortc participants: the worker's and the loop's CPU for mixing."""
    from client.media_peer import MediaPeer
    from media.call import Call
    from media.events import MediaEvent, SendPlan
    from media.leg import MediaConfig

    peers: dict[str, MediaPeer] = {}
    loop_cpu = [0.0]

    def on_event(event: MediaEvent) -> None:
        if isinstance(event, SendPlan) and event.leg_id in peers:
            peers[event.leg_id].apply_plan(event.send)
            peers[event.leg_id].video_encoder.set_cap(100_000)

    call = Call("bench", on_event, MediaConfig())
    feed, mixed = call.on_frame, call._on_mixed

    def timed_feed(leg_id: str, kind: str, packet: Any, keyframe: bool) -> None:
        if kind != "audio":
            feed(leg_id, kind, packet, keyframe)
            return
        t = time.thread_time()
        feed(leg_id, kind, packet, keyframe)
        loop_cpu[0] += time.thread_time() - t

    def timed_mixed(output: Any) -> None:
        t = time.thread_time()
        mixed(output)
        loop_cpu[0] += time.thread_time() - t

    call.on_frame = timed_feed  # type: ignore[method-assign]
    call._on_mixed = timed_mixed  # type: ignore[method-assign]
    try:
        for i in range(n):
            name = f"p{i}"
            peer = MediaPeer(video=(320, 240, 15), tone_hz=TONES[i])
            peer.video_encoder.set_cap(100_000)
            peers[name] = peer
            answer = await call.offer(name, await peer.offer(), priority=i)
            await peer.accept_answer(answer)
        deadline = time.monotonic() + 20
        while not all(leg.connected for leg in call.legs.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("legs did not connect")
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # settle: buffers primed, rates applied
        worker = call.mixer
        assert worker is not None
        cpu0, ticks0, loop0, t0 = (
            worker.stats.cpu_s,
            worker.stats.ticks,
            loop_cpu[0],
            time.monotonic(),
        )
        await asyncio.sleep(seconds)
        wall = time.monotonic() - t0
        stats = worker.stats
        return {
            "worker_ms_per_s": 1000.0 * (stats.cpu_s - cpu0) / wall,
            "loop_ms_per_s": 1000.0 * (loop_cpu[0] - loop0) / wall,
            "ticks_per_s": (stats.ticks - ticks0) / wall,
            "late_skips": float(stats.late_skips),
            "received_frames": float(min(p.counters.frames["audio"] for p in peers.values())),
        }
    finally:
        for peer in peers.values():
            await peer.close()
        await call.close()


def render(
    results: dict[str, dict[int, dict[str, float]]],
    lives: dict[int, dict[str, float]],
    meta: dict[str, str],
) -> list[str]:
    out = [
        HEADING,
        "",
        f"_`{meta['command']}` on {meta['date']}: {meta['machine']}; took {meta['wall']} s._",
        "",
        "Audio of a call of three or more is decoded once per participant, mixed minus each "
        "receiver and encoded once per receiver at the receiver's own Opus rate, on a worker "
        'thread per call (docs/media.md, "Three or more: everyone hears everyone"); a call '
        "of two is relayed as before (no decode, no encode). Method: `bench/mix_cost.py`. "
        "CPU milliseconds per second of audio (10 ms/s = 1 % of one core).",
        "",
        "Offline, by stage (sources: browser-like Opus, 20 ms packets at 32 kbit/s; "
        "`time.thread_time()` around each stage):",
        "",
        "| participants | receivers' Opus | decode | mix | encode | total ms/s | per participant "
        "ms/s | longest tick ms | in practice |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for label, by_n in results.items():
        for n, r in by_n.items():
            practice = "relayed: 0" if n == 2 else "mixed"
            out.append(
                f"| {n} | {label} | {r['decode']:.1f} | {r['mix']:.2f} | {r['encode']:.1f} | "
                f"{r['total']:.1f} | {r['per_participant']:.1f} | {r['longest_tick_ms']:.2f} | "
                f"{practice} |"
            )
    if lives:
        out += [
            "",
            "Live (real aiortc participants and `media.Call` in one process; receivers in "
            "video-high, so 32 kbit/s in 20 ms packets):",
            "",
            "| participants | worker thread ms/s | per participant ms/s | event loop ms/s "
            "(feed + deliver) | ticks/s | late skips |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for n, r in lives.items():
            out.append(
                f"| {n} | {r['worker_ms_per_s']:.1f} | {r['worker_ms_per_s'] / n:.1f} | "
                f"{r['loop_ms_per_s']:.2f} | {r['ticks_per_s']:.1f} | {r['late_skips']:.0f} |"
            )
    out += ["", *reading(results, lives)]
    return out


def reading(
    results: dict[str, dict[int, dict[str, float]]], lives: dict[int, dict[str, float]]
) -> list[str]:
    high = next(iter(results.values()))
    low = list(results.values())[-1]
    three, four = high.get(3, {}), high.get(4, {})
    lines = [
        "Reading:",
        "",
        f"- Encoding dominates: {three.get('encode', 0):.1f} of {three.get('total', 0):.1f} "
        f"ms/s for three participants; decoding once per source costs "
        f"{three.get('decode', 0):.1f} ms/s and the mixing itself (C, `audioop`) "
        f"{three.get('mix', 0):.2f}. The cost grows with the participants (one decode and "
        f"one encode each): {three.get('per_participant', 0):.1f} ms/s per participant at "
        f"three, {four.get('per_participant', 0):.1f} at four, i.e. about "
        f"{three.get('per_participant', 0) / 10:.1f} % of a core each; receivers in "
        f"audio-only (16 kbit/s, 60 ms packets) cost less "
        f"({low.get(3, {}).get('per_participant', 0):.1f} ms/s at three).",
        f"- On the event loop the work of one tick would block it for up to "
        f"{three.get('longest_tick_ms', 0):.1f} ms (three) or "
        f"{four.get('longest_tick_ms', 0):.1f} ms (four) every 20 ms, for each mixed call of "
        "the node: too much for a loop that also relays video and serves sockets. It runs on "
        "a worker thread per call; libopus runs there without the GIL (two threads encoding "
        "do twice the work in the same wall time, checked).",
    ]
    if lives:
        parts = ", ".join(
            f"{n}: {r['worker_ms_per_s']:.1f} ms/s on the worker and {r['loop_ms_per_s']:.2f} "
            "on the loop"
            for n, r in lives.items()
        )
        lines.append(
            f"- Live ({parts}): the same code as the offline run, but its thread's CPU time is "
            "higher, by up to ~1.6x, while the participants' own VP8 and Opus encoders and "
            "decoders share the machine's two cores and caches with it; the loop keeps only a "
            "copy of each received packet into the worker's queue and one callback per tick."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.mix_cost", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="offline audio per run")
    parser.add_argument("--live-seconds", type=float, default=10.0)
    parser.add_argument("--no-live", action="store_true", help="offline figures only")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    args = parser.parse_args(argv)
    started = time.monotonic()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    meta = {"machine": machine(), "date": date.stdout.strip()}
    results: dict[str, dict[int, dict[str, float]]] = {}
    for label, bps in RATES.items():
        results[label] = {}
        for n in (2, 3, 4):
            log(f"offline n={n} {label}")
            results[label][n] = offline(n, args.seconds, bps)
    lives: dict[int, dict[str, float]] = {}
    if not args.no_live:
        for n in (3, 4):
            log(f"live n={n}")
            lives[n] = asyncio.run(live(n, args.live_seconds))
    meta["wall"] = f"{time.monotonic() - started:.0f}"
    meta["command"] = " ".join(["python -m bench.mix_cost", *argv])
    lines = render(results, lives, meta)
    print("\n".join(lines))
    if not args.no_doc:
        doc_sections.write_section(HEADING, lines)
        log(f"rewrote {HEADING!r} in {doc_sections.DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

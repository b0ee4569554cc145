"""Audio continuity on a poor link, judged by a real browser receiver (issue 5, "Measure": the
lowest rate and the highest loss at which audio stays continuous).

    python -m bench.audio_continuity [--quick] [--ptime auto|20|40|60] [--opus-kbps N]
                                     [--only rate,loss] [--no-doc]

Why a browser: aiortc's receiver neither conceals a lost packet nor decodes Opus in-band FEC,
so a Python receiver reports every loss as a hole (bench/media_link.py "Audio continuity
floor"). What a patient hears is Chromium's NetEq: jitter buffer, FEC recovery, concealment.

Set-up: the real server in this process (aiohttp TestServer on 0.0.0.0); the patient is
/usr/bin/chromium (headless, fake devices) running *inside* a NetLab namespace (tests/netlab.py,
through tests/browser.py's wrapper) on the server's own page `/app/media-check.html`; the
clinician is an aiortc client (client/consult.py, its Opus encoder is
media/aiortc_adapt.py `AdaptiveOpusEncoder`) in the root namespace. Both legs are pinned to
audio-only (the policy would otherwise leave it for text-only, which is what we look past).
The patient's veth is shaped both ways, first in loss steps, then in rate steps; per step,
after a settle, the page samples its inbound audio `getStats()` every 100 ms.

Proxy (per step, clinician -> patient, as the browser plays it out):
- *concealed share*: concealedSamples / totalSamplesReceived (samples NetEq had to invent:
  residual loss after FEC, and buffer underruns);
- *longest gap*: the longest run of 100 ms windows more than half concealed;
- *continuous* = concealed share < 5 % and longest gap <= 200 ms;
- *rough MOS*: the E-model (ITU-T G.107) packet-loss term only, with the concealed share as the
  loss (Ppl), G.113 App. I's Bpl = 25.1 (G.711 with PLC: NetEq's concealment is at least
  that good), Ie = 0, random loss (BurstR = 1) and no delay term; a relative indicator
  between steps, not a listening test.
The patient -> clinician direction (browser Opus, 20 ms, into an aiortc receiver) is reported
with bench/media_link.py's frame counting (no concealment on that side).

Needs root, iproute2, iptables and Chromium. Writes its own section
"## 7. Audio continuity (browser receiver)" of docs/performance.md (bench/media_link.py
rewrites "## 6." only, so the two never overwrite each other).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import doc_sections, media_link, media_load
from media.policy import Mode
from tests.netlab import Direction

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "audio_continuity.json"
HEADING = "## 7. Audio continuity (browser receiver)"
PAGE = "/app/media-check.html"
RATE_STEPS = (64, 48, 40, 32, 28, 24, 20, 16)
LOSS_STEPS = (0.05, 0.10, 0.15, 0.20, 0.30)
CONTINUOUS_SHARE = 0.05
CONTINUOUS_GAP_MS = 200.0
# IPv4 + UDP + SRTP tag (AES_CM_128_HMAC_SHA1_80): what getStats' byte counters leave out.
IP_UDP_SRTP_BYTES = 20 + 8 + 10

# Samples the patient's inbound and outbound audio stats every 100 ms into `window.__ac`.
SAMPLER = """() => {
  if (window.__ac) return;
  const keys = ['totalSamplesReceived', 'concealedSamples', 'silentConcealedSamples',
    'concealmentEvents', 'fecPacketsReceived', 'fecPacketsDiscarded', 'packetsLost',
    'packetsReceived', 'packetsDiscarded', 'bytesReceived', 'headerBytesReceived',
    'jitterBufferDelay', 'jitterBufferEmittedCount', 'insertedSamplesForDeceleration',
    'removedSamplesForAcceleration'];
  const ac = { rows: [] };
  window.__ac = ac;
  ac.timer = setInterval(async () => {
    const pc = window.relais && window.relais.pc;
    if (!pc) return;
    const report = await pc.getStats();
    const row = { t: performance.now() };
    report.forEach((s) => {
      if (s.kind !== 'audio') return;
      if (s.type === 'inbound-rtp') {
        for (const k of keys) row[k] = (row[k] || 0) + (s[k] || 0);
      } else if (s.type === 'outbound-rtp') {
        row.sentPackets = (row.sentPackets || 0) + (s.packetsSent || 0);
        row.sentBytes = (row.sentBytes || 0) + (s.bytesSent || 0) + (s.headerBytesSent || 0);
      }
    });
    ac.rows.push(row);
    if (ac.rows.length > 20000) ac.rows.splice(0, 10000);
  }, 100);
}"""


@dataclass(frozen=True)
class Plan:
    settle_s: float
    step_s: float


FULL = Plan(settle_s=3.0, step_s=10.0)
QUICK = Plan(settle_s=2.0, step_s=5.0)


class SpeechLikeTrack:
    """A voiced, syllabic test signal: a 120 +/- 30 Hz glottal-like harmonic series under a
    3 syllables/s envelope, with a 0.5 s pause every 2 s, looped from 4 s computed once.

    Not the client's steady tone: libopus's voice activity detector soon calls a steady tone
    inactive, and it codes in-band FEC (LBRR) only for active frames, so a tone would measure a
    link without FEC. Built lazily as an aiortc track (see `track()`)."""

    LOOP_S = 4
    RATE = 48000
    SAMPLES = 960

    def __init__(self) -> None:
        import math

        pcm = bytearray()
        phase = 0.0
        for n in range(self.LOOP_S * self.RATE):
            t = n / self.RATE
            env = max(0.0, math.sin(2 * math.pi * 3 * t)) if t % 2.0 < 1.5 else 0.0
            phase += 2 * math.pi * (120 + 30 * math.sin(2 * math.pi * 0.7 * t)) / self.RATE
            value = 0.0
            if env > 0:
                value = sum(math.sin(h * phase) / h for h in range(1, 12))
            pcm += int(max(-32000, min(32000, 4000 * env * value))).to_bytes(
                2, "little", signed=True
            )
        self.pcm = bytes(pcm)

    def track(self) -> Any:
        import fractions

        import av
        from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

        pcm, rate, samples = self.pcm, self.RATE, self.SAMPLES

        class Track(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self._pts = 0
                self._start: float | None = None

            async def recv(self) -> av.AudioFrame:
                if self.readyState != "live":
                    raise MediaStreamError
                if self._start is None:
                    self._start = time.monotonic()
                delay = self._start + self._pts / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
                at = (self._pts * 2) % len(pcm)
                frame.planes[0].update(pcm[at : at + samples * 2])
                frame.sample_rate = rate
                frame.pts = self._pts
                frame.time_base = fractions.Fraction(1, rate)
                self._pts += samples
                return frame

        return Track()


def log(msg: str) -> None:
    print(f"[audio_continuity {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- figures ----------------------------------------------------------------------------------


def rough_mos(loss_share: float) -> float:
    """E-model (G.107) with only the effective equipment impairment of packet loss (Ie = 0,
    Bpl = 25.1, BurstR = 1), R -> MOS by G.107 Annex B."""
    ppl = 100.0 * max(0.0, loss_share)
    r = 93.2 - (95.0 * ppl / (ppl + 25.1))
    if r <= 0:
        return 1.0
    return min(4.5, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def browser_figures(rows: list[dict[str, float]]) -> dict[str, Any]:
    """One step's figures from the page's 100 ms samples (the first row is the baseline)."""
    if len(rows) < 2:
        return {"error": "no stats from the page"}
    a, b = rows[0], rows[-1]

    def d(key: str) -> float:
        return float(b.get(key, 0.0)) - float(a.get(key, 0.0))

    total = d("totalSamplesReceived")
    seconds = (b["t"] - a["t"]) / 1000
    longest = run = 0.0
    for x, y in itertools.pairwise(rows):
        tot = float(y.get("totalSamplesReceived", 0)) - float(x.get("totalSamplesReceived", 0))
        con = float(y.get("concealedSamples", 0)) - float(x.get("concealedSamples", 0))
        window_ms = (y["t"] - x["t"]) if tot <= 0 else tot / 48.0
        # A window with no playout at all (the renderer stalled) counts as a gap too.
        run = run + window_ms if tot <= 0 or con > 0.5 * tot else 0.0
        longest = max(longest, run)
    share = d("concealedSamples") / total if total > 0 else 1.0
    lost, received = d("packetsLost"), d("packetsReceived")
    emitted = d("jitterBufferEmittedCount")
    events = d("concealmentEvents")
    down_wire = (d("bytesReceived") + d("headerBytesReceived") + IP_UDP_SRTP_BYTES * received) * 8
    up_wire = (d("sentBytes") + IP_UDP_SRTP_BYTES * d("sentPackets")) * 8
    return {
        "seconds": seconds,
        "playout_share": total / 48000 / seconds if seconds > 0 else 0.0,
        "concealed_share": share,
        "silent_share": d("silentConcealedSamples") / total if total > 0 else 1.0,
        "concealment_events": int(events),
        "mean_event_ms": d("concealedSamples") / 48 / events if events else 0.0,
        "longest_gap_ms": longest,
        "packet_loss": lost / (lost + received) if lost + received > 0 else 1.0,
        "fec_packets": int(d("fecPacketsReceived")),
        "packets_per_s": received / seconds if seconds > 0 else 0.0,
        "jitter_buffer_ms": 1000 * d("jitterBufferDelay") / emitted if emitted else None,
        "down_wire_kbps": down_wire / 1000 / seconds if seconds > 0 else 0.0,
        "up_wire_kbps": up_wire / 1000 / seconds if seconds > 0 else 0.0,
        "continuous": share < CONTINUOUS_SHARE and longest <= CONTINUOUS_GAP_MS,
        "rough_mos": rough_mos(share),
    }


# -- the call ---------------------------------------------------------------------------------


class BrowserCall:
    """Server in process, Chromium patient in the lab's namespace, aiortc clinician in process."""

    def __init__(self, lab: Any, workdir: Path, ptime: int | None, opus_kbps: int | None) -> None:
        self.lab, self.workdir = lab, workdir
        self.ptime, self.opus_kbps = ptime, opus_kbps
        self._stack: list[Callable[[], Any]] = []

    async def start(self) -> None:
        import contextlib

        from client.consult import ConsultationMedia
        from tests.browser import launch_chromium

        self.world, c, port = await media_link.admitted_consultation(self.workdir, self._stack)
        self.cid, self.patient_id = c.cid, c.patient_participant
        token = c.patient.token
        await c.patient.close()
        self._stack.append(c.host.close)
        self.host = ConsultationMedia(c.host, c.cid, (320, 240, 15))
        self._stack.append(self.host.close)
        await self.host.start()
        assert self.host.peer is not None
        peer = self.host.peer
        peer.audio_sender.replaceTrack(SpeechLikeTrack().track())
        if self.ptime is not None:
            peer.audio_encoder.set_ptime(self.ptime)
        if self.opus_kbps is not None:
            apply_plan, kbps = peer.apply_plan, self.opus_kbps

            def capped(plan: dict[str, Any]) -> None:
                apply_plan({**plan, "audio_kbps": min(int(plan.get("audio_kbps") or 0), kbps)})

            peer.apply_plan = capped  # type: ignore[method-assign]

        self._browser = contextlib.AsyncExitStack()
        self._stack.append(self._browser.aclose)
        origin = f"http://{self.lab.host_addr}:{port}"
        # getUserMedia needs a secure context; only localhost is one over plain HTTP, and the
        # server is reached over the veth's address.
        secure = f"--unsafely-treat-insecure-origin-as-secure={origin}"
        context = await self._browser.enter_async_context(
            launch_chromium(netns=self.lab.name, extra_args=[secure])
        )
        self.page = await context.new_page()
        page_url = f"{origin}{PAGE}?consultation={self.cid}#token={token}"
        await self.page.goto(page_url)
        await self.page.wait_for_function(
            "() => window.relais && ['connected', 'error'].includes(window.relais.state)",
            timeout=40_000,
        )
        state = await self.page.evaluate("[window.relais.state, window.relais.error]")
        if state[0] != "connected":
            raise RuntimeError(f"the browser did not connect: {state}")

    @property
    def call(self) -> Any:
        return self.world.svc.parts.media_bridge.calls[self.cid]

    async def close(self) -> None:
        await media_link.unwind(self._stack)


async def measure(
    bc: BrowserCall, plan: Plan, parts: set[str], direction: Direction
) -> dict[str, Any]:
    for leg_id in list(bc.call.legs):
        media_load.pin_leg(bc.call, leg_id, Mode.AUDIO_ONLY)
    await bc.lab.restore()
    await asyncio.sleep(5)  # plans out, video stopped both ways
    await bc.page.evaluate(SAMPLER)
    steps: list[tuple[str, int | None, float]] = [("rate", None, 0.0)]
    # Loss first: a rate step the audio cannot fit can lose the leg, which would void the rest.
    if "loss" in parts:
        steps += [("loss", None, p) for p in LOSS_STEPS]
    if "rate" in parts:
        steps += [("rate", kbit, 0.0) for kbit in RATE_STEPS]
    rows: list[dict[str, Any]] = []
    for kind, kbit, loss in steps:
        if direction != "both":
            await bc.lab.set_rate(None)
        await bc.lab.set_rate(kbit, direction=direction)
        await bc.lab.set_loss(loss or None)
        await asyncio.sleep(plan.settle_s)
        start = int(await bc.page.evaluate("window.__ac.rows.length"))
        t0 = time.monotonic()
        await asyncio.sleep(plan.step_s)
        t1 = time.monotonic()
        samples = await bc.page.evaluate(f"window.__ac.rows.slice({max(0, start - 1)})")
        peer = bc.host.peer
        arrivals = list(peer.counters.audio_arrivals) if peer is not None else []
        enc = peer.audio_encoder if peer is not None else None
        row: dict[str, Any] = {
            "kind": kind,
            "rate_kbit": kbit,
            "loss": loss,
            "down": browser_figures(samples),
            "up": media_link.gaps(arrivals, t0, t1),
            "clinician_opus": {
                "kbps": enc.bitrate / 1000 if enc is not None else None,
                "ptime_ms": getattr(enc, "ptime_ms", 20),
            },
            "patient_plan": dict(bc.call._plans.get(bc.patient_id, {})),
        }
        row["page_state"] = await bc.page.evaluate("window.relais.state")
        row["clinician_leg_events"] = list(bc.host.leg_states)
        log(f"step {kind} {kbit} {loss}: {json.dumps(row, default=str)}")
        rows.append(row)
    await bc.lab.restore()
    return {"steps": rows, "rate_direction": direction}


async def run(
    plan: Plan, parts: set[str], ptime: int | None, opus: int | None, direction: Direction = "both"
) -> dict[str, Any]:
    from tests.netlab import NetLab

    why = await media_link.browser_lab_missing()
    if why is not None:
        log(f"skipped: {why}")
        return {"skipped": why}
    with tempfile.TemporaryDirectory(prefix="relais-audio-cont-") as tmp:
        async with NetLab() as lab:
            bc = BrowserCall(lab, Path(tmp), ptime, opus)
            try:
                await bc.start()
                return await measure(bc, plan, parts, direction)
            finally:
                await bc.close()


# -- the doc ----------------------------------------------------------------------------------


def _link(r: dict[str, Any]) -> str:
    if r["kind"] == "loss":
        return f"loss {r['loss'] * 100:.0f} %"
    return f"{r['rate_kbit']} kbit/s" if r["rate_kbit"] else "unshaped"


def floors(rows: list[dict[str, Any]], key: str = "down") -> tuple[int | None, float | None]:
    """The lowest rate and the highest loss such that they and every easier step passed, for
    one direction (`down`: to the patient's browser; `up`: to the clinician)."""
    return media_link.floors(rows, lambda r: bool(r[key].get("continuous")))


def render_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "| patient link | Opus sent | to patient: wire kbit/s (pkt/s) | packet loss | FEC pkts "
        "| concealed | of it silent | events (mean ms) | longest gap ms | jitter buffer ms "
        "| rough MOS | continuous | to clinician (aiortc): frames, longest gap ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        d, u, o = r["down"], r["up"], r["clinician_opus"]
        if "error" in d:
            out.append(f"| {_link(r)} | — | {d['error']} |" + " |" * 10)
            continue
        jb = f"{d['jitter_buffer_ms']:.0f}" if d["jitter_buffer_ms"] is not None else "—"
        out.append(
            f"| {_link(r)} | {o['kbps']:.0f} kbit/s, {o['ptime_ms']} ms | "
            f"{d['down_wire_kbps']:.1f} ({d['packets_per_s']:.0f}) | "
            f"{d['packet_loss'] * 100:.1f} % | {d['fec_packets']} | "
            f"{d['concealed_share'] * 100:.1f} % | {d['silent_share'] * 100:.1f} % | "
            f"{d['concealment_events']} ({d['mean_event_ms']:.0f}) | {d['longest_gap_ms']:.0f} | "
            f"{jb} | {d['rough_mos']:.1f} | {'yes' if d['continuous'] else 'no'} | "
            f"{u['share'] * 100:.0f} %, {u['max_gap_ms']:.0f} |"
        )
    return out


def render_run(res: dict[str, Any]) -> list[str]:
    rows = res["steps"]
    rate, loss = floors(rows)
    ptimes = sorted({r["clinician_opus"]["ptime_ms"] for r in rows})
    return [
        f"#### {res['label']}",
        "",
        f"_`{res['command']}` on {res['date']}; took {res['wall_s']:.0f} s; rate shaped "
        f"{'towards the patient only' if res.get('rate_direction') == 'down' else 'both ways'}._",
        "",
        *render_table(rows),
        "",
        f"Clinician -> patient ({'/'.join(str(p) for p in ptimes)} ms Opus packets): continuous "
        f"down to **{rate if rate else '—'} kbit/s** and up to "
        f"**{f'{loss * 100:.0f} %' if loss is not None else '—'} loss** (each: the furthest "
        "step such that it and every easier step passed).",
        "",
    ]


def interpret(runs: dict[str, dict[str, Any]]) -> list[str]:
    """One line per run, computed so it stays true on re-runs."""
    out = []
    for label, res in runs.items():
        rows = res["steps"]
        rate, loss = floors(rows)
        base = next((r["down"] for r in rows if r["kind"] == "rate" and not r["rate_kbit"]), None)
        ten = next((r["down"] for r in rows if r["kind"] == "loss" and r["loss"] == 0.10), None)
        parts = [f"- *{label}*:"]
        if base is not None and "error" not in base:
            jb = base["jitter_buffer_ms"]
            parts.append(
                f"{base['down_wire_kbps']:.1f} kbit/s on the wire unshaped "
                f"({base['packets_per_s']:.0f} packets/s), NetEq buffer "
                f"{f'{jb:.0f}' if jb is not None else '—'} ms;"
            )
        if ten is not None and "error" not in ten:
            parts.append(
                f"at 10 % loss {ten['concealed_share'] * 100:.1f} % concealed with "
                f"{ten['fec_packets']} FEC packets used;"
            )
        way = "towards the patient only" if res.get("rate_direction") == "down" else "both ways"
        parts.append(
            f"continuous down to {f'{rate} kbit/s' if rate else '—'} ({way})"
            f"{f' and up to {loss * 100:.0f} % loss' if loss is not None else ''}."
        )
        out.append(" ".join(parts))
    return out


def render(runs: dict[str, dict[str, Any]], machine: str) -> list[str]:
    out = [
        HEADING,
        "",
        f"_Machine: {machine}. Each run below names its command and date._",
        "",
        "What a patient's browser plays out when the clinician's audio reaches it over a poor "
        "link (bench/media_link.py §6 measures the same with an aiortc receiver, which neither "
        "conceals nor decodes FEC). Chromium 156 (headless, in a network namespace) is the "
        "patient on the server's `/app/media-check.html`; the clinician is the aiortc client "
        "with Relais's `AdaptiveOpusEncoder` fed a speech-like signal (voiced harmonics, 3 "
        "syllables/s, a pause every 2 s: libopus codes FEC only for frames its VAD calls "
        "active, which a steady tone soon is not); both legs pinned to audio-only; the "
        "patient's veth shaped both ways unless a run says otherwise (tc tbf for rate with a "
        "200 ms queue, iptables statistic for random loss). Per step, after a settle, the "
        "browser's inbound audio `getStats()` sampled every 100 ms: *wire* = RTP payload + "
        "header bytes + 38 bytes of IPv4/UDP/SRTP per packet; *FEC pkts* = "
        "fecPacketsReceived (Opus in-band FEC NetEq parsed); *concealed* = concealedSamples / "
        "totalSamplesReceived; *longest gap* = longest run of 100 ms windows more than half "
        "concealed; **continuous = concealed < 5 % and longest gap <= 200 ms**; *rough MOS* = "
        "E-model loss term only (Ie 0, Bpl 25.1, concealed share as the loss, no delay "
        "term), a relative indicator. The last column is the other direction (the browser's "
        "own 20 ms Opus, ~42 kbit/s on the wire, into the clinician's aiortc receiver, which "
        "does not conceal): share of 50 frames/s and the longest gap between frames.",
        "",
        "Reading:",
        "",
        *interpret(runs),
        "",
        "When the rate is shaped both ways, the patient's own uplink (the browser's 20 ms Opus "
        "at the plan's 24 kbit/s) saturates first: at <= 28 kbit/s its ICE consent checks are "
        "lost and the leg ends (`media-lost` in the page), whatever the clinician sends. "
        "60 ms packets add 40 ms of packetisation and NetEq holds more (buffer column). Runs "
        "before *relay without aiortc's audio jitter buffer* also went through aiortc's audio "
        "jitter buffer on the server (prefetch 4, and after a lost packet it held everything "
        "behind the hole until 16 packets piled up): the last column shows what that cost the "
        "patient -> clinician direction under loss; the relay now forwards each audio packet "
        "as it comes (docs/media.md, aiortc table).",
        "",
    ]
    for res in runs.values():
        out += render_run(res)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.audio_continuity", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="5 s steps")
    parser.add_argument("--only", default="loss,rate")
    parser.add_argument(
        "--ptime", default="auto", help="clinician's Opus packet ms (20/40/60) or auto"
    )
    parser.add_argument("--opus-kbps", type=int, default=None, help="cap the clinician's Opus")
    parser.add_argument("--label", default=None, help="run name in the doc (default from args)")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument(
        "--rate-direction",
        choices=("both", "down"),
        default="both",
        help="shape the rate both ways (default) or only towards the patient",
    )
    parser.add_argument("--verbose", action="store_true", help="the server's logs on stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        for noisy in ("aiortc", "aioice", "engineio", "socketio", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    plan = QUICK if args.quick else FULL
    ptime = None if args.ptime == "auto" else int(args.ptime)
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    t0 = time.monotonic()
    res = asyncio.run(
        run(plan, set(args.only.split(",")), ptime, args.opus_kbps, args.rate_direction)
    )
    if res.get("skipped"):
        print(f"skipped: {res['skipped']}")
        return 0
    res["wall_s"] = time.monotonic() - t0
    res["date"] = date.stdout.strip()
    res["command"] = " ".join(["python -m bench.audio_continuity", *argv])
    label = args.label or (
        f"Opus {'policy rate' if args.opus_kbps is None else f'<= {args.opus_kbps} kbit/s'}, "
        f"{'encoder default' if ptime is None else f'{ptime} ms'} packets"
    )
    res["label"] = label
    runs: dict[str, dict[str, Any]] = {}
    if RESULTS.exists():
        runs = json.loads(RESULTS.read_text()).get("runs", {})
    runs[label] = res
    machine = media_link.machine()
    lines = render(runs, machine)
    print("\n".join(render_run(res)))
    if not args.no_doc:
        RESULTS.write_text(json.dumps({"runs": runs}, indent=1, default=str) + "\n")
        doc_sections.write_section(HEADING, lines, DOC)
        log(f"rewrote {HEADING!r} in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

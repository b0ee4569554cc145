"""The patient's own audio, as a browser receiver plays it out, on a thin and lossy patient link,
before and after the server's SDP answer shapes the patient's Opus (media/answer_shaping.py).

    python -m bench.uplink_audio [--quick] [--only before,after] [--rates 32,24,16]
                                 [--losses 0,5,10] [--no-baseline] [--no-doc] [--render-only]

Why: bench/audio_continuity.py (§7) judges the clinician -> patient direction; the patient's
uplink is where a thin link fails first (docs/media.md "Known limits"), and that is what the
answer shaping is for: 60 ms packets and a 24 kbit/s ceiling in audio-only, in-band FEC, DTX.

Set-up: the real server in this process (aiohttp TestServer on 0.0.0.0). The patient is
/usr/bin/chromium (headless, fake camera, a fake microphone playing tests/browser.py `tone_wav`,
a 4 Hz syllable-shaped tone that Opus DTX keeps active) inside a NetLab namespace on the server's
`/app/media-check.html`; the clinician is a second Chromium in the root namespace on the same page
with the consultation host's token and a fake microphone of its own (another tone). Both legs are
pinned to audio-only (bench/media_load.py `pin_leg`: the policy would otherwise leave for
text-only, which is what we look past), then both pages offer again so the answer is the
audio-only one. A call of two is relayed packet by packet: the clinician's browser receives the
patient's Opus packets as the patient's browser sent them, and its NetEq (jitter buffer, FEC,
concealment) plays them out. One fresh call (server, consultation, both browsers) per cell (rate,
loss): shaped, a settle, the measured step, then the link kept so until 40 s after shaping to see
whether the leg lives (ICE consent fails after ~30 s without answers, RFC 7675).

Variants:
- *before*: `media.leg.shape_answer` replaced by the identity for the run, i.e. aiortc's plain
  answer (`a=fmtp:111 minptime=10;useinbandfec=1`, no `a=ptime`): Chromium's defaults, 20 ms
  packets, in-band FEC (aiortc's answer asks for it), no DTX, no `maxaveragebitrate`. The
  plan's `consult.send` still caps the encoding at the policy's 24 kbit/s through
  `RTCRtpSender.setParameters` (that predates the shaping);
- *after*: as the product runs (audio-only answer: `a=ptime:60`, `maxaveragebitrate=24000`,
  `useinbandfec=1`, `usedtx=1`).

Scored on the clinician's page, inbound audio `getStats()` every 100 ms, with
bench/audio_continuity.py's figures (concealed share, longest gap, continuous, rough MOS).
Writes "## 12. Patient uplink audio (browser sender)" of docs/performance.md and
bench/uplink_audio.json. Needs root, iproute2, iptables and Chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import doc_sections, media_link, media_load
from bench.audio_continuity import IP_UDP_SRTP_BYTES, SAMPLER, browser_figures
from media.policy import Mode

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "uplink_audio.json"
HEADING = "## 12. Patient uplink audio (browser sender)"
PAGE = "/app/media-check.html"
RATES = (32, 24, 16)
LOSSES = (0.0, 0.05, 0.10)
PATIENT_TONE_HZ = 440.0
CLINICIAN_TONE_HZ = 620.0

# The answer the page last applied, and what its sender does: proof of what each variant ran.
NEGOTIATED = """() => {
  const sdp = (window.relais.pc && window.relais.pc.remoteDescription)
    ? window.relais.pc.remoteDescription.sdp : '';
  const audio = sdp.split('m=audio')[1] || '';
  const lines = audio.split('\\r\\n');
  const opus = lines.find(l => /^a=rtpmap:\\d+ opus\\/48000/i.test(l)) || '';
  const pt = (opus.match(/^a=rtpmap:(\\d+)/) || [])[1];
  return {
    ptime: (lines.find(l => l.startsWith('a=ptime:')) || null),
    fmtp: pt ? (lines.find(l => l.startsWith('a=fmtp:' + pt + ' ')) || null) : null,
  };
}"""


@dataclass(frozen=True)
class Plan:
    settle_s: float
    step_s: float
    survive_s: float  # how long after shaping the link is kept, to see whether the leg lives


FULL = Plan(settle_s=4.0, step_s=12.0, survive_s=40.0)
QUICK = Plan(settle_s=2.0, step_s=5.0, survive_s=0.0)


def log(msg: str) -> None:
    print(f"[uplink_audio {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def answer_shaping(on: bool) -> Iterator[None]:
    """`on=False`: the leg answers with aiortc's own SDP, as before media/answer_shaping.py
    (media/leg.py imports `shape_answer` by name, so that name is the seam)."""
    import media.leg

    leg: Any = media.leg
    real = leg.shape_answer
    if not on:
        leg.shape_answer = lambda sdp, *_args, **_kw: sdp
    try:
        yield
    finally:
        leg.shape_answer = real


def sent_figures(rows: list[dict[str, float]]) -> dict[str, Any]:
    """The patient's outbound audio over one step (rows from SAMPLER on the patient's page)."""
    if len(rows) < 2:
        return {"error": "no stats from the page"}
    a, b = rows[0], rows[-1]
    seconds = (b["t"] - a["t"]) / 1000
    packets = float(b.get("sentPackets", 0)) - float(a.get("sentPackets", 0))
    payload = float(b.get("sentBytes", 0)) - float(a.get("sentBytes", 0))
    wire = (payload + IP_UDP_SRTP_BYTES * packets) * 8
    return {
        "packets": packets,
        "packets_per_s": packets / seconds if seconds > 0 else 0.0,
        "wire_kbps": wire / 1000 / seconds if seconds > 0 else 0.0,
    }


def lost_on_the_way(heard: dict[str, Any], sent: dict[str, Any]) -> float | None:
    """Packets the patient sent that never reached the clinician's browser, over the step. Not
    the receiver's packetsLost: the server's relay sends with its own RTP sequence numbers, so
    a packet lost before the server leaves no gap in what the clinician receives."""
    if "error" in heard or "error" in sent or not sent["packets"]:
        return None
    received = float(heard["packets_per_s"]) * float(heard["seconds"])
    return max(0.0, 1.0 - received / float(sent["packets"]))


# -- the call ---------------------------------------------------------------------------------


class TwoBrowsers:
    """Server in process; patient Chromium in the lab's namespace, clinician Chromium outside;
    both on the media-check page, both legs pinned to audio-only."""

    def __init__(self, lab: Any, workdir: Path) -> None:
        self.lab, self.workdir = lab, workdir
        self._stack: list[Callable[[], Any]] = []

    async def start(self) -> None:

        from tests.browser import launch_chromium, tone_wav

        self.world, c, port = await media_link.admitted_consultation(self.workdir, self._stack)
        self.cid, self.patient_id = c.cid, c.patient_participant
        patient_token, host_token = c.patient.token, c.host.token
        assert patient_token is not None and host_token is not None
        # The pages join with the same sessions (a dropped socket is not a departure).
        await c.patient.close()
        await c.host.close()

        browsers = contextlib.AsyncExitStack()
        self._stack.append(browsers.aclose)
        mic_p = tone_wav(self.workdir / "patient.wav", PATIENT_TONE_HZ)
        mic_c = tone_wav(self.workdir / "clinician.wav", CLINICIAN_TONE_HZ)
        lab_origin = f"http://{self.lab.host_addr}:{port}"
        # getUserMedia needs a secure context; only localhost is one over plain HTTP, and the
        # patient reaches the server over the veth's address.
        patient_ctx = await browsers.enter_async_context(
            launch_chromium(
                netns=self.lab.name,
                extra_args=[
                    f"--unsafely-treat-insecure-origin-as-secure={lab_origin}",
                    f"--use-file-for-fake-audio-capture={mic_p}",
                ],
            )
        )
        clinician_ctx = await browsers.enter_async_context(
            launch_chromium(extra_args=[f"--use-file-for-fake-audio-capture={mic_c}"])
        )
        self.patient = await patient_ctx.new_page()
        self.clinician = await clinician_ctx.new_page()
        await asyncio.gather(
            self._open(self.clinician, f"http://127.0.0.1:{port}", host_token),
            self._open(self.patient, lab_origin, patient_token),
        )
        for _ in range(100):
            if len(self.call.legs) >= 2:
                break
            await asyncio.sleep(0.1)
        self.clinician_id = next(k for k in self.call.legs if k != self.patient_id)
        for leg_id in list(self.call.legs):
            media_load.pin_leg(self.call, leg_id, Mode.AUDIO_ONLY)
        await asyncio.sleep(2)  # a tick commits the pinned mode
        # Offer again: the answer is shaped for the leg's mode at the time of the offer.
        for page in (self.patient, self.clinician):
            await page.evaluate("window.relais.renegotiate()")
        await asyncio.sleep(4)  # plans out, video stopped both ways

    async def _open(self, page: Any, origin: str, token: str) -> None:
        await page.goto(f"{origin}{PAGE}?consultation={self.cid}#token={token}")
        await page.wait_for_function(
            "() => window.relais && ['connected', 'error'].includes(window.relais.state)",
            timeout=40_000,
        )
        state = await page.evaluate("[window.relais.state, window.relais.error]")
        if state[0] != "connected":
            raise RuntimeError(f"a browser did not connect: {state}")

    @property
    def call(self) -> Any:
        return self.world.svc.parts.media_bridge.calls[self.cid]

    async def close(self) -> None:
        await media_link.unwind(self._stack)


async def one_cell(
    lab: Any, workdir: Path, plan: Plan, rate: int | None, loss: float
) -> dict[str, Any]:
    """A fresh call; the link shaped to (`rate`, `loss`); the step measured after the settle;
    then the link kept so until `plan.survive_s` after shaping, to see whether the leg lives."""
    tb = TwoBrowsers(lab, workdir)
    try:
        await lab.restore()
        await tb.start()
        negotiated = await tb.patient.evaluate(NEGOTIATED)
        log(f"patient's answer: {negotiated}")
        for page in (tb.patient, tb.clinician):
            await page.evaluate(SAMPLER)
        t_shape = time.monotonic()
        await lab.set_rate(rate)
        await lab.set_loss(loss or None)
        lost_at: dict[str, float] = {}

        async def watch() -> None:
            while True:
                for name, page in (("patient", tb.patient), ("clinician", tb.clinician)):
                    state = await page.evaluate("window.relais.state")
                    if state != "connected" and name not in lost_at:
                        lost_at[name] = time.monotonic() - t_shape
                        log(f"{name}'s page: {state} {lost_at[name]:.1f} s after shaping")
                await asyncio.sleep(0.5)

        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.sleep(plan.settle_s)
            marks = [
                int(await p.evaluate("window.__ac.rows.length")) for p in (tb.clinician, tb.patient)
            ]
            await asyncio.sleep(plan.step_s)
            heard = await tb.clinician.evaluate(f"window.__ac.rows.slice({max(0, marks[0] - 1)})")
            sent = await tb.patient.evaluate(f"window.__ac.rows.slice({max(0, marks[1] - 1)})")
            row: dict[str, Any] = {
                "rate_kbit": rate,
                "loss": loss,
                "heard": browser_figures(heard),
                "sent": sent_figures(sent),
                "patient_mode": tb.call.legs[tb.patient_id].mode.value
                if tb.patient_id in tb.call.legs
                else None,
                "answer": negotiated,
                "patient_plan": dict(tb.call._plans.get(tb.patient_id, {})),
                "page_states": [
                    await tb.patient.evaluate("window.relais.state"),
                    await tb.clinician.evaluate("window.relais.state"),
                ],
            }
            row["lost_on_the_way"] = lost_on_the_way(row["heard"], row["sent"])
            rest = plan.survive_s - (time.monotonic() - t_shape)
            if rest > 0 and "patient" not in lost_at:
                await asyncio.sleep(rest)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        row["watched_s"] = time.monotonic() - t_shape
        row["page_lost_after_s"] = dict(lost_at)
        row["server_leg_alive"] = tb.patient_id in tb.call.legs and bool(
            tb.call.legs[tb.patient_id].connected
        )
        log(f"step {rate} kbit/s {loss * 100:.0f} %: {json.dumps(row, default=str)}")
        return row
    except Exception as exc:
        log(f"call at {rate} kbit/s {loss * 100:.0f} % failed: {type(exc).__name__}: {exc}")
        return {"rate_kbit": rate, "loss": loss, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await tb.close()
        await lab.restore()


async def run(
    plan: Plan,
    variants: list[str],
    rates: tuple[int, ...],
    losses: tuple[float, ...],
    baseline: bool,
) -> dict[str, Any]:
    from tests.netlab import NetLab

    why = await media_link.browser_lab_missing()
    if why is not None:
        log(f"skipped: {why}")
        return {"skipped": why}
    out: dict[str, Any] = {}
    async with NetLab() as lab:
        for variant in variants:
            steps: list[dict[str, Any]] = []
            with answer_shaping(variant == "after"):
                todo: list[tuple[int | None, tuple[float, ...]]] = [(r, losses) for r in rates]
                if baseline:
                    todo.insert(0, (None, (0.0,)))
                for rate, rate_losses in todo:
                    for loss in rate_losses:
                        with tempfile.TemporaryDirectory(prefix="relais-uplink-") as tmp:
                            steps.append(await one_cell(lab, Path(tmp), plan, rate, loss))
            out[variant] = steps
    return out


# -- the doc ----------------------------------------------------------------------------------


def _link(r: dict[str, Any]) -> str:
    rate = f"{r['rate_kbit']} kbit/s" if r["rate_kbit"] else "unshaped"
    return f"{rate}, {r['loss'] * 100:.0f} %"


def _answer(r: dict[str, Any]) -> str:
    """The Opus lines of the answer the patient's page applied, as SDP."""
    a = r.get("answer") or {}
    ptime = a.get("ptime") or "no a=ptime (Chromium's 20 ms)"
    return f"{a.get('fmtp') or 'no Opus fmtp'}; {ptime}"


def _cells(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return ["—"] * 9
    if "error" in r:
        return [f"call failed: {r['error'][:60]}"] + ["—"] * 8
    h, s = r["heard"], r["sent"]
    if "error" in h or "error" in s:
        return [h.get("error") or s.get("error")] + ["—"] * 8
    jb = h["jitter_buffer_ms"]
    return [
        f"{s['wire_kbps']:.1f} ({s['packets_per_s']:.0f})",
        "—" if r.get("lost_on_the_way") is None else f"{r['lost_on_the_way'] * 100:.1f} %",
        str(h["fec_packets"]),
        f"{h['concealed_share'] * 100:.1f} %",
        f"{h['longest_gap_ms']:.0f}",
        "—" if jb is None else f"{jb:.0f}",
        f"{h['rough_mos']:.1f}",
        "yes" if h["continuous"] else "no",
        _leg(r),
    ]


def _leg(r: dict[str, Any]) -> str:
    lost = r.get("page_lost_after_s") or {}
    if "patient" in lost:
        return f"lost at {lost['patient']:.0f} s"
    if "clinician" in lost:
        return f"clinician's lost at {lost['clinician']:.0f} s"
    return f"lived {r.get('watched_s', 0):.0f} s"


def render_table(res: dict[str, Any]) -> list[str]:
    before = {(r["rate_kbit"], r["loss"]): r for r in res["variants"].get("before", [])}
    after = {(r["rate_kbit"], r["loss"]): r for r in res["variants"].get("after", [])}
    keys = list(dict.fromkeys([*before, *after]))
    out = [
        "| patient link (both ways), loss | | sent: wire kbit/s (pkt/s) | lost on the way "
        "| FEC pkts | concealed | longest gap ms | NetEq ms | rough MOS | continuous | leg |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for k in keys:
        for name, table in (("before", before), ("after", after)):
            r = table.get(k)
            if r is None:
                continue
            label = _link(r) if name == "before" or k not in before else ""
            out.append(f"| {label} | {name} | " + " | ".join(_cells(r)) + " |")
    return out


def interpret(res: dict[str, Any]) -> list[str]:
    """Computed from the figures, so it stays true on re-runs."""
    before = {(r["rate_kbit"], r["loss"]): r for r in res["variants"].get("before", [])}
    after = {(r["rate_kbit"], r["loss"]): r for r in res["variants"].get("after", [])}

    def share(r: dict[str, Any] | None) -> float | None:
        if r is None or "error" in r or "error" in r["heard"]:
            return None
        return float(r["heard"]["concealed_share"])

    better, worse, same = [], [], []
    for k in before:
        if k[0] is None:
            continue
        b, a = share(before.get(k)), share(after.get(k))
        if b is None or a is None:
            continue
        name = f"{k[0]} kbit/s {k[1] * 100:.0f} %"
        if a < b - 0.01:
            better.append(f"{name} ({b * 100:.1f} -> {a * 100:.1f} %)")
        elif a > b + 0.01:
            worse.append(f"{name} ({b * 100:.1f} -> {a * 100:.1f} %)")
        else:
            same.append(name)
    out = []
    if better:
        out.append(f"- Shaping lowers the concealed share at {', '.join(better)}.")
    if worse:
        out.append(f"- **After is worse than before** at {', '.join(worse)}.")
    if same:
        out.append(f"- Within 1 point either way at {', '.join(same)}.")
    cont = {
        name: [
            f"{k[0]} kbit/s {k[1] * 100:.0f} %"
            for k, r in table.items()
            if k[0] is not None and "error" not in r and r["heard"].get("continuous")
        ]
        for name, table in (("before", before), ("after", after))
    }
    out.append(
        "- Continuous (shaped cells): before "
        + (", ".join(cont["before"]) or "none")
        + "; after "
        + (", ".join(cont["after"]) or "none")
        + "."
    )

    def lost(r: dict[str, Any] | None) -> bool | None:
        if r is None or "error" in r or "page_lost_after_s" not in r:
            return None
        return bool(r["page_lost_after_s"])

    for name, table in (("before", before), ("after", after)):
        shaped = [r for k, r in table.items() if k[0] is not None and lost(r) is not None]
        gone = [r for r in shaped if lost(r)]
        if shaped:
            out.append(
                f"- Legs lost within {res.get('plan', {}).get('survive_s', 40):.0f} s of "
                f"shaping, *{name}*: {len(gone)} of {len(shaped)} shaped cells."
            )
    worse_leg = [
        f"{k[0]} kbit/s {k[1] * 100:.0f} %"
        for k in before
        if k[0] is not None and lost(before.get(k)) is False and lost(after.get(k)) is True
    ]
    if worse_leg:
        out.append(
            "- **After is worse than before** for the leg's survival at "
            + ", ".join(worse_leg)
            + " (before's leg lived, after's was lost)."
        )
    for name, table in (("before", before), ("after", after)):
        base = table.get((None, 0.0))
        if base is not None and "error" not in base and "error" not in base["heard"]:
            jb = base["heard"]["jitter_buffer_ms"]
            out.append(
                f"- Unshaped, *{name}*: the patient sends {base['sent']['wire_kbps']:.1f} kbit/s "
                f"on the wire ({base['sent']['packets_per_s']:.0f} packets/s); the receiver's "
                f"NetEq holds {f'{jb:.0f}' if jb is not None else '—'} ms."
            )
    return out


def render(res: dict[str, Any]) -> list[str]:
    return [
        HEADING,
        "",
        f"_`{res['command']}` on {res['date']}: {res['machine']}; took {res['wall_s']:.0f} s._",
        "",
        "What the clinician's browser plays out of the audio the patient's browser *sends*, "
        "with the patient's link shaped both ways (tc tbf, `latency 200ms` with the lab's "
        "3028-byte bucket: a saturated direction queues up to ~1 s at 32 kbit/s) and random loss "
        "(iptables statistic, both ways), before and after the server's answer shapes the "
        "patient's Opus (media/answer_shaping.py). Method: `bench/uplink_audio.py`. Chromium "
        "156 (headless) on both sides, on the server's `/app/media-check.html`: the patient in "
        "a network namespace with a fake microphone playing a 4 Hz syllable-shaped 440 Hz tone "
        "(tests/browser.py `tone_wav`, which Opus DTX keeps active), the clinician (the host's "
        "token) in the root namespace with a 620 Hz one. Both legs pinned to audio-only "
        "(bench/media_load.py `pin_leg`), then both pages offer again so the answer is the "
        "audio-only one; a call of two is relayed packet by packet, so the clinician's NetEq "
        "gets the patient's packets as sent. One fresh call per cell: the link shaped, "
        f"{res.get('plan', {}).get('settle_s', 4):.0f} s of settle, "
        f"{res.get('plan', {}).get('step_s', 12):.0f} s measured (the clinician's inbound "
        "audio `getStats()` every 100 ms), then the link kept so until "
        f"{res.get('plan', {}).get('survive_s', 40):.0f} s after shaping: *leg* says when "
        "a page first left `connected` (the patient's page shows `media-lost` when the "
        "server drops its leg: ICE consent, ~30 s without answers), else that the leg lived. "
        "*before*: `media.leg.shape_answer` replaced by the identity (aiortc's own answer: "
        "Opus `fmtp` `minptime=10;useinbandfec=1`, no `a=ptime`, so Chromium sends 20 ms "
        "packets with in-band FEC, no DTX, no `maxaveragebitrate`; the plan's "
        "`setParameters` still caps it at 24 kbit/s, as it did before the shaping); "
        "*after*: as the product runs (`a=ptime:60`, `maxaveragebitrate=24000`, "
        "`useinbandfec=1`, `usedtx=1`). *sent* = the patient's outbound-rtp payload + header "
        "bytes + 38 bytes of IPv4/UDP/SRTP per packet; *lost on the way* = 1 - packets the "
        "clinician's browser received / packets the patient's sent over the step (not the "
        "receiver's packetsLost: the relay sends with its own sequence numbers, so a loss "
        "before the server leaves no gap; the two pages' windows are not aligned to the "
        "packet, ±2 points); *NetEq ms* = the clinician's jitter buffer delay per emitted "
        "sample; the other columns are §7's: *concealed* "
        "= concealedSamples / totalSamplesReceived, *longest gap* = longest run of 100 ms "
        "windows more than half concealed, **continuous = concealed < 5 % and longest gap <= "
        "200 ms**, *rough MOS* = E-model loss term only (a relative indicator, no delay "
        "term).",
        "",
        "Answers the patient's page applied: "
        + "; ".join(
            f"{name} `{_answer(steps[0])}`" for name, steps in res["variants"].items() if steps
        )
        + ".",
        "",
        *render_table(res),
        "",
        "Reading (computed from the table):",
        "",
        *interpret(res),
        "",
        *NOTES,
    ]


# Reading, written from the full run of Sun Dec 6 03:45 UTC 2026 (bench/uplink_audio.json has
# every figure); rewrite it with the table when the bench is re-run.
NOTES: list[str] = [
    "In words (run of 6 December 2026):",
    "",
    "- **Where shaping helps.** At 32 kbit/s both ways it is the difference between unusable "
    "and continuous: before, the 20 ms stream needs ~47 kbit/s on the wire and half its packets "
    "die in the queue (35-37 % concealed, 2 s gaps, rough MOS 1.9-2.0); after, the 60 ms stream "
    "needs 26-31 kbit/s and plays out continuously at 0 and 5 % loss (0.3 % and 4.6 % concealed, "
    "longest gap 47 and 100 ms, MOS 4.4 and 4.0). 32 kbit/s is the edge, though: the shaped "
    "stream sends 26-32 kbit/s on the wire, and three shorter runs (5 s steps) the same morning "
    "read 7.4 % and 13.0 % concealed at 0 % loss and 14.1 % at 5 % for *after* (39-46 % for "
    "*before*): continuous in this run, not in those. At 10 % loss on 32 kbit/s it is better (18.5 "
    "vs 28.9 % concealed) but not continuous. At 24 and 16 kbit/s neither is continuous: the "
    "audio-only target (24 kbit/s Opus in 60 ms packets: 26-31 kbit/s on the wire, column *sent*) "
    "is more than the link. Shaping still cuts the concealed share to a third at 24 kbit/s "
    "(16-23 % vs 50-56 %, gaps 0.5-0.7 s vs 2.4-2.9 s) and at 16 kbit/s with 5 % loss, and leaves "
    "16 kbit/s at 0 % about as bad (62 vs 72 %). These cells are what a pinned leg sounds like: "
    "the product's policy leaves audio-only for text-only below its 32 kbit/s floor.",
    "- **What it costs.** 60 ms packets add 40 ms of packetisation before the first sample leaves "
    "the patient's browser, and the receiver holds at least one 60 ms packet (vs 20). The *NetEq "
    "ms* column does not measure that cost reliably on this machine: unshaped it read 225 ms "
    "after vs 20 ms before in this run, but 59 vs 30 ms and 105 vs 198 ms in two shorter runs the "
    "same morning, with other browser tests sharing the 2 cores (load average 4-10). Read the "
    "unshaped 225 vs 20 ms as *after worse than before* in this run, and as noise until a run on "
    "an idle machine says otherwise. The sender's rate also grows with loss in *after* (26 -> 31 "
    "kbit/s on the wire at 32 kbit/s): libopus adds in-band FEC (LBRR) as the receiver reports "
    "loss, under the same 24 kbit/s ceiling, and that uses the last few kbit/s of a 32 kbit/s "
    "link; *before* sends FEC too (aiortc's own answer has `useinbandfec=1`), column *FEC pkts*.",
    "- **The leg does not survive these links, before or after** (column *leg*; after lost it "
    "in every shaped cell, even at 32 kbit/s 0 % where its audio was continuous). A diagnostic "
    "run of that cell with the server's log: `aioice ... Consent to send expired` 36 s after "
    "shaping, then the page's `media-lost` (`consult.leg` failed). aioice's consent check is one "
    "STUN request with a 0.5 s timeout and no retransmission; 6 failures in a row (~30 s) end "
    "the leg. The lab's tbf queue holds rate x 200 ms + its 3028-byte bucket, i.e. up to ~0.96 s "
    "at 32 kbit/s, 1.2 s at 24 and 1.7 s at 16 once a direction is saturated (not the 200 ms the "
    "setting suggests): the round trip then exceeds 0.5 s and every check fails. The three cells "
    "where *before* lived 40 s and *after* did not are flagged above; I read them as the luck of "
    "when the random consent checks land in a standing queue (before saturates its uplink as "
    "much), not as shaping hurting, but they are what was measured. In the product a leg below "
    "the 32 kbit/s floor goes text-only, which empties the queue; a pinned audio-only leg on a "
    "saturated deep-queue link is what this bench forces.",
    "- *Lost on the way* is the end-to-end share (queue drops + random loss, both hops). The "
    "clinician's own `packetsLost` read 0 in every cell, even with 48-80 % of the packets gone: "
    "the relay sends with its own consecutive sequence numbers, so the receiving browser sees a "
    "loss before the server only as a timestamp jump (no NACK, no loss figure in its RTCP). "
    "NetEq still parsed FEC in most lossy cells (*FEC pkts*); how much of it it could use "
    "after the renumbering was not measured.",
]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.uplink_audio", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="5 s steps")
    parser.add_argument("--only", default="before,after", help="variants: before,after")
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="kbit/s, both ways")
    parser.add_argument("--losses", default="0,5,10", help="percent random loss, both ways")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unshaped step")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the doc's section from the JSON"
    )
    parser.add_argument("--verbose", action="store_true", help="the server's logs on stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        for noisy in ("aiortc", "aioice", "engineio", "socketio", "aiohttp.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.render_only:
        doc_sections.write_section(HEADING, render(json.loads(RESULTS.read_text())), DOC)
        log(f"rewrote {HEADING!r} in {DOC} from {RESULTS.name}")
        return 0
    plan = QUICK if args.quick else FULL
    rates = tuple(int(x) for x in args.rates.split(",") if x)
    losses = tuple(float(x) / 100 for x in args.losses.split(",") if x)
    variants = [v for v in args.only.split(",") if v in ("before", "after")]
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    machine = media_link.machine()
    t0 = time.monotonic()
    variants_res = asyncio.run(run(plan, variants, rates, losses, not args.no_baseline))
    if variants_res.get("skipped"):
        print(f"skipped: {variants_res['skipped']}")
        return 0
    res = {
        "variants": variants_res,
        "wall_s": time.monotonic() - t0,
        "date": date.stdout.strip(),
        "command": " ".join(["python -m bench.uplink_audio", *argv]),
        "machine": machine,
        "plan": {"settle_s": plan.settle_s, "step_s": plan.step_s, "survive_s": plan.survive_s},
    }
    lines = render(res)
    print("\n".join(lines))
    if not args.no_doc:
        RESULTS.write_text(json.dumps(res, indent=1, default=str) + "\n")
        doc_sections.write_section(HEADING, lines, DOC)
        log(f"rewrote {HEADING!r} in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

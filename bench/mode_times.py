"""How long the patient's join page takes to say the new mode after its link is cut, and to show
video again after the link is restored (the flow of tests/web/test_call.py
`test_the_patients_mode_follows_a_shaped_link_in_plain_words`, repeated and timed).

    python -m bench.mode_times [--quick] [--repeats 3] [--cuts 60,20] [--hold 8] [--settle 15]
                               [--restore-kbit N] [--no-doc] [--render-only]

Set-up: a real `relais serve` (tests/security/conftest.py `serve`, listening on every address);
the clinician (dr.roche) in a Chromium in the root namespace signs in, creates a care room and a
consultation (tests/web/workspace.py `host_with_link`), opens it and admits the patient; the
patient's Chromium runs inside a NetLab namespace (tests/netlab.py) on the real join page (link,
code, consent, waiting room: `patient_waits`), default fake camera and microphone. Once media
flows both ways and the patient's indicator says video, each repeat:

1. waits until the indicator has said video for `--settle` seconds (the policy forgets a failed
   climb after 10 s of the mode: `PolicyConfig.unstable_s`);
2. shapes the patient's veth to one of `--cuts` (kbit/s, both ways: tc tbf, `latency 200ms`) and
   times, from that moment, the first time the patient's indicator (`.mode`, class
   `mode-audio` / `mode-text`, read every 50 ms in the page) says sound only and text only, and
   when the clinician's participant line for the patient says so (`son seulement` /
   `texte seulement`); 60 kbit/s still carries audio (the test's cut), 20 kbit/s does not;
3. `--hold` seconds after the first change (or after text only, if it came within that time),
   lifts the shaping and times the indicator's return to video (`mode-video`), and the
   clinician's line losing its sound/text-only mention.

Times are wall-clock milliseconds (the pages' `Date.now()` and Python's `time.time()` read the
same clock). Writes "## 13. Patient mode times on a cut link" of docs/performance.md and
bench/mode_times.json. Needs root, iproute2, iptables, Chromium and web_client/node_modules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import doc_sections, media_link

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
RESULTS = ROOT / "bench" / "mode_times.json"
HEADING = "## 13. Patient mode times on a cut link"
PATIENT = "M. Roche"

# The patient's indicator family and its cause, every 50 ms, kept on change.
WATCH_PATIENT = """() => {
  if (window.__mt) return;
  const mt = { rows: [] };
  window.__mt = mt;
  let last = null;
  mt.timer = setInterval(() => {
    const el = document.querySelector('.mode');
    const m = el ? /\\bmode-(\\w+)/.exec(el.className) : null;
    const family = m ? m[1] : null;
    const whyEl = document.querySelector('.mode .mode-why');
    const why = whyEl ? whyEl.textContent : '';
    const key = family + '|' + why;
    if (key !== last) {
      last = key;
      mt.rows.push({ t: Date.now(), family, why });
    }
  }, 50);
}"""

# The clinician's line for the patient (`ul.participants li` naming them), kept on change.
WATCH_CLINICIAN = """(name) => {
  if (window.__mt) return;
  const mt = { rows: [] };
  window.__mt = mt;
  let last = null;
  mt.timer = setInterval(() => {
    const li = [...document.querySelectorAll('ul.participants li')]
      .find(x => x.textContent.includes(name));
    const text = li ? li.textContent.replace(/\\s+/g, ' ').trim() : '';
    if (text !== last) {
      last = text;
      mt.rows.push({ t: Date.now(), text });
    }
  }, 50);
}"""


def log(msg: str) -> None:
    print(f"[mode_times {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def now_ms() -> float:
    return time.time() * 1000


def clinician_family(text: str) -> str:
    # The line ends with the host's mode switch, whose options name every mode: read before it.
    low = text.split("Mode de ")[0].lower()
    if "texte seulement" in low:
        return "text"
    if "son seulement" in low:
        return "audio"
    return "other"


def first_after(
    rows: list[dict[str, Any]], t0: float, family: str, key: str = "family"
) -> dict[str, Any] | None:
    for r in rows:
        if r["t"] >= t0 and r[key] == family:
            return r
    return None


async def page_rows(page: Any) -> list[dict[str, Any]]:
    return list(await page.evaluate("window.__mt.rows"))


async def wait_family(page: Any, family: str, since: float, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await page_rows(page)
        if first_after(rows, since, family) is not None:
            return True
        await asyncio.sleep(0.1)
    return False


async def held_video(page: Any, seconds: float, timeout_s: float) -> bool:
    """The indicator has said video for `seconds` without a change."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await page_rows(page)
        if rows and rows[-1]["family"] == "video" and now_ms() - rows[-1]["t"] >= seconds * 1000:
            return True
        await asyncio.sleep(0.2)
    return False


def secs(r: dict[str, Any] | None, t0: float) -> float | None:
    return None if r is None else (r["t"] - t0) / 1000


async def left_video(page: Any, since: float, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await page_rows(page)
        if any(r["t"] >= since and r["family"] in ("audio", "text") for r in rows):
            return True
        await asyncio.sleep(0.1)
    return False


async def repeat(
    lab: Any,
    patient: Any,
    clinician: Any,
    cut_kbit: int,
    hold_s: float,
    timeout_s: float,
    restore_kbit: int | None = None,
) -> dict[str, Any]:
    t_cut = now_ms()
    await lab.set_rate(cut_kbit)
    reached_text = False
    if await left_video(patient, t_cut, timeout_s):
        # Sound only first may be followed by text only: keep the cut `hold_s` after the first
        # change, and after text only if it comes within that time.
        await asyncio.sleep(hold_s)
        text = first_after(await page_rows(patient), t_cut, "text")
        if text is not None and now_ms() - text["t"] < hold_s * 1000:
            await asyncio.sleep(hold_s - (now_ms() - text["t"]) / 1000)
        reached_text = text is not None
    t_restore = now_ms()
    if restore_kbit:
        # Lift the cut by raising the tbf's rate (its queue drains) rather than deleting it.
        await lab.set_rate(restore_kbit)
    else:
        await lab.restore()
    back = await wait_family(patient, "video", t_restore, 2 * timeout_s)
    await asyncio.sleep(1)
    prow, crow = await page_rows(patient), await page_rows(clinician)
    for r in crow:
        r["family"] = clinician_family(r["text"])
    cut_rows = [r for r in prow if t_cut <= r["t"] < t_restore]
    c_after_restore = [r for r in crow if r["t"] >= t_restore]
    c_back = next((r for r in c_after_restore if r["family"] == "other"), None)
    audio = first_after(cut_rows, t_cut, "audio")
    text = first_after(cut_rows, t_cut, "text")
    video = first_after(prow, t_restore, "video")
    return {
        "cut_kbit": cut_kbit,
        "cut_to_audio_s": secs(audio, t_cut),
        "cut_to_text_s": secs(text, t_cut),
        "restore_to_video_s": secs(video, t_restore),
        "clinician_cut_to_audio_s": secs(
            first_after([r for r in crow if r["t"] < t_restore], t_cut, "audio"), t_cut
        ),
        "clinician_cut_to_text_s": secs(
            first_after([r for r in crow if r["t"] < t_restore], t_cut, "text"), t_cut
        ),
        "clinician_restore_to_back_s": secs(c_back, t_restore),
        "reached_text": reached_text,
        "video_back": back,
        "held_cut_s": (t_restore - t_cut) / 1000,
        "why_audio": audio["why"] if audio else None,
        "why_text": text["why"] if text else None,
        "why_video": video["why"] if video else None,
        "patient_sequence": [
            {"s": round((r["t"] - t_cut) / 1000, 2), "family": r["family"], "why": r["why"]}
            for r in prow
            if r["t"] >= t_cut
        ],
        "clinician_sequence": [
            {"s": round((r["t"] - t_cut) / 1000, 2), "text": r["text"]}
            for r in crow
            if r["t"] >= t_cut
        ],
    }


async def run(
    repeats: int,
    cuts: list[int],
    hold_s: float,
    settle_s: float,
    timeout_s: float,
    restore_kbit: int | None = None,
) -> dict[str, Any]:
    from playwright.async_api import expect

    from tests.browser import launch_chromium
    from tests.netlab import NetLab
    from tests.security.conftest import Served, serve
    from tests.web.test_call import media_flows
    from tests.web.workspace import host_with_link, patient_waits

    why = await media_link.browser_lab_missing()
    if why is not None:
        log(f"skipped: {why}")
        return {"skipped": why}
    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="relais-mode-times-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'relais.db'}"
        proc = await serve(Path(tmp), url, RELAIS_HOST="0.0.0.0")
        served = Served(proc, url)
        try:
            async with NetLab() as lab, contextlib.AsyncExitStack() as stack:
                origin = f"http://{lab.host_addr}:{served.port}"
                wctx = await stack.enter_async_context(launch_chromium(locale="fr-FR"))
                pctx = await stack.enter_async_context(
                    launch_chromium(
                        netns=lab.name,
                        locale="fr-FR",
                        extra_args=[f"--unsafely-treat-insecure-origin-as-secure={origin}"],
                    )
                )
                clinician = wctx.pages[0] if wctx.pages else await wctx.new_page()
                patient = pctx.pages[0] if pctx.pages else await pctx.new_page()
                link, code = await host_with_link(served, clinician, PATIENT)
                await clinician.get_by_role("link", name="Ouvrir la consultation").click()
                await patient_waits(patient, origin + "/consult/" + link.rsplit("/", 1)[1], code)
                await clinician.get_by_role("button", name=f"Admettre {PATIENT}").click()
                await media_flows(patient, "patient in the lab")
                await expect(patient.locator(".mode .mode-now")).to_contain_text(
                    "Vidéo", timeout=15_000
                )
                await patient.evaluate(WATCH_PATIENT)
                await clinician.evaluate(WATCH_CLINICIAN, PATIENT)
                for i in range(repeats):
                    for cut_kbit in cuts:
                        if not await held_video(patient, settle_s, 3 * timeout_s):
                            log(f"repeat {i + 1}: the indicator did not hold video; stopping")
                            return {"repeats": out, "stopped": "video did not come back"}
                        res = await repeat(
                            lab, patient, clinician, cut_kbit, hold_s, timeout_s, restore_kbit
                        )
                        res["repeat"] = i + 1
                        log(f"repeat {i + 1}: {json.dumps(res, ensure_ascii=False)}")
                        out.append(res)
        finally:
            await proc.terminate()
    return {"repeats": out}


# -- the doc ----------------------------------------------------------------------------------

FIGURES = (
    ("cut_to_audio_s", "cut -> sound only"),
    ("cut_to_text_s", "cut -> text only"),
    ("restore_to_video_s", "restore -> video"),
    ("clinician_cut_to_audio_s", "clinician's line: sound only"),
    ("clinician_cut_to_text_s", "clinician's line: text only"),
    ("clinician_restore_to_back_s", "clinician's line: mode mention gone"),
)


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}"


def medians(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, _ in FIGURES:
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = statistics.median(vals) if vals else None
    return out


def render(res: dict[str, Any]) -> list[str]:
    rows = res["repeats"]
    cuts = list(dict.fromkeys(r["cut_kbit"] for r in rows))
    out = [
        HEADING,
        "",
        f"_`{res['command']}` on {res['date']}: {res['machine']}; took {res['wall_s']:.0f} s._",
        "",
        "Seconds from shaping the patient's link (both ways, tc tbf, `latency 200ms`) until the "
        "patient's join page says *Son seulement* and *Texte seulement*, and from lifting the "
        "shaping until it says *Vidéo* again; the clinician's participant line for the patient "
        "read the same way (its text is refreshed with the server's once-a-second samples). "
        "Method: `bench/mode_times.py` (the flow of tests/web/test_call.py "
        "`test_the_patients_mode_follows_a_shaped_link_in_plain_words`, timed and repeated in "
        "one call): a real `relais serve`, the clinician's workspace in Chromium 156 in the root "
        "namespace, the patient's join page in another inside a network namespace, default fake "
        "camera and microphone; each page read every 50 ms in the page. Each repeat cuts the "
        f"link to each rate in turn ({', '.join(f'{c} kbit/s' for c in cuts)}); a cut starts "
        f"after the indicator has said video for {res['settle_s']:.0f} s, and the link is "
        f"restored {res['hold_s']:.0f} s after the first change (or after text only, if that "
        "came within that time). — = not seen during that cut.",
        "",
    ]
    for cut in cuts:
        mine = [r for r in rows if r["cut_kbit"] == cut]
        med = medians(mine)
        out += [
            f"Cut to **{cut} kbit/s**:",
            "",
            "| repeat | "
            + " | ".join(label + " s" for _, label in FIGURES)
            + " | patient's indicator, s after the cut |",
            "|---:|" + "---:|" * len(FIGURES) + "---|",
        ]
        for r in mine:
            seq = " → ".join(
                f"{x['family']} {x['s']:.1f}" for x in r["patient_sequence"] if x["family"]
            )
            out.append(
                f"| {r.get('repeat', '')} | "
                + " | ".join(_s(r.get(k)) for k, _ in FIGURES)
                + f" | {seq} |"
            )
        out.append("| **median** | " + " | ".join(f"**{_s(med[k])}**" for k, _ in FIGURES) + " | |")
        causes = sorted(
            {(r.get("why_audio"), r.get("why_text"), r.get("why_video")) for r in mine}, key=str
        )
        out += ["", "What the patient's page said:", ""]
        for a, t, v in causes:
            out.append(
                f"- sound only: “{a or '—'}”; text only: “{t or '—'}”; video again: “{v or '—'}”"
            )
        out.append("")
    if res.get("stopped"):
        out += [f"**Stopped early**: {res['stopped']}.", ""]
    out += reading(rows)
    return out


def reading(rows: list[dict[str, Any]]) -> list[str]:
    """What this run shows, counted from its own sequences (a re-run rewrites it)."""
    out = ["Reading (counted from this run's sequences):", ""]
    for cut in dict.fromkeys(r["cut_kbit"] for r in rows):
        mine = [r for r in rows if r["cut_kbit"] == cut]
        n = len(mine)
        sound = sum(1 for r in mine if r.get("cut_to_audio_s") is not None)
        text = [r for r in mine if r.get("cut_to_text_s") is not None]
        after_sound = sum(
            1
            for r in text
            if r.get("cut_to_audio_s") is not None and r["cut_to_audio_s"] < r["cut_to_text_s"]
        )
        dips = 0
        for r in mine:
            cut_end = r.get("held_cut_s")
            seq = [x["family"] for x in r["patient_sequence"] if cut_end and x["s"] > cut_end]
            if seq and seq[0] == "text" and r.get("cut_to_text_s") is None:
                dips += 1
        out.append(
            f"- **{cut} kbit/s**: sound only shown in {sound} of {n} repeats, text only during "
            f"the cut in {len(text)} of {n} ({after_sound} of them after sound only); a text-only "
            f"step right after the restore in {dips} of {n}."
        )
    out += [
        "- The clinician's line is refreshed from the server's once-a-second samples and can lag "
        "the patient's page; at 20 kbit/s the patient's page learns of text only over its own "
        "starved socket, after the clinician's screen.",
        "",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.mode_times", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cuts", default="60,20", help="kbit/s the link is cut to, both ways, in turn"
    )
    parser.add_argument(
        "--hold", type=float, default=8.0, help="s after the first change before restoring"
    )
    parser.add_argument("--settle", type=float, default=15.0, help="s of video before a cut")
    parser.add_argument("--timeout", type=float, default=60.0, help="s to wait for each mode")
    parser.add_argument(
        "--restore-kbit",
        type=int,
        default=None,
        help="restore by raising the rate to this (default: remove the shaping)",
    )
    parser.add_argument("--quick", action="store_true", help="1 repeat, 5 s settle")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the doc's section from the JSON"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        doc_sections.write_section(HEADING, render(json.loads(RESULTS.read_text())), DOC)
        log(f"rewrote {HEADING!r} in {DOC} from {RESULTS.name}")
        return 0
    if args.quick:
        args.repeats, args.settle = 1, 5.0
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    machine = media_link.machine()
    t0 = time.monotonic()
    cuts = [int(x) for x in args.cuts.split(",") if x]
    found = asyncio.run(
        run(args.repeats, cuts, args.hold, args.settle, args.timeout, args.restore_kbit)
    )
    if found.get("skipped"):
        print(f"skipped: {found['skipped']}")
        return 0
    res = {
        **found,
        "cuts_kbit": cuts,
        "hold_s": args.hold,
        "settle_s": args.settle,
        "wall_s": time.monotonic() - t0,
        "date": date.stdout.strip(),
        "command": " ".join(["python -m bench.mode_times", *argv]),
        "machine": machine,
    }
    lines = render(res)
    print("\n".join(lines))
    if not args.no_doc:
        RESULTS.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n")
        doc_sections.write_section(HEADING, lines, DOC)
        log(f"rewrote {HEADING!r} in {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The adaptation policy replayed on recorded and synthetic link traces (issue 5, "Measure").

    python -m bench.adaptation_traces [--no-doc]

Each trace drives `media.policy.AdaptationPolicy` in closed loop through the deterministic link
model of `media.link_model` (what a leg can measure depends on what it sends). The recorded
traces are the 3G commute traces in tests/data/link-traces, as they are (scale 1.0) and scaled
by 0.1 (a stand-in for rural 2G/weak 3G); the synthetic ones are the issue's cases. All figures
are in trace seconds, so they are exact and do not depend on the machine: the issue's targets
are <= 2 s from a loss or rate collapse to the mode change, <= 3 s for a dead link, and <= 15 s
from a restored link back to video-high.

It prints the tables and rewrites the section "## 5. Adaptation policy on recorded traces" of
docs/performance.md (only that section; it is added at the end when absent).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import doc_sections
from media.link_model import (
    LinkModel,
    Step,
    bursty_loss,
    collapse_latencies,
    load_trace,
    modes_seconds,
    recovery_times,
    simulate,
    trace_files,
)
from media.policy import LADDER, AdaptationPolicy, Mode, PolicyConfig

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
TRACES = ROOT / "tests" / "data" / "link-traces"
HEADING = "## 5. Adaptation policy on recorded traces"
SCALES = (1.0, 0.1)
START = Mode.VIDEO_HIGH


@dataclass(frozen=True)
class Row:
    name: str
    seconds: int
    in_mode: dict[str, int]
    switches: int
    collapses: list[float | None]
    recoveries: list[float]
    interrupted: int


def replay(name: str, link: LinkModel, config: PolicyConfig) -> Row:
    policy = AdaptationPolicy(config, start=START)
    steps: list[Step] = simulate(policy, link)
    times, interrupted = recovery_times(steps, link, policy, START)
    return Row(
        name=name,
        seconds=len(steps),
        in_mode=modes_seconds(steps),
        switches=policy.switches,
        collapses=collapse_latencies(steps, link, policy, START),
        recoveries=times,
        interrupted=interrupted,
    )


def synthetic() -> list[tuple[str, LinkModel]]:
    flap_cap = ([2000.0] * 2 + [60.0] * 2) * 15
    flap_loss = ([0.0] * 2 + [0.2] * 2) * 15
    ramp = [15.0] * 10 + [15.0 + 10.0 * i for i in range(60)] + [700.0] * 30
    return [
        ("step 2000 -> 60 kbit/s", LinkModel([2000.0] * 20 + [60.0] * 40)),
        ("step 2000 -> 15 kbit/s", LinkModel([2000.0] * 20 + [15.0] * 40)),
        ("dead 20 s, then 2000 kbit/s", LinkModel([2000.0] * 20 + [0.0] * 20 + [2000.0] * 30)),
        ("loss 15% for 5 s", LinkModel([2000.0] * 85, [0.0] * 20 + [0.15] * 5 + [0.0] * 60)),
        (
            "random loss bursts 12-25%, 300 s (seed 1)",
            LinkModel([1500.0] * 300, bursty_loss(300, 1, start_p=0.04), seed=1),
        ),
        ("flapping 2000/60 kbit/s every 2 s, 60 s", LinkModel(flap_cap)),
        ("flapping 0/20% loss every 2 s, 60 s", LinkModel([2000.0] * 60, flap_loss)),
        ("slow ramp 15 -> 605 kbit/s over 60 s", LinkModel(ramp)),
    ]


def run(config: PolicyConfig = PolicyConfig()) -> dict[str, list[Row]]:  # noqa: B008
    out: dict[str, list[Row]] = {"synthetic": [replay(n, m, config) for n, m in synthetic()]}
    for scale in SCALES:
        out[f"x{scale:g}"] = [
            replay(p.stem, LinkModel(load_trace(p, scale)), config) for p in trace_files(TRACES)
        ]
    return out


# -- the doc's section -------------------------------------------------------------------------


def _s(xs: Sequence[float]) -> str:
    return f"{statistics.median(xs):g} / {max(xs):g}" if xs else "—"


def _collapse(row: Row) -> str:
    done = [x for x in row.collapses if x is not None]
    missed = len(row.collapses) - len(done)
    text = f"{len(row.collapses)}: {_s(done)}" if row.collapses else "—"
    return text + (f" ({missed} missed)" if missed else "")


def _recovery(row: Row) -> str:
    if not row.recoveries and not row.interrupted:
        return "—"
    text = f"{len(row.recoveries)}: {_s(row.recoveries)}"
    return text + (f" ({row.interrupted} cut short)" if row.interrupted else "")


def table(rows: list[Row]) -> list[str]:
    modes = [m.value for m in reversed(LADDER)]
    out = [
        "| trace | s | " + " | ".join(f"s {m}" for m in modes) + " | switches | "
        "collapses: median / max s to mode change | restorations: median / max s to video-high |",
        "|---|---:|" + "---:|" * len(modes) + "---:|---|---|",
    ]
    for r in rows:
        cells = " | ".join(str(r.in_mode.get(m, 0)) for m in modes)
        out.append(
            f"| {r.name} | {r.seconds} | {cells} | {r.switches} | {_collapse(r)} | {_recovery(r)} |"
        )
    return out


def _summary(rows: list[Row]) -> str:
    done = [x for r in rows for x in r.collapses if x is not None]
    missed = sum(1 for r in rows for x in r.collapses if x is None)
    rec = [x for r in rows for x in r.recoveries]
    secs = sum(r.seconds for r in rows)
    switches = sum(r.switches for r in rows)
    return (
        f"{secs} s, {switches} switches (one per {secs / max(1, switches):.0f} s); "
        f"collapse -> mode change median / max {_s(done)} s over {len(done)} collapses"
        f"{f', {missed} missed' if missed else ''}; restoration -> video-high {_s(rec)} s "
        f"over {len(rec)} restorations"
    )


def render(res: dict[str, list[Row]], header: str) -> list[str]:
    out = [
        HEADING,
        "",
        header,
        "",
        "Figures are trace seconds, not wall time: the policy (`media/policy.py`, default "
        "`PolicyConfig`) runs in closed loop with the deterministic link model "
        "(`media/link_model.py`: loss = overflow + scheduled loss; the estimate sees at most "
        "1.5 x what is sent + 10 kbit/s, so climbing needs probes; a dead link stops all "
        "packets). The leg starts in video-high. *Collapse*: the link stops carrying the mode "
        "in force (capacity under its floor and under 90 % of what is sent, or loss at its "
        "limit) for at least the 2 s hold; "
        "timed from the start of the first bad second to the sample that changes mode "
        "(targets: <= 2 s, <= 3 s for a dead link). *Restoration*: capacity back to >= 500 "
        "kbit/s while below video-high, timed to the sample that commits video-high (target "
        "<= 15 s); *cut short* when capacity fell under the video-high floor first. Cells read "
        "`count: median / max`.",
        "",
        "**Synthetic cases** (the unit tests' scenarios, tests/unit/test_media_policy.py)",
        "",
        *table(res["synthetic"]),
        "",
    ]
    for scale in SCALES:
        rows = res[f"x{scale:g}"]
        what = (
            "as recorded (0.2-4 Mbit/s)"
            if scale == 1.0
            else "scaled by 0.1 (20-440 kbit/s: rural 2G/weak 3G)"
        )
        out += [
            f"**Recorded 3G traces {what}** (tests/data/link-traces). Over all: {_summary(rows)}.",
            "",
            *table(rows),
            "",
        ]
    return out


def write_section(lines: list[str], doc: Path = DOC) -> None:
    doc_sections.write_section(HEADING, lines, doc)


def _machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.adaptation_traces", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    args = parser.parse_args(argv)
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    t0 = time.perf_counter()
    res = run()
    wall = time.perf_counter() - t0
    command = " ".join(["python -m bench.adaptation_traces", *argv])
    header = (
        f"_`{command}` on {date.stdout.strip()}: {_machine()}; "
        f"{sum(len(v) for v in res.values())} replays took {wall:.2f} s of wall time "
        "(deterministic: the figures below do not depend on the machine)._"
    )
    lines = render(res, header)
    print("\n".join(lines))
    if not args.no_doc:
        write_section(lines)
        print(f"rewrote {HEADING!r} in {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The patient's join page on a thin link, in a real Chromium (issue 13, "Measure"; WEB.md budget).

    python -m bench.join_load [--repeats N | --quick] [--no-doc | --render-only]

A real `relais serve` (SQLite). Each run is a patient opening a fresh invitation link (no code) in
a fresh Chromium profile (cold HTTP cache, nothing stored), so every byte is fetched:

- *interactive*: from opening the link until the one decision on the way in, the "join the
  consultation" button of the consent screen, takes a click (WEB.md's "interactive");
- *to the waiting room*: from that click (the patient's consent, recorded through the API, then
  the socket.io connection and `consult.join`) until the server lists the patient as waiting
  (polled every 50 ms through the host's API; the page shows the waiting room's heading at once).

Bytes are what crossed the wire up to the waiting room: HTTP responses' `encodedDataLength`
(compressed) plus the payload of the WebSocket frames received, the same accounting as section 8.
Links are emulated by Chromium (`Network.emulateNetworkConditions`). Results: bench/join_load.json
and "## 10. Patient join page load" of docs/performance.md. `make bench` runs it
(`bench.run_all --only web`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import doc_sections
from bench.procs import Server, free_port, python_argv, relais_args
from bench.web_load import PASSWORD, _create_users, _machine, _path, metered_page

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "join_load.json"
HEADING = "## 10. Patient join page load"
CLINICIAN = "bench.host"
CONDITIONS = {
    "unthrottled": None,
    "1.6 Mbit/s, 150 ms": (1600, 150),
    "2G: 250 kbit/s, 400 ms": (250, 400),
}
# WEB.md's budget for the patient's page, on its 2G-class link.
BUDGET_LINK, BUDGET_KB, BUDGET_S = "2G: 250 kbit/s, 400 ms", 250, 15.0
JOIN_BUTTON = "Rejoindre la consultation"
WAITING_HEADING = "Salle d'attente"


async def _new_link(url: str) -> tuple[str, str, dict[str, str]]:
    """A consultation of the bench clinician and its patient link (no code): (the link's path,
    the consultation's API path, the clinician's headers)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url + "/api/v1/auth/login", json={"username": CLINICIAN, "password": PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(url + "/api/v1/consultations", json={}, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            cid = (await resp.json())["consultation_id"]
        async with http.post(
            f"{url}/api/v1/consultations/{cid}/links",
            json={"display_name": "Mme Bench"},
            headers=headers,
        ) as resp:
            assert resp.status == 201, await resp.text()
            return str((await resp.json())["url"]), f"{url}/api/v1/consultations/{cid}", headers


async def _until_waiting(http: aiohttp.ClientSession, api: str, headers: dict[str, str]) -> None:
    """The server lists the patient in the waiting room (the page shows its heading at once; the
    consent, the socket's handshake and `consult.join` follow over the link)."""
    for _ in range(2400):
        async with http.get(api, headers=headers) as resp:
            if (await resp.json())["waiting"]:
                return
        await asyncio.sleep(0.05)
    raise TimeoutError("the patient never reached the waiting room")


async def _one_run(url: str, condition: tuple[int, int] | None) -> dict[str, Any]:
    from playwright.async_api import expect

    from tests.browser import launch_chromium

    link, api, headers = await _new_link(url)
    async with launch_chromium(locale="fr-FR") as context:
        page, bytes_in, requests = await metered_page(context, condition)

        t0 = time.perf_counter()
        await page.goto(url + link, wait_until="commit")
        join = page.get_by_role("button", name=JOIN_BUTTON)
        await expect(join).to_be_enabled(timeout=120_000)
        interactive = time.perf_counter() - t0
        first_kb, first_requests = sum(bytes_in) / 1000, len(requests)
        first_urls = list(requests)

        t1 = time.perf_counter()
        await join.click()
        await expect(page.get_by_role("heading", name=WAITING_HEADING)).to_be_visible(
            timeout=120_000
        )
        async with aiohttp.ClientSession() as http:
            await _until_waiting(http, api, headers)
        waiting = time.perf_counter() - t1
        return {
            "interactive_s": interactive,
            "interactive_kb": first_kb,
            "interactive_requests": first_requests,
            "to_waiting_room_s": waiting,
            "total_s": interactive + waiting,
            "total_kb": sum(bytes_in) / 1000,
            "total_requests": len(requests),
            "requests": [_path(u) for u in first_urls],
        }


async def _measure(url: str, repeats: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, condition in CONDITIONS.items():
        runs = [await _one_run(url, condition) for _ in range(repeats)]
        out[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "requests"}
        out[name]["requests"] = runs[0]["requests"]
        print(name, json.dumps(out[name]), flush=True)
    return out


def _bundle_sizes() -> dict[str, dict[str, float]]:
    """The join page's own files in web_client/dist (its manifest's `join.*` entries and what
    they import), raw and precompressed."""
    dist = ROOT / "web_client" / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    names = [v for k, v in manifest["entries"].items() if k.startswith("join.")]
    for entry in list(names):
        if entry.endswith(".js"):
            text = (dist / entry).read_text()
            names += [f"assets/{d}" for d in re.findall(r'(?:from|import)\s*"\./([^"]+)"', text)]
    return {
        name: {
            "raw_kb": (dist / name).stat().st_size / 1000,
            "br_kb": (dist / (name + ".br")).stat().st_size / 1000,
            "gz_kb": (dist / (name + ".gz")).stat().st_size / 1000,
        }
        for name in sorted(set(names))
        if (dist / (name + ".br")).exists()
    }


def _ok(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(result: dict[str, Any]) -> list[str]:
    cond = result["conditions"]
    lines = [
        HEADING,
        "",
        f"_`{result['command']}` on {result['date']}: {result['machine']}; "
        f"{result['chromium']}, headless, a fresh profile and a fresh invitation per run; median "
        f"of {result['repeats']} run(s) per link._",
        "",
        "From opening the invitation link (no code) to the waiting room: one decision (the "
        '"join the consultation" button, which records the consent). *Interactive* is when '
        "that button takes a click; KB are what crossed the wire (compressed HTTP bodies plus "
        "WebSocket frame payloads), cumulated up to the waiting room. Links as in section 8. "
        "Method: `bench/join_load.py`.",
        "",
        "| link | interactive (s) | KB | requests | click to waiting room (s) "
        "| link to waiting room (s) | KB to waiting room | requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in cond.items():
        lines.append(
            f"| {name} | {r['interactive_s']:.2f} | {r['interactive_kb']:.1f} | "
            f"{r['interactive_requests']:.0f} | {r['to_waiting_room_s']:.2f} | "
            f"{r['total_s']:.2f} | {r['total_kb']:.1f} | {r['total_requests']:.0f} |"
        )
    lines += ["", "The page's files (`web_client/dist`):", ""]
    lines += ["| file | raw KB | brotli KB | gzip KB |", "|---|---:|---:|---:|"]
    for name, s in result["bundles"].items():
        lines.append(f"| {name} | {s['raw_kb']:.1f} | {s['br_kb']:.1f} | {s['gz_kb']:.1f} |")
    slow = cond.get(BUDGET_LINK)
    if slow is not None:
        kbps, rtt = CONDITIONS[BUDGET_LINK] or (0, 0)
        wire = slow["total_kb"] * 8 / kbps
        lines += [
            "",
            f"Against WEB.md's budget (patient join <= {BUDGET_KB} KB and interactive <= "
            f"{BUDGET_S:.0f} s on {BUDGET_LINK}): {slow['total_kb']:.0f} KB up to the waiting "
            f"room, {_ok(slow['total_kb'] <= BUDGET_KB)} "
            f"({100 * slow['total_kb'] / BUDGET_KB:.0f}% of the budget); interactive after "
            f"{slow['interactive_s']:.1f} s, {_ok(slow['interactive_s'] <= BUDGET_S)}, and in "
            f"the waiting room {slow['total_s']:.1f} s after the tap on the link. Sending those "
            f"bytes at the link's rate alone takes {wire:.1f} s; the rest is round trips of "
            f"{rtt} ms (the page, then its script and style side by side, the invitation's "
            "state, then on the click the consent, the socket's handshake and the first state).",
        ]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run per link")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help=f"rewrite the doc's section from {RESULTS.name} without measuring",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        doc_sections.write_section(HEADING, render(json.loads(RESULTS.read_text())))
        return 0
    repeats = 1 if args.quick else args.repeats
    machine = _machine()
    started = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="relais-joinload-") as tmp:
        work = Path(tmp)
        db = f"sqlite+aiosqlite:///{work / 'relais.db'}"
        _create_users(db, work / "data", [CLINICIAN])
        port = free_port()
        argv_ = python_argv("server.cli", *relais_args(port, work / "data", db))
        with Server(argv_, port, work / "server.log", cwd=str(ROOT)) as server:
            conditions = asyncio.run(_measure(server.url, repeats))
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "date": started,
        "command": " ".join(["python -m bench.join_load", *argv]),
        "machine": machine,
        "chromium": chromium,
        "repeats": repeats,
        "conditions": conditions,
        "bundles": _bundle_sizes(),
    }
    if args.no_doc:
        print("\n".join(render(result)))
        return 0
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    doc_sections.write_section(HEADING, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""First load of the browser app in a real Chromium (issue 12, "Measure"; budgets in WEB.md).

    python -m bench.web_load [--repeats N | --quick] [--no-doc | --render-only]

A real `relais serve` (SQLite). Each run is a clinician of their own, member of 20 care rooms,
signing in for the first time in a fresh Chromium profile (cold HTTP cache, empty IndexedDB), so
every byte is fetched:

- *first load*: open `/app/` until the sign-in form can be typed in (WEB.md's "interactive");
- *sign-in*: type the name and password, submit, until the device set-up screen asks for the
  recovery passphrase (login, `/me`, the device status);
- *device set-up to room list*: type the passphrase twice, submit, until the room list shows all
  rooms: this browser becomes the user's first device (keys made, device list and pre-key signed
  and uploaded, the key backup wrapped with argon2id at the default cost, in the page), then the
  socket.io connection and `room.list` over the link. A user's later browsers restore from the
  passphrase or are approved from this one instead; section 9 gives the argon2id share;
- *warm reload*: reload the signed-in page (immutable assets from the cache, the session and the
  device's keys from the vault) until the room list is back.

Conditions, set through the DevTools protocol (`Network.emulateNetworkConditions`, which delays
and paces every response the renderer gets): unthrottled loopback, the clinician budget's
1.6 Mbit/s with 150 ms RTT, and WEB.md's 2G class (250 kbit/s, 400 ms). Bytes are what crossed
the wire (HTTP responses' `encodedDataLength`, compressed, plus the payload of the WebSocket
frames received); requests are the requests the page made, answers from its cache included (the
socket.io WebSocket counts as one). Results: bench/web_load.json and "## 8. Browser app load" of
docs/performance.md, read against WEB.md's budgets. `make bench` runs it
(`bench.run_all --only web`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench import doc_sections
from bench.procs import Server, free_port, python_argv, relais_args

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "web_load.json"
HEADING = "## 8. Browser app load"
USER, PASSWORD, ROOMS = "bench.clinician", "bench-password-not-secret", 20
RECOVERY = "bench recovery passphrase, not secret"
CONDITIONS = {
    "unthrottled": None,
    "1.6 Mbit/s, 150 ms": (1600, 150),
    "2G: 250 kbit/s, 400 ms": (250, 400),
}
# WEB.md's budgets: the clinician workspace on the first link, the patient's join page on 2G.
CLINICIAN_LINK, CLINICIAN_KB, CLINICIAN_S = "1.6 Mbit/s, 150 ms", 600, 5.0
PATIENT_LINK, PATIENT_KB, PATIENT_S = "2G: 250 kbit/s, 400 ms", 250, 15.0


async def _prepare(url: str, user: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url + "/api/v1/auth/login", json={"username": user, "password": PASSWORD}
        ) as resp:
            token = (await resp.json())["token"]
        for _ in range(ROOMS):
            async with http.post(
                url + "/api/v1/rooms", json={}, headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                assert resp.status == 201, await resp.text()


def _path(url: str) -> str:
    """A request's path and query, tokens cut: the same page in every run."""
    parts = urlsplit(url)
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith(("sid=", "t=")))
    return parts.path + ("?" + query if query else "")


async def metered_page(
    context: Any, condition: tuple[int, int] | None
) -> tuple[Any, list[float], list[str]]:
    """The context's page on an emulated link (`condition`: kbit/s both ways, RTT ms; None:
    unthrottled), with what crosses the wire recorded as it happens: (page, bytes received per
    response or WebSocket frame, URLs requested). Shared by section 8 and 10's benches."""
    page = context.pages[0] if context.pages else await context.new_page()
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})
    if condition is not None:
        kbps, rtt = condition
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": rtt,
                "downloadThroughput": kbps * 1000 / 8,
                "uploadThroughput": kbps * 1000 / 8,
            },
        )
    bytes_in: list[float] = []
    requests: list[str] = []
    cdp.on("Network.requestWillBeSent", lambda e: requests.append(e["request"]["url"]))
    cdp.on("Network.webSocketCreated", lambda e: requests.append(e["url"]))
    cdp.on(
        "Network.webSocketFrameReceived",
        lambda e: bytes_in.append(len(e["response"]["payloadData"])),
    )
    cdp.on("Network.loadingFinished", lambda e: bytes_in.append(e["encodedDataLength"]))
    return page, bytes_in, requests


async def _one_run(url: str, user: str, condition: tuple[int, int] | None) -> dict[str, Any]:
    from tests.browser import launch_chromium

    async with launch_chromium() as context:
        page, bytes_in, requests = await metered_page(context, condition)

        t0 = time.perf_counter()
        await page.goto(url + "/app/", wait_until="commit")
        await page.wait_for_selector("#signin-username:enabled", timeout=120_000)
        first_load = time.perf_counter() - t0
        first_bytes, first_requests = sum(bytes_in), len(requests)
        first_urls = list(requests)

        bytes_in.clear()
        requests.clear()
        await page.fill("#signin-username", user)
        await page.fill("#signin-password", PASSWORD)
        t1 = time.perf_counter()
        await page.click("button[type=submit]")
        await page.wait_for_selector("#setup-pass", timeout=120_000)
        signin = time.perf_counter() - t1

        await page.fill("#setup-pass", RECOVERY)
        await page.fill("#setup-again", RECOVERY)
        t2 = time.perf_counter()
        await page.click("main.setup button[type=submit]")
        await page.locator("nav.rooms li").nth(ROOMS - 1).wait_for(timeout=300_000)
        setup = time.perf_counter() - t2
        signin_bytes, signin_requests = sum(bytes_in), len(requests)
        signin_urls = list(requests)

        bytes_in.clear()
        requests.clear()
        t3 = time.perf_counter()
        await page.reload(wait_until="commit")
        await page.locator("nav.rooms li").nth(ROOMS - 1).wait_for(timeout=120_000)
        warm = time.perf_counter() - t3
        return {
            "first_load_s": first_load,
            "first_load_kb": first_bytes / 1000,
            "first_load_requests": first_requests,
            "signin_s": signin,
            "setup_to_rooms_s": setup,
            "signin_kb": signin_bytes / 1000,
            "signin_requests": signin_requests,
            "warm_reload_s": warm,
            "warm_reload_kb": sum(bytes_in) / 1000,
            "warm_reload_requests": len(requests),
            "requests": {
                "first_load": [_path(u) for u in first_urls],
                "signin": [_path(u) for u in signin_urls],
                "warm_reload": [_path(u) for u in requests],
            },
        }


async def _measure(url: str, users: list[str], repeats: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    fresh = iter(users)
    for name, condition in CONDITIONS.items():
        runs = [await _one_run(url, next(fresh), condition) for _ in range(repeats)]
        out[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "requests"}
        out[name]["requests"] = runs[0]["requests"]  # what the page asked for, first run
        print(name, json.dumps(out[name]), flush=True)
    return out


def _bundle_sizes() -> dict[str, Any]:
    """Every file of the app's page in web_client/dist (its manifest), raw and as precompressed,
    and whether the first load fetches it: index.html, the entries and what they import
    statically; chunks behind `import()` (the QR code) only load when a screen needs them."""
    dist = ROOT / "web_client" / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    assets = [f for f in manifest["files"] if f.startswith("assets/")]
    names = ["index.html", *sorted(f for f in assets if not f.endswith((".br", ".gz")))]
    # The workspace's entries only: the patient's join page (join.*) is a page of its own.
    first = {"index.html", *(v for k, v in manifest["entries"].items() if k.startswith("app."))}
    for entry in list(first):
        if entry.endswith(".js"):
            text = (dist / entry).read_text()
            for dep in re.findall(r'(?:from|import)\s*"\./([^"]+)"', text):
                first.add(f"assets/{dep}")
    sizes = {}
    for name in names:
        sizes[name] = {
            "raw_kb": (dist / name).stat().st_size / 1000,
            "br_kb": (dist / (name + ".br")).stat().st_size / 1000,
            "gz_kb": (dist / (name + ".gz")).stat().st_size / 1000,
            "first_load": name in first,
        }
    return sizes


# What app.js is made of, by group of its inputs (minified bytes from esbuild's metafile).
GROUPS = (
    ("E2EE: the protocol (src/crypto)", ("src/crypto/",)),
    ("E2EE: client rules (src/e2ee)", ("src/e2ee/",)),
    ("E2EE: noble (curves, hashes, ciphers)", ("@noble/",)),
    ("socket.io client (engine.io, parsers)", ("socket.io", "engine.io", "@socket.io/")),
    ("preact + htm", ("preact", "htm")),
    ("screens, i18n catalogues, app, net, store", ("src/",)),
)


def _composition() -> dict[str, float]:
    """app.js by group of inputs, in KB of minified output: esbuild rebuilds the entry with the
    app build's settings into a scratch folder (the committed dist/ is not touched)."""
    web = ROOT / "web_client"
    esbuild = web / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        return {}
    with tempfile.TemporaryDirectory(prefix="relais-webmeta-") as tmp:
        subprocess.run(
            [
                str(esbuild),
                "app=src/app/main.js",
                "--bundle",
                "--splitting",
                "--format=esm",
                "--minify",
                "--target=chrome100,firefox100,safari15.4",
                "--loader:.json=json",
                "--legal-comments=none",
                "--charset=utf8",
                "--log-level=warning",
                f"--outdir={tmp}",
                f"--metafile={tmp}/meta.json",
            ],
            cwd=web,
            check=True,
        )
        meta = json.loads((Path(tmp) / "meta.json").read_text())
    out: dict[str, float] = {}
    for o in meta["outputs"].values():
        if o.get("entryPoint") != "src/app/main.js":
            continue
        for name, inp in o["inputs"].items():
            m = re.search(r"node_modules/((?:@[^/]+/)?[^/]+)/", name)
            key = m.group(1) if m else name
            group = next((g for g, pre in GROUPS if key.startswith(pre)), "other")
            out[group] = out.get(group, 0.0) + inp["bytesInOutput"] / 1000
    return out


def _machine() -> str:
    cpu = platform.processor() or "?"
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            cpu = ln.split(":", 1)[1].strip()
            break
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return (
        f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}; load average at start {load}"
    )


def _ok(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def _argon2_s() -> tuple[float, float] | None:
    """The browser's argon2id at the default cost in section 9's last run (fastest, slowest
    repeat, s), if there is one."""
    path = ROOT / "bench" / "web_crypto.json"
    try:
        st = json.loads(path.read_text())["ops"]["backup_unlock_default"]["browser"]
        return float(st["min_us"]) / 1e6, float(st["max_us"]) / 1e6
    except (OSError, KeyError, ValueError):
        return None


def interpret(result: dict[str, Any]) -> list[str]:
    """The reading of the figures against WEB.md's budgets, computed from them."""
    cond = result["conditions"]
    bundles = result["bundles"]
    first = {k: v for k, v in bundles.items() if v["first_load"]}
    br = sum(v["br_kb"] for v in first.values())
    gz = sum(v["gz_kb"] for v in first.values())
    raw = sum(v["raw_kb"] for v in first.values())
    # Files the first load needs that index.html does not name: found only once app.js runs.
    html = (ROOT / "web_client" / "dist" / "index.html").read_text()
    late = sorted(k for k in first if k.endswith(".js") and k not in html)
    clin = cond.get(CLINICIAN_LINK)
    slow = cond.get(PATIENT_LINK)
    fast = cond.get("unthrottled")
    _, clin_rtt = CONDITIONS[CLINICIAN_LINK] or (0, 0)
    _, slow_rtt = CONDITIONS[PATIENT_LINK] or (0, 0)
    out = ["Against WEB.md's budgets:", ""]
    out.append(
        f"- *Clinician workspace, first load <= {CLINICIAN_KB} KB compressed*: {br:.0f} KB with "
        f"brotli, {gz:.0f} KB with gzip ({raw:.0f} KB raw) for what the first load fetches "
        f"({', '.join(sorted(first))}): {_ok(br <= CLINICIAN_KB)}, "
        f"{100 * br / CLINICIAN_KB:.0f}% of the budget."
    )
    if clin is not None:
        kbps, rtt = CONDITIONS[CLINICIAN_LINK] or (0, 0)
        wire = clin["first_load_kb"] * 8 / kbps
        chain = "the page; its style sheet and script, side by side"
        if late:
            chain += "; then " + ", ".join(late) + ", which only app.js names"
        out.append(
            f"- *Clinician workspace, interactive <= {CLINICIAN_S:.0f} s on {CLINICIAN_LINK}*: "
            f"the sign-in form takes input after {clin['first_load_s']:.2f} s: "
            f"{_ok(clin['first_load_s'] <= CLINICIAN_S)}. Sending its "
            f"{clin['first_load_kb']:.0f} KB at the link's rate takes {wire:.2f} s; the rest is "
            f"round trips of {rtt} ms ({chain}) and the script's start-up."
        )
    if slow is not None:
        out.append(
            f"- *Patient join <= {PATIENT_KB} KB and interactive <= {PATIENT_S:.0f} s on "
            f"{PATIENT_LINK}*: the patient's page is a page of its own, measured in section 10 "
            "(`bench/join_load.py`). For scale, the whole clinician workspace is "
            f"{100 * br / PATIENT_KB:.0f}% of that byte budget and, on that link, takes input "
            f"after {slow['first_load_s']:.1f} s ({slow['first_load_kb']:.0f} KB)."
        )
    if fast is not None and clin is not None:
        net = clin["setup_to_rooms_s"] - fast["setup_to_rooms_s"]
        argon = _argon2_s()
        alone = ""
        if argon is not None:
            alone = f" ({argon[0]:.2f}-{argon[1]:.2f} s alone in section 9's repeats)"
        out.append(
            "- *Sign-in* (no budget): the login (the server checks the password's argon2 hash), "
            f"`/me` and the device's key status take {fast['signin_s']:.2f} s unthrottled and "
            f"{clin['signin_s']:.2f} s on {CLINICIAN_LINK}. The first-device set-up then "
            f"takes {fast['setup_to_rooms_s']:.1f} s even unthrottled, most of it CPU in the "
            f"page: argon2id over 64 MiB for the key backup{alone}, key generation and "
            f"signatures; its uploads and the room list add {max(net, 0):.1f} s on "
            f"{CLINICIAN_LINK}. It is paid once per user: a later browser of the same user "
            "restores from the passphrase (the same argon2id) or is approved from a device "
            "that has the keys."
        )
        paths = clin.get("requests", {}).get("warm_reload", [])
        cached = sum(1 for p in paths if p.startswith("/app/assets/"))
        out.append(
            f"- *Warm reload* (no budget): {fast['warm_reload_s']:.2f} s unthrottled, "
            f"{clin['warm_reload_s']:.2f} s on {CLINICIAN_LINK}"
            + (f", {slow['warm_reload_s']:.2f} s on {PATIENT_LINK}" if slow else "")
            + f". Only {clin['warm_reload_kb']:.1f} KB cross the wire in "
            f"{clin['warm_reload_requests']:.0f} requests ({cached} of them hashed assets "
            "answered by the browser's cache): the time is round trips and start-up, not bytes."
        )
    comp = result.get("app_js_composition_kb") or {}
    e2ee = sum(kb for g, kb in comp.items() if g.startswith("E2EE"))
    share = f" ({100 * e2ee / sum(comp.values()):.0f}% of app.js)" if comp else ""
    met = br <= CLINICIAN_KB and (clin is None or clin["first_load_s"] <= CLINICIAN_S)
    out += [
        "",
        (
            "Both clinician budgets are met with room to spare. What a user waits for longest "
            "is the first-device set-up (a second or more of CPU in the page, then its uploads one "
            "after another) and, on slow links, round trips rather than bytes. Next steps, in "
            "order of payoff:"
            if met
            else "The clinician budget is not met. What to do, in order of payoff:"
        ),
        "",
    ]
    if late:
        out.append(
            f'1. Name {", ".join(late)} in index.html with `<link rel="modulepreload">` '
            "(build.mjs knows an entry's static imports from esbuild's metafile), or keep "
            "esbuild from splitting it off: the browser would fetch it with app.js instead of "
            f"after it, one round trip less ({clin_rtt} ms on the clinician link, {slow_rtt} ms "
            "on 2G) on every cold load."
        )
    out.append(
        f"{2 if late else 1}. Load the E2EE stack{share} with `import()` once the "
        "sign-in form is shown, and the screens a role does not use on demand: the first "
        "screen needs neither, and that is what a bigger bundle would have to shed first."
    )
    return out


def render(result: dict[str, Any]) -> list[str]:
    lines = [
        HEADING,
        "",
        f"_`{result['command']}` on {result['date']}: {result['machine']}; "
        f"{result['chromium']}, headless, a fresh profile and a fresh user per run (cold cache, "
        f"first device); median of {result['repeats']} run(s) per link._",
        "",
        "Links are emulated by Chromium (`Network.emulateNetworkConditions`: every response "
        "delayed by the RTT and paced at the rate, both ways); KB are what crossed the wire "
        "(compressed; WebSocket frames by their payload), requests what the page asked for, "
        "answers from its cache included (the socket.io WebSocket counts as one). Budgets "
        "(the browser app brief, WEB.md): clinician workspace <= 600 KB "
        "compressed and interactive <= 5 s on 1.6 Mbit/s with 150 ms RTT; patient join <= 250 "
        "KB and interactive <= 15 s on a 2G-class link (250 kbit/s, 400 ms). Method: "
        "`bench/web_load.py`.",
        "",
        "| link | first load to sign-in form (s) | KB | requests | sign-in to set-up screen (s) "
        "| first-device set-up to room list (s) | sign-in + set-up KB | requests "
        "| warm reload to room list (s) | warm KB | warm requests |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in result["conditions"].items():
        lines.append(
            f"| {name} | {r['first_load_s']:.2f} | {r['first_load_kb']:.1f} | "
            f"{r['first_load_requests']:.0f} | {r['signin_s']:.2f} | "
            f"{r['setup_to_rooms_s']:.2f} | {r['signin_kb']:.1f} | "
            f"{r['signin_requests']:.0f} | {r['warm_reload_s']:.2f} | "
            f"{r['warm_reload_kb']:.1f} | {r['warm_reload_requests']:.0f} |"
        )
    lines += [
        "",
        "Files of the page (`web_client/dist`, listed in its `manifest.json`; served "
        "precompressed, brotli when the browser accepts it):",
        "",
        "| file | loaded | raw KB | brotli KB | gzip KB |",
        "|---|---|---:|---:|---:|",
    ]
    for key, s in result["bundles"].items():
        when = "first load" if s["first_load"] else "on demand"
        lines.append(
            f"| {key} | {when} | {s['raw_kb']:.1f} | {s['br_kb']:.1f} | {s['gz_kb']:.1f} |"
        )
    comp = result.get("app_js_composition_kb") or {}
    if comp:
        total = sum(comp.values())
        lines += [
            "",
            "What app.js is made of (minified KB before compression, from esbuild's metafile):",
            "",
            "| part | KB | share |",
            "|---|---:|---:|",
        ]
        for group, kb in sorted(comp.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {group} | {kb:.1f} | {100 * kb / total:.0f}% |")
    return [*lines, "", *interpret(result)]


def _create_users(db: str, data: Path, users: list[str]) -> None:
    for user in users:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "server.cli",
                "admin",
                "create-user",
                user,
                "--role",
                "clinician",
                "--password",
                PASSWORD,
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
            env={**os.environ, "RELAIS_DATABASE_URL": db, "RELAIS_DATA_DIR": str(data)},
        )


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
    with tempfile.TemporaryDirectory(prefix="relais-webload-") as tmp:
        work = Path(tmp)
        db = f"sqlite+aiosqlite:///{work / 'relais.db'}"
        # A first sign-in per run: each run's clinician has no device yet.
        users = [f"{USER}{k}" for k in range(len(CONDITIONS) * repeats)]
        _create_users(db, work / "data", users)
        port = free_port()
        argv_ = python_argv("server.cli", *relais_args(port, work / "data", db))
        with Server(argv_, port, work / "server.log", cwd=str(ROOT)) as server:
            for user in users:
                asyncio.run(_prepare(server.url, user))
            conditions = asyncio.run(_measure(server.url, users, repeats))
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True
    ).stdout.strip()
    result = {
        "date": started,
        "command": " ".join(["python -m bench.web_load", *argv]),
        "machine": machine,
        "chromium": chromium,
        "repeats": repeats,
        "conditions": conditions,
        "bundles": _bundle_sizes(),
        "app_js_composition_kb": _composition(),
    }
    if args.no_doc:
        print("\n".join(render(result)))
        return 0
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    doc_sections.write_section(HEADING, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Reconnection storm: thousands of clients come back at once and catch up (issue 16's goal:
5,000 clients reconnect and `sync` at once, all caught up within 10 s, nothing lost).

    python -m bench.reconnect_storm [--clients 5000] [--per-room 10] [--messages 20]
                                    [--repeats 3] [--workers 1] [--fresh-sessions]
                                    [--profile FILE] [--no-doc]

What it plays: a region's clinicians are connected and up to date when their network (a
hospital's uplink, a mobile operator's cell) goes. While they are away, one colleague per room
goes on writing `--messages` messages. The outage lasts longer than a minute (every session's
`last_seen_at` is made stale, so each session lookup also writes; `--fresh-sessions`: a shorter
one). Then the link comes back and every client does what the browser app does, all at the same
instant: a new socket.io connection, then `sync` from the seq it held, page after page. The
clients are Node's socket.io-client (bench/node_storm.js, the version web_client/ locks, browser
options); the server is `relais serve` on PostgreSQL.

Figures: from the instant the link is back, when each client is connected and when it holds
every message of its room (the last client's time is the goal's figure), plus the server's CPU
over the storm, and the count of messages missing or delivered twice (both must be 0). Results:
bench/reconnect_storm.json and "## 16. Reconnection storm" of docs/performance.md. `make bench`
runs it (`bench.run_all --only storm`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import doc_sections
from bench.fixtures import create_pg_database, drop_pg_database, populate
from bench.loadgen import NODE_CLIENT_MODULES, machine_busy_s, node_client_available
from bench.procs import Server, python_argv, raise_nofile, relais_args
from bench.web_load import _machine
from deploy.loopback.topology import free_ports

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "reconnect_storm.json"
HEADING = "## 16. Reconnection storm"
GOAL_S = 10.0
REDIS_URL = os.environ.get("RELAIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# Node processes the clients are spread over (each holds its share of the sockets).
NODE_PROCS = 2
# How long a phase may take before the run is called failed.
PHASE_S = 300.0
# With --profile, py-spy samples the server for this long from the storm's start.
PROFILE_S = 10.0


class NodeClients:
    """One bench/node_storm.js process and its line protocol."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            ["node", str(ROOT / "bench" / "node_storm.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_PATH": str(NODE_CLIENT_MODULES)},
        )
        self.say(spec)

    def say(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    async def hear(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), PHASE_S)
        if not line:
            raise RuntimeError(f"node_storm.js ended (exit {self.proc.poll()})")
        out: dict[str, Any] = json.loads(line)
        return out

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


async def _age_sessions(url: str) -> None:
    """As after an outage longer than a minute: every session's last_seen_at is stale, so each
    reconnecting client's session lookup also refreshes it (a write)."""
    from sqlalchemy import text

    from server.db.engine import Database

    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(text("UPDATE sessions SET last_seen_at = 0"))
    finally:
        await db.close()


async def _one_storm(
    server: Server, clients: list[tuple[str, str, bool]], per_room: int, stale_url: str = ""
) -> dict[str, Any]:
    shares = [clients[i::NODE_PROCS] for i in range(NODE_PROCS)]
    # With several workers, each Node process talks to one of them (rooms span the workers).
    procs = [
        NodeClients(
            {
                "url": server.urls[i % len(server.urls)],
                "clients": share,
                "per_room": per_room,
                "lanes": 64,
            }
        )
        for i, share in enumerate(shares)
    ]
    try:
        ready = [await p.hear() for p in procs]
        failed = sum(r["failed"] for r in ready)
        if failed:
            raise RuntimeError(f"{failed} clients could not connect: {ready[0].get('error')}")
        for p in procs:
            p.say({"type": "drop"})
        for p in procs:
            await p.hear()
        for p in procs:
            p.say({"type": "send"})
        sent = [await p.hear() for p in procs]
        if any(s["errors"] for s in sent):
            raise RuntimeError(f"sends failed: {[s['error'] for s in sent]}")
        await asyncio.sleep(1.0)  # the sends' fan-out has drained
        if stale_url:
            await _age_sessions(stale_url)
        t0 = time.time() + 1.0
        cpu0, busy0, gc0 = server.cpu_s(), machine_busy_s(), _gc_pause_s(server)
        for p in procs:
            p.say({"type": "storm", "t0": t0})
        server.window_start(PROFILE_S)
        results = [await p.hear() for p in procs]
        server.window_end()
        cpu, busy = server.cpu_s() - cpu0, machine_busy_s() - busy0
        gc_s = _gc_pause_s(server) - gc0
    finally:
        for p in procs:
            p.close()
    caught = sorted(ms for r in results for ms in r["caught_up_ms"])
    connect = sorted(ms for r in results for ms in r["connect_ms"])
    n = sum(r["clients"] for r in results)

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] / 1000 if values else 0.0

    return {
        "clients": n,
        "caught_up": sum(r["caught_up"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "error": next((r["error"] for r in results if r["error"]), ""),
        "acked": sum(s["acked"] for s in sent),
        "messages": sum(r["messages"] for r in results),
        "missing": sum(r["missing"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "connected_p50_s": pct(connect, 0.5),
        "connected_last_s": pct(connect, 1.0),
        "caught_up_p50_s": pct(caught, 0.5),
        "caught_up_p99_s": pct(caught, 0.99),
        "caught_up_last_s": pct(caught, 1.0),
        "server_cpu_s": cpu,
        "server_gc_s": gc_s,
        "machine_busy_s": busy,
    }


def _show_server_complaints(log_path: Path, most: int = 20) -> None:
    """Clients failed: what the server said about it (its warnings and errors, by kind)."""
    kinds: dict[str, int] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            rec = {"level": "?", "msg": line[:160]}
        if isinstance(rec, dict) and rec.get("level") in ("warning", "error", "critical", "?"):
            key = " ".join(str(rec.get(k, "")) for k in ("level", "logger", "msg", "exc_type"))
            kinds[key] = kinds.get(key, 0) + 1
    for key, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:most]:
        print(f"server log x{n}: {key}", flush=True)


def _gc_pause_s(server: Server) -> float:
    """The workers' time in Python's cycle collector so far (relais_gc_pause_seconds_total)."""
    total = 0.0
    for url in server.urls:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith("relais_gc_pause_seconds_total{"):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def measure(
    clients_n: int,
    per_room: int,
    messages: int,
    repeats: int,
    workers: int,
    profile: Path | None = None,
    fresh_sessions: bool = False,
) -> Any:
    raise_nofile()
    rooms = -(-clients_n // per_room)
    with tempfile.TemporaryDirectory(prefix="relais-storm-") as tmp:
        work = Path(tmp)
        url = asyncio.run(create_pg_database())
        try:
            # Each room: its writer first, then the clients whose link goes.
            members = asyncio.run(populate(url, rooms, per_room + 1))
            clients: list[tuple[str, str, bool]] = []
            for r in range(rooms):
                group = members[r * (per_room + 1) : (r + 1) * (per_room + 1)]
                clients.append((group[0].token, group[0].room_id, True))
                clients += [(m.token, m.room_id, False) for m in group[1:]]
            port = free_ports(workers)
            extra: list[str] = []
            if workers > 1:
                extra = [
                    *("--redis-url", REDIS_URL, "--redis-prefix", f"bench{os.getpid()}storm"),
                    *("--workers", str(workers)),
                ]
            argv = python_argv("server.cli", *relais_args(port, work, url), *extra)
            runs = []
            with Server(argv, port, work / "server.log", cwd=str(ROOT)) as server:
                server.urls = [f"http://127.0.0.1:{port + i}" for i in range(workers)]
                server.profile_to = profile
                for i in range(repeats):
                    stale_url = "" if fresh_sessions else url
                    run = asyncio.run(_one_storm(server, clients, messages, stale_url))
                    if run["failed"]:
                        _show_server_complaints(work / "server.log")
                    print(f"storm {i + 1}/{repeats}: {json.dumps(run)}", flush=True)
                    runs.append(run)
        finally:
            asyncio.run(drop_pg_database(url))
    return runs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["caught_up_last_s"])
    return ordered[len(ordered) // 2]


def render(result: dict[str, Any]) -> list[str]:
    runs = result["runs"]
    med = _median_run(runs)
    lost = sum(r["missing"] for r in runs)
    twice = sum(r["duplicates"] for r in runs)
    failed = sum(r["failed"] for r in runs)
    met = med["caught_up_last_s"] <= GOAL_S and lost == 0 and twice == 0 and failed == 0
    lines = [
        HEADING,
        "",
        f"_`{result['command']}` on {result['date']}: {result['machine']}; "
        f"`relais serve` ({result['workers']} worker(s)) on PostgreSQL; clients: Node "
        f"socket.io-client {result['client_version']} in {NODE_PROCS} processes; "
        f"{len(runs)} storm(s), the median one (by its last client) in bold._",
        "",
        f"{result['clients']:,} clients in rooms of {result['per_room']} are connected and up to "
        f"date when their link goes; meanwhile one writer per room sends {result['messages']} "
        "messages (acked, stored). "
        + (
            "The link was away under a minute (sessions' last_seen_at still fresh). "
            if result.get("fresh_sessions", True)
            else "The link was away longer than a minute (every session lookup also refreshes "
            "its last_seen_at). "
        )
        + "At one instant every client opens a new connection "
        "(websocket first, the browser's options) and calls `sync` from the seq it held, page "
        "after page, as the browser app does. Times are from that instant. Method: "
        "`bench/reconnect_storm.py`, clients `bench/node_storm.js`.",
        "",
        "| storm | clients | connected: median / last (s) | caught up: median / p99 / last (s) "
        "| messages caught up | missing | twice | failed | server CPU (s) | of which GC (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(runs, 1):
        bold = "**" if r is med else ""
        lines.append(
            f"| {i} | {r['clients']:,} | {r['connected_p50_s']:.2f} / {r['connected_last_s']:.2f} "
            f"| {r['caught_up_p50_s']:.2f} / {r['caught_up_p99_s']:.2f} / "
            f"{bold}{r['caught_up_last_s']:.2f}{bold} | {r['messages']:,} | {r['missing']} "
            f"| {r['duplicates']} | {r['failed']} | {r['server_cpu_s']:.1f} "
            f"| {r.get('server_gc_s', 0.0):.1f} |"
        )
    lines += [
        "",
        f"Goal (issue 16): all caught up within {GOAL_S:.0f} s, nothing lost: "
        f"{'**met**' if met else '**not met**'} (median storm: last client caught up after "
        f"{med['caught_up_last_s']:.1f} s; {lost} messages missing and {twice} delivered twice "
        f"over all storms; {failed} clients failed).",
    ]
    return lines


def _client_version() -> str:
    pkg = NODE_CLIENT_MODULES / "socket.io-client" / "package.json"
    return str(json.loads(pkg.read_text())["version"]) if pkg.exists() else "?"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--per-room", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20, help="missed per room")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of the server's storm")
    parser.add_argument(
        "--fresh-sessions",
        action="store_true",
        help="the link was away under a minute (no session lookup refreshes last_seen_at)",
    )
    args = parser.parse_args(argv)
    if not node_client_available():
        print("Node's socket.io-client is missing: make web-deps", file=sys.stderr)
        return 2
    started = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    machine = _machine()
    runs = measure(
        args.clients,
        args.per_room,
        args.messages,
        args.repeats,
        args.workers,
        args.profile,
        args.fresh_sessions,
    )
    result = {
        "date": started,
        "command": " ".join(["python -m bench.reconnect_storm", *argv]),
        "machine": machine,
        "client_version": _client_version(),
        "workers": args.workers,
        "clients": args.clients,
        "per_room": args.per_room,
        "messages": args.messages,
        "fresh_sessions": args.fresh_sessions,
        "runs": runs,
        "median_caught_up_last_s": statistics.median(r["caught_up_last_s"] for r in runs),
    }
    if args.no_doc:
        print("\n".join(render(result)))
        return 0
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    doc_sections.write_section(HEADING, render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

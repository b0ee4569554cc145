"""Run every benchmark of issue 3 and rewrite the results section of docs/performance.md.

    python -m bench.run_all [--quick]
                            [--only crypto,webcrypto,send,fanout,memory,profile,web,media,audio,
                                    mix,uplink,storm]
                            [--repeats N]
                            [--no-postgres] [--no-node] [--no-doc]

Each scenario starts its own server process (killed at the end whatever happens), drives it from
separate load-generator processes on 127.0.0.1 only, and is repeated; the median is reported with
the spread, because the 2-core machine is shared. `crypto` (bench/crypto_costs.py) times the E2EE
operations of one client in this process, with no server; `webcrypto` (bench/web_crypto.py)
times the same protocol in headless Chromium next to Python and writes its own section
"## 9. E2EE costs in the browser"; `web` (bench/web_load.py: the browser app's first load,
sign-in and reload on emulated slow links) writes "## 8. Browser app load", and
bench/join_load.py (the patient's link to the waiting room) "## 10. Patient join page load". `media`
(bench/media_link.py: a shaped link in a network namespace, the relay's cost per leg) writes its
own section "## 6. Consultation media"; `audio` (bench/audio_continuity.py: a browser receiver
on a shaped link) writes "## 7. Audio continuity (browser receiver)"; `mix` (bench/mix_cost.py:
the CPU of mix-minus per participant) writes "## 11. Mix-minus audio cost"; `uplink`
(bench/uplink_audio.py and bench/mode_times.py: the patient's Chromium in the network lab)
writes "## 12. Patient uplink audio (browser sender)" and "## 13. Patient mode times on a cut
link"; `storm` (bench/reconnect_storm.py: thousands of Node socket.io clients reconnect and
`sync` at once, PostgreSQL) writes "## 16. Reconnection storm". Only the text
between the `bench:results` markers of docs/performance.md is replaced; the hand-written analysis
around it is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deploy.loopback.topology import free_ports

from . import crypto_costs
from .doc_sections import DOC
from .fixtures import Member, create_pg_database, drop_pg_database, populate
from .loadgen import WorkerSpec, node_client_available, run_load, split
from .procs import Server, free_port, python_argv, relais_args
from .results_doc import RESULTS, render, write_doc

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("send", "fanout", "memory", "crypto")  # the parts of RESULTS a run replaces
NODE_DIR = Path(
    os.environ.get("RELAIS_BENCH_NODE_DIR", Path.home() / ".cache" / "relais-bench" / "node")
)

SEND_ROOMS, SEND_PER_ROOM = 20, 5  # 100 senders
OFFERED_RATE = 2000.0
FAN_ROOMS, FAN_PER_ROOM = 50, 10  # 500 clients
IDLE_PER_ROOM = 10

# Relais over Redis, as several workers run it: one worker, and two (rooms span both workers:
# the load processes take every other client, each on one worker). Each needs PostgreSQL.
SHARED_VARIANTS = {"relais-redis": 1, "relais-2-workers": 2}
REDIS_URL = os.environ.get("RELAIS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Config:
    warmup: float
    duration: float
    repeats: int
    send_inflight: tuple[int, ...]
    fanout_inflight: int
    idle_clients: int
    workers: int
    idle_workers: int
    # Load-generator clients for the send and fan-out scenarios, each a row of its own: "node"
    # is socket.io-client as browsers run it (bench/node_loadgen.js), "python" our lean client.
    clients: tuple[str, ...] = ("python",)


FULL = Config(
    warmup=2,
    duration=10,
    repeats=3,
    send_inflight=(1, 4),
    fanout_inflight=8,
    idle_clients=5000,
    workers=2,
    idle_workers=4,
)
QUICK = Config(
    warmup=1,
    duration=3,
    repeats=1,
    send_inflight=(4,),
    fanout_inflight=8,
    idle_clients=5000,
    workers=2,
    idle_workers=4,
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _clients(members: list[Member], senders: str) -> list[tuple[str, str, bool]]:
    """senders: 'all' (every member sends) or 'one' (the first member of each room sends)."""
    seen: set[str] = set()
    out = []
    for m in members:
        sends = senders == "all" or m.room_id not in seen
        seen.add(m.room_id)
        out.append((m.token, m.room_id, sends))
    return out


def _summary(name: str, runs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    def med(key: str) -> float:
        vals = [r[key] for r in runs if key in r]
        return statistics.median(vals) if vals else float("nan")

    keys = [
        "acks_per_s",
        "deliveries_per_s",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "server_cpu_pct",
        "loadgen_cpu_pct",
        "others_cpu_pct",
    ]
    row = {
        "scenario": name,
        **extra,
        "runs": len(runs),
        **{k: med(k) for k in keys},
        "errors": sum(r.get("errors", 0) for r in runs),
        "timeouts": sum(r.get("timeouts", 0) for r in runs),
        "connect_failed": sum(r.get("connect_failed", 0) for r in runs),
        "spread_acks": [round(r["acks_per_s"]) for r in runs],
        "spread_deliveries": [round(r["deliveries_per_s"]) for r in runs],
        "spread_p99": [round(r["p99_ms"], 1) for r in runs],
        "error_sample": next((r["error_sample"] for r in runs if r.get("error_sample")), ""),
    }
    log(f"{name} {extra}: " + ", ".join(f"{k}={row[k]:.1f}" for k in keys[:6]))
    return row


def _repeat(
    cfg: Config,
    srv: Server,
    clients: list[tuple[str, str, bool]],
    mode: str,
    event: str,
    client: str = "python",
    **kw: Any,
) -> list[dict[str, Any]]:
    runs = []
    for i in range(cfg.repeats):
        specs = [
            WorkerSpec(
                srv.urls[j % len(srv.urls)],  # several workers: each load process on one of them
                mode,
                event,
                part,
                warmup=cfg.warmup,
                duration=cfg.duration,
                seed=i * 100 + j,
                client=client,
                **kw,
            )
            for j, part in enumerate(split(clients, cfg.workers))
        ]
        runs.append(run_load(specs, srv))
    return runs


def _database(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{work / 'relais.db'}"
    return asyncio.run(create_pg_database())


def bench_send(
    cfg: Config,
    kind: str,
    work: Path,
    profile: Path | None,
    manager: str = "",
    workers: int = 1,
) -> list[dict[str, Any]]:
    """Closed loop at each in-flight depth, then open loop at 2,000/s and at half the measured
    maximum (a p99 at a load this node sustains). `manager` runs bench.serve instead of the CLI;
    `workers` > 1 runs `relais serve --workers N` over Redis (PostgreSQL only), each load
    process on one worker, so every room spans the workers."""
    work.mkdir(parents=True, exist_ok=True)
    url = _database(kind, work)
    rows: list[dict[str, Any]] = []
    try:
        members = asyncio.run(populate(url, SEND_ROOMS, SEND_PER_ROOM))
        clients = _clients(members, "all")
        port = free_ports(workers)
        entry = ("bench.serve", "--manager", manager) if manager else ("server.cli",)
        shared: list[str] = []
        if workers > 1:
            shared = [
                *("--redis-url", REDIS_URL, "--redis-prefix", f"bench{os.getpid()}send"),
                *("--workers", str(workers)),
            ]
        with Server(
            python_argv(*entry, *relais_args(port, work, url), *shared),
            port,
            work / "server.log",
            cwd=str(ROOT),
        ) as srv:
            srv.urls = [f"http://127.0.0.1:{port + i}" for i in range(workers)]
            name = f"send {kind}{' ' + manager if manager else ''}"
            server = "relais" if not manager else f"relais-{manager}"
            if workers > 1:
                name, server = f"{name} {workers} workers", f"{server}-{workers}-workers"
            for client in cfg.clients:
                mine: list[dict[str, Any]] = []
                for inflight in cfg.send_inflight:
                    runs = _repeat(
                        cfg, srv, clients, "closed", "message.send", client, inflight=inflight
                    )
                    mine.append(
                        _summary(
                            f"{name} closed {client}",
                            runs,
                            db=kind,
                            server=server,
                            client=client,
                            mode="closed",
                            inflight=inflight,
                        )
                    )
                best = max(r["acks_per_s"] for r in mine)
                for rate in (OFFERED_RATE, round(best / 2, -1)):
                    if rate <= 0 or (rate != OFFERED_RATE and rate >= OFFERED_RATE):
                        continue
                    runs = _repeat(
                        cfg,
                        srv,
                        clients,
                        "open",
                        "message.send",
                        client,
                        rate_per_sender=rate / len(clients),
                    )
                    mine.append(
                        _summary(
                            f"{name} open {client}",
                            runs,
                            db=kind,
                            server=server,
                            client=client,
                            mode="open",
                            offered=rate,
                        )
                    )
                rows += mine
            if profile is not None:
                srv.profile_to = profile
                _repeat(
                    Config(**{**asdict(cfg), "repeats": 1}),
                    srv,
                    clients,
                    "closed",
                    "message.send",
                    inflight=max(cfg.send_inflight),
                )
                srv.profile_to = None
    finally:
        if kind == "postgres":
            asyncio.run(drop_pg_database(url))
    return rows


def _node_dir() -> Path | None:
    """socket.io for the Node reference server, installed into a cache dir (never the repo)."""
    if shutil.which("node") is None:
        return None
    if not (NODE_DIR / "node_modules" / "socket.io").exists():
        if shutil.which("npm") is None:
            return None
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        log(f"installing socket.io into {NODE_DIR}")
        done = subprocess.run(
            ["npm", "install", "--prefix", str(NODE_DIR), "socket.io@4", "--no-audit", "--no-fund"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            log("npm install socket.io failed; skipping the Node reference")
            return None
    return NODE_DIR / "node_modules"


def _fanout_server(variant: str, port: int, work: Path, url: str, tokens: Path) -> Server:
    log_file = work / f"{variant}.log"
    if variant in SHARED_VARIANTS:
        count = SHARED_VARIANTS[variant]
        shared = [
            *("--redis-url", REDIS_URL, "--redis-prefix", f"bench{os.getpid()}{variant}"),
            *("--workers", str(count)),
        ]
        srv = Server(
            python_argv("bench.serve", *relais_args(port, work / variant, url), *shared),
            port,
            log_file,
            cwd=str(ROOT),
        )
        srv.urls = [f"http://127.0.0.1:{port + i}" for i in range(count)]
        return srv
    if variant.startswith("relais"):
        manager = {"relais": "fanout", "relais-stock": "stock"}[variant]
        return Server(
            python_argv(
                "bench.serve", "--manager", manager, *relais_args(port, work / variant, url)
            ),
            port,
            log_file,
            cwd=str(ROOT),
        )
    if variant == "bare-aiohttp":
        return Server(
            python_argv("bench.bare_server", str(port), str(tokens)), port, log_file, cwd=str(ROOT)
        )
    node_modules = _node_dir()
    assert node_modules is not None
    return Server(
        ["node", str(ROOT / "bench" / "node_server.js"), str(port), str(tokens)],
        port,
        log_file,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )


def _variants(node: bool, only: str = "") -> list[str]:
    if only:
        return [v for v in only.split(",") if v != "node-socket.io" or _node_dir() is not None]
    out = ["relais", "relais-stock", "bare-aiohttp", *SHARED_VARIANTS]
    if node and _node_dir() is not None:
        out.append("node-socket.io")
    return out


def bench_fanout(
    cfg: Config, work: Path, node: bool, profile: Path | None, only: str = ""
) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    variants = _variants(node, only)
    url = _database("sqlite", work)
    members = asyncio.run(populate(url, FAN_ROOMS, FAN_PER_ROOM))
    tokens = work / "tokens.json"
    tokens.write_text(json.dumps({m.token: m.room_id for m in members}))
    clients = _clients(members, "one")
    pg_url = ""
    pg_clients: list[tuple[str, str, bool]] = []
    if any(v in SHARED_VARIANTS for v in variants):
        # The same shape of rooms in PostgreSQL (several workers need it).
        pg_url = _database("postgres", work)
        pg_clients = _clients(asyncio.run(populate(pg_url, FAN_ROOMS, FAN_PER_ROOM)), "one")
    rows = []
    try:
        rows = _fanout_rows(
            cfg, work, variants, (url, clients), (pg_url, pg_clients), tokens, profile
        )
    finally:
        if pg_url:
            asyncio.run(drop_pg_database(pg_url))
    return rows


Population = tuple[str, list[tuple[str, str, bool]]]  # database URL, its clients


def _fanout_rows(
    cfg: Config,
    work: Path,
    variants: list[str],
    local: Population,
    shared: Population,
    tokens: Path,
    profile: Path | None,
) -> list[dict[str, Any]]:
    rows = []
    for variant in variants:
        port = free_ports(SHARED_VARIANTS.get(variant, 1))
        db, clients = shared if variant in SHARED_VARIANTS else local
        with _fanout_server(variant, port, work, db, tokens) as srv:
            for client in cfg.clients:
                runs = _repeat(
                    cfg,
                    srv,
                    clients,
                    "closed",
                    "bench.broadcast",
                    client,
                    inflight=cfg.fanout_inflight,
                )
                rows.append(
                    _summary(
                        f"fan-out {variant} {client}",
                        runs,
                        server=variant,
                        client=client,
                        inflight=cfg.fanout_inflight,
                    )
                )
            if profile is not None and variant == "relais":
                srv.profile_to = profile
                _repeat(
                    Config(**{**asdict(cfg), "repeats": 1}),
                    srv,
                    clients,
                    "closed",
                    "bench.broadcast",
                    inflight=cfg.fanout_inflight,
                )
                srv.profile_to = None
    return rows


def bench_memory(cfg: Config, work: Path, node: bool, only: str = "") -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    url = _database("sqlite", work)
    n = cfg.idle_clients
    members = asyncio.run(populate(url, n // IDLE_PER_ROOM, IDLE_PER_ROOM))
    tokens = work / "tokens.json"
    tokens.write_text(json.dumps({m.token: m.room_id for m in members}))
    clients = [(m.token, m.room_id, False) for m in members]
    rows = []
    for variant, client in [(v, c) for v in _variants(node, only) for c in cfg.clients]:
        if variant == "relais-stock" or variant in SHARED_VARIANTS:
            continue  # neither the manager nor the bus changes per-connection state
        port = free_port()
        with _fanout_server(variant, port, work, url, tokens) as srv:
            # Warm-up: connect and drop a few clients so lazy imports and pools are paid.
            warm = [
                WorkerSpec(srv.url, "idle", "", clients[:50], warmup=0, duration=0, client=client)
            ]
            run_load(warm, srv, hold=0.5)
            time.sleep(2)
            rss0 = srv.rss_kb()
            t0 = time.monotonic()
            seen: dict[str, Any] = {}

            def measure(
                out: dict[str, Any], srv: Server = srv, seen: dict[str, Any] = seen, t0: float = t0
            ) -> None:
                seen["connect_s"] = time.monotonic() - t0
                time.sleep(5)  # let the server settle (ping timers armed, buffers allocated)
                seen["rss1"] = srv.rss_kb()
                seen["connected"] = out["connected"]
                seen["failed"] = out["connect_failed"]
                seen["error"] = out["connect_error"]

            specs = [
                WorkerSpec(srv.url, "idle", "", part, warmup=0, duration=0, client=client)
                for part in split(clients, cfg.idle_workers)
            ]
            run_load(specs, srv, on_connected=measure)
            per_conn = (seen["rss1"] - rss0) / max(1, seen["connected"])
            row = {
                "scenario": f"idle {variant} {client}",
                "server": variant,
                "client": client,
                "connected": seen["connected"],
                "connect_failed": seen["failed"],
                "rss_before_kb": rss0,
                "rss_after_kb": seen["rss1"],
                "kb_per_connection": per_conn,
                "connect_phase_s": seen["connect_s"],
                "error_sample": seen["error"],
            }
            log(f"idle {variant} {client}: {seen['connected']} connected, {per_conn:.1f} KB/conn")
            rows.append(row)
    return rows


def _browser_ready(name: str) -> bool:
    """The browser benches need the system Chromium and web_client/node_modules (npm ci)."""
    from tests.browser import chromium_available

    ok, why = chromium_available()
    if ok and not (ROOT / "web_client" / "node_modules" / ".bin" / "esbuild").exists():
        ok, why = False, "web_client/node_modules missing (make web-deps)"
    if not ok:
        log(f"skipping {name}: {why}")
    return ok


def machine_info() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal")
    )
    versions = {}
    for mod in (
        "aiohttp",
        "socketio",
        "engineio",
        "sqlalchemy",
        "aiosqlite",
        "asyncpg",
        "pydantic",
    ):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            from importlib.metadata import version

            try:
                versions[mod] = version("python-" + mod if mod.endswith("io") else mod)
            except Exception:
                versions[mod] = "?"
    node = shutil.which("node")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": subprocess.run(
            [node, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if node
        else "absent",
        "versions": versions,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, one repeat")
    parser.add_argument(
        "--only",
        default="crypto,webcrypto,send,fanout,memory,profile,web,media,audio,mix,uplink,storm",
    )
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--send-manager",
        default="",
        choices=["", "fanout", "stock"],
        help="run the send bench on bench.serve with this manager (default: the plain CLI)",
    )
    parser.add_argument(
        "--send-workers",
        type=int,
        default=2,
        help="also run the PostgreSQL send bench with this many workers over Redis (1: not)",
    )
    parser.add_argument("--idle-clients", type=int, help="idle connections (default 5,000)")
    parser.add_argument("--no-node", action="store_true")
    parser.add_argument(
        "--clients",
        default="",
        help="send/fan-out load generators, comma-separated: node (socket.io-client, as "
        "browsers; the default when web_client/node_modules has it), python (bench/eio.py)",
    )
    parser.add_argument("--variants", default="", help="fan-out/memory servers, comma-separated")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    if args.repeats:
        cfg = Config(**{**asdict(cfg), "repeats": args.repeats})
    if args.duration:
        cfg = Config(**{**asdict(cfg), "duration": args.duration})
    if args.idle_clients:
        cfg = Config(**{**asdict(cfg), "idle_clients": args.idle_clients})
    wanted = tuple(args.clients.split(",")) if args.clients else None
    if wanted is None:
        wanted = ("node", "python") if node_client_available() else ("python",)
    cfg = Config(**{**asdict(cfg), "clients": wanted})
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    log(f"work dir {work}")
    res: dict[str, Any] = {
        "date": subprocess.run(
            ["date", "-u"], capture_output=True, text=True, check=False
        ).stdout.strip(),
        "machine": machine_info(),
        "config": asdict(cfg),
        "profiles": {},
    }
    from .profile_report import markdown, summarise

    def prof(name: str) -> Path | None:
        return work / f"{name}.pyspy.txt" if "profile" in only else None

    try:
        if "crypto" in only:
            # First, while no server of ours runs; it takes one core for well under a minute.
            res["crypto"] = crypto_costs.run(
                quick=args.quick,
                command=f"python -m bench.run_all {' '.join(argv)}".rstrip(),
            )
        sub = (["--quick"] if args.quick else []) + (["--no-doc"] if args.no_doc else [])
        if "webcrypto" in only and _browser_ready("webcrypto"):
            # Its own section ("## 9. E2EE costs in the browser"); no server either.
            from . import web_crypto

            web_crypto.main(sub)
        if "send" in only:
            res["send"] = bench_send(
                cfg, "sqlite", work / "send-sqlite", prof("send"), args.send_manager
            )
            if not args.no_postgres:
                res["send"] += bench_send(
                    cfg, "postgres", work / "send-pg", None, args.send_manager
                )
                if args.send_workers > 1:
                    res["send"] += bench_send(
                        cfg,
                        "postgres",
                        work / "send-pg-workers",
                        None,
                        args.send_manager,
                        workers=args.send_workers,
                    )
        if "fanout" in only:
            res["fanout"] = bench_fanout(
                cfg, work / "fanout", not args.no_node, prof("fanout"), args.variants
            )
        if "memory" in only:
            res["memory"] = bench_memory(cfg, work / "memory", not args.no_node, args.variants)
        if "web" in only and _browser_ready("web"):
            # Its own section ("## 8. Browser app load").
            from . import join_load, web_load

            web_load.main(sub)
            join_load.main(sub)  # its own section ("## 10. Patient join page load")
        if "media" in only:
            # Its own section ("## 6. Consultation media"), outside the results markers.
            from . import media_link

            media_link.main(
                (["--quick"] if args.quick else []) + (["--no-doc"] if args.no_doc else [])
            )
        if "audio" in only:
            # Its own section ("## 7. Audio continuity (browser receiver)").
            from . import audio_continuity

            audio_continuity.main(
                (["--quick"] if args.quick else []) + (["--no-doc"] if args.no_doc else [])
            )
        if "uplink" in only:
            # Their own sections ("## 12. Patient uplink audio (browser sender)", "## 13. Patient
            # mode times on a cut link"): the patient's Chromium in the network lab.
            from . import mode_times, uplink_audio

            uplink_audio.main(
                (["--quick"] if args.quick else []) + (["--no-doc"] if args.no_doc else [])
            )
            mode_times.main(
                (["--quick"] if args.quick else []) + (["--no-doc"] if args.no_doc else [])
            )
        if "mix" in only:
            # Its own section ("## 11. Mix-minus audio cost").
            from . import mix_cost

            mix_cost.main(
                (["--seconds", "5", "--live-seconds", "5"] if args.quick else [])
                + (["--no-doc"] if args.no_doc else [])
            )
        if "storm" in only and not args.no_postgres:
            # Its own section ("## 16. Reconnection storm"): Node clients against PostgreSQL.
            from . import reconnect_storm

            reconnect_storm.main(
                (["--clients", "1000", "--repeats", "1"] if args.quick else [])
                + (["--no-doc"] if args.no_doc else [])
            )
        for name, title in (
            ("send", "`message.send` on SQLite, closed loop"),
            ("fanout", "fan-out through `bench.broadcast`, FanoutManager"),
        ):
            p = work / f"{name}.pyspy.txt"
            if p.exists() and p.stat().st_size:
                res["profiles"][name] = markdown(summarise(str(p), 15), title)
    finally:
        (work / "results.json").write_text(json.dumps(res, indent=1, default=str))
        log(f"raw results: {work / 'results.json'}")
    # A partial run (--only) replaces its own sections and keeps the others' last figures.
    res["dates"] = {k: res["date"] for k in SECTIONS if k in res}
    res["argv"] = argv  # so `python -m bench.crypto_costs` can re-render this run's header
    if RESULTS.exists() and not args.no_doc:
        prev = json.loads(RESULTS.read_text())
        for key in SECTIONS:
            if key not in res and key in prev:
                res[key] = prev[key]
                res["dates"][key] = prev.get("dates", {}).get(key, prev.get("date", "?"))
                if key in prev.get("profiles", {}) and key not in res["profiles"]:
                    res["profiles"][key] = prev["profiles"][key]
    if not args.no_doc:
        RESULTS.write_text(json.dumps(res, indent=1, default=str) + "\n")
        for db in work.rglob("*.db*"):
            db.unlink()
    section = render(res, argv)
    if args.no_doc:
        print(section)
    else:
        write_doc(section)
        log(f"rewrote the results section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

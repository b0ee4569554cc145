"""Load generator: several processes of lean socket.io clients, started together, aggregated.

Each worker connects its share of clients, reports ready, and waits for a common start time.
Then, until `warmup + duration` has passed:
- `closed`: every sender keeps `inflight` acked calls outstanding (max throughput);
- `open`:   every sender calls at a fixed rate from a random phase, whether or not earlier acks
  came back; latency is taken from the *intended* send time (no coordinated omission);
- `idle`:   clients only answer pings, until the parent says stop (memory per connection).
Only the `duration` window after the warm-up is counted. Every call and wait is bounded in time.

A worker is either our lean client (`client="python"`, bench/eio.py: WebSocket only, no
permessage-deflate, nothing parsed) or the real socket.io client (`client="node"`,
bench/node_loadgen.js: socket.io-client as the browser app configures it, deflate offered as
browsers do). The second is what the goals are judged with: what browsers make the server do.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import random
import resource
import secrets
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from .eio import EioClient
from .procs import Server, raise_nofile

CT = secrets.token_hex(100)  # 200 hex chars of "ciphertext"
ENVELOPE = f'{{"v":1,"alg":"bench","ct":"{CT}"}}'
SEND_TAIL_S = 10.0  # after the window, how long outstanding acks may still arrive


@dataclass
class WorkerSpec:
    url: str
    mode: str  # closed | open | idle
    event: str  # message.send | bench.broadcast
    clients: list[tuple[str, str, bool]]  # (token, room_id, sends?)
    inflight: int = 1
    rate_per_sender: float = 0.0
    warmup: float = 2.0
    duration: float = 10.0
    seed: int = 0
    client: str = "python"  # python (bench/eio.py) | node (socket.io-client, bench/node_loadgen.js)


@dataclass
class Result:
    connected: int = 0
    failed: int = 0
    acks: int = 0
    completed: int = 0  # acks (ok or error) that arrived inside the window
    errors: int = 0
    timeouts: int = 0
    sent: int = 0
    deliveries: int = 0
    lat_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    error_sample: str = ""


def _payload(event: str, room: str, cmid: str) -> str:
    if event == "message.send":
        return f'{{"room_id":"{room}","client_msg_id":"{cmid}","envelope":{ENVELOPE}}}'
    return f'{{"room_id":"{room}","envelope":{ENVELOPE}}}'


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _worker(spec: WorkerSpec, pipe: Connection) -> None:
    res = Result()
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        clients: list[tuple[EioClient, str, bool]] = []
        gate = asyncio.Semaphore(64)

        async def connect(token: str, room: str, sends: bool) -> None:
            c = EioClient(session, spec.url, token)
            async with gate:
                try:
                    await c.connect()
                except Exception as exc:
                    res.failed += 1
                    res.error_sample = res.error_sample or repr(exc)[:300]
                    await c.close()
                    return
            clients.append((c, room, sends))

        await asyncio.wait_for(asyncio.gather(*(connect(*c) for c in spec.clients)), 300)
        res.connected = len(clients)
        pipe.send(("ready", res.connected, res.failed, res.error_sample))
        msg = await loop.run_in_executor(None, pipe.recv)
        try:
            if spec.mode == "idle" or msg[0] != "start":
                if msg[0] == "start":
                    await loop.run_in_executor(None, pipe.recv)  # hold until "stop"
            else:
                await _drive(spec, res, clients, float(msg[1]))
        finally:
            await asyncio.gather(*(c.close() for c, _, _ in clients))
    pipe.send(("result", res))


async def _drive(
    spec: WorkerSpec, res: Result, clients: list[tuple[EioClient, str, bool]], t0: float
) -> None:
    t_warm, t_end = t0 + spec.warmup, t0 + spec.warmup + spec.duration
    rnd = random.Random(spec.seed)
    pending: set[asyncio.Future[str]] = set()

    def record(ack: str, started_wall: float, latency_s: float) -> None:
        if t_warm <= time.time() < t_end:
            res.completed += 1
        if not t_warm <= started_wall < t_end:
            return
        if ack.startswith('[{"error"'):
            res.errors += 1
            res.error_sample = res.error_sample or ack[:300]
            return
        res.acks += 1
        res.lat_ms.append(latency_s * 1000)

    async def closed(c: EioClient, room: str, uniq: str) -> None:
        n = 0
        while (now := time.time()) < t_end:
            n += 1
            t = time.perf_counter()
            fut = await c.call_raw(spec.event, _payload(spec.event, room, f"{uniq}-{n}"))
            res.sent += 1
            try:
                ack = await asyncio.wait_for(fut, SEND_TAIL_S)
            except (TimeoutError, ConnectionError):
                res.timeouts += 1
                return
            record(ack, now, time.perf_counter() - t)

    async def opened(c: EioClient, room: str, uniq: str) -> None:
        interval = 1.0 / spec.rate_per_sender
        start = t0 + rnd.random() * interval
        k = 0
        while (intended := start + k * interval) < t_end:
            delay = intended - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            k += 1
            fut = await c.call_raw(spec.event, _payload(spec.event, room, f"{uniq}-{k}"))
            res.sent += 1
            pending.add(fut)

            def done(f: asyncio.Future[str], it: float = intended) -> None:
                pending.discard(f)
                if not f.cancelled() and f.exception() is None:
                    record(f.result(), it, time.time() - it)

            fut.add_done_callback(done)

    async def window() -> tuple[int, float]:
        await asyncio.sleep(max(0.0, t_warm - time.time()))
        d0, c0 = sum(c.events for c, _, _ in clients), _cpu()
        await asyncio.sleep(max(0.0, t_end - time.time()))
        return sum(c.events for c, _, _ in clients) - d0, _cpu() - c0

    await asyncio.sleep(max(0.0, t0 - time.time()))
    tasks = []
    tag = secrets.token_hex(3)
    for i, (c, room, sends) in enumerate(clients):
        if not sends:
            continue
        for j in range(spec.inflight if spec.mode == "closed" else 1):
            uniq = f"b{tag}{i}x{j}"
            tasks.append(closed(c, room, uniq) if spec.mode == "closed" else opened(c, room, uniq))
    win = asyncio.ensure_future(window())
    await asyncio.wait_for(asyncio.gather(*tasks), spec.warmup + spec.duration + SEND_TAIL_S + 5)
    res.deliveries, res.cpu_s = await win
    if pending:
        await asyncio.wait(list(pending), timeout=SEND_TAIL_S)
    res.timeouts += sum(1 for f in pending if not f.done())


def _worker_main(spec: WorkerSpec, pipe: Connection) -> None:
    raise_nofile()
    if spec.client == "node":
        _node_worker(spec, pipe)
    else:
        asyncio.run(_worker(spec, pipe))


ROOT = Path(__file__).resolve().parent.parent
NODE_CLIENT_MODULES = ROOT / "web_client" / "node_modules"


def node_client_available() -> bool:
    """The real client is socket.io-client as web_client/ locks it (`make web-deps`)."""
    return shutil.which("node") is not None and (NODE_CLIENT_MODULES / "socket.io-client").exists()


def _node_worker(spec: WorkerSpec, pipe: Connection) -> None:
    """Relay the run protocol between the parent's pipe and a bench/node_loadgen.js process."""
    proc = subprocess.Popen(
        ["node", str(ROOT / "bench" / "node_loadgen.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_PATH": str(NODE_CLIENT_MODULES)},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(json.dumps(asdict(spec)) + "\n")
        proc.stdin.flush()
        ready = json.loads(proc.stdout.readline() or "{}")
        pipe.send(
            ("ready", ready.get("connected", 0), ready.get("failed", 0), ready.get("error", ""))
        )
        msg = pipe.recv()
        proc.stdin.write(json.dumps({"type": msg[0], "t0": msg[1] if len(msg) > 1 else 0}) + "\n")
        proc.stdin.flush()
        if spec.mode == "idle" and msg[0] == "start":
            pipe.recv()  # hold until "stop"
            proc.stdin.write(json.dumps({"type": "stop"}) + "\n")
            proc.stdin.flush()
        out = json.loads(proc.stdout.readline() or "{}")
        out.pop("type", None)
        known = set(Result.__dataclass_fields__)
        pipe.send(("result", Result(**{k: v for k, v in out.items() if k in known})))
    finally:
        proc.kill()
        proc.wait(5)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def run_load(
    specs: list[WorkerSpec],
    server: Server | None = None,
    *,
    hold: float = 0.0,
    on_connected: Any = None,
) -> dict[str, Any]:
    """Start one process per spec, run them together, aggregate; processes always end."""
    ctx = mp.get_context("spawn")
    procs: list[tuple[Any, Connection]] = []
    out: dict[str, Any] = {}
    try:
        for spec in specs:
            parent, child = ctx.Pipe()
            p = ctx.Process(target=_worker_main, args=(spec, child), daemon=True)
            p.start()
            procs.append((p, parent))
        ready = [_recv(pipe, 330) for _, pipe in procs]
        out["connected"] = sum(r[1] for r in ready)
        out["connect_failed"] = sum(r[2] for r in ready)
        out["connect_error"] = next((r[3] for r in ready if r[3]), "")
        if on_connected is not None:
            on_connected(out)
        warmup, duration = specs[0].warmup, specs[0].duration
        t0 = time.time() + 1.0
        for _, pipe in procs:
            pipe.send(("start", t0))
        if specs[0].mode == "idle":
            time.sleep(hold)
            for _, pipe in procs:
                pipe.send(("stop",))
        elif server is not None:
            time.sleep(max(0.0, t0 + warmup - time.time()))
            cpu0, busy0 = server.cpu_s(), machine_busy_s()
            server.window_start(duration)
            time.sleep(max(0.0, t0 + warmup + duration - time.time()))
            out["server_cpu_pct"] = 100 * (server.cpu_s() - cpu0) / duration
            out["machine_cpu_pct"] = 100 * (machine_busy_s() - busy0) / duration
            server.window_end()
        results: list[Result] = [_recv(pipe, warmup + duration + 60)[1] for _, pipe in procs]
    finally:
        for p, _ in procs:
            p.join(15)
            if p.is_alive():
                p.kill()
                p.join(5)
    if specs[0].mode == "idle":
        return out
    lat = sorted(x for r in results for x in r.lat_ms)
    duration = specs[0].duration
    out.update(
        {
            "acks_per_s": sum(r.completed for r in results) / duration,
            "deliveries_per_s": sum(r.deliveries for r in results) / duration,
            "p50_ms": percentile(lat, 50),
            "p99_ms": percentile(lat, 99),
            "max_ms": lat[-1] if lat else float("nan"),
            "errors": sum(r.errors for r in results),
            "timeouts": sum(r.timeouts for r in results),
            "error_sample": next((r.error_sample for r in results if r.error_sample), ""),
            "loadgen_cpu_pct": 100 * sum(r.cpu_s for r in results) / duration,
        }
    )
    if "machine_cpu_pct" in out:
        out["others_cpu_pct"] = max(
            0.0, out["machine_cpu_pct"] - out["server_cpu_pct"] - out["loadgen_cpu_pct"]
        )
    return out


def machine_busy_s() -> float:
    """CPU seconds all processes of the machine have used (to see other engineers' load)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _recv(pipe: Connection, timeout: float) -> Any:
    if not pipe.poll(timeout):
        raise TimeoutError("load-generator worker did not answer")
    return pipe.recv()


def split(clients: list[tuple[str, str, bool]], n: int) -> list[list[tuple[str, str, bool]]]:
    return [clients[i::n] for i in range(n)]

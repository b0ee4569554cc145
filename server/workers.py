"""`relais serve --workers N`: N server processes on one host, kept running by a small parent.

One Python process saturates one core long before the machine does (docs/performance.md §2), so
a host runs one worker per core. The workers are ordinary nodes: they share the database and
the Redis bus exactly as nodes on different hosts do, which is why more than one needs both
(an in-process bus would split the rooms, and SQLite's single writer would serialise them).

Each worker listens on its own port (`port + i`) and tags the engine.io session ids it issues
(`route_tag`), so a proxy can send every request of a long-polling session back to the worker
that holds it while spreading new sessions over all of them (docs/operations.md §1.2). One port
shared with SO_REUSEPORT would spread the requests of one polling session over workers that do
not know it.

The parent applies the migrations once, before any worker starts (workers starting together
would race on them), restarts a worker that dies of a failure after a growing pause, leaves one
that stopped cleanly alone (as systemd's `Restart=on-failure`), and on SIGTERM/SIGINT stops them
all and waits for their drain.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from server.settings import Settings

log = logging.getLogger("relais.workers")

FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0
# A worker that ran this long before failing is restarted after the first pause again.
STEADY_AFTER_S = 60.0


def cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and `taskset` limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(settings: Settings) -> int:
    return settings.workers if settings.workers > 0 else cores()


def refusal(settings: Settings, count: int) -> str | None:
    """Why `count` workers cannot run on these settings, or None."""
    if count <= 1:
        return None
    if not settings.redis_url:
        return (
            f"{count} workers need RELAIS_REDIS_URL: each worker is a node, and nodes share "
            "rooms over Redis"
        )
    if settings.is_sqlite:
        return (
            f"{count} workers need PostgreSQL (RELAIS_DATABASE_URL): SQLite takes one writer "
            "at a time"
        )
    return None


def worker_tag(settings: Settings, index: int) -> str:
    return f"{settings.route_tag or 'w'}{index}"


def worker_overrides(settings: Settings, index: int) -> dict[str, str]:
    """What worker `index` changes of the parent's settings, as `serve` flags' values."""
    node = settings.node_id or f"pid{os.getpid()}"
    return {
        "port": str(settings.port + index),
        "node_id": f"{node}-w{index}",
        "route_tag": worker_tag(settings, index),
        "workers": "1",
        "migrate_on_start": "0",
    }


def serve_argv(overrides: Mapping[str, str]) -> list[str]:
    """The command line of one worker: this process's own (same module, same arguments), then
    the worker's overrides (argparse keeps the last value of a flag given twice). Re-running
    our own entry point keeps what a wrapper adds (bench/serve.py's bench events) in every
    worker."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    module = spec.name if spec is not None and spec.name else "server.cli"
    argv = [sys.executable, "-m", module, *sys.argv[1:]]
    for name, value in overrides.items():
        argv += ["--" + name.replace("_", "-"), value]
    return argv


@dataclass
class _Worker:
    index: int
    argv: list[str]
    proc: asyncio.subprocess.Process | None = None
    pause_s: float = FIRST_PAUSE_S


class Supervisor:
    def __init__(self, argvs: Sequence[list[str]], grace_s: float) -> None:
        self.workers = [_Worker(i, list(argv)) for i, argv in enumerate(argvs)]
        self.grace_s = grace_s
        self.stopping = asyncio.Event()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        keepers = [asyncio.create_task(self._keep(w)) for w in self.workers]
        stop = asyncio.create_task(self.stopping.wait())
        all_ended = asyncio.create_task(self._all_ended(keepers))
        await asyncio.wait([stop, all_ended], return_when=asyncio.FIRST_COMPLETED)
        self.stopping.set()
        await self._stop_all()
        await asyncio.gather(*keepers, return_exceptions=True)
        all_ended.cancel()
        stop.cancel()
        return 0

    @staticmethod
    async def _all_ended(keepers: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*keepers, return_exceptions=True)

    async def _keep(self, w: _Worker) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = loop.time()
            w.proc = await asyncio.create_subprocess_exec(*w.argv)
            rc = await w.proc.wait()
            if self.stopping.is_set() or rc == 0:
                return
            if loop.time() - started >= STEADY_AFTER_S:
                w.pause_s = FIRST_PAUSE_S
            # Only allow-listed extras reach the log (server/ops/logging.py): the numbers go in
            # the message.
            log.error("worker %d exited with code %d, restarting in %.0f s", w.index, rc, w.pause_s)
            try:
                await asyncio.wait_for(self.stopping.wait(), w.pause_s)
                return
            except TimeoutError:
                pass
            w.pause_s = min(w.pause_s * 2, LONGEST_PAUSE_S)

    async def _stop_all(self) -> None:
        live = [w.proc for w in self.workers if w.proc is not None and w.proc.returncode is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        if not live:
            return
        _, late = await asyncio.wait(
            [asyncio.create_task(p.wait()) for p in live], timeout=self.grace_s + 5
        )
        if late:
            for proc in live:
                if proc.returncode is None:
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in live))

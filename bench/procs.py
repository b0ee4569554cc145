"""Server processes under test: start, wait until ready, sample RSS/CPU, always stop."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

NOFILE = 20_000
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_nofile(limit: int = NOFILE) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(limit, hard), hard))


def relais_args(port: int, data_dir: Path, database_url: str) -> list[str]:
    """`relais serve` flags of every bench run: limits raised so they are not what is measured."""
    return [
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
        "--log-level",
        "WARNING",
        "--rate-user-per-s",
        "1000000",
        "--rate-user-burst",
        "1000000",
        "--rate-ip-per-s",
        "1000000",
        "--rate-ip-burst",
        "1000000",
    ]


class Server:
    """One server process in its own session (process group), killed whatever happens."""

    def __init__(
        self,
        argv: list[str],
        port: int,
        log: Path,
        ready_path: str = "/readyz",
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = argv
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.ready_path = ready_path
        self.cwd = cwd
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        # Every address clients may use: `relais serve --workers N` listens on port .. port+N-1.
        self.urls = [self.url]
        self.profile_to: Path | None = None  # set to record a py-spy profile of the window
        self._spy: subprocess.Popen[bytes] | None = None

    def window_start(self, duration: float) -> None:
        """Called by the load generator when the measured window opens."""
        if self.profile_to is None:
            return
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.exists():
            return  # optional: `pip install py-spy` to get profiles
        self._spy = subprocess.Popen(
            [
                str(spy),
                "record",
                "-p",
                str(self.pid),
                "-d",
                str(max(1, int(duration))),
                "-r",
                "250",
                # --native (py-spy shows the C frames of uvloop, the syscalls) must pause the
                # process to unwind it; RELAIS_BENCH_SPY_NATIVE=1 asks for it.
                *(["--native"] if os.environ.get("RELAIS_BENCH_SPY_NATIVE") else ["--nonblocking"]),
                "--threads",
                "--idle",
                "-f",
                "raw",
                "-o",
                str(self.profile_to),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def window_end(self) -> None:
        if self._spy is None:
            return
        try:
            self._spy.wait(30)
        except subprocess.TimeoutExpired:
            self._spy.kill()
            self._spy.wait()
        self._spy = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=raise_nofile,
                cwd=self.cwd,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        """User+system CPU seconds of the server process (all its threads) and of the processes
        it started (the workers of `relais serve --workers N`), live ones read from /proc."""
        total = 0.0
        for pid in [self.pid, *_descendants(self.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / TICKS
        return total

    def stop(self, grace: float = 30) -> None:
        """SIGINT (graceful: lets a profiler write its report), then SIGKILL the whole group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None


def python_argv(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out

"""A shaped network link for media tests: one network namespace joined to the root namespace by a
veth pair, whose rate (tc `tbf`) and loss (iptables `statistic`) change while a call runs.

Why it looks like this:
- This kernel has no `netem`; `tbf` gives the rate and its queue, iptables gives random loss.
- Loss and cut drop packets where they *arrive*, never in the sender's OUTPUT chain: a netfilter
  drop on a locally generated packet makes the sender's `sendto()` fail with EPERM, which a real
  lossy radio link never does. Downlink drops sit in the namespace's raw PREROUTING (deleted with
  the namespace); uplink drops need the root namespace, so they live in one chain owned by this
  lab, jumped to only for packets from its own host-side veth, and removed on exit.
- Every lab holds an flock on a file under /run/relais-netlab for its lifetime, so a later run can
  tell a crashed lab's leftovers (lock free) from a live lab of a parallel run (lock held) and
  remove only the former.
- All commands run as asyncio subprocesses so shaping can change mid-call without stalling the
  event loop that carries the media.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import pytest

Direction = Literal["up", "down", "both"]

LOCK_DIR = Path("/run/relais-netlab")
_NS_PREFIX = "relais-"
_SUBNETS = 1 << 14  # /30 blocks in 10.231.0.0/16
_counter = itertools.count(1)
_probe_result: tuple[bool, str] | None = None


@dataclass(frozen=True)
class TraceSample:
    """One line of a link trace: hold `mbit` from `t` seconds until the next sample."""

    t: float
    mbit: float


def load_trace(path: str | Path) -> list[TraceSample]:
    """Read a trace in the /work/shared/data/link-traces format (`seconds<TAB>Mbit/s`)."""
    samples = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2:
            samples.append(TraceSample(float(parts[0]), float(parts[1])))
    return samples


class NetlabError(RuntimeError):
    """A command that sets up or shapes the lab failed; carries its stderr."""


async def _run(
    argv: Sequence[str], *, check: bool = True, timeout: float = 20.0
) -> subprocess.CompletedProcess[bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    rc = proc.returncode if proc.returncode is not None else -1
    done = subprocess.CompletedProcess(list(argv), rc, out, err)
    if check and rc != 0:
        raise NetlabError(f"{' '.join(argv)} -> {rc}: {err.decode(errors='replace').strip()}")
    return done


def _run_sync(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(list(argv), capture_output=True, timeout=20, check=False)


def netlab_available() -> tuple[bool, str]:
    """Whether this machine can host a lab, and why not. Probes the real thing once per process
    (a throwaway namespace with a veth, a `tbf` qdisc and a `statistic` rule) because kernel
    features are often built in, so module lists say nothing."""
    global _probe_result
    if _probe_result is None:
        _probe_result = _probe()
    return _probe_result


def _probe() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root"
    for tool in ("ip", "tc", "iptables"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` not installed (iproute2 / iptables)"
    ns = f"{_NS_PREFIX}probe-{os.getpid()}"
    drop = "-m statistic --mode random --probability 0.5 -j DROP"
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "-n", ns, "link", "add", "pa", "type", "veth", "peer", "name", "pb"],
        ["tc", "-n", ns, *"qdisc add dev pa root tbf rate 1mbit burst 4kb latency 50ms".split()],
        ["ip", "netns", "exec", ns, *f"iptables -w -t raw -A PREROUTING {drop}".split()],
    ]
    try:
        for argv in steps:
            res = _run_sync(argv)
            if res.returncode != 0:
                why = res.stderr.decode(errors="replace").strip()
                return False, f"{' '.join(argv[:4])}...: {why}"
        return True, ""
    finally:
        _run_sync(["ip", "netns", "del", ns])


class NetLab:
    """One namespace + veth pair. The host side (`host_addr`, in the root namespace) is where a
    server under test should listen; processes started with `popen_in_ns` see the rest of the
    machine only through the shaped veth (`ns_addr`, default route via `host_addr`).

    "down" is root -> namespace (shaped on the host veth's egress), "up" is namespace -> root.
    """

    def __init__(self) -> None:
        pid, n = os.getpid(), next(_counter)
        self.name = f"{_NS_PREFIX}{pid}-{n}"
        tag = f"{pid:x}x{n:x}"
        self.host_if = f"rl{tag}h"
        self.ns_if = f"rl{tag}n"
        self._chain = f"RELAIS-{tag}"
        self.host_addr = ""
        self.ns_addr = ""
        self._lock: IO[bytes] | None = None
        self._procs: list[asyncio.subprocess.Process] = []
        self._rate_on: set[str] = set()
        self._root_chain = False
        self._state: dict[str, Any] = {"rate": None, "loss": None, "cut": False}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> NetLab:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await reap_stale()
        LOCK_DIR.mkdir(parents=True, exist_ok=True)
        self._lock = open(LOCK_DIR / f"{self.name}.lock", "wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            await self._create()
        except BaseException:
            await self.close()
            raise

    async def _create(self) -> None:
        ns = self.name
        await _run(["ip", "netns", "add", ns])
        await _run(["ip", "link", "add", self.host_if, "type", "veth",
                    "peer", "name", self.ns_if, "netns", ns])  # fmt: skip
        # Address choice and assignment under one machine-wide lock: parallel runs see each
        # other's addresses and never pick the same /30.
        async with _machine_lock():
            used = await _used_subnets()
            start = (os.getpid() * 131 + next(_counter) * 7) % _SUBNETS
            idx = next(
                (i % _SUBNETS for i in range(start, start + _SUBNETS) if i % _SUBNETS not in used),
                None,
            )
            if idx is None:
                raise NetlabError("no free /30 in 10.231.0.0/16")
            base = f"10.231.{idx >> 6}.{(idx & 63) * 4}"
            prefix = base.rsplit(".", 1)[0]
            last = int(base.rsplit(".", 1)[1])
            self.host_addr, self.ns_addr = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
            await _run(["ip", "addr", "add", f"{self.host_addr}/30", "dev", self.host_if])
        await _run(["ip", "link", "set", self.host_if, "up"])
        await _run(["ip", "-n", ns, "addr", "add", f"{self.ns_addr}/30", "dev", self.ns_if])
        await _run(["ip", "-n", ns, "link", "set", self.ns_if, "up"])
        await _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        await _run(["ip", "-n", ns, "route", "add", "default", "via", self.host_addr])
        # Downlink drop chains inside the namespace; rules are swapped by set_loss()/cut().
        for chain in ("RL-CUT", "RL-LOSS"):
            await self._ipt_ns("-t", "raw", "-N", chain)
            await self._ipt_ns("-t", "raw", "-A", "PREROUTING", "-i", self.ns_if, "-j", chain)

    async def close(self) -> None:
        """Kill every process started in the namespace, then remove the veth, namespace, root
        chain and lock. Runs every step even if earlier ones fail."""
        for proc in self._procs:
            await _kill(proc)
        self._procs.clear()
        if self._root_chain:
            await _drop_root_chain(self._chain, self.host_if)
            self._root_chain = False
        # Deleting the host side removes the pair at once; the namespace delete alone frees the
        # veth asynchronously, after which a test checking for leftovers could still see it.
        await _run(["ip", "link", "del", self.host_if], check=False)
        await _run(["ip", "netns", "del", self.name], check=False)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                (LOCK_DIR / f"{self.name}.lock").unlink()
            self._lock.close()
            self._lock = None

    # -- processes -----------------------------------------------------------------------------

    def ns_argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` prefixed to run inside the namespace (for tools that spawn their own process,
        e.g. a browser wrapper script)."""
        return ["ip", "netns", "exec", self.name, *argv]

    async def run_in_ns(
        self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        return await _run(self.ns_argv(argv), check=check, timeout=timeout)

    async def popen_in_ns(
        self,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        *,
        stdin: int | None = None,
        stdout: int | None = None,
        stderr: int | None = None,
        cwd: str | Path | None = None,
    ) -> asyncio.subprocess.Process:
        """Start `argv` in the namespace (own process group) and keep it until the lab closes,
        when it and its children are killed. `ip netns exec` execs in place, so the returned
        pid is the program's own."""
        proc = await asyncio.create_subprocess_exec(
            *self.ns_argv(argv),
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    async def python_in_ns(
        self, code: str, *args: str, env: dict[str, str] | None = None, **kw: Any
    ) -> asyncio.subprocess.Process:
        """`popen_in_ns` for a Python snippet run by this interpreter (the project's venv)."""
        return await self.popen_in_ns([sys.executable, "-c", code, *args], env, **kw)

    # -- shaping -------------------------------------------------------------------------------

    async def set_rate(
        self,
        kbit: int | None,
        burst: int | None = None,
        *,
        direction: Direction = "both",
        latency_ms: int = 200,
    ) -> None:
        """Limit the link to `kbit` (None lifts the limit). `burst` is the token bucket in bytes
        (default: 20 ms at the rate, at least two full frames — tbf drops any packet larger than
        its bucket). `latency_ms` bounds the queue, i.e. how much delay a saturated link adds."""
        for dev_args in self._devs(direction):
            dev = dev_args[-1]
            if kbit is None:
                if dev in self._rate_on:
                    await _run(["tc", *dev_args[:-2], "qdisc", "del", "dev", dev, "root"])
                    self._rate_on.discard(dev)
                continue
            rate = max(1, int(kbit))
            size = burst if burst is not None else max(3028, rate * 1000 // 8 // 50)
            verb = "change" if dev in self._rate_on else "replace"
            await _run(["tc", *dev_args[:-2], "qdisc", verb, "dev", dev, "root", "tbf",
                        "rate", f"{rate}kbit", "burst", str(size),
                        "latency", f"{latency_ms}ms"])  # fmt: skip
            self._rate_on.add(dev)
        self._state["rate"] = kbit

    async def set_loss(self, fraction: float | None, *, direction: Direction = "both") -> None:
        """Drop each packet with probability `fraction` (None or 0 lifts it)."""
        p = fraction or 0.0
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"loss fraction out of [0, 1]: {fraction}")
        rule = ["-m", "statistic", "--mode", "random", "--probability", f"{p:.6f}", "-j", "DROP"]
        await self._set_rules("RL-LOSS", "LOSS", direction, [rule] if p > 0 else [])
        self._state["loss"] = fraction

    async def cut(self, *, direction: Direction = "both") -> None:
        """Drop everything (a dead link: senders see no error, receivers see nothing)."""
        await self._set_rules("RL-CUT", "CUT", direction, [["-j", "DROP"]])
        self._state["cut"] = True

    async def restore(self) -> None:
        """Lift rate, loss and cut in both directions."""
        await self._set_rules("RL-CUT", "CUT", "both", [])
        await self.set_loss(None)
        await self.set_rate(None)
        self._state["cut"] = False

    async def replay_trace(
        self,
        samples: Sequence[TraceSample],
        scale: float = 1.0,
        *,
        time_scale: float = 1.0,
        direction: Direction = "both",
        min_kbit: int = 8,
        on_sample: Callable[[TraceSample, int], None] | None = None,
    ) -> None:
        """Apply each sample's rate (Mbit/s x `scale`) at its time (x `time_scale`, so 0.1 plays
        a trace ten times faster). Schedules against absolute deadlines, so slow `tc` calls do
        not accumulate drift. Cancel the task to stop; the last rate stays in place."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        first = samples[0].t if samples else 0.0
        for s in samples:
            delay = t0 + (s.t - first) * time_scale - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            kbit = max(min_kbit, round(s.mbit * scale * 1000))
            await self.set_rate(kbit, direction=direction)
            if on_sample is not None:
                on_sample(s, kbit)

    async def qdisc(self, direction: Literal["up", "down"]) -> str:
        """`tc qdisc show` of one side (for tests and logs)."""
        (dev_args,) = self._devs(direction)
        res = await _run(["tc", *dev_args[:-2], "qdisc", "show", "dev", dev_args[-1]])
        return res.stdout.decode()

    @property
    def state(self) -> dict[str, Any]:
        """The last applied rate (kbit), loss fraction and cut flag."""
        return dict(self._state)

    # -- internals -----------------------------------------------------------------------------

    def _devs(self, direction: Direction) -> list[list[str]]:
        """[netns args..., "dev", name]: "down" shapes host-veth egress, "up" the ns-veth's."""
        out = []
        if direction in ("down", "both"):
            out.append(["dev", self.host_if])
        if direction in ("up", "both"):
            out.append(["-n", self.name, "dev", self.ns_if])
        return out

    async def _ipt_ns(self, *args: str) -> None:
        await _run(self.ns_argv(["iptables", "-w", *args]))

    async def _set_rules(
        self, ns_chain: str, root_suffix: str, direction: Direction, rules: list[list[str]]
    ) -> None:
        if direction in ("down", "both"):
            await self._ipt_ns("-t", "raw", "-F", ns_chain)
            for rule in rules:
                await self._ipt_ns("-t", "raw", "-A", ns_chain, *rule)
        if direction in ("up", "both"):
            if not rules and not self._root_chain:
                return
            chain = await self._ensure_root_chain(root_suffix)
            await _run(["iptables", "-w", "-t", "raw", "-F", chain])
            for rule in rules:
                await _run(["iptables", "-w", "-t", "raw", "-A", chain, *rule])

    async def _ensure_root_chain(self, suffix: str) -> str:
        """The root-namespace chains for uplink drops, created on first use: `<chain>` is jumped
        to from raw PREROUTING for this lab's host veth only, and calls `<chain>-CUT` and
        `<chain>-LOSS`."""
        if not self._root_chain:
            self._root_chain = True
            ipt = ["iptables", "-w", "-t", "raw"]
            await _run([*ipt, "-N", self._chain])
            for sub in ("CUT", "LOSS"):
                await _run([*ipt, "-N", f"{self._chain}-{sub}"])
                await _run([*ipt, "-A", self._chain, "-j", f"{self._chain}-{sub}"])
            await _run([*ipt, "-I", "PREROUTING", "-i", self.host_if, "-j", self._chain])
        return f"{self._chain}-{suffix}"


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 3)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


async def _drop_root_chain(chain: str, host_if: str) -> None:
    ipt = ["iptables", "-w", "-t", "raw"]
    # Delete every jump to it (normally one), then the chains.
    jump = [*ipt, "-D", "PREROUTING", "-i", host_if, "-j", chain]
    while (await _run(jump, check=False)).returncode == 0:
        pass
    for name in (chain, f"{chain}-CUT", f"{chain}-LOSS"):
        await _run([*ipt, "-F", name], check=False)
    for name in (chain, f"{chain}-CUT", f"{chain}-LOSS"):
        await _run([*ipt, "-X", name], check=False)


@contextlib.asynccontextmanager
async def _machine_lock() -> AsyncIterator[None]:
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_DIR / "alloc.lock", "wb") as f:
        await asyncio.to_thread(fcntl.flock, f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


async def _used_subnets() -> set[int]:
    res = await _run(["ip", "-o", "-4", "addr", "show"])
    used = set()
    for m in re.finditer(r"inet 10\.231\.(\d+)\.(\d+)/", res.stdout.decode()):
        used.add((int(m.group(1)) << 6) | (int(m.group(2)) >> 2))
    return used


async def reap_stale() -> list[str]:
    """Remove labs left by killed runs (their lock file is no longer held): namespace, veth and
    root chain. Returns the names removed."""
    if not LOCK_DIR.is_dir():
        return []
    removed = []
    for lock in LOCK_DIR.glob(f"{_NS_PREFIX}*.lock"):
        name = lock.name.removesuffix(".lock")
        m = re.fullmatch(rf"{_NS_PREFIX}(\d+)-(\d+)", name)
        if m is None:
            continue
        try:
            f = open(lock, "rb")
        except OSError:
            continue
        with f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live lab
            tag = f"{int(m.group(1)):x}x{int(m.group(2)):x}"
            await _drop_root_chain(f"RELAIS-{tag}", f"rl{tag}h")
            await _run(["ip", "link", "del", f"rl{tag}h"], check=False)
            await _run(["ip", "netns", "del", name], check=False)
            lock.unlink(missing_ok=True)
            removed.append(name)
    return removed


def require_netlab() -> None:
    """Skip the calling test when no lab can be built here, or fail it under
    RELAIS_REQUIRE_SERVICES=1 (CI provides root, iproute2 and iptables)."""
    ok, why = netlab_available()
    if not ok:
        from tests.conftest import service_unavailable

        service_unavailable("network lab (root, iproute2, iptables, tbf, xt_statistic)", why)


@pytest.fixture
async def netlab() -> AsyncIterator[NetLab]:
    """A fresh lab per test, torn down (processes, namespace, veth, rules) even on failure."""
    await asyncio.to_thread(require_netlab)
    async with NetLab() as lab:
        yield lab

"""The network lab does what the media tests rely on, measured on real traffic over the veth:
rate limits cap the bytes that arrive, loss drops the expected share of datagrams, cut drops
everything, restore brings it all back, and nothing is left behind."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Literal

import pytest

from tests.conftest import free_port
from tests.netlab import NetLab, TraceSample, require_netlab

# Runs inside the namespace. Modes:
#   tcp-send HOST PORT            send zeros as fast as the link allows
#   tcp-recv HOST PORT            read, print "<monotonic> <total bytes>" every 0.1 s
#   udp-send HOST PORT N          N numbered 200-byte datagrams then "END", print "sent"
#   udp-recv HOST PORT            print "ready <bound port>" (PORT 0: any free one); on
#                                 "report" (stdin) print "<count> <end seen>"
PEER = r"""
import os, select, socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "tcp-send":
    s = socket.create_connection((host, port))
    buf = bytes(16384)
    while True:
        s.sendall(buf)
elif mode == "tcp-recv":
    s = socket.create_connection((host, port)); s.settimeout(0.1); total = 0
    while True:
        try:
            data = s.recv(65536)
            if not data:
                break
            total += len(data)
        except socket.timeout:
            pass
        print(time.monotonic(), total, flush=True)
elif mode == "udp-send":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(int(sys.argv[4])):
        s.sendto(i.to_bytes(4, "big") + bytes(196), (host, port))
        if i % 50 == 49:
            time.sleep(0.002)  # pacing only: stays far below the receiver's buffer
    s.sendto(b"END", (host, port)); print("sent", flush=True); sys.stdin.readline()
elif mode == "udp-recv":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
    # Port 0: the kernel picks one free in this namespace (a port free in the host's namespace
    # may still be held here by an earlier receiver of the same lab).
    s.bind((host, port)); s.setblocking(False); print("ready", s.getsockname()[1], flush=True)
    count, end = 0, False
    while True:
        r, _, _ = select.select([s, sys.stdin], [], [])
        if s in r:
            while True:
                try:
                    d = s.recv(2048)
                except BlockingIOError:
                    break
                if d == b"END":
                    end = True
                else:
                    count += 1
        if sys.stdin in r:
            if not sys.stdin.readline():
                break
            print(count, int(end), flush=True); count, end = 0, False
"""


@pytest.fixture
def lab(netlab: NetLab) -> NetLab:
    return netlab


# -- TCP throughput ----------------------------------------------------------------------------


class _Counter(asyncio.Protocol):
    def __init__(self) -> None:
        self.total = 0

    def data_received(self, data: bytes) -> None:
        self.total += len(data)


async def _uplink_kbit(lab: NetLab, warmup: float, window: float) -> float:
    """Bytes a TCP sender in the namespace gets to the root namespace over `window` seconds
    (after `warmup`, which drains the token bucket's burst), as kbit/s measured on the receiver."""
    loop = asyncio.get_running_loop()
    counter = _Counter()
    port = free_port()
    server = await loop.create_server(lambda: counter, lab.host_addr, port)
    proc = await lab.python_in_ns(PEER, "tcp-send", lab.host_addr, str(port))
    try:
        while counter.total == 0:
            await asyncio.sleep(0.02)
        await asyncio.sleep(warmup)
        b0, t0 = counter.total, loop.time()
        await asyncio.sleep(window)
        b1, t1 = counter.total, loop.time()
        return (b1 - b0) * 8 / 1000 / (t1 - t0)
    finally:
        proc.kill()  # one measurement's sender must not compete with the next
        await proc.wait()
        server.close()


async def _downlink_kbit(lab: NetLab, warmup: float, window: float) -> float:
    """The same root -> namespace, measured by the receiver inside (its own clock and count)."""
    loop = asyncio.get_running_loop()
    port = free_port()
    tasks: list[asyncio.Task[None]] = []
    writers: list[asyncio.StreamWriter] = []

    async def blast(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytes(16384)
        try:
            while True:
                writer.write(buf)
                await writer.drain()
        except (ConnectionError, OSError):
            pass

    def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        writers.append(w)
        tasks.append(loop.create_task(blast(r, w)))

    server = await asyncio.start_server(on_conn, lab.host_addr, port)
    proc = await lab.python_in_ns(
        PEER, "tcp-recv", lab.host_addr, str(port), stdout=asyncio.subprocess.PIPE
    )
    try:

        async def sample() -> tuple[float, int]:
            assert proc.stdout is not None
            t, n = (await proc.stdout.readline()).split()
            return float(t), int(n)

        t, n = await sample()
        while n == 0:
            t, n = await sample()
        first_t = t
        while t - first_t < warmup:
            t, n = await sample()
        t0, b0 = t, n
        while t - t0 < window:
            t, n = await sample()
        return (n - b0) * 8 / 1000 / (t - t0)
    finally:
        proc.kill()
        await proc.wait()
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for w in writers:
            w.close()


async def _kbit(
    lab: NetLab, direction: Literal["up", "down"], warmup: float, window: float
) -> float:
    if direction == "up":
        return await _uplink_kbit(lab, warmup, window)
    return await _downlink_kbit(lab, warmup, window)


@pytest.mark.parametrize("direction", ["up", "down"])
async def test_rate_limit_caps_throughput(lab: NetLab, direction: Literal["up", "down"]) -> None:
    unshaped = await _kbit(lab, direction, warmup=0.2, window=0.5)
    assert unshaped > 5000, f"unshaped veth carried only {unshaped:.0f} kbit/s"

    await lab.set_rate(200, direction=direction)
    assert "rate 200Kbit" in await lab.qdisc(direction)
    shaped = await _kbit(lab, direction, warmup=1.0, window=2.0)
    # tbf counts whole frames, the receiver counts TCP payload: ~5% below the rate.
    assert 100 <= shaped <= 300, f"200 kbit/s limit measured {shaped:.0f} kbit/s"


async def test_rate_applies_per_direction(lab: NetLab) -> None:
    await lab.set_rate(300, direction="up")
    assert "tbf" in await lab.qdisc("up")
    assert "tbf" not in await lab.qdisc("down")
    await lab.set_rate(None)
    assert "tbf" not in await lab.qdisc("up")


# -- UDP loss / cut / restore ------------------------------------------------------------------


@dataclass
class _UdpRun:
    received: int
    end_seen: bool


async def _udp_burst(lab: NetLab, direction: Literal["up", "down"], n: int = 2000) -> _UdpRun:
    """Send `n` datagrams across the veth and count what arrives, on the receiver's side. The
    sender signals "done" over its stdio pipe (never over the link under test), and the receiver
    is read after that; an "END" datagram marks that nothing is still in flight when the link
    is clean."""
    if direction == "down":
        proc = await lab.python_in_ns(
            PEER,
            "udp-recv",
            lab.ns_addr,
            "0",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        ready, bound = (await proc.stdout.readline()).split()
        assert ready == b"ready"
        port = int(bound)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(n):
                s.sendto(i.to_bytes(4, "big") + bytes(196), (lab.ns_addr, port))
                if i % 50 == 49:
                    await asyncio.sleep(0.002)
            s.sendto(b"END", (lab.ns_addr, port))
        proc.stdin.write(b"report\n")
        await proc.stdin.drain()
        count, end_flag = (await proc.stdout.readline()).split()
        return _UdpRun(int(count), end_flag == b"1")

    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE (root)
        rx.bind((lab.host_addr, port))
        rx.setblocking(False)
        proc = await lab.python_in_ns(
            PEER,
            "udp-send",
            lab.host_addr,
            str(port),
            str(n),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        assert (await proc.stdout.readline()).strip() == b"sent"
        received, end = 0, False
        while True:
            try:
                data = rx.recv(2048)
            except BlockingIOError:
                break
            if data == b"END":
                end = True
            else:
                received += 1
        return _UdpRun(received, end)


@pytest.mark.parametrize("direction", ["up", "down"])
async def test_loss_cut_restore(lab: NetLab, direction: Literal["up", "down"]) -> None:
    clean = await _udp_burst(lab, direction)
    assert clean.end_seen and clean.received == 2000

    await lab.set_loss(0.3, direction=direction)
    lossy = await _udp_burst(lab, direction)
    assert 1200 <= lossy.received <= 1600, f"30% loss delivered {lossy.received}/2000"

    await lab.cut(direction=direction)
    dead = await _udp_burst(lab, direction)
    assert dead.received == 0 and not dead.end_seen

    await lab.restore()
    back = await _udp_burst(lab, direction)
    assert back.end_seen and back.received == 2000


async def test_loss_in_one_direction_leaves_the_other(lab: NetLab) -> None:
    await lab.set_loss(1.0, direction="up")
    assert (await _udp_burst(lab, "up")).received == 0
    down = await _udp_burst(lab, "down")
    assert down.end_seen and down.received == 2000


async def test_sender_sees_no_error_when_dropped(lab: NetLab) -> None:
    """Drops happen where packets arrive: a sender on a cut link gets no EPERM (a netfilter drop
    in its own OUTPUT chain would make sendto() fail, which no radio link does)."""
    await lab.cut()
    res = await lab.run_in_ns(
        [
            "python3",
            "-c",
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
            f"[s.sendto(b'x', ('{lab.host_addr}', 9)) for _ in range(100)]",
        ]
    )
    assert res.returncode == 0, res.stderr


# -- traces and cleanup ------------------------------------------------------------------------


async def test_replay_trace_applies_each_sample(lab: NetLab) -> None:
    trace = [TraceSample(10.0, 2.0), TraceSample(10.5, 0.6), TraceSample(11.0, 0.0001)]
    applied: list[int] = []
    await lab.replay_trace(
        trace, scale=0.1, time_scale=0.1, on_sample=lambda _s, kbit: applied.append(kbit)
    )
    assert applied == [200, 60, 8]  # scaled, and floored at min_kbit
    assert "rate 8Kbit" in await lab.qdisc("down")
    assert "rate 8Kbit" in await lab.qdisc("up")


async def _sh(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return out.decode()


async def test_cleanup_removes_everything() -> None:
    await asyncio.to_thread(require_netlab)
    async with NetLab() as lab:
        proc = await lab.popen_in_ns(["sleep", "600"])
        await lab.set_rate(100)
        await lab.set_loss(0.1)
        await lab.cut()
        assert lab.name in await _sh("ip", "netns", "list")
        assert "RELAIS-" in await _sh("iptables", "-t", "raw", "-S")
    assert proc.returncode is not None  # killed, not orphaned
    assert lab.name not in await _sh("ip", "netns", "list")
    assert lab.host_if not in await _sh("ip", "-o", "link", "show")
    assert f"inet {lab.host_addr}/" not in await _sh("ip", "-o", "-4", "addr", "show")
    rules = await _sh("iptables", "-t", "raw", "-S")
    assert lab.host_if not in rules and lab._chain not in rules


async def test_cleanup_on_failure() -> None:
    await asyncio.to_thread(require_netlab)
    lab = NetLab()
    with pytest.raises(RuntimeError, match="boom"):
        async with lab:
            await lab.set_loss(0.5)
            raise RuntimeError("boom")
    assert lab.name not in await _sh("ip", "netns", "list")
    assert lab.host_if not in await _sh("ip", "-o", "link", "show")

"""`relais serve --workers N`: real worker processes under their parent, over Redis and
PostgreSQL; a long-polling session's requests carry their worker's tag; a worker killed with
SIGKILL comes back; SIGTERM to the parent stops every worker."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from client import RelaisClient
from deploy.loopback.topology import free_ports
from tests.conftest import (
    PASSWORD,
    create_pg_database,
    drop_pg_database,
    envelope,
    redis_url_for_test,
    wait_for,
)
from tests.integration.test_nodes import _users
from tests.procs import ServerProcess

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


async def _ready(url: str, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{url} did not become ready")
            await asyncio.sleep(0.1)


async def _polling_sid(url: str) -> str:
    """The engine.io handshake over long-polling, on the raw wire: `0{"sid": ...}`."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/socket.io/", params={"EIO": "4", "transport": "polling"}) as r:
            body = await r.text()
    assert body.startswith("0"), body
    return str(json.loads(body[1:])["sid"])


@pytest.mark.postgres
async def test_two_workers_share_rooms_tag_sessions_and_come_back(tmp_path: Path):
    url = await create_pg_database()
    redis_url = await redis_url_for_test()
    await _users(url, "alice", "bob")
    port = free_ports(2)
    parent = ServerProcess(
        port,
        tmp_path / "data",
        url,
        redis_url=redis_url,
        redis_prefix=f"t{secrets.token_hex(4)}",
        node_id="host",
        extra_env={"RELAIS_WORKERS": "2", "RELAIS_ROUTE_TAG": "h"},
    )
    first, second = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    alice = bob = None
    try:
        await parent.start()
        await _ready(second)
        assert parent.proc is not None
        workers = _children(parent.proc.pid)
        assert len(workers) == 2, workers

        # Each worker tags the sessions it opens, so a proxy can route their polls back.
        assert (await _polling_sid(first)).startswith("h0.")
        assert (await _polling_sid(second)).startswith("h1.")

        # One room across the two workers: a WebSocket client on one, long-polling on the other.
        alice = RelaisClient(first)
        await alice.login("alice", PASSWORD)
        bob = RelaisClient(second, transports=["polling"])
        await bob.login("bob", PASSWORD)
        room = await alice.create_room()
        me = await bob.request("GET", "/api/v1/me")
        await alice.add_member(room, me["user_id"])
        await alice.connect()
        await bob.connect()
        sent = [await alice.send(room, envelope(f"a{i}")) for i in range(10)]
        await wait_for(lambda: len(bob.inbox.messages.get(room, [])) == 10)
        assert [m["id"] for m in bob.inbox.messages[room]] == [a["id"] for a in sent]

        # A worker that crashes comes back on its port; its clients reconnect and catch up.
        victim = next(pid for pid in workers if f"--port {port + 1}" in _cmdline(pid))
        os.kill(victim, signal.SIGKILL)
        await wait_for(lambda: victim not in _children(parent.proc.pid), timeout=10)
        await _ready(second, timeout=30)
        assert len(_children(parent.proc.pid)) == 2
        later = await alice.send(room, envelope("after"))
        # Bob's client reconnects by itself and syncs what it missed.
        await wait_for(lambda: later["id"] in bob.inbox.seen, timeout=20)
    finally:
        for c in (alice, bob):
            if c is not None:
                await c.close()
        assert await parent.terminate() == 0
        await drop_pg_database(url)
    # SIGTERM to the parent stopped every worker: nothing answers on their ports.
    for p in (port, port + 1):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", p)) != 0


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("redis", "needs"), [("", "RELAIS_REDIS_URL"), ("redis://127.0.0.1:1/0", "PostgreSQL")]
)
def test_several_workers_refuse_an_in_process_bus_or_sqlite(tmp_path: Path, redis: str, needs: str):
    env = {
        **os.environ,
        "RELAIS_DATA_DIR": str(tmp_path),
        "RELAIS_DATABASE_URL": "",
        "RELAIS_REDIS_URL": redis,
        "RELAIS_WORKERS": "2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert needs in done.stderr
    assert not (tmp_path / "relais.db").exists()  # refused before touching the database

"""Real server processes: two nodes over Redis, a node killed with SIGKILL, long-polling."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from client import RelaisClient
from server.auth import accounts
from tests.conftest import PASSWORD, envelope, free_port, redis_url_for_test, wait_for
from tests.procs import ServerProcess, prepare_database

pytestmark = pytest.mark.slow


async def _users(url: str, *names: str) -> None:
    db = await prepare_database(url)
    pw_hash = await accounts.prepare_password(PASSWORD)
    async with db.write() as conn:
        for n in names:
            await accounts.create_user(conn, username=n, role="clinician", password_hash=pw_hash)
    await db.close()


async def _client(url: str, name: str, transports: list[str] | None = None) -> RelaisClient:
    c = RelaisClient(url, transports=transports)
    await c.login(name, PASSWORD)
    return c


async def _metrics(url: str) -> dict[str, float]:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    return {
        line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


@pytest.fixture
async def pg_url():
    from tests.conftest import create_pg_database, drop_pg_database

    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


async def test_two_nodes_share_rooms_over_redis(tmp_path: Path, pg_url: str):
    redis_url = await redis_url_for_test()
    prefix = f"t{secrets.token_hex(4)}"
    await _users(pg_url, "alice", "bob")
    a = ServerProcess(
        free_port(), tmp_path / "a", pg_url, redis_url=redis_url, redis_prefix=prefix, node_id="a"
    )
    b = ServerProcess(
        free_port(), tmp_path / "b", pg_url, redis_url=redis_url, redis_prefix=prefix, node_id="b"
    )
    await a.start()
    await b.start()
    alice = bob = None
    try:
        alice = await _client(a.url, "alice")
        bob = await _client(b.url, "bob", transports=["polling"])
        room = await alice.create_room()
        me = await bob.request("GET", "/api/v1/me")
        await alice.add_member(room, me["user_id"])
        await alice.connect()
        await bob.connect()
        acks = [await alice.send(room, envelope(f"a{i}")) for i in range(20)]
        await wait_for(lambda: len(bob.inbox.messages.get(room, [])) == 20)
        assert [m["id"] for m in bob.inbox.messages[room]] == [x["id"] for x in acks]
        # And back, from node B (long-polling) to node A (websocket).
        back = await bob.send(room, envelope("b"))
        await wait_for(lambda: back["id"] in alice.inbox.seen)
        assert back["seq"] == 21
        # Node A sent its emits to node B over the bus (server/realtime/redis_fanout.py), in
        # batches, none dropped.
        scrape = await _metrics(a.url)
        assert scrape["relais_bus_emits_total"] >= 20
        assert 1 <= scrape["relais_bus_batches_total"] <= scrape["relais_bus_emits_total"]
        assert scrape["relais_bus_dropped_total"] == 0
    finally:
        for c in (alice, bob):
            if c is not None:
                await c.close()
        assert await a.terminate() == 0
        assert await b.terminate() == 0


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_sigkill_while_sending_loses_and_duplicates_nothing(tmp_path: Path, backend: str):
    from tests.conftest import create_pg_database, drop_pg_database

    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
        if backend == "sqlite"
        else await create_pg_database()
    )
    await _users(url, "carol", "dave")
    port = free_port()
    node = ServerProcess(port, tmp_path / "data", url, node_id="crash")
    await node.start()
    sender = dave = None
    try:
        sender = await _client(node.url, "carol")
        room = await sender.create_room()
        dave = await _client(node.url, "dave")
        me = await dave.request("GET", "/api/v1/me")
        await sender.add_member(room, me["user_id"])
        await sender.connect()
        acked: dict[str, dict] = {}
        total = 300

        async def produce() -> None:
            for i in range(total):
                cmid = f"c{i}"
                ack = await sender.send(
                    room, envelope(cmid), client_msg_id=cmid, retries=200, timeout=2
                )
                acked[cmid] = ack

        task = asyncio.create_task(produce())
        await wait_for(lambda: len(acked) >= 100, timeout=60)
        node.kill()  # mid-stream: some sends are in flight, unacked
        await node.start()
        await asyncio.wait_for(task, 120)
        assert len(acked) == total

        await dave.connect()
        await dave.sync()
        got = dave.inbox.messages[room]
        seqs = [m["seq"] for m in got]
        assert seqs == list(range(1, len(got) + 1)), "gap or reorder in seq"
        cmids = [m["client_msg_id"] for m in got]
        assert len(cmids) == len(set(cmids)) == total, "lost or duplicated message"
        by_cmid = {m["client_msg_id"]: m for m in got}
        for cmid, ack in acked.items():
            assert by_cmid[cmid]["id"] == ack["id"] and by_cmid[cmid]["seq"] == ack["seq"]
    finally:
        for c in (sender, dave):
            if c is not None:
                await c.close()
        assert await node.terminate() == 0
        if backend == "postgres":
            await drop_pg_database(url)

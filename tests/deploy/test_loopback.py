"""The deployment topology run for real (deploy/loopback/): nginx with TLS in front of two
Relais nodes of two workers each, PostgreSQL, Redis and coturn, all on loopback ports.

Clients reach Relais through the proxy as browsers do, or a node's own port where a test needs
them on a given node. Faults are the real ones: SIGKILL to a node's process group, Redis and
PostgreSQL stopped and started again. The invariant after each: every acked message is delivered
exactly once, in order.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import BrowserContext

from client import RelaisClient
from client.consult import ConsultationMedia
from client.sdk import RelaisError
from deploy.loopback.topology import Postgres, RelaisNode, Topology, free_ports
from server.auth import accounts
from server.db.engine import Database
from tests.conftest import PASSWORD, envelope, service_unavailable, wait_for
from tests.integration.test_browser_consult import flowing, page_state
from tests.integration.test_consultation_media import C
from tests.leakcheck import settle

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

NEEDS = ("nginx", "turnserver", "redis-server", "openssl", "psql")


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    missing = [tool for tool in NEEDS if shutil.which(tool) is None]
    if missing:
        service_unavailable("the loopback topology", f"not installed: {', '.join(missing)}")
    root = Path(tempfile.mkdtemp(prefix="relais-loopback-"))
    topo = Topology(root)
    topo.up()
    try:
        yield topo
    finally:
        topo.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def tls(topology: Topology) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(topology.certificate))


_counter = 0


async def _people(topo: Topology, *names: str) -> list[str]:
    """Fresh accounts (unique names: the topology lives for the whole module)."""
    global _counter
    _counter += 1
    db = Database(topo.postgres.url())
    pw_hash = await accounts.prepare_password(PASSWORD)
    out = []
    try:
        async with db.write() as conn:
            for n in names:
                name = f"{n}{_counter}"
                await accounts.create_user(
                    conn, username=name, role="clinician", password_hash=pw_hash
                )
                out.append(name)
    finally:
        await db.close()
    return out


async def _client(
    url: str, name: str, tls: ssl.SSLContext | None, transports: list[str] | None = None
) -> RelaisClient:
    c = RelaisClient(
        url, transports=transports, ssl_context=tls if url.startswith("https") else None
    )
    await c.login(name, PASSWORD)
    return c


async def _room(owner: RelaisClient, *others: RelaisClient) -> str:
    room = await owner.create_room()
    for other in others:
        me = await other.request("GET", "/api/v1/me")
        await owner.add_member(room, me["user_id"])
    return room


def _tag(client: RelaisClient) -> str:
    """The worker a client's socket is on: its engine.io session id's route tag."""
    assert client.sio is not None
    sid = str(client.sio.eio.sid)
    return sid.split(".", 1)[0]


def _check_exactly_once(got: list[dict[str, Any]], acked: dict[str, dict[str, Any]]) -> None:
    # Arrival order may differ from seq order (what the bus missed comes by `sync`, after later
    # live messages); the room's order is its seqs, which must have no gap and no repeat.
    seqs = sorted(m["seq"] for m in got)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"gap or repeat in {seqs}"
    cmids = [m.get("client_msg_id") for m in got]
    assert len(cmids) == len(set(cmids)), "a message delivered twice"
    by_cmid = {m["client_msg_id"]: m for m in got}
    for cmid, ack in acked.items():
        assert cmid in by_cmid, f"acked message {cmid} lost"
        assert by_cmid[cmid]["id"] == ack["id"] and by_cmid[cmid]["seq"] == ack["seq"]


async def _close(*clients: RelaisClient | None) -> None:
    for c in clients:
        if c is not None:
            await c.close()


async def _polling_tags(url: str, tls: ssl.SSLContext, count: int) -> list[str]:
    tags = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as http:
        for _ in range(count):
            params = {"EIO": "4", "transport": "polling"}
            async with http.get(url + "/socket.io/", params=params) as resp:
                body = await resp.text()
            tags.append(json.loads(body[1:])["sid"].split(".", 1)[0])
    return tags


async def test_clients_on_both_nodes_share_a_room_through_the_proxy(
    topology: Topology, tls: ssl.SSLContext
):
    # New sessions spread over every worker of both nodes, whatever the client's address.
    tags = await _polling_tags(topology.url, tls, 8)
    assert {t[0] for t in tags} == {"a", "b"}, tags

    a, b, c, d = await _people(topology, "ann", "ben", "cat", "dan")
    node_a, node_b = topology.nodes
    ann = await _client(topology.url, a, tls)  # WebSocket through the proxy
    ben = await _client(topology.url, b, tls, transports=["polling"])  # long-polling through it
    cat = await _client(node_b.worker_urls()[1], c, None)  # on node b, directly
    dan = await _client(node_a.worker_urls()[0], d, None, transports=["polling"])
    try:
        room = await _room(ann, ben, cat, dan)
        for x in (ann, ben, cat, dan):
            await x.connect()
        # Long-polling through the proxy works only if every poll reaches its own worker.
        by: dict[RelaisClient, list[str]] = {ann: [], ben: [], cat: []}
        for i in range(10):
            by[ann].append((await ann.send(room, envelope(f"m{i}")))["id"])
        by[ben].append((await ben.send(room, envelope("from ben")))["id"])
        by[cat].append((await cat.send(room, envelope("from cat")))["id"])
        ids = by[ann] + by[ben] + by[cat]
        for x in (ann, ben, cat, dan):
            others = [i for i in ids if i not in by.get(x, [])]
            await wait_for(lambda x=x, o=others: all(i in x.inbox.seen for i in o), timeout=15)
        assert [m["id"] for m in dan.inbox.messages[room]] == ids
    finally:
        await _close(ann, ben, cat, dan)


async def _produce(
    sender: RelaisClient, room: str, total: int, acked: dict[str, dict[str, Any]], prefix: str
) -> None:
    for i in range(total):
        cmid = f"{prefix}{i}"
        acked[cmid] = await sender.send(
            room, envelope(cmid), client_msg_id=cmid, retries=300, timeout=2
        )


async def test_a_node_killed_under_load_loses_and_duplicates_nothing(
    topology: Topology, tls: ssl.SSLContext
):
    s, r = await _people(topology, "sid", "rae")
    sender = await _client(topology.url, s, tls)
    reader = await _client(topology.url, r, tls, transports=["polling"])
    victim: RelaisNode | None = None
    try:
        room = await _room(sender, reader)
        await sender.connect()
        await reader.connect()
        victim = next(n for n in topology.nodes if n.tag == _tag(sender)[0])
        acked: dict[str, dict[str, Any]] = {}
        total = 300
        task = asyncio.create_task(_produce(sender, room, total, acked, "k"))
        await wait_for(lambda: len(acked) >= 100, timeout=60)
        victim.kill()  # the sender's node, mid-stream: some sends are in flight, unacked
        await asyncio.wait_for(task, 120)  # it reconnects through the proxy to the other node
        assert len(acked) == total
        assert _tag(sender)[0] != victim.tag
        await reader.sync()
        await wait_for(lambda: len(reader.inbox.messages.get(room, [])) >= total, timeout=30)
        _check_exactly_once(reader.inbox.messages[room], acked)
    finally:
        await _close(sender, reader)
        if victim is not None and not victim.running:
            await asyncio.to_thread(victim.start)


async def test_redis_restarted_fanout_resumes_without_restarting_nodes(
    topology: Topology, tls: ssl.SSLContext
):
    x_name, y_name = await _people(topology, "xia", "yan")
    node_a, node_b = topology.nodes
    x = await _client(node_a.worker_urls()[0], x_name, None)
    y = await _client(node_b.worker_urls()[1], y_name, None)
    try:
        room = await _room(x, y)
        await x.connect()
        await y.connect()
        acked: dict[str, dict[str, Any]] = {}
        first = await x.send(room, envelope("before"), client_msg_id="before")
        acked["before"] = first
        await wait_for(lambda: first["id"] in y.inbox.seen)

        await asyncio.to_thread(topology.redis.stop)
        # Sends while the bus is down: stored and acked (PostgreSQL is up) or refused with a
        # typed error, never lost once acked.
        for i in range(5):
            try:
                acked[f"down{i}"] = await x.send(
                    room, envelope(f"down{i}"), client_msg_id=f"down{i}", retries=1, timeout=3
                )
            except RelaisError:
                pass
        await asyncio.to_thread(topology.redis.start)

        # Live fan-out across the nodes comes back by itself (no node restarted).
        async def crosses() -> bool:
            cmid = f"after{len(acked)}"
            ack = await x.send(room, envelope(cmid), client_msg_id=cmid, retries=50, timeout=3)
            acked[cmid] = ack
            try:
                await wait_for(lambda: ack["id"] in y.inbox.seen, timeout=2)
            except AssertionError:
                return False
            return True

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not await crosses():
            assert loop.time() < deadline, "fan-out did not resume after Redis came back"
        await y.sync()
        _check_exactly_once(y.inbox.messages[room], acked)
    finally:
        await _close(x, y)
        if not topology.redis.running:
            await asyncio.to_thread(topology.redis.start)


async def test_postgres_restarted_sends_fail_typed_then_succeed(
    topology: Topology, tls: ssl.SSLContext
):
    p_name, q_name = await _people(topology, "pia", "quy")
    p = await _client(topology.url, p_name, tls)
    q = await _client(topology.url, q_name, tls)
    try:
        room = await _room(p, q)
        await p.connect()
        await q.connect()
        acked = {"before": await p.send(room, envelope("before"), client_msg_id="before")}

        await asyncio.to_thread(topology.postgres.stop)
        codes = set()
        for i in range(3):
            with pytest.raises(RelaisError) as refused:
                await p.call(
                    "message.send",
                    {"room_id": room, "client_msg_id": f"down{i}", "envelope": envelope("d")},
                    timeout=15,
                )
            codes.add(refused.value.code)
        assert codes == {"unavailable"}, codes
        await asyncio.to_thread(topology.postgres.start)

        # The same calls, retried as a client does, now succeed: once each.
        for i in range(3):
            acked[f"down{i}"] = await p.send(
                room, envelope("d"), client_msg_id=f"down{i}", retries=50, timeout=5
            )
        acked["after"] = await p.send(room, envelope("after"), client_msg_id="after")
        await q.sync()
        await wait_for(lambda: len(q.inbox.messages.get(room, [])) >= len(acked), timeout=15)
        _check_exactly_once(q.inbox.messages[room], acked)
    finally:
        await _close(p, q)
        if not topology.postgres.running:
            await asyncio.to_thread(topology.postgres.start)


async def test_a_backup_restored_into_a_fresh_postgresql_serves_every_message(
    topology: Topology, tls: ssl.SSLContext
):
    """The restore drill of docs/operations.md §5: pg_dump, a new cluster, pg_restore, a node
    started on it, and a client's `sync` sees every message."""
    w_name, v_name = await _people(topology, "wes", "val")
    w = await _client(topology.url, w_name, tls)
    v = await _client(topology.url, v_name, tls)
    fresh: Postgres | None = None
    node: RelaisNode | None = None
    try:
        room = await _room(w, v)
        await w.connect()
        acked = {
            f"b{i}": await w.send(room, envelope(f"b{i}"), client_msg_id=f"b{i}") for i in range(20)
        }
        # Under the topology's folder: PostgreSQL (user `postgres`) must reach it.
        tmp_path = topology.root / "restore"
        tmp_path.mkdir()
        dump = tmp_path / "relais.dump"
        await asyncio.to_thread(topology.postgres.dump, "relais", dump)

        fresh = Postgres(
            "postgres-restored", free_ports(1), tmp_path / "pg2.log", data=tmp_path / "pg2"
        )
        await asyncio.to_thread(fresh.init)
        await asyncio.to_thread(fresh.start)
        await asyncio.to_thread(fresh.restore, dump, "relais")

        node = RelaisNode(
            "relais-restored", free_ports(1), tmp_path / "restored.log", tag="r", worker_count=1
        )
        node.settings = {
            **topology.node_settings(),
            "RELAIS_DATABASE_URL": fresh.url(),
            "RELAIS_REDIS_PREFIX": "restored",
        }
        await asyncio.to_thread(node.start)
        reader = await _client(node.worker_urls()[0], v_name, None)
        try:
            await reader.connect()
            await reader.sync()
            _check_exactly_once(reader.inbox.messages[room], acked)
            assert len(reader.inbox.messages[room]) == len(acked)
        finally:
            await reader.close()
    finally:
        await _close(w, v)
        if node is not None:
            await asyncio.to_thread(node.stop)
        if fresh is not None:
            await asyncio.to_thread(fresh.stop)


RELAY_CANDIDATE = """async () => {
  const stats = await window.relais.pc.getStats();
  let pair = null;
  stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) {
    pair = stats.get(r.selectedCandidatePairId); } });
  return pair ? stats.get(pair.localCandidateId).candidateType : null;
}"""


async def test_a_browser_forced_through_coturn_carries_media(
    topology: Topology, chromium_browser: BrowserContext
):
    """The patient's browser may only use relay candidates (`iceTransportPolicy: "relay"`), so
    its media go through coturn with the TURN credential Relais issued it; the host is a Python
    participant. Both reach the same worker: a consultation's legs live on one worker."""
    (owner_name,) = await _people(topology, "oli")
    url = topology.nodes[0].worker_urls()[0]
    owner = await _client(url, owner_name, None)
    patient = RelaisClient(url)
    host: ConsultationMedia | None = None
    page = await chromium_browser.new_page()
    try:
        room = await owner.create_room()
        cid = (await owner.request("POST", C, json={"room_id": room}))["consultation_id"]
        link = await owner.request("POST", f"{C}/{cid}/links", json={"display_name": "Mme P"})
        guest = await patient.request("POST", f"{C}/redeem", json={"token": link["token"]})
        await owner.connect()
        assert (await owner.call("consult.join", {"consultation_id": cid}))["state"] == "admitted"
        config = await owner.call("consult.media_config", {"consultation_id": cid})
        turn = [s for s in config["ice_servers"] if str(s["urls"]).startswith("turn:")]
        assert turn and turn[0]["username"].endswith(":" + str(owner.user_id)), config

        await page.goto(
            f"{url}/app/media-check.html?consultation={cid}&relay=1#token={guest['token']}"
        )
        await page_state(page, "waiting")
        await owner.call(
            "consult.admit", {"consultation_id": cid, "participant_id": guest["participant_id"]}
        )
        host = ConsultationMedia(owner, cid)
        await host.start()
        await page_state(page, "connected", timeout=30)
        await flowing(page, host)
        assert await page.evaluate(RELAY_CANDIDATE) == "relay"
        await owner.call("consult.end", {"consultation_id": cid})
        await page_state(page, "ended")
    finally:
        await page.close()
        if host is not None:
            await host.close()
        await _close(owner, patient)


def _media_frames(m: ConsultationMedia) -> dict[str, int]:
    return dict(m.peer.counters.frames) if m.peer is not None else {"audio": 0, "video": 0}


async def _media_flows(*media: ConsultationMedia, timeout: float = 60) -> bool:
    """Every participant receives new video and audio frames (from whatever leg it has now)."""
    base = [_media_frames(m) for m in media]

    def grown() -> bool:
        return all(
            _media_frames(m)["video"] >= b["video"] + 30
            and _media_frames(m)["audio"] >= b["audio"] + 50
            for m, b in zip(media, base, strict=True)
        )

    return await settle(grown, timeout=timeout)


async def test_a_consultation_survives_the_death_of_its_media_node(
    topology: Topology, tls: ssl.SSLContext
):
    """Host and patient reach the workers through nginx; the node holding the consultation's
    call is killed with SIGKILL. Sockets on it reconnect through nginx, the surviving node finds
    it dead and tells the participants, their clients offer fresh legs, a surviving worker
    becomes the home and media flows again; text went on meanwhile."""
    import redis.asyncio as aioredis

    doc_name, col_name = await _people(topology, "doc", "col")
    host = await _client(topology.url, doc_name, tls)
    colleague = await _client(topology.url, col_name, tls)
    patient = RelaisClient(topology.url, ssl_context=tls)
    bus = aioredis.from_url(topology.redis.url)
    host_media = patient_media = None
    victim: RelaisNode | None = None
    try:
        room = await _room(host, colleague)
        cid = (await host.request("POST", C, json={"room_id": room}))["consultation_id"]
        link = await host.request("POST", f"{C}/{cid}/links", json={"display_name": "Mme P"})
        guest = await patient.request("POST", f"{C}/redeem", json={"token": link["token"]})
        patient.use_session(guest["token"], guest["user_id"], guest["device_id"])
        for c in (host, colleague, patient):
            await c.connect()
        await host.call("consult.join", {"consultation_id": cid})
        await patient.call("consult.join", {"consultation_id": cid})
        await host.call(
            "consult.admit", {"consultation_id": cid, "participant_id": guest["participant_id"]}
        )
        host_media = ConsultationMedia(host, cid)
        patient_media = ConsultationMedia(patient, cid)
        await host_media.start()
        await patient_media.start()
        assert await _media_flows(host_media, patient_media, timeout=40)

        home = (await bus.get(f"relais:media:home:{cid}")).decode()
        victim = next(n for n in topology.nodes if home.startswith(f"node-{n.tag}-"))
        victim.kill()
        killed_at = asyncio.get_running_loop().time()

        # Text goes on while media moves.
        sent = await host.send(room, envelope("still here"), retries=100, timeout=3)
        await wait_for(lambda: sent["id"] in colleague.inbox.seen, timeout=30)

        assert await _media_flows(host_media, patient_media, timeout=60), [
            _media_frames(m) for m in (host_media, patient_media)
        ]
        # Reported in docs/operations.md §1.3 (`pytest -s` shows it).
        back = asyncio.get_running_loop().time() - killed_at
        print(f"media flowing again {back:.1f} s after the kill")
        moved = (await bus.get(f"relais:media:home:{cid}")).decode()
        assert not moved.startswith(f"node-{victim.tag}-"), moved
    finally:
        for m in (host_media, patient_media):
            if m is not None:
                await m.close()
        await _close(host, colleague, patient)
        await bus.aclose()
        if victim is not None and not victim.running:
            await asyncio.to_thread(victim.start)

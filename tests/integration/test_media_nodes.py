"""A consultation whose participants' sockets reach different nodes: one node holds the call
(its media home), the other forwards their signalling to it over Redis, and media flows between
the two participants through the home (server/consultations/media_homes.py)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp
import pytest

from client import RelaisClient
from client.consult import ConsultationMedia
from tests.conftest import (
    PASSWORD,
    create_pg_database,
    drop_pg_database,
    free_port,
    redis_url_for_test,
)
from tests.integration.test_consultation_media import C
from tests.integration.test_nodes import _users
from tests.leakcheck import settle
from tests.procs import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(150)]


def _flowing(*media: ConsultationMedia, since: list[dict[str, int]] | None = None) -> bool:
    base = since or [{"video": 0, "audio": 0} for _ in media]
    return all(
        m.peer is not None
        and m.peer.counters.frames["video"] >= b["video"] + 30
        and m.peer.counters.frames["audio"] >= b["audio"] + 50
        for m, b in zip(media, base, strict=True)
    )


async def _metric(url: str, name: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as resp:
        text = await resp.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


async def test_signalling_from_another_node_reaches_the_consultations_home(tmp_path: Path):
    url = await create_pg_database()
    redis_url = await redis_url_for_test()
    prefix = f"t{secrets.token_hex(4)}"
    await _users(url, "doc")
    nodes = [
        ServerProcess(
            free_port(), tmp_path / n, url, redis_url=redis_url, redis_prefix=prefix, node_id=n
        )
        for n in ("a", "b")
    ]
    a, b = nodes
    await a.start()
    await b.start()
    host = RelaisClient(a.url)
    patient = RelaisClient(b.url)
    host_media = patient_media = None
    try:
        await host.login("doc", PASSWORD)
        room = await host.create_room()
        cid = (await host.request("POST", C, json={"room_id": room}))["consultation_id"]
        link = await host.request("POST", f"{C}/{cid}/links", json={"display_name": "Mme P"})
        guest = await patient.request("POST", f"{C}/redeem", json={"token": link["token"]})
        patient.use_session(guest["token"], guest["user_id"], guest["device_id"])
        await host.connect()
        await patient.connect()
        assert (await host.call("consult.join", {"consultation_id": cid}))["state"] == "admitted"
        assert (await patient.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
        await host.call(
            "consult.admit", {"consultation_id": cid, "participant_id": guest["participant_id"]}
        )
        host_media = ConsultationMedia(host, cid)
        patient_media = ConsultationMedia(patient, cid)
        await host_media.start()  # node a claims the consultation's media
        await patient_media.start()  # node b forwards the offer to node a
        assert await settle(lambda: _flowing(host_media, patient_media), timeout=40), [
            m.peer.counters.frames for m in (host_media, patient_media) if m.peer
        ]
        assert await _metric(b.url, 'relais_media_forwarded_total{op="offer"}') >= 1
        assert await _metric(a.url, 'relais_media_forwarded_total{op="offer"}') == 0
        assert await _metric(a.url, 'relais_media_legs{mode="video-high"}') == 2
        assert await _metric(b.url, "relais_media_legs{") == 0

        # A mode chosen on node b is applied by the call on node a, and everyone hears of it.
        await patient.call(
            "consult.set_mode",
            {
                "consultation_id": cid,
                "participant_id": guest["participant_id"],
                "mode": "audio-only",
            },
        )
        assert await settle(
            lambda: any(
                m["participant_id"] == guest["participant_id"] and m["mode"] == "audio-only"
                for m in host_media.modes
            ),
            timeout=15,
        ), host_media.modes
        # Hanging up on node b closes the patient's leg on node a.
        await patient.call("consult.hangup", {"consultation_id": cid})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while await _metric(a.url, "relais_media_legs{") != 1:
            assert loop.time() < deadline, "the forwarded hang-up did not close the leg"
            await asyncio.sleep(0.2)
    finally:
        for m in (host_media, patient_media):
            if m is not None:
                await m.close()
        for c in (host, patient):
            await c.close()
        assert await a.terminate() == 0
        assert await b.terminate() == 0
        await drop_pg_database(url)

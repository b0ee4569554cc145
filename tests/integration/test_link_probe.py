"""The waiting room's link check (`consult.link_probe*`, media/probe.py) over a real server: a
waiting patient's data channel is echoed, datagram for datagram; what is not allowed (media
sections, a stranger, candidates before an offer, oversized or text datagrams, more than the echo
rate) is refused or dropped; a second probe replaces the first and leaving closes it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from client.sdk import RelaisClient, RelaisError
from media.errors import MediaError
from media.leg import MediaConfig, live_peer_connections
from media.probe import ECHO_BURST_BYTES, MAX_DATAGRAM, LinkProbe
from tests.integration.security_world import World
from tests.integration.test_consultation_media import (  # noqa: F401 - fixture
    media_world,
    open_consultation,
)
from tests.leakcheck import settle

pytestmark = pytest.mark.timeout(120)


def probes(w: World) -> Any:
    return w.svc.parts.link_probes


async def open_probe(
    client: RelaisClient, cid: str
) -> tuple[RTCPeerConnection, RTCDataChannel, asyncio.Queue[bytes]]:
    config = await client.call("consult.link_probe_config", {"consultation_id": cid})
    assert config["max_datagram"] == MAX_DATAGRAM and config["lifetime_s"] > 0
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("probe", ordered=False, maxRetransmits=0)
    echoes: asyncio.Queue[bytes] = asyncio.Queue()
    channel.on("message", lambda m: echoes.put_nowait(m))
    opened = asyncio.Event()
    channel.on("open", opened.set)
    await pc.setLocalDescription(await pc.createOffer())
    ack = await client.call(
        "consult.link_probe", {"consultation_id": cid, "sdp": pc.localDescription.sdp}
    )
    await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))
    await asyncio.wait_for(opened.wait(), 20)
    return pc, channel, echoes


async def test_waiting_patient_gets_every_datagram_back(media_world: World) -> None:  # noqa: F811
    w = media_world
    c = await open_consultation(w)
    pc, channel, echoes = await open_probe(c.patient, c.cid)
    try:
        sent = [i.to_bytes(4, "big") + bytes(200) for i in range(40)]
        for datagram in sent:
            channel.send(datagram)
            await asyncio.sleep(0.005)
        got = [await asyncio.wait_for(echoes.get(), 10) for _ in sent]
        assert sorted(got) == sorted(sent)
        # Text and oversized datagrams are not echoed; the probe carries on.
        channel.send("text is not a probe datagram")
        channel.send(bytes(MAX_DATAGRAM + 1))
        channel.send(b"after")
        assert await asyncio.wait_for(echoes.get(), 10) == b"after"
        probe = next(iter(probes(w).open.values()))
        assert probe.dropped == 2

        # The echo is a mirror, never an amplifier: a burst far beyond the bucket is cut.
        burst = [bytes(MAX_DATAGRAM) for _ in range(3 * ECHO_BURST_BYTES // MAX_DATAGRAM)]
        for datagram in burst:
            channel.send(datagram)
        await asyncio.sleep(1.0)
        back = 0
        while not echoes.empty():
            back += len(echoes.get_nowait())
        assert 0 < back < 2 * ECHO_BURST_BYTES, back
    finally:
        await pc.close()
    # Leaving the waiting room closes the probe.
    await c.patient.call("consult.leave", {"consultation_id": c.cid})
    assert await settle(lambda: not probes(w).open)


async def test_refusals_and_replacement(media_world: World) -> None:  # noqa: F811
    w = media_world
    c = await open_consultation(w)
    # Candidates before any offer, and an offer with media in it.
    with pytest.raises(RelaisError) as err:
        await c.patient.call(
            "consult.link_probe_ice",
            {
                "consultation_id": c.cid,
                "candidate": {"candidate": "candidate:1 1 udp 1 192.0.2.1 9 typ host"},
            },
        )
    assert err.value.code == "no_media_leg"
    pc = RTCPeerConnection()
    pc.addTransceiver("audio")
    pc.createDataChannel("probe")
    await pc.setLocalDescription(await pc.createOffer())
    with pytest.raises(RelaisError) as err:
        await c.patient.call(
            "consult.link_probe", {"consultation_id": c.cid, "sdp": pc.localDescription.sdp}
        )
    assert err.value.code == "bad_sdp"
    await pc.close()
    assert not probes(w).open

    # Someone of the care team who is not in this consultation: as if it did not exist.
    stranger = RelaisClient(w.running.url)
    member = w.actors["member"]
    stranger.use_session(member.token, member.user_id, member.device_id)
    await stranger.connect()
    try:
        with pytest.raises(RelaisError) as err:
            await stranger.call("consult.link_probe_config", {"consultation_id": c.cid})
        assert err.value.code == "not_found"
    finally:
        await stranger.close()

    # A second probe of the same participant replaces the first.
    first_pc, _, _ = await open_probe(c.patient, c.cid)
    first = next(iter(probes(w).open.values()))
    second_pc, channel, echoes = await open_probe(c.patient, c.cid)
    try:
        assert first.closed and len(probes(w).open) == 1
        channel.send(b"still echoed")
        assert await asyncio.wait_for(echoes.get(), 10) == b"still echoed"
    finally:
        await first_pc.close()
        await second_pc.close()
    # The end of the consultation closes it.
    await c.host.call("consult.end", {"consultation_id": c.cid})
    assert await settle(lambda: not probes(w).open)


async def test_a_probe_closes_itself_at_the_end_of_its_lifetime() -> None:
    """Whatever the page does, a probe is gone after its lifetime (peer, sockets, tasks)."""
    closed: list[LinkProbe] = []
    probe = LinkProbe(MediaConfig(), lifetime_s=0.5, on_closed=closed.append)
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("probe", ordered=False, maxRetransmits=0)
    opened = asyncio.Event()
    channel.on("open", opened.set)
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await probe.answer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(opened.wait(), 10)
        assert await settle(lambda: probe.closed, timeout=5)
        assert closed == [probe] and probe.pc.connectionState == "closed"
        with pytest.raises(MediaError):
            await probe.answer(pc.localDescription.sdp)
    finally:
        await pc.close()
        await probe.close()
    assert live_peer_connections() == 0

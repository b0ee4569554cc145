"""A media leg lost while its participant's socket was down (a starved link drops both in the same
second): the `consult.leg` that says so went nowhere, and a client still holding its side of the
dead leg would wait for its own ICE consent to fail, or for ever. The server repeats the loss on
rejoin; the SDK also offers again when it finds its own side dead after a reconnect. Seen in the
collapse shaped-link test: after the link recovered, the patient's media never came back."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import socketio
from aiortc import RTCPeerConnection

from client.consult import ConsultationMedia
from tests.integration.security_world import World
from tests.integration.test_consultation_media import admit, bridge, media_world, open_consultation
from tests.leakcheck import settle

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]
__all__ = ["media_world"]


async def raw_socket(url: str, token: str) -> tuple[socketio.AsyncClient, list[tuple[str, Any]]]:
    """A bare socket.io client (no SDK: no reconnection, no hooks), recording every event."""
    sio = socketio.AsyncClient(reconnection=False)
    events: list[tuple[str, Any]] = []

    async def record(event: str, data: Any = None) -> None:
        events.append((event, data))

    sio.on("*", record)
    await sio.connect(url, auth={"token": token}, transports=["websocket"])
    return sio, events


def legs_told(events: list[tuple[str, Any]]) -> list[str]:
    return [d.get("state") for e, d in events if e == "consult.leg" and isinstance(d, dict)]


async def test_a_leg_lost_while_away_is_told_again_on_rejoin(media_world: World) -> None:
    w = media_world
    b = bridge(w)
    b.config = dataclasses.replace(b.config, ice_timeout_s=2.0)
    c = await open_consultation(w)
    await admit(c)
    token = c.patient.token
    assert token is not None
    await c.patient.close()
    sio, _ = await raw_socket(w.running.url, token)
    pc = RTCPeerConnection()
    try:
        assert (await sio.call("consult.join", {"consultation_id": c.cid}))["state"] == "admitted"
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await sio.call(
            "consult.offer",
            {"consultation_id": c.cid, "sdp": pc.localDescription.sdp},
            timeout=30,
        )
        assert "sdp" in answer, answer
        # Our side goes away before ICE, and so does the socket: the server's leg never connects
        # and times out while nobody is there to hear it.
        await pc.close()
        await sio.disconnect()
        assert await settle(lambda: c.cid not in b.calls, timeout=15), b.calls
        # Back on a new socket: the rejoin hears that the leg is gone.
        sio, events = await raw_socket(w.running.url, token)
        assert (await sio.call("consult.join", {"consultation_id": c.cid}))["state"] == "admitted"
        assert await settle(lambda: legs_told(events) == ["ice_timeout"], timeout=5), events
        # Told once per loss: hanging up forgets it, a later rejoin hears nothing.
        await sio.call("consult.hangup", {"consultation_id": c.cid})
        await sio.disconnect()
        sio, events = await raw_socket(w.running.url, token)
        assert (await sio.call("consult.join", {"consultation_id": c.cid}))["state"] == "admitted"
        # (The replay would go out before the join's ack; a second covers the bus's delivery.)
        await asyncio.sleep(1.0)
        assert legs_told(events) == [], events
    finally:
        await pc.close()
        await sio.disconnect()
        await c.host.close()


async def test_the_sdk_offers_again_when_its_own_side_died_while_away(media_world: World) -> None:
    w = media_world
    c = await open_consultation(w)
    await admit(c)
    host = ConsultationMedia(c.host, c.cid, (160, 120, 10))
    patient = ConsultationMedia(c.patient, c.cid, (160, 120, 10), tone_hz=660)
    pid = c.patient_participant
    try:
        await host.start()
        await patient.start()
        call = bridge(w).calls[c.cid]
        assert await settle(lambda: pid in call.legs and call.legs[pid].connected, timeout=30)
        first = call.legs[pid]
        # Every `consult.leg` to the patient is lost from here on (as on a socket that drops with
        # the leg), so only the SDK's own look at its peer connection can bring media back.
        inner = c.patient.on_event

        def lossy(event: str, data: Any) -> Any:
            return None if event == "consult.leg" or inner is None else inner(event, data)

        c.patient.on_event = lossy
        assert patient.peer is not None
        await patient.peer.pc.close()
        # The transport drops under the client (not a server's disconnect, after which a
        # socket.io client does not reconnect): the SDK reconnects by itself.
        assert c.patient.sio is not None and c.patient.sio.eio.ws is not None
        await c.patient.sio.eio.ws.close()
        assert await settle(
            lambda: pid in call.legs and call.legs[pid] is not first and call.legs[pid].connected,
            timeout=40,
        ), (list(call.legs), patient.leg_states)
        frames = patient.peer.counters.frames["audio"] if patient.peer else 0
        assert await settle(
            lambda: (
                patient.peer is not None and patient.peer.counters.frames["audio"] > frames + 20
            ),
            timeout=20,
        )
    finally:
        await patient.close()
        await host.close()
        await c.host.close()
        await c.patient.close()

"""Real WebRTC through the media layer, in process: two aiortc participants (client/media_peer)
joined by a `media.Call`, signalling by direct calls. Media must flow both ways as relayed
encoded frames, and nothing may leak."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from client.media_peer import MediaPeer
from media import aiortc_adapt
from media.call import Call
from media.events import MediaEvent, ModeChange, SendPlan
from media.leg import MediaConfig, MediaError, live_peer_connections
from tests.leakcheck import other_tasks, settle, udp_socket_count

pytestmark = pytest.mark.timeout(90)


class Harness:
    def __init__(self, config: MediaConfig | None = None) -> None:
        self.events: list[MediaEvent] = []
        self.peers: dict[str, MediaPeer] = {}
        self.call = Call("call-1", self._on_event, config or MediaConfig())

    def _on_event(self, event: MediaEvent) -> None:
        self.events.append(event)
        if isinstance(event, SendPlan) and event.leg_id in self.peers:
            self.peers[event.leg_id].apply_plan(event.send)

    async def join(self, leg_id: str, priority: int = 0) -> MediaPeer:
        peer = MediaPeer()
        self.peers[leg_id] = peer
        answer = await self.call.offer(leg_id, await peer.offer(), priority)
        await peer.accept_answer(answer)
        return peer

    async def close(self) -> None:
        for peer in self.peers.values():
            await peer.close()
        await self.call.close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    udp_before = udp_socket_count()
    tasks_before = other_tasks()
    h = Harness()
    try:
        yield h
    finally:
        await h.close()
        assert live_peer_connections() == 0
        assert await settle(lambda: udp_socket_count() <= udp_before), "UDP sockets leaked"
        assert await settle(lambda: not (other_tasks() - tasks_before)), (
            f"tasks leaked: {other_tasks() - tasks_before}"
        )


async def test_media_flows_both_ways_as_relayed_frames(harness: Harness) -> None:
    patient = await harness.join("patient", priority=2)
    clinician = await harness.join("clinician", priority=1)

    def flowing() -> bool:
        return all(
            p.counters.frames["video"] >= 30 and p.counters.frames["audio"] >= 50
            for p in (patient, clinician)
        )

    assert await settle(flowing, timeout=30), {
        k: p.counters.frames for k, p in harness.peers.items()
    }
    stats = {name: await p.stats() for name, p in harness.peers.items()}
    for name, s in stats.items():
        assert s["audio"]["packets_received"] > 50, (name, s)
        assert s["video"]["packets_received"] > 30, (name, s)
    # The server relayed encoded frames: each leg's outgoing tracks forwarded what the other
    # sent, and no server-side encoder was ever created.
    for leg in harness.call.legs.values():
        assert leg.out["video"].frames_forwarded > 0
        assert leg.out["audio"].frames_forwarded > 0
        for sender in leg.pc.getSenders():
            encoder = aiortc_adapt.encoder_of(sender)
            assert encoder is not None
            assert getattr(encoder, "rebuilds", None) == 0, "the server encoded a frame"
    assert harness.call.legs["patient"].out["video"].source == "clinician"
    assert harness.call.legs["clinician"].out["video"].source == "patient"


async def test_malformed_offer_is_refused_and_leaves_no_leg(harness: Harness) -> None:
    with pytest.raises(MediaError) as err:
        await harness.call.offer("x", "this is not sdp")
    assert err.value.code == "bad_sdp"
    with pytest.raises(MediaError) as err:
        await harness.call.offer("x", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio x\r\n")
    assert err.value.code == "bad_sdp"
    assert "x" not in harness.call.legs
    with pytest.raises(MediaError) as err:
        await harness.call.candidate("x", {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"})
    assert err.value.code == "no_media_leg"


async def test_malformed_candidate_is_refused(harness: Harness) -> None:
    await harness.join("patient")
    with pytest.raises(MediaError) as err:
        await harness.call.candidate("patient", {"candidate": "candidate:garbage", "sdpMid": "0"})
    assert err.value.code == "bad_candidate"


async def test_peer_that_never_completes_ice_is_closed(harness: Harness) -> None:
    config = MediaConfig(ice_timeout_s=1.0)
    harness.call.config = config
    ghost = MediaPeer()
    try:
        offer = await ghost.offer()
        # The ghost never receives the answer: ICE cannot complete.
        await harness.call.offer("ghost", offer)
        assert "ghost" in harness.call.legs
        assert await settle(lambda: "ghost" not in harness.call.legs, timeout=10)
        states = [e for e in harness.events if getattr(e, "state", None) == "ice_timeout"]
        assert states and states[0].leg_id == "ghost"
    finally:
        await ghost.close()


async def test_fresh_leg_on_ice_restart_keeps_the_call(harness: Harness) -> None:
    patient = await harness.join("patient", priority=2)
    clinician = await harness.join("clinician", priority=1)
    assert await settle(lambda: clinician.counters.frames["video"] >= 10, timeout=30)
    old_leg = harness.call.legs["patient"]
    # The patient's network changed: a new peer connection (new ICE credentials).
    await patient.close()
    replacement = await harness.join("patient", priority=2)
    assert harness.call.legs["patient"] is not old_leg
    assert old_leg.closed
    before = clinician.counters.frames["video"]
    assert await settle(
        lambda: (
            replacement.counters.frames["video"] >= 10
            and clinician.counters.frames["video"] >= before + 10
        ),
        timeout=30,
    )
    assert any(getattr(e, "state", None) == "replaced" for e in harness.events)


async def test_each_second_reports_quality_and_plans(harness: Harness) -> None:
    await harness.join("patient", priority=2)
    await harness.join("clinician", priority=1)
    assert await settle(lambda: sum(type(e).__name__ == "Quality" for e in harness.events) >= 6, 20)
    plans = [e for e in harness.events if isinstance(e, SendPlan)]
    assert {p.leg_id for p in plans} == {"patient", "clinician"}
    assert all(isinstance(e, (ModeChange,)) is False or e.reason for e in harness.events)
    quality: Any = next(e for e in harness.events if type(e).__name__ == "Quality")
    assert {"loss_up", "loss_down", "rtt_ms", "in_kbps"} <= set(quality.measured)

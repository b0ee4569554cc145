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
from media.errors import MediaError
from media.events import MediaEvent, ModeChange, SendPlan
from media.leg import MediaConfig, live_peer_connections
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


async def test_h264_or_pcmu_first_offers_are_answered_with_vp8_and_opus(harness: Harness) -> None:
    """aiortc follows the offer's codec order; frames are relayed as they are, so every leg
    must be VP8 + Opus whatever a browser prefers (Safari offers H264 first)."""
    peer = MediaPeer()
    harness.peers["safari"] = peer
    offer = await peer.offer()
    lines = offer.split("\r\n")

    def put_first(kind: str, name: str) -> None:
        m = next(i for i, line in enumerate(lines) if line.startswith(f"m={kind} "))
        parts = lines[m].split(" ")
        pts = parts[3:]
        rtpmap = {
            line.split(":", 1)[1].split(" ", 1)[0]: line.split(" ", 1)[1]
            for line in lines
            if line.startswith("a=rtpmap:")
        }
        first = [pt for pt in pts if rtpmap.get(pt, "").startswith(name)]
        lines[m] = " ".join(parts[:3] + first + [pt for pt in pts if pt not in first])

    put_first("video", "H264")
    put_first("audio", "PCMU")
    answer = await harness.call.offer("safari", "\r\n".join(lines))
    video = answer.split("m=video ", 1)[1].split("\r\n", 1)[0].split(" ")[2:]
    audio = answer.split("m=audio ", 1)[1].split("\r\n", 1)[0].split(" ")[2:]
    rtpmap = dict(
        line[len("a=rtpmap:") :].split(" ", 1)
        for line in answer.split("\r\n")
        if line.startswith("a=rtpmap:")
    )
    assert rtpmap[video[0]].startswith("VP8/") and all(
        rtpmap[pt].startswith(("VP8/", "rtx/")) for pt in video
    ), (video, rtpmap)
    assert [rtpmap[pt] for pt in audio] == ["opus/48000/2"], audio


async def test_offers_with_extra_sections_or_no_usable_codec_are_refused(harness: Harness) -> None:
    peer = MediaPeer()
    harness.peers["x"] = peer
    offer = await peer.offer()
    video = offer[offer.index("m=video") :]
    with pytest.raises(MediaError) as err:
        await harness.call.offer("x", offer + video)  # two video sections
    assert err.value.code == "bad_sdp"
    no_vp8 = offer.replace("VP8/90000", "XYZ/90000")
    with pytest.raises(MediaError) as err:
        await harness.call.offer("x", no_vp8)
    assert err.value.code == "bad_sdp"
    assert "x" not in harness.call.legs


async def test_candidates_to_the_servers_own_link_are_refused(harness: Harness) -> None:
    await harness.join("patient")
    for address in ("127.0.0.1", "169.254.1.1", "224.0.0.1", "0.0.0.0", "::1"):
        with pytest.raises(MediaError) as err:
            await harness.call.candidate(
                "patient", {"candidate": f"candidate:1 1 udp 2122260223 {address} 5000 typ host"}
            )
        assert err.value.code == "bad_candidate", address
    await harness.call.candidate(
        "patient",
        {"candidate": "candidate:1 1 udp 2122260223 10.1.2.3 5000 typ host", "sdpMid": "0"},
    )


async def test_a_bye_does_not_stop_the_relay(harness: Harness) -> None:
    """Firefox sends RTCP BYE when it pauses a sender; aiortc would stop the receiver for good."""
    from aiortc.rtp import RtcpByePacket

    a = await harness.join("a", priority=2)
    b = await harness.join("b", priority=1)
    assert await settle(lambda: b.counters.frames["video"] >= 10, timeout=30)
    leg = harness.call.legs["a"]
    receiver = leg._receivers["video"]
    await receiver._handle_rtcp_packet(RtcpByePacket(sources=[leg._remote_ssrc["video"]]))
    before = b.counters.frames["video"]
    assert await settle(lambda: b.counters.frames["video"] >= before + 10, timeout=20)
    assert a.counters.frames["video"] > 0


async def test_a_renegotiation_that_breaks_a_live_leg_reports_it_lost(harness: Harness) -> None:
    """An offer on a live leg (same ICE credentials: a renegotiation, as the browser's ptime
    change makes) that aiortc takes but the leg cannot answer (no VP8 left for its video) leaves
    it half-negotiated, and aiortc has no rollback: the leg is dropped and reported lost
    (`failed`, which the browser answers with a fresh leg), not `closed` (a leg ended on
    purpose, which the browser leaves to its own ICE consent: ~30 s without media)."""
    patient = await harness.join("patient", priority=2)
    await harness.join("clinician", priority=1)
    assert await settle(lambda: patient.counters.frames["video"] >= 5, timeout=30)
    offer = (await patient.pc.createOffer()).sdp
    lines = offer.split("\r\n")
    vp8 = {line.split(":", 1)[1].split(" ", 1)[0] for line in lines if "VP8/90000" in line}
    assert vp8
    broken = [
        line
        for line in lines
        if not any(
            line.startswith(f"a={kind}:{pt}")
            for kind in ("rtpmap", "fmtp", "rtcp-fb")
            for pt in vp8
        )
    ]
    broken = [
        " ".join(part for part in line.split(" ") if part not in vp8)
        if line.startswith("m=video")
        else line
        for line in broken
    ]
    with pytest.raises(MediaError) as err:
        await harness.call.offer("patient", "\r\n".join(broken), 2)
    assert err.value.code == "bad_sdp"
    assert "patient" not in harness.call.legs
    states = [
        getattr(e, "state", None) for e in harness.events if getattr(e, "leg_id", "") == "patient"
    ]
    assert "failed" in states and "closed" not in states, states

"""The Python SDK's received video recovers from a packet lost for good (media/frame_stall.py).

Two SDK peers joined directly over loopback; the receiving side drops one video packet and every
retransmission after it, so the hole is never filled. Stock aiortc would hold every later frame
until 128 packets piled up behind the hole (8 s at this low rate); the guard restarts the
assembly and asks for a keyframe, so frames come back within a few seconds."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from aiortc.codecs import is_rtx
from aiortc.rtp import RtpPacket

from client.media_peer import MediaPeer
from media import aiortc_adapt
from media.leg import live_peer_connections
from tests.leakcheck import settle

pytestmark = pytest.mark.timeout(60)
# 160x120 at 15 fps under a 40 kbit/s cap: about one packet a frame, 15 packets a second.
SMALL = (160, 120, 15)
PLAN = {"video": True, "video_kbps": 40, "audio": True, "audio_kbps": 16}


@pytest.fixture
async def peers() -> AsyncIterator[tuple[MediaPeer, MediaPeer]]:
    a, b = MediaPeer(video=SMALL), MediaPeer(video=SMALL)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()
    assert live_peer_connections() == 0


async def test_received_video_recovers_from_a_packet_lost_for_good(
    peers: tuple[MediaPeer, MediaPeer],
) -> None:
    a, b = peers
    a.apply_plan(PLAN)
    b.apply_plan(PLAN)
    await b.pc.setRemoteDescription(RTCSessionDescription(await a.offer(), "offer"))
    await b.pc.setLocalDescription(await b.pc.createAnswer())
    await a.accept_answer(b.pc.localDescription.sdp)
    assert await settle(lambda: a.counters.frames["video"] >= 45, timeout=20), a.counters.frames
    assert a.video_frames is not None and a.video_frames.restarts == 0

    receiver = next(t.receiver for t in a.pc.getTransceivers() if t.kind == "video")
    handle = getattr(receiver, aiortc_adapt.INTERNALS["receiver_handle_rtp"])
    codecs = getattr(receiver, aiortc_adapt.INTERNALS["receiver_codecs"])
    dropped: list[int] = []

    async def lossy(packet: RtpPacket, arrival_time_ms: int) -> Any:
        codec = codecs.get(packet.payload_type)
        if codec is not None and is_rtx(codec):
            if dropped:
                return None  # every resend after the loss is lost too
        elif not dropped:
            dropped.append(packet.sequence_number)
            return None
        return await handle(packet, arrival_time_ms)

    setattr(receiver, aiortc_adapt.INTERNALS["receiver_handle_rtp"], lossy)
    assert await settle(lambda: bool(dropped), timeout=5)
    at_loss, lost_at = a.counters.frames["video"], time.monotonic()
    # Frames come out again well before 128 packets (8.5 s at 15 packets a second) pile up.
    assert await settle(lambda: a.counters.frames["video"] >= at_loss + 15, timeout=6), (
        a.counters.frames,
        a.video_frames.restarts,
    )
    assert a.video_frames.restarts >= 1, time.monotonic() - lost_at

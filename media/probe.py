"""A link probe: a short-lived peer connection that echoes datagrams back to a participant.

Before a patient reaches the waiting room, the join page measures the path the call will take —
the same UDP flow through the same ICE/TURN servers to this media server, not an HTTP download
that TCP and proxies would shape differently. The page opens an unordered data channel with no
retransmission, sends numbered datagrams at a paced rate, and reads loss, RTT and goodput from
what comes back (`web_client/src/net/link_check.js`). Here the server only echoes, so the probe
knows nothing of the measurement and cannot be steered by it.

Bounded on every axis, since anyone in a waiting room may open one: one data channel, datagrams
of at most `MAX_DATAGRAM` bytes (larger ones are dropped), an echo rate of at most
`ECHO_RATE_BPS` (a token bucket: the probe is a mirror, never an amplifier), at most
`MAX_QUEUED_BYTES` waiting in the SCTP send queue (beyond it the echo is dropped, which is what a
congested link does anyway), and a lifetime of `lifetime_s` after which the peer is closed
whatever the page does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from media import aiortc_adapt
from media.errors import MediaError
from media.ice import MAX_CANDIDATES, add_remote_candidate
from media.leg import MediaConfig, ice_servers_of, track_peer

log = logging.getLogger("relais.media.probe")

MAX_DATAGRAM = 1200  # under a 1280-byte IPv6 MTU once DTLS/SCTP headers are added
ECHO_RATE_BPS = 2_000_000
ECHO_BURST_BYTES = 32_000
MAX_QUEUED_BYTES = 64_000
LIFETIME_S = 20.0


def _check_offer(sdp: str) -> None:
    """One data-channel section and nothing else: no media is ever negotiated on a probe."""
    sections = [line[2:] for line in sdp.splitlines() if line.startswith("m=")]
    if (
        len(sections) != 1
        or not sections[0].startswith("application ")
        or ("webrtc-datachannel" not in sections[0])
    ):
        raise MediaError("bad_sdp", "a link probe offers exactly one data channel and no media")


class LinkProbe:
    def __init__(
        self,
        config: MediaConfig,
        *,
        lifetime_s: float = LIFETIME_S,
        on_closed: Callable[[LinkProbe], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers_of(config)))
        track_peer(self.pc)
        self._lifetime_s = lifetime_s
        self._on_closed = on_closed
        self._clock = clock
        self._channel: RTCDataChannel | None = None
        self._tokens = float(ECHO_BURST_BYTES)
        self._refilled = clock()
        self._candidates = 0
        self._expiry: asyncio.Task[None] | None = None
        self.closed = False
        self.echoed = 0
        self.dropped = 0
        self.pc.on("datachannel", self._on_channel)

    async def answer(self, offer_sdp: str) -> str:
        """The page's offer in, our answer (with every candidate: aiortc gathers first) out;
        the lifetime starts here."""
        if self.closed or self.pc.remoteDescription is not None:
            raise MediaError("bad_state", "this link probe was already negotiated")
        _check_offer(offer_sdp)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise MediaError(
                "bad_sdp", f"the offer could not be parsed: {type(exc).__name__}"
            ) from None
        self._expiry = asyncio.create_task(self._expire())
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def add_ice_candidate(self, candidate: dict[str, Any] | None) -> None:
        if self.closed:
            raise MediaError("bad_state", "this link probe is closed")
        if candidate is None or not candidate.get("candidate"):
            return
        self._candidates += 1
        if self._candidates > MAX_CANDIDATES:
            raise MediaError("bad_candidate", f"more than {MAX_CANDIDATES} ICE candidates")
        await add_remote_candidate(self.pc, candidate)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._expiry is not None and self._expiry is not asyncio.current_task():
            self._expiry.cancel()
        await aiortc_adapt.close_peer(self.pc)
        if self._on_closed is not None:
            self._on_closed(self)

    async def _expire(self) -> None:
        await asyncio.sleep(self._lifetime_s)
        await self.close()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if self._channel is not None:
            channel.close()  # one channel per probe
            return
        self._channel = channel
        channel.on("message", self._on_message)

    def _on_message(self, data: Any) -> None:
        channel = self._channel
        if channel is None or self.closed or channel.readyState != "open":
            return
        if not isinstance(data, bytes) or len(data) > MAX_DATAGRAM:
            self.dropped += 1
            return
        now = self._clock()
        self._tokens = min(
            float(ECHO_BURST_BYTES), self._tokens + (now - self._refilled) * ECHO_RATE_BPS / 8
        )
        self._refilled = now
        if self._tokens < len(data) or channel.bufferedAmount > MAX_QUEUED_BYTES:
            self.dropped += 1
            return
        self._tokens -= len(data)
        self.echoed += 1
        channel.send(data)

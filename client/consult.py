"""Joining a consultation's media from Python: signalling over the SDK's socket, a `MediaPeer`.

The participant offers; the server answers in the ack. The server's `consult.send` plan is
applied to the encoders at once (that is how a patient on 2G stops flooding its uplink), and
`consult.mode` / `consult.quality` / `consult.leg` are kept for the caller. `reconnect()` is what a
client does when its network changes: a new peer connection and a new offer, which the server
answers with a fresh leg while the consultation goes on. It is also done by itself when our leg
is lost, retried with growing spacing until a leg connects again: when the server reports it
(`consult.leg` failed or ice_timeout: aiortc gives up on a path after ~30 s of failed consent
checks, which a starved 2G link can cause), and when our own peer connection fails or is found
failed after the socket comes back (that report can be lost with a socket dropping at the same
moment; the server repeats it on rejoin, but not if it lost the leg's whole call meanwhile), as
the browser's leg does.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from aiortc import RTCIceServer

from client.media_peer import MediaPeer
from client.sdk import RelaisClient, RelaisError

log = logging.getLogger(__name__)

# Leg states (consult.leg) after which the server holds no leg for us any more.
LOST_LEG_STATES = ("failed", "ice_timeout")
RENEGOTIATE_FIRST_S = 1.0
RENEGOTIATE_MAX_S = 8.0


class ConsultationMedia:
    def __init__(
        self,
        client: RelaisClient,
        consultation_id: str,
        video: tuple[int, int, int] = (640, 480, 30),
        tone_hz: int = 440,
        tint: tuple[int, int] = (128, 128),
    ) -> None:
        self.client = client
        self.video = video
        # What the synthetic microphone and camera send (tests tell participants apart by them).
        self.tone_hz = tone_hz
        self.tint = tint
        self.consultation_id = consultation_id
        self.peer: MediaPeer | None = None
        self.participant_id: str | None = None
        self.modes: list[dict[str, Any]] = []
        self.quality: list[dict[str, Any]] = []
        self.leg_states: list[str] = []
        self.plans: list[dict[str, Any]] = []
        self._previous_on_event = client.on_event
        client.on_event = self._on_event
        self._rejoins: set[asyncio.Task[Any]] = set()
        self._renegotiation: asyncio.Task[None] | None = None
        self._hung_up = False
        client.reconnect_hooks.append(self._on_reconnect)

    async def _on_reconnect(self) -> None:
        """After the socket comes back, be present again (the server gives a disconnected
        participant's leg a grace period, ended by this rejoin), and offer afresh if our own side
        of the leg died meanwhile."""
        task = asyncio.ensure_future(
            self.client.call("consult.join", {"consultation_id": self.consultation_id})
        )
        self._rejoins.add(task)
        task.add_done_callback(self._rejoins.discard)
        if self.peer is not None and self.peer.pc.connectionState in ("failed", "closed"):
            self._lost()

    def _lost(self) -> None:
        if not self._hung_up and self._renegotiation is None:
            self._renegotiation = asyncio.ensure_future(self._renegotiate())

    async def _on_event(self, event: str, data: Any) -> None:
        if self._previous_on_event is not None:
            res = self._previous_on_event(event, data)
            if asyncio.iscoroutine(res):
                await res
        if not isinstance(data, dict) or data.get("consultation_id") != self.consultation_id:
            return
        if event == "consult.send" and self.peer is not None:
            self.plans.append(data["send"])
            self.peer.apply_plan(data["send"])
        elif event == "consult.mode":
            self.modes.append(data)
        elif event == "consult.quality":
            self.quality.append(data)
            del self.quality[:-120]
        elif event == "consult.leg":
            state = str(data.get("state"))
            self.leg_states.append(state)
            if state in LOST_LEG_STATES:
                self._lost()

    async def _renegotiate(self) -> None:
        """The server lost our leg (ICE consent failed on a starved link, or it never
        connected): offer a fresh one, and keep trying, spaced out, until one connects; the
        consultation and the admission were never at stake, only the media."""
        delay = RENEGOTIATE_FIRST_S
        try:
            while not self._hung_up:
                await asyncio.sleep(delay)
                try:
                    await self.reconnect()
                    return
                except (RelaisError, TimeoutError, socketio.exceptions.SocketIOError) as err:
                    log.info("fresh media leg not negotiated yet: %s", getattr(err, "code", err))
                delay = min(delay * 2, RENEGOTIATE_MAX_S)
        finally:
            self._renegotiation = None

    def mode_of(self, participant_id: str) -> str | None:
        """The last committed mode announced for a participant."""
        for entry in reversed(self.quality):
            if entry.get("participant_id") == participant_id:
                return str(entry.get("mode"))
        return None

    async def start(self) -> None:
        config = await self.client.call(
            "consult.media_config", {"consultation_id": self.consultation_id}
        )
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in config.get("ice_servers", [])
        ]
        peer = self.peer = MediaPeer(servers, self.video, self.tone_hz, self.tint)

        @peer.pc.on("connectionstatechange")
        def _state() -> None:
            if peer is self.peer and peer.pc.connectionState == "failed":
                self._lost()

        offer = await self.peer.offer()
        answer = await self.client.call(
            "consult.offer", {"consultation_id": self.consultation_id, "sdp": offer}, timeout=30
        )
        self.participant_id = answer["participant_id"]
        await self.peer.accept_answer(answer["sdp"])

    async def reconnect(self) -> None:
        """The network changed: drop the old peer, negotiate a fresh leg."""
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
        await self.start()

    async def hangup(self) -> None:
        self._hung_up = True
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
        if self.client.sio is not None and self.client.sio.connected:
            await self.client.call("consult.hangup", {"consultation_id": self.consultation_id})

    async def close(self) -> None:
        self._hung_up = True
        if self._renegotiation is not None:
            self._renegotiation.cancel()
            await asyncio.gather(self._renegotiation, return_exceptions=True)
        if self._on_reconnect in self.client.reconnect_hooks:
            self.client.reconnect_hooks.remove(self._on_reconnect)
        for task in list(self._rejoins):
            task.cancel()
        if self.peer is not None:
            await self.peer.close()
            self.peer = None
        self.client.on_event = self._previous_on_event

"""`consult.link_probe*`: the waiting room's network check, answered by `media/probe.py`.

A participant who is waiting (or admitted) may open one link probe at a time: a data-channel peer
with this node's media server that echoes datagrams for `LIFETIME_S` seconds, so the page can
measure loss, RTT and goodput over the path its call will take. A new probe of the same
participant replaces the old one; leaving, being sent away or the end of the consultation closes
it; the node runs at most `MAX_PROBES` at once (a probe costs a peer connection and a few dozen
KB/s of echo). Every call is audited like the rest of the signalling.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import Field

from media.errors import MediaError
from media.leg import MediaConfig
from media.probe import ECHO_RATE_BPS, LIFETIME_S, MAX_DATAGRAM, LinkProbe
from server.errors import ApiError
from server.messaging.schemas import Id, Strict
from server.parts import Parts
from server.realtime.registry import on

from .events import audited
from .signalling import MAX_SDP_CHARS, IceCandidate, MediaRef

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

MAX_PROBES = 32


class ProbeOffer(Strict):
    consultation_id: Id
    sdp: str = Field(min_length=10, max_length=MAX_SDP_CHARS)


class ProbeIce(Strict):
    consultation_id: Id
    candidate: IceCandidate | None


class LinkProbes:
    """This node's open probes, by (consultation, participant)."""

    def __init__(self, config: MediaConfig) -> None:
        self.config = config
        self.open: dict[tuple[str, str], LinkProbe] = {}

    async def start(self, consultation_id: str, participant_id: str, sdp: str) -> str:
        key = (consultation_id, participant_id)
        old = self.open.pop(key, None)
        if old is not None:
            await old.close()
        if len(self.open) >= MAX_PROBES:
            raise ApiError("unavailable", "too many link checks on this server, try again shortly")
        probe = LinkProbe(self.config, on_closed=lambda p: self._forget(key, p))
        self.open[key] = probe
        try:
            return await probe.answer(sdp)
        except BaseException:
            await probe.close()
            raise

    async def candidate(
        self, consultation_id: str, participant_id: str, candidate: dict[str, Any] | None
    ) -> None:
        probe = self.open.get((consultation_id, participant_id))
        if probe is None:
            raise MediaError("no_media_leg", "start a link probe before sending its candidates")
        await probe.add_ice_candidate(candidate)

    def _forget(self, key: tuple[str, str], probe: LinkProbe) -> None:
        if self.open.get(key) is probe:
            del self.open[key]

    # -- lifecycle listener ---------------------------------------------------------------
    async def participant_left(self, consultation_id: str, participant_id: str) -> None:
        probe = self.open.pop((consultation_id, participant_id), None)
        if probe is not None:
            await probe.close()

    async def consultation_ended(self, consultation_id: str) -> None:
        for key in [k for k in self.open if k[0] == consultation_id]:
            await self.participant_left(*key)

    async def close(self) -> None:
        for key in list(self.open):
            await self.participant_left(*key)


@on(
    "consult.link_probe_config",
    MediaRef,
    summary="What a link check needs before its offer: STUN/TURN servers and the probe's limits.",
)
@audited("consult.link_probe_config")
async def probe_config(svc: Services, conn: Connection, p: MediaRef) -> dict[str, Any]:
    await svc.parts.consultations.require_present(conn.principal, p.consultation_id)
    return {
        "ice_servers": svc.parts.media_bridge.client_ice_servers.for_user(
            conn.principal.user_id, time.time()
        ),
        "lifetime_s": LIFETIME_S,
        "max_datagram": MAX_DATAGRAM,
        "echo_rate_bps": ECHO_RATE_BPS,
    }


@on(
    "consult.link_probe",
    ProbeOffer,
    summary="Offer a data channel for a link check (waiting or admitted); the ack has the answer.",
    rate_cost=5.0,
)
@audited("consult.link_probe")
async def link_probe(svc: Services, conn: Connection, p: ProbeOffer) -> dict[str, Any]:
    consultations = svc.parts.consultations
    me = await consultations.require_present(conn.principal, p.consultation_id)
    try:
        answer = await svc.parts.link_probes.start(p.consultation_id, me.id, p.sdp)
    except MediaError as exc:
        raise ApiError(exc.code, exc.message) from None
    await consultations.audit_media(conn.principal, me, "consult.link_probe", {})
    return {"type": "answer", "sdp": answer}


@on("consult.link_probe_ice", ProbeIce, summary="Trickle one ICE candidate of your link probe.")
@audited("consult.link_probe_ice")
async def link_probe_ice(svc: Services, conn: Connection, p: ProbeIce) -> dict[str, Any]:
    me = await svc.parts.consultations.require_present(conn.principal, p.consultation_id)
    try:
        await svc.parts.link_probes.candidate(
            p.consultation_id,
            me.id,
            p.candidate.model_dump() if p.candidate is not None else None,
        )
    except MediaError as exc:
        raise ApiError(exc.code, exc.message) from None
    return {}


async def setup(svc: Services) -> None:
    found = LinkProbes(svc.parts.media_bridge.config)
    svc.parts.link_probes = found
    svc.parts.consultations.listeners.append(found)


async def teardown(svc: Services) -> None:
    found = Parts.link_probes.detach(svc.parts)
    if found is not None:
        await found.close()

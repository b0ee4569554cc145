"""`consult.*` WebRTC signalling: each admitted participant negotiates with the server's peer.

The participant always offers (first offer, renegotiation, and its answer to a network change);
the server answers in the ack, with all its ICE candidates in the SDP (aiortc gathers before it
answers). Participants trickle their own candidates with `consult.ice`. aiortc cannot restart
ICE, so an offer with new ICE credentials gets a fresh server leg; the consultation, the
admission and the other legs are untouched.

Only admitted participants of an open consultation may signal; every refusal is a typed error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from media.errors import MediaError
from media.leg import MediaConfig
from media.policy import Mode
from server.errors import ApiError, not_found
from server.messaging.schemas import Id, Strict
from server.parts import Parts
from server.realtime.registry import on
from server.settings import media_policy

from .events import audited
from .media_bridge import MediaBridge
from .media_homes import MediaHomes
from .turn_credentials import IceServers, ice_servers_from_settings

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

MAX_SDP_CHARS = 32_000
MAX_CANDIDATE_CHARS = 512


class MediaRef(Strict):
    consultation_id: Id


class Offer(Strict):
    consultation_id: Id
    sdp: str = Field(min_length=10, max_length=MAX_SDP_CHARS)


class IceCandidate(Strict):
    candidate: str = Field(max_length=MAX_CANDIDATE_CHARS)
    sdpMid: str | None = Field(default=None, max_length=32)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)


class SetMode(Strict):
    consultation_id: Id
    participant_id: Id
    mode: Literal[Mode.AUDIO_ONLY, Mode.TEXT_ONLY, "auto"]  # the wire values: manual caps, auto


class Ice(Strict):
    consultation_id: Id
    candidate: IceCandidate | None  # None: end of candidates


def _media_error(exc: MediaError) -> ApiError:
    return ApiError(exc.code, exc.message)


@on(
    "consult.media_config",
    MediaRef,
    summary="STUN/TURN servers to use for this consultation's peer connection (admitted only).",
)
@audited("consult.media_config")
async def media_config(svc: Services, conn: Connection, p: MediaRef) -> dict[str, Any]:
    await svc.parts.consultations.require_admitted(conn.principal, p.consultation_id)
    return {
        "ice_servers": svc.parts.media_bridge.client_ice_servers.for_user(
            conn.principal.user_id, time.time()
        )
    }


@on(
    "consult.offer",
    Offer,
    summary="Send an SDP offer for your media leg; the ack carries the server's SDP answer.",
    rate_cost=5.0,
)
@audited("consult.media_offer")
async def offer(svc: Services, conn: Connection, p: Offer) -> dict[str, Any]:
    consultations = svc.parts.consultations
    participant = await consultations.require_admitted(conn.principal, p.consultation_id)
    try:
        answer = await svc.parts.media_homes.offer(participant, p.sdp)
    except MediaError as exc:
        raise _media_error(exc) from None
    try:
        # Sent away or ended while we negotiated: the listener found no leg to close then.
        await consultations.require_admitted(conn.principal, p.consultation_id)
    except ApiError:
        await svc.parts.media_homes.hangup(participant)
        raise
    await consultations.audit_media(conn.principal, participant, "consult.media_offer", {})
    return {"type": "answer", "sdp": answer, "participant_id": participant.id}


@on("consult.ice", Ice, summary="Trickle one ICE candidate of your media leg (null: end).")
@audited("consult.ice")
async def ice(svc: Services, conn: Connection, p: Ice) -> dict[str, Any]:
    participant = await svc.parts.consultations.require_admitted(conn.principal, p.consultation_id)
    try:
        await svc.parts.media_homes.candidate(
            participant, p.candidate.model_dump() if p.candidate is not None else None
        )
    except MediaError as exc:
        raise _media_error(exc) from None
    return {}


@on("consult.hangup", MediaRef, summary="Close your media leg; you stay in the consultation.")
@audited("consult.hangup")
async def hangup(svc: Services, conn: Connection, p: MediaRef) -> dict[str, Any]:
    consultations = svc.parts.consultations
    participant = await consultations.require_admitted(conn.principal, p.consultation_id)
    await svc.parts.media_homes.hangup(participant)
    await consultations.audit_media(conn.principal, participant, "consult.hangup", {})
    return {}


@on(
    "consult.set_mode",
    SetMode,
    summary="Sound only or text only by hand, or automatic again: your own mode, or (host) a "
    "participant's.",
)
@audited("consult.set_mode")
async def set_mode(svc: Services, conn: Connection, p: SetMode) -> dict[str, Any]:
    consultations = svc.parts.consultations
    me = await consultations.require_admitted(conn.principal, p.consultation_id)
    if p.participant_id != me.id:
        if me.role != "host":
            raise ApiError("forbidden", "only the host chooses another participant's mode")
        present = await consultations.participants(p.consultation_id)
        if all(x.id != p.participant_id for x in present):
            raise not_found("participant")
    cap = None if p.mode == "auto" else Mode(p.mode)
    await svc.parts.media_homes.set_mode(p.consultation_id, p.participant_id, cap, me.id)
    await consultations.audit_media(
        conn.principal, me, "consult.set_mode", {"target": p.participant_id, "mode": p.mode}
    )
    return {"participant_id": p.participant_id, "mode": p.mode}


async def setup(svc: Services) -> None:
    settings = svc.settings
    client_ice = IceServers(
        ice_servers_from_settings(
            settings.ice_servers, settings.turn_username, settings.turn_credential
        ),
        settings.turn_secret,
        settings.turn_ttl_s,
    )
    # The server's own peer needs no STUN/TURN when it has a reachable address (the deployment
    # guide's case); the configured servers are for the participants behind NATs.
    config = MediaConfig(ice_timeout_s=settings.media_ice_timeout_s, policy=media_policy(settings))
    media = MediaBridge(svc, config, client_ice)
    svc.parts.media_bridge = media
    # Signalling and lifecycle news go through the homes: here, or the worker holding the call.
    homes = MediaHomes(svc, media)
    svc.parts.media_homes = homes
    svc.parts.consultations.listeners.append(homes)
    await homes.start()


async def teardown(svc: Services) -> None:
    homes = Parts.media_homes.detach(svc.parts)
    if homes is not None:
        await homes.close()
    media = Parts.media_bridge.detach(svc.parts)
    if media is not None:
        await media.close()

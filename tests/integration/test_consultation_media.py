"""Consultation media through a running Relais server: two Python aiortc participants (the host
clinician and a patient who came by link) negotiate over `consult.*` and media flows both ways
through the server's peers. Refusals are typed; reconnecting gets a fresh leg without a new
admission; leaving and ending close every peer, task and UDP socket."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from client.consult import ConsultationMedia
from client.e2ee import E2EEClient
from client.sdk import RelaisClient, RelaisError
from media import aiortc_adapt
from media.leg import live_peer_connections
from tests.conftest import test_settings as make_settings
from tests.integration.security_world import World, build_world
from tests.leakcheck import other_tasks, settle, udp_socket_count

pytestmark = pytest.mark.timeout(120)
C = "/api/v1/consultations"


@pytest.fixture
async def media_world(start_server: Any, tmp_path: Path, sqlite_url: str) -> AsyncIterator[World]:
    """Media does not depend on the database: SQLite only."""
    udp_before = udp_socket_count()
    tasks_before = other_tasks(media_only=True)
    running = await start_server(
        make_settings(tmp_path, sqlite_url, rate_user_per_s=1e6, rate_user_burst=10**6)
    )
    w = await build_world(running)
    try:
        yield w
    finally:
        await w.close()
        await running.server.close()  # app cleanup closes the media bridge and its calls
    assert live_peer_connections() == 0
    assert await settle(lambda: udp_socket_count() <= udp_before), "UDP sockets leaked"
    assert await settle(lambda: not (other_tasks(True) - tasks_before), timeout=15), (
        other_tasks(True) - tasks_before
    )


@dataclass
class Consult:
    cid: str
    host: RelaisClient
    patient: RelaisClient
    patient_participant: str
    patient_device: str = ""
    # With `open_consultation(w, host_e2ee=True)`: the host's E2EE client (it owns `host`).
    host_e2ee: E2EEClient | None = None

    async def close_host(self) -> None:
        await (self.host_e2ee.close() if self.host_e2ee is not None else self.host.close())


async def open_consultation(w: World, *, host_e2ee: bool = False) -> Consult:
    res = await w.rest("POST", C, token=w.token("owner"), json_body={"room_id": w.room})
    assert res.status == 201, res.body
    cid = res.body["consultation_id"]
    res = await w.rest(
        "POST", f"{C}/{cid}/links", token=w.token("owner"), json_body={"display_name": "Mme P"}
    )
    redeemed = await w.rest("POST", f"{C}/redeem", json_body={"token": res.body["token"]})
    assert redeemed.status == 200, redeemed.body
    g = redeemed.body
    owner = w.actors["owner"]
    host = RelaisClient(w.running.url)
    host.use_session(owner.token, owner.user_id, owner.device_id)
    e2ee = None
    if host_e2ee:
        e2ee = E2EEClient(host)
        await e2ee.bootstrap()
        await e2ee.connect()
    else:
        await host.connect()
    assert (await host.call("consult.join", {"consultation_id": cid}))["state"] == "admitted"
    patient = RelaisClient(w.running.url)
    patient.use_session(g["token"], g["user_id"], g["device_id"])
    await patient.connect()
    assert (await patient.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
    return Consult(cid, host, patient, g["participant_id"], g["device_id"], e2ee)


async def admit(c: Consult) -> None:
    await c.host.call(
        "consult.admit", {"consultation_id": c.cid, "participant_id": c.patient_participant}
    )


def bridge(w: World) -> Any:
    return w.svc.parts.media_bridge


async def test_two_participants_hold_a_consultation(media_world: World) -> None:
    w = media_world
    c = await open_consultation(w)
    host_media = ConsultationMedia(c.host, c.cid)
    patient_media = ConsultationMedia(c.patient, c.cid)
    try:
        # Waiting: no media yet.
        with pytest.raises(RelaisError) as err:
            await patient_media.start()
        assert err.value.code == "not_admitted"
        await patient_media.close()
        patient_media = ConsultationMedia(c.patient, c.cid)
        await admit(c)
        await host_media.start()
        await patient_media.start()
        assert host_media.peer and patient_media.peer

        def flowing() -> bool:
            return all(
                m.peer is not None
                and m.peer.counters.frames["video"] >= 30
                and m.peer.counters.frames["audio"] >= 50
                for m in (host_media, patient_media)
            )

        assert await settle(flowing, timeout=40), [
            m.peer.counters.frames for m in (host_media, patient_media) if m.peer
        ]
        for m in (host_media, patient_media):
            assert m.peer is not None
            stats = await m.peer.stats()
            assert (
                stats["video"]["packets_received"] > 30 and stats["audio"]["packets_received"] > 50
            )
        # Quality once a second, for both legs, seen by both.
        assert await settle(
            lambda: (
                {q["participant_id"] for q in host_media.quality}
                >= {c.patient_participant, patient_media.participant_id}
            ),
            timeout=10,
        )
        assert patient_media.plans and "video" in patient_media.plans[-1]
        # Per-node aggregates for operators, without consultation or participant labels.
        scrape = await w.rest("GET", "/metrics")
        text = scrape.body.decode() if isinstance(scrape.body, bytes) else str(scrape.body)
        assert 'relais_media_legs{mode="video-high"} 2.0' in text, text[-2000:]
        assert "relais_media_link_loss_ratio_count" in text and c.cid not in text
        call = bridge(w).calls[c.cid]
        assert set(call.legs) == {c.patient_participant, host_media.participant_id}

        # The patient's network changes: a fresh leg, no new admission, media again.
        old_leg = call.legs[c.patient_participant]
        before = host_media.peer.counters.frames["video"] if host_media.peer else 0
        await patient_media.reconnect()
        assert call.legs[c.patient_participant] is not old_leg and old_leg.closed
        assert await settle(
            lambda: (
                host_media.peer is not None
                and host_media.peer.counters.frames["video"] >= before + 30
            ),
            timeout=40,
        )

        # The server loses the patient's leg (as when ICE consent fails on a starved link):
        # the client offers a fresh one by itself, and media flows again.
        lost = call.legs[c.patient_participant]
        await aiortc_adapt.close_peer(lost.pc)
        assert await settle(
            lambda: (
                c.patient_participant in call.legs
                and call.legs[c.patient_participant] is not lost
                and call.legs[c.patient_participant].connected
            ),
            timeout=30,
        ), patient_media.leg_states
        # The leg events reach the client over its socket, after the server saw the leg.
        assert await settle(
            lambda: patient_media.leg_states[-2:] == ["failed", "connected"], timeout=10
        ), patient_media.leg_states
        before = host_media.peer.counters.frames["video"] if host_media.peer else 0
        assert await settle(
            lambda: (
                host_media.peer is not None
                and host_media.peer.counters.frames["video"] >= before + 30
            ),
            timeout=40,
        )

        # Hang up keeps the participant in; leave closes; end closes the call.
        await patient_media.hangup()
        assert c.patient_participant not in call.legs
        await c.host.call("consult.end", {"consultation_id": c.cid})
        assert await settle(lambda: c.cid not in bridge(w).calls, timeout=10)
        record = await w.rest("GET", f"{C}/{c.cid}/record", token=w.token("owner"))
        kinds = [e.get("kind") for e in record.body.get("events", [])]
        assert record.status == 200 and kinds, record.body
    finally:
        await host_media.close()
        await patient_media.close()
        await c.host.close()
        await c.patient.close()


async def test_signalling_refusals_are_typed(media_world: World) -> None:
    w = media_world
    c = await open_consultation(w)
    try:
        await admit(c)
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("consult.offer", {"consultation_id": "nope", "sdp": "v=0 ........"}, "not_found"),
            ("consult.offer", {"consultation_id": c.cid, "sdp": "garbage garbage"}, "bad_sdp"),
            ("consult.offer", {"consultation_id": c.cid}, "validation_failed"),
            (
                "consult.ice",
                {"consultation_id": c.cid, "candidate": {"candidate": "candidate:x"}},
                "no_media_leg",
            ),
            ("consult.media_config", {"consultation_id": "nope"}, "not_found"),
        ]
        for event, payload, code in cases:
            with pytest.raises(RelaisError) as err:
                await c.patient.call(event, payload)
            assert err.value.code == code, (event, payload, err.value.code)
        # the connection survived all of it
        assert (await c.patient.call("consult.media_config", {"consultation_id": c.cid})) == {
            "ice_servers": []
        }
    finally:
        await c.host.close()
        await c.patient.close()


async def test_a_mode_chosen_by_hand_caps_the_adaptation(media_world: World) -> None:
    """The host switches the patient to sound only, then text only, then automatic again; the
    patient switches themselves. Each choice reaches the leg (what it receives and is told to
    send), `consult.mode` says `manual`, and a fresh leg keeps the choice. Over the raw wire a
    patient cannot choose the host's mode and nobody can choose a mode the switch does not have."""
    w = media_world
    c = await open_consultation(w)
    host_media = ConsultationMedia(c.host, c.cid)
    patient_media = ConsultationMedia(c.patient, c.cid)
    pid = c.patient_participant
    try:
        await admit(c)
        await host_media.start()
        await patient_media.start()
        call = bridge(w).calls[c.cid]
        assert await settle(lambda: pid in call.legs and call.legs[pid].decision, timeout=30)

        def patient_mode(mode: str, reason: str) -> bool:
            return any(
                m["participant_id"] == pid and m["mode"] == mode and m["reason"] == reason
                for m in host_media.modes
            )

        ack = await c.host.call(
            "consult.set_mode",
            {"consultation_id": c.cid, "participant_id": pid, "mode": "audio-only"},
        )
        assert ack == {"participant_id": pid, "mode": "audio-only"}
        assert await settle(lambda: patient_mode("audio-only", "manual"), timeout=10), (
            [(m["mode"], m["reason"]) for m in host_media.modes],
            call.legs[pid].cap,
            call.legs[pid].mode,
            call.legs[pid].decision,
        )
        assert await settle(
            lambda: bool(patient_media.plans) and patient_media.plans[-1]["video"] is False,
            timeout=10,
        ), patient_media.plans[-3:]
        assert call.legs[pid].receiving_mode.value == "audio-only"
        # With two participants the host's audio reaches the patient as it is (no transcoding):
        # the host is asked for no more than the patient's sound-only mode takes, in 60 ms
        # packets, in the plan and in the audio REMB.
        assert await settle(
            lambda: (
                bool(host_media.plans)
                and host_media.plans[-1]["audio_kbps"] <= 24
                and host_media.plans[-1]["audio_ptime_ms"] == 60
            ),
            timeout=10,
        ), host_media.plans[-3:]
        assert (call.uplink_cap_bps(host_media.participant_id or "", "audio") or 0) <= 24_000

        await c.host.call(
            "consult.set_mode",
            {"consultation_id": c.cid, "participant_id": pid, "mode": "text-only"},
        )
        assert await settle(lambda: patient_mode("text-only", "manual"), timeout=10)
        assert await settle(lambda: patient_media.plans[-1]["audio"] is False, timeout=10)

        # A fresh leg (the patient's network changed) keeps the choice.
        await patient_media.reconnect()
        assert await settle(
            lambda: pid in call.legs and call.legs[pid].decision is not None, timeout=30
        )
        assert call.legs[pid].mode.value == "text-only"

        await c.host.call(
            "consult.set_mode", {"consultation_id": c.cid, "participant_id": pid, "mode": "auto"}
        )
        assert await settle(
            lambda: (
                patient_mode(call.legs[pid].policy.mode.value, "automatic again")
                and call.legs[pid].cap is None
            ),
            timeout=10,
        )

        # The patient chooses for themselves; not for the host.
        own = await c.patient.call(
            "consult.set_mode",
            {"consultation_id": c.cid, "participant_id": pid, "mode": "audio-only"},
        )
        assert own["mode"] == "audio-only"
        assert await settle(lambda: call.legs[pid].cap is not None, timeout=5)
        host_pid = host_media.participant_id
        # Over the raw socket (the SDK's `call` would raise): the refusal as the wire carries it.
        patient_sio, host_sio = c.patient.sio, c.host.sio
        assert patient_sio is not None and host_sio is not None
        refused = await patient_sio.call(
            "consult.set_mode",
            {"consultation_id": c.cid, "participant_id": host_pid, "mode": "text-only"},
        )
        assert refused["error"]["code"] == "forbidden", refused
        assert call.legs[host_pid].cap is None
        for bad in ({"mode": "video-high"}, {"mode": "AUDIO"}, {"mode": None}, {}):
            res = await host_sio.call(
                "consult.set_mode", {"consultation_id": c.cid, "participant_id": pid, **bad}
            )
            assert res["error"]["code"] == "validation_failed", (bad, res)
        gone = await host_sio.call(
            "consult.set_mode",
            {"consultation_id": c.cid, "participant_id": "p_nobody0000", "mode": "text-only"},
        )
        assert gone["error"]["code"] == "not_found", gone
        record = await w.rest("GET", f"{C}/{c.cid}/record", token=w.token("owner"))
        reasons = [e["detail"].get("reason") for e in record.body["events"] if e["kind"] == "mode"]
        assert "manual" in reasons and "automatic again" in reasons, reasons
    finally:
        await host_media.close()
        await patient_media.close()
        await c.host.close()
        await c.patient.close()


async def test_each_participant_gets_its_own_short_lived_turn_credential(
    start_server: Any, tmp_path: Path, sqlite_url: str
) -> None:
    """With a secret shared with coturn, `consult.media_config` and the waiting room's
    `consult.link_probe_config` give each participant a TURN credential naming them and
    expiring after RELAIS_TURN_TTL_S, which coturn can check from the secret alone."""
    running = await start_server(
        make_settings(
            tmp_path,
            sqlite_url,
            ice_servers="stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp",
            turn_secret="shared with coturn",
            turn_ttl_s=900,
        )
    )
    w = await build_world(running)
    c = await open_consultation(w)
    try:
        waiting = await c.patient.call("consult.link_probe_config", {"consultation_id": c.cid})
        await admit(c)
        seen = {}
        for who, client in (("host", c.host), ("patient", c.patient)):
            servers = (await client.call("consult.media_config", {"consultation_id": c.cid}))[
                "ice_servers"
            ]
            assert servers[0] == {"urls": "stun:stun.example.org:3478"}
            turn = servers[1]
            expiry, user_id = turn["username"].split(":", 1)
            assert abs(int(expiry) - (time.time() + 900)) < 30
            assert user_id == client.user_id
            want = hmac.new(b"shared with coturn", turn["username"].encode(), hashlib.sha1)
            assert turn["credential"] == base64.b64encode(want.digest()).decode()
            seen[who] = turn["username"]
        assert seen["host"] != seen["patient"]
        assert waiting["ice_servers"][1]["username"].endswith(f":{c.patient.user_id}")
    finally:
        await c.host.close()
        await c.patient.close()
        await w.close()

"""A consultation over a constrained link: the patient runs in a network namespace whose veth is
shaped during the call (tc tbf for rate, iptables statistic for loss: this kernel has no netem).

When the patient's link is cut to ~20 kbit/s, the patient's leg must leave video for audio-only
and then text-only, while the clinician (good link) keeps video-high; in text-only, patient and
clinician go on in the consultation's end-to-end encrypted text channel; when the limit is lifted,
the patient climbs back to video-high and video flows again. Asserts modes and counters, never
wall time (the times are measured by bench/media_link.py). Needs root + iproute2 + iptables:
fails, not skips, under RELAIS_REQUIRE_SERVICES=1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from client.consult import ConsultationMedia
from client.consult_text import ConsultationText
from media.leg import live_peer_connections
from server.app import create_app
from tests.conftest import test_settings as make_settings
from tests.integration.security_world import World, build_world
from tests.integration.test_consultation_media import open_consultation
from tests.leakcheck import settle
from tests.netlab import NetLab

pytestmark = [pytest.mark.timeout(330), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SOURCE = "320x240x15"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


class Running:
    def __init__(self, app: Any, server: TestServer, url: str) -> None:
        self.app, self.server, self.url = app, server, url

    @property
    def services(self) -> Any:
        from server.api.context import SERVICES_KEY

        return self.app[SERVICES_KEY]


class Bot:
    """The patient's participant process inside the namespace; one JSON status line a second."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.last: dict[str, Any] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                self.last = json.loads(line)
            except ValueError:
                continue

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc.returncode is None and self.proc.stdin is not None:
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(self._reader, return_exceptions=True)


@pytest.fixture
async def lab_world(netlab: NetLab, tmp_path: Path, sqlite_url: str) -> AsyncIterator[World]:
    settings = make_settings(tmp_path, sqlite_url, rate_user_per_s=1e6, rate_user_burst=10**6)
    app = create_app(settings)
    port = free_port()
    server = TestServer(app, host="0.0.0.0", port=port)
    await server.start_server()
    w = await build_world(Running(app, server, f"http://127.0.0.1:{port}"))  # type: ignore[arg-type]
    try:
        yield w
    finally:
        await w.close()
        await server.close()
    assert live_peer_connections() == 0


def bridge_call(w: World, cid: str) -> Any:
    return w.svc.extras["media_bridge"].calls[cid]


def modes_of(media: ConsultationMedia, participant_id: str) -> list[str]:
    """The sequence of committed modes announced for a participant (consult.mode)."""
    return [m["mode"] for m in media.modes if m["participant_id"] == participant_id]


async def test_patient_link_collapse_and_recovery(lab_world: World, netlab: NetLab) -> None:
    w = lab_world
    c = await open_consultation(w, host_e2ee=True)
    assert c.host_e2ee is not None
    host_text = ConsultationText(c.host_e2ee, c.cid)
    await host_text.open()
    await host_text.admit(c.patient_participant)
    # The patient: a guest session used by a process in the namespace, over the veth.
    guest_token, guest_user = c.patient.token, c.patient.user_id
    await c.patient.close()
    port = w.running.url.rsplit(":", 1)[1]
    url = f"http://{netlab.host_addr}:{port}"
    # Small sources: three aiortc processes encode and decode VP8 on two cores; a CPU-starved
    # encoder makes delay jitter that no link has.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RELAIS_BOT_VIDEO": SOURCE}
    proc = await netlab.popen_in_ns(
        [
            sys.executable,
            "-m",
            "tests.media_bot",
            url,
            str(guest_token),
            str(guest_user),
            c.cid,
            c.patient_device,
        ],
        {**env, "RELAIS_BOT_TEXT": "1"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    bot = Bot(proc)
    host = ConsultationMedia(c.host, c.cid, (320, 240, 15))
    patient_id = c.patient_participant
    try:
        await host.start()
        host_id = host.participant_id
        assert host_id

        def video_both_ways(min_frames: int) -> bool:
            return (
                host.peer is not None
                and host.peer.counters.frames["video"] >= min_frames
                and bot.last.get("frames", {}).get("video", 0) >= min_frames
            )

        assert await settle(lambda: video_both_ways(60), timeout=60), (
            bot.last,
            [(m["participant_id"][-4:], m["mode"], m["reason"]) for m in host.modes],
            host.quality[-4:],
        )
        assert host.mode_of(patient_id) == "video-high"

        # Cut the patient's link to 20 kbit/s both ways.
        await netlab.set_rate(20)
        assert await settle(lambda: "text-only" in modes_of(host, patient_id), timeout=60), (
            modes_of(host, patient_id),
            host.quality[-3:],
        )
        seen = modes_of(host, patient_id)
        assert "audio-only" in seen and seen.index("audio-only") < seen.index("text-only"), seen
        # The clinician's own link is fine: their leg never left video-high.
        assert host_id not in {m["participant_id"] for m in host.modes}, [
            (m["mode"], m["reason"], m["measured"])
            for m in host.modes
            if m["participant_id"] == host_id
        ]
        assert host.mode_of(host_id) == "video-high"
        # The patient was told to stop sending video: the send plan says so, and the patient's
        # encoder stopped (the REMB "stop" arrives over RTCP even when the socket.io connection
        # is starved on a 20 kbit/s link and the plan itself is late).
        plans = bridge_call(w, c.cid)._plans
        assert plans[patient_id]["video"] is False, plans
        assert await settle(lambda: bot.last.get("video_kbps_cap") == 0, timeout=20), bot.last

        # In text-only the consultation goes on in its end-to-end encrypted text channel, over
        # the same starved link, without reconnecting or a new admission.
        await bot.command("say Je ne vous vois plus, je vous écris.")
        await host_text.send("Je vous lis. Prenez le paracétamol ce soir.")
        conversation = {
            (str(guest_user), "Je ne vous vois plus, je vous écris."),
            (w.actors["owner"].user_id, "Je vous lis. Prenez le paracétamol ce soir."),
        }

        def both_read() -> bool:
            at_patient = {(str(u), str(t)) for u, t in bot.last.get("texts", [])}
            return set(host_text.texts()) == conversation == at_patient

        # Generous: the policy's probes from text-only fill the 20 kbit/s link for a few seconds
        # at a time, and TCP backs off behind them.
        assert await settle(both_read, timeout=90), json.dumps(
            [
                host_text.texts(),
                bot.last,
                [q["measured"] for q in host.quality[-10:] if q["participant_id"] == patient_id],
            ]
        )
        assert host.mode_of(patient_id) == "text-only"

        # Lift the limit: the patient climbs back to video-high, video flows again.
        await netlab.set_rate(None)
        frames_before = host.peer.counters.frames["video"] if host.peer else 0
        if not await settle(lambda: host.mode_of(patient_id) == "video-high", timeout=90):
            trail = [
                (q["mode"], q["probing"], {k: v for k, v in q["measured"].items() if v})
                for q in host.quality
                if q["participant_id"] == patient_id
            ]
            raise AssertionError(f"no recovery: {modes_of(host, patient_id)} {trail[-25:]}")
        assert await settle(
            lambda: (
                host.peer is not None and host.peer.counters.frames["video"] >= frames_before + 30
            ),
            timeout=30,
        ), (
            frames_before,
            host.peer.counters.frames if host.peer else None,
            bot.last,
            modes_of(host, patient_id),
            [leg.out["video"].frames_forwarded for leg in bridge_call(w, c.cid).legs.values()],
        )
        assert modes_of(host, patient_id)[-1] == "video-high", json.dumps(
            [
                [(m["mode"], m["reason"]) for m in host.modes if m["participant_id"] == patient_id],
                bot.last.get("legs"),
            ]
        )
        # The consultation and the admission survived throughout.
        state = await c.host.call("consult.join", {"consultation_id": c.cid})
        assert state["state"] == "admitted"
    finally:
        await bot.stop()
        await host.close()
        await host_text.close()
        await c.close_host()

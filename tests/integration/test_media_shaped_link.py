"""A consultation over a constrained link: the patient runs in a network namespace whose veth is
shaped during the call (tc tbf for rate, iptables statistic for loss: this kernel has no netem).

When the patient's link is cut to ~20 kbit/s, the patient's leg must leave video for audio-only
and then text-only, while the clinician (good link) keeps video-high; in text-only, patient and
clinician go on in the consultation's end-to-end encrypted text channel; when the limit is lifted,
the patient climbs back to video-high and video flows again. Asserts modes and counters, never
wall time (the times are measured by bench/media_link.py). Over a 1 Mbit/s link with 5% steady
random loss both ways (issue 14), the patient's video must still be carried. Needs root +
iproute2 + iptables: fails, not skips, under RELAIS_REQUIRE_SERVICES=1."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import socket
import subprocess
import sys
import time
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
from tests.integration.test_consultation_media import Consult, admit, open_consultation
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
        # The last minute of status lines, for the failure messages.
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=300)
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            try:
                self.last = json.loads(line)
                self.history.append(self.last)
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
    return w.svc.parts.media_bridge.calls[cid]


async def patient_bot(w: World, c: Consult, netlab: NetLab, *, text: bool) -> Bot:
    """The patient (already admitted): its guest session handed to a process in the namespace,
    which reaches the server over the veth only."""
    guest_token, guest_user = c.patient.token, c.patient.user_id
    await c.patient.close()
    port = w.running.url.rsplit(":", 1)[1]
    url = f"http://{netlab.host_addr}:{port}"
    # Small sources: three aiortc processes encode and decode VP8 on two cores; a CPU-starved
    # encoder makes delay jitter that no link has.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RELAIS_BOT_VIDEO": SOURCE}
    if text:
        env["RELAIS_BOT_TEXT"] = "1"
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
        env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    return Bot(proc)


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
    guest_user = c.patient.user_id
    bot = await patient_bot(w, c, netlab, text=True)
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
        # Meanwhile the policy may have probed sound back (a 20 kbit/s link carries a tone's
        # Opus for a while) and fallen again; it must never have tried video on this link.
        starved = modes_of(host, patient_id)
        assert set(starved[starved.index("text-only") :]) <= {"text-only", "audio-only"}, [
            (m["mode"], m["reason"]) for m in host.modes if m["participant_id"] == patient_id
        ]

        # Lift the limit: the patient climbs back to video-high, video flows again.
        await netlab.set_rate(None)
        lifted_at = time.monotonic()
        frames_before = host.peer.counters.frames["video"] if host.peer else 0
        if not await settle(lambda: host.mode_of(patient_id) == "video-high", timeout=90):
            trail = [
                (q["mode"], q["probing"], {k: v for k, v in q["measured"].items() if v})
                for q in host.quality
                if q["participant_id"] == patient_id
            ]
            # The patient's side, one entry per change: socket, plan, audio bitrate, legs, the
            # modes it was told, audio frames received.
            seen_by_bot: list[tuple[Any, ...]] = []
            for b in bot.history:
                entry = (
                    b.get("socket"),
                    b.get("plan", {}).get("mode"),
                    b.get("audio_kbps"),
                    b.get("legs", []),
                    [m[1] for m in b.get("modes", []) if m[0] == patient_id],
                )
                if not seen_by_bot or seen_by_bot[-1][1:-2] != entry:
                    seen_by_bot.append(
                        (round(b["t"] - lifted_at, 1), *entry, b.get("frames"), b.get("packets"))
                    )
            shaping = [await netlab.qdisc("up"), await netlab.qdisc("down")]
            # Counters of both ends of the veth (drops, errors): is the downlink passing packets?
            links = [
                (await netlab.run_in_ns(["ip", "-s", "link", "show", netlab.ns_if])).stdout,
                subprocess.run(
                    ["ip", "-s", "link", "show", netlab.host_if], capture_output=True
                ).stdout,
                # The patient's sockets (data the kernel holds that the bot has not read?) and
                # the server's towards it (send queue, TCP backoff).
                (await netlab.run_in_ns(["ss", "-tuani"])).stdout,
                subprocess.run(["ss", "-tuani", "dst", netlab.ns_addr], capture_output=True).stdout,
                subprocess.run(
                    ["ip", "neigh", "show", "dev", netlab.host_if], capture_output=True
                ).stdout,
            ]
            # The server's view of the patient's sockets: rooms, and the engine.io socket's state.
            sio = w.svc.sio
            server_sockets = []
            for sid in w.svc.connections.sids_of_user(str(guest_user)):
                eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
                sock = sio.eio.sockets.get(eio_sid)
                server_sockets.append(
                    (
                        eio_sid,
                        sorted(sio.manager.get_rooms(sid, "/")),
                        None
                        if sock is None
                        else (sock.closed, sock.upgraded, sock.queue.qsize(), sock.last_ping),
                    )
                )
            # The server's side of the patient's media: its leg (if any) and what the bridge keeps.
            call = w.svc.parts.media_bridge.calls.get(c.cid)
            patient_leg = None if call is None else call.legs.get(patient_id)
            server_leg = (
                None
                if patient_leg is None
                else (
                    patient_leg.connected,
                    patient_leg.pc.connectionState,
                    patient_leg.mode.value,
                    round(patient_leg.meter.silent_for(), 1),
                )
            )
            records = {
                k[1][-4:]: (v.mode, v.announced, v.grace is not None)
                for k, v in w.svc.parts.media_bridge._legs.items()
            }
            raise AssertionError(
                f"no recovery: server leg {server_leg}, bridge {records}, "
                f"call legs {None if call is None else list(call.legs)} "
                f"{modes_of(host, patient_id)} {trail[-25:]} "
                f"lifted at {lifted_at:.1f}, shaping {shaping}, links {links}, bot: {seen_by_bot}, "
                f"bot waits: {bot.last.get('send_waits')}, events {bot.last.get('events')}, "
                f"eio sid {bot.last.get('eio_sid')}, server's sockets {server_sockets} "
                f"at {time.monotonic() - lifted_at:.1f}, frames {bot.last.get('frames')} "
                f"packets {bot.last.get('packets')}"
            )
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


# Issue 14: a 1 Mbit/s link with 5% random loss both ways, held for LOSSY_S seconds; the first
# LOSSY_SETTLE_S of them are the policy's to react in, the rest are judged.
LOSSY_KBIT, LOSSY_LOSS = 1000, 0.05
LOSSY_S, LOSSY_SETTLE_S = 50, 10
VIDEO_MODES = ("video-high", "video-low")
TRAIL_MEASURES = ("loss_up", "loss_down", "up_estimate_kbps", "down_estimate_kbps", "in_kbps")


async def test_patient_video_carried_over_steady_loss(lab_world: World, netlab: NetLab) -> None:
    """Rural links lose a few percent of packets whatever their rate: 5% steady loss on an
    otherwise ample 1 Mbit/s link is not congestion, and dropping the patient to audio-only
    would take the clinician's view of the patient away for nothing. The patient's leg must stay
    in a video mode (at least 90% of the judged seconds, never text-only) and video must keep
    flowing both ways. Sampled once a second from the server's leg and the bot's status line."""
    w = lab_world
    c = await open_consultation(w)
    await admit(c)
    bot = await patient_bot(w, c, netlab, text=False)
    host = ConsultationMedia(c.host, c.cid, (320, 240, 15))
    patient_id = c.patient_participant
    try:
        await host.start()

        def video_frames() -> tuple[int, int]:
            """(patient's video at the clinician, clinician's video at the patient)."""
            at_host = host.peer.counters.frames["video"] if host.peer is not None else 0
            return at_host, int(bot.last.get("frames", {}).get("video", 0))

        assert await settle(lambda: min(video_frames()) >= 60, timeout=60), (
            bot.last,
            [(m["participant_id"][-4:], m["mode"], m["reason"]) for m in host.modes],
        )
        assert host.mode_of(patient_id) == "video-high"

        await netlab.set_rate(LOSSY_KBIT)
        await netlab.set_loss(LOSSY_LOSS)
        call = bridge_call(w, c.cid)
        seconds: list[dict[str, Any]] = []
        for _ in range(LOSSY_S):
            await asyncio.sleep(1)
            leg = call.legs.get(patient_id)
            at_host, at_patient = video_frames()
            seconds.append(
                {
                    "mode": leg.mode.value if leg is not None else None,
                    "probing": leg.probing.value if leg is not None and leg.probing else None,
                    "reason": leg.decision.reason if leg is not None and leg.decision else None,
                    # What the leg announced with this second's decision (consult.quality).
                    "measured": leg.meter.last.as_dict() if leg is not None else None,
                    "at_host": at_host,
                    "at_patient": at_patient,
                    # The server's relays (forwarded, dropped, enabled) to the clinician and to
                    # the patient, and the video encoders' ceilings (kbit/s) at both ends.
                    "relay": [
                        (
                            other.out["video"].frames_forwarded,
                            other.out["video"].frames_dropped,
                            other.out["video"].enabled,
                        )
                        for other in (call.legs.get(host.participant_id), leg)
                        if other is not None
                    ],
                    # The patient's own view: its leg states and the modes it was told.
                    "bot": (
                        bot.last.get("socket"),
                        bot.last.get("legs", [])[-2:],
                        [m[1:] for m in bot.last.get("modes", []) if m[0] == patient_id][-1:],
                    ),
                    "caps": (
                        host.peer.video_encoder.effective_bps // 1000 if host.peer else None,
                        bot.last.get("video_kbps_cap"),
                    ),
                }
            )
        judged = seconds[LOSSY_SETTLE_S:]
        trail = json.dumps(
            {
                "seconds": [
                    (
                        s["mode"],
                        s["probing"],
                        s["reason"],
                        s["at_host"],
                        s["at_patient"],
                        s["relay"],
                        s["caps"],
                        s["bot"],
                        {k: v for k, v in (s["measured"] or {}).items() if k in TRAIL_MEASURES},
                    )
                    for s in seconds
                ],
                "changes": [
                    (m["previous"], m["mode"], m["reason"])
                    for m in host.modes
                    if m["participant_id"] == patient_id
                ],
            }
        )
        patient_modes = modes_of(host, patient_id)
        # (c) Never text-only, in any second or any announced change.
        assert all(s["mode"] != "text-only" for s in seconds), trail
        assert "text-only" not in patient_modes, trail
        # (a) A video mode for at least 90% of the judged seconds.
        in_video = sum(1 for s in judged if s["mode"] in VIDEO_MODES)
        assert in_video >= 0.9 * len(judged), trail
        # (b) Video keeps flowing both ways: each 10 s stretch of the judged window brings new
        # frames of the patient to the clinician and of the clinician to the patient.
        for start in range(0, len(judged) - 1, 10):
            first, last = judged[start], judged[min(start + 10, len(judged) - 1)]
            assert last["at_host"] - first["at_host"] >= 20, f"from {start}: {trail}"
            assert last["at_patient"] - first["at_patient"] >= 20, f"from {start}: {trail}"
        # The consultation and the admission are untouched.
        state = await c.host.call("consult.join", {"consultation_id": c.cid})
        assert state["state"] == "admitted"
    finally:
        await bot.stop()
        await host.close()
        await c.close_host()

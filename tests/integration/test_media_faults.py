"""Faults the media layer must survive without leaking: a participant whose process dies (no
RTCP BYE, no hangup, no socket close handshake). The consultation must go on: the dead leg goes to
text-only within 3 s (the policy's dead-link rule, not aiortc's ~30 s consent expiry), then is
closed when the disconnect grace ends, and the participant stays admitted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from client.consult import ConsultationMedia
from media.leg import live_peer_connections
from tests.integration.security_world import World
from tests.integration.test_consultation_media import admit, media_world, open_consultation
from tests.leakcheck import settle

pytestmark = [pytest.mark.timeout(150), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
__all__ = ["media_world"]


async def test_leg_that_disappears_without_bye(media_world: World) -> None:
    w = media_world
    c = await open_consultation(w)
    await admit(c)
    token, user = c.patient.token, c.patient.user_id
    await c.patient.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RELAIS_BOT_VIDEO": "320x240x15"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.media_bot",
        w.running.url,
        str(token),
        str(user),
        c.cid,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        cwd=str(ROOT),
    )
    host = ConsultationMedia(c.host, c.cid, (320, 240, 15))
    # The dead process's socket is gone too: its leg is closed when the disconnect grace ends
    # (45 s in production; short here) or when ICE consent expires (~30 s), whichever first.
    w.svc.parts.media_bridge.disconnect_grace_s = 8.0
    try:
        await host.start()
        bridge = w.svc.parts.media_bridge
        pid = c.patient_participant
        assert await settle(
            lambda: host.peer is not None and host.peer.counters.frames["video"] >= 20, timeout=60
        )
        assert host.mode_of(pid) == "video-high"
        proc.send_signal(signal.SIGKILL)  # no BYE, no hangup, no goodbye
        await proc.wait()
        assert await settle(lambda: host.mode_of(pid) == "text-only", timeout=10), host.modes
        change = next(m for m in host.modes if m["participant_id"] == pid)
        assert change["mode"] == "text-only" and change["reason"].startswith("no packets")
        # The host's own leg is untouched, the call goes on, the patient is still admitted.
        assert host.mode_of(str(host.participant_id)) == "video-high"
        participants = await w.svc.parts.consultations.participants(c.cid)
        assert pid not in {p.id for p in participants}  # not present...
        state = await c.host.call("consult.join", {"consultation_id": c.cid})
        assert state["state"] == "admitted"
        # ... and the disconnect grace closes the dead leg: no peer left behind.
        assert await settle(lambda: pid not in bridge.calls[c.cid].legs, timeout=60)
        assert set(bridge.calls[c.cid].legs) == {host.participant_id}
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await host.close()
        await c.host.close()
    await c.host.close()
    assert live_peer_connections() <= 1  # the host's leg until the fixture ends the server

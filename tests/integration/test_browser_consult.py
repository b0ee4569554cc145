"""Browser interoperability: a real headless Chromium joins a consultation as the patient (the
server's `/app/media-check.html`, its own Socket.IO client and RTCPeerConnection), the host is a
Python aiortc participant, and media flows both ways through the server's peers — codecs, DTLS,
ICE (over the machine's non-loopback address: neither side uses 127.0.0.1 for media), the
server's send plan, and a renegotiation on the same peer connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Page

from client.consult import ConsultationMedia
from media.leg import live_peer_connections
from server.api.web_client import add_web_client
from server.app import error_middleware
from tests.integration import test_consultation_media as python_media
from tests.integration.security_world import World
from tests.integration.test_consultation_media import admit, open_consultation
from tests.leakcheck import settle

pytestmark = pytest.mark.timeout(150)
# The server fixture of the Python-only media tests, with their leak checks at teardown.
media_world = python_media.media_world
PAGE = "/app/media-check.html"
Stats = dict[str, Any]
# The video sender's encoding is what the last `consult.send` asked for.
FOLLOWS_PLAN = """() => {
  const p = window.relais.plan;
  const s = window.relais.pc.getSenders().find(s => s.track && s.track.kind === 'video');
  const e = s.getParameters().encodings[0];
  const cap = p.video && p.video_kbps > 0 ? p.video_kbps * 1000 : undefined;
  return e.active === p.video && e.maxBitrate === cap;
}"""


async def page_until(
    page: Page, predicate: Callable[[Stats], bool], timeout: float = 30.0
) -> tuple[bool, Stats]:
    """Poll the page's `relais.stats()` until predicate(stats) holds; the last stats either way
    (so a failure shows what the browser saw)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        stats: Stats = await page.evaluate("window.relais.stats()")
        if predicate(stats) or loop.time() >= deadline:
            return predicate(stats), stats
        await asyncio.sleep(0.2)


async def page_state(page: Page, wanted: str, timeout: float = 20.0) -> None:
    await page.wait_for_function(
        "s => window.relais && (window.relais.state === s || window.relais.state === 'error')",
        arg=wanted,
        timeout=timeout * 1000,
    )
    state, error = await page.evaluate("[window.relais.state, window.relais.error]")
    assert state == wanted, error


def frames(m: ConsultationMedia) -> dict[str, int]:
    return dict(m.peer.counters.frames) if m.peer is not None else {"audio": 0, "video": 0}


async def flowing(
    page: Page, host: ConsultationMedia, since_browser: Stats | None = None
) -> tuple[Stats, dict[str, int]]:
    """Both directions carry new media: the browser decodes video and receives audio; the Python
    host gets audio and video frames from the browser. `since_browser` and the host's counters
    at call time are the baseline, so a stalled stream cannot pass on old counts."""
    base = since_browser or {
        "audio": {"packetsReceived": 0},
        "video": {"packetsReceived": 0, "framesDecoded": 0},
    }
    host_base = frames(host)

    def browser_ok(s: Stats) -> bool:
        return bool(
            s["audio"]["packetsReceived"] >= base["audio"]["packetsReceived"] + 50
            and s["video"]["packetsReceived"] > base["video"]["packetsReceived"]
            and s["video"]["framesDecoded"] >= base["video"]["framesDecoded"] + 30
        )

    ok, stats = await page_until(page, browser_ok, timeout=40)
    assert ok, stats
    assert await settle(
        lambda: (
            frames(host)["video"] >= host_base["video"] + 30
            and frames(host)["audio"] >= host_base["audio"] + 50
        ),
        timeout=40,
    ), (host_base, frames(host))
    return stats, frames(host)


async def test_browser_patient_and_python_host(
    media_world: World, chromium_browser: BrowserContext
) -> None:
    w = media_world
    c = await open_consultation(w)
    host = ConsultationMedia(c.host, c.cid)
    page = await chromium_browser.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    try:
        assert c.patient.token
        await page.goto(f"{w.running.url}{PAGE}?consultation={c.cid}#token={c.patient.token}")
        # The token left the address bar; the patient waits until the host admits them.
        assert "token" not in page.url
        await page_state(page, "waiting")
        await admit(c)
        await host.start()
        await page_state(page, "connected", timeout=30)

        stats, _ = await flowing(page, host)
        assert stats["video"]["codecIn"] == "video/VP8", stats
        assert stats["video"]["codecOut"] == "video/VP8", stats
        assert stats["audio"]["codecIn"] == "audio/opus", stats
        # The browser follows the server's send plan: it was told to send video.
        plan = await page.evaluate("window.relais.plan")
        assert plan is not None and plan["video"] is True, plan
        await page.wait_for_function(FOLLOWS_PLAN, timeout=10_000)
        assert host.peer is not None and host.peer.counters.video_sizes, "no decodable video"

        # Renegotiation: a second offer on the same pc keeps the server's leg.
        call = w.svc.parts.media_bridge.calls[c.cid]
        leg = call.legs[c.patient_participant]
        participant = await page.evaluate("window.relais.renegotiate()")
        assert participant == c.patient_participant
        assert call.legs[c.patient_participant] is leg and not leg.closed
        assert await page.evaluate("window.relais.pc.signalingState") == "stable"
        await flowing(page, host, since_browser=stats)

        local_errors = await page.evaluate(
            "window.relais.events.filter(e => e.event.startsWith('local.'))"
        )
        assert local_errors == [], local_errors
        assert await page.evaluate("window.relais.error") is None

        await c.host.call("consult.end", {"consultation_id": c.cid})
        assert await settle(lambda: c.cid not in w.svc.parts.media_bridge.calls, timeout=10)
        assert await settle(lambda: live_peer_connections() == 0, timeout=10)
        await page_state(page, "ended")
    finally:
        await _quietly(page.close)
        await host.close()
        await c.host.close()
        await c.patient.close()


async def _quietly(close: Callable[[], Awaitable[Any]]) -> None:
    try:
        await close()
    except Exception as exc:  # the browser may already be gone after a failure
        print(f"closing failed: {exc!r}")


async def test_static_files_and_their_headers(media_world: World) -> None:
    http, url = media_world.http, media_world.running.url
    async with http.get(f"{url}{PAGE}") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert 'lang="fr"' in await resp.text()
    async with http.get(f"{url}/app/media-check.js") as resp:
        assert resp.status == 200 and "javascript" in resp.content_type
    for path in (
        "/app/nope.html",
        "/app/../server/app.py",
        "/app/%2e%2e/pyproject.toml",
        "/app/assets/",
    ):
        async with http.get(f"{url}{path}") as resp:
            assert resp.status in (403, 404), (path, resp.status)
            assert "[project]" not in await resp.text()


async def test_missing_folder_answers_unavailable(aiohttp_client: Any, tmp_path: Path) -> None:
    app = web.Application(middlewares=[error_middleware])
    add_web_client(app, tmp_path / "absent")
    client = await aiohttp_client(app)
    resp = await client.get(PAGE)
    assert resp.status == 503
    body = await resp.json()
    assert body["error"]["code"] == "unavailable" and "absent" in body["error"]["message"]


async def _packet_ms(leg: Any, seconds: float = 2.5) -> tuple[float, float]:
    """(median RTP timestamp step of the browser's Opus packets in ms, packets per second) as
    the server's leg receives them."""
    steps: list[int] = []
    last: list[int] = []
    count = [0]
    original = leg.meter.on_rtp_in

    def record(packet: Any, arrival_ms: int, kind: str) -> None:
        if kind == "audio":
            count[0] += 1
            if last:
                steps.append((packet.timestamp - last[0]) % 2**32)
            last[:] = [packet.timestamp]
        original(packet, arrival_ms, kind)

    leg.meter.on_rtp_in = record
    try:
        await asyncio.sleep(seconds)
    finally:
        leg.meter.on_rtp_in = original
    steps.sort()
    return (steps[len(steps) // 2] / 48 if steps else 0.0), count[0] / seconds


async def test_browser_uplink_opus_follows_the_answer(media_world: World, tmp_path: Path) -> None:
    """The server's answer sets the browser's Opus packet length by the leg's mode (answer
    shaping): 60 ms in audio-only (a third of the header overhead on a thin uplink), 20 ms in
    video-high, switched by the browser's next offer. (With two participants, also by the mode
    of the one receiving it: both are moved to video-high.)"""
    from dataclasses import replace

    from media.policy import Mode, targets_for
    from tests.browser import launch_chromium, tone_wav

    w = media_world
    bridge = w.svc.parts.media_bridge
    bridge.config = replace(bridge.config, start_mode=Mode.AUDIO_ONLY)
    c = await open_consultation(w)
    host = ConsultationMedia(c.host, c.cid)
    wav = tone_wav(tmp_path / "tone.wav", 440.0)
    async with launch_chromium(extra_args=[f"--use-file-for-fake-audio-capture={wav}"]) as ctx:
        page = await ctx.new_page()
        try:
            await page.goto(f"{w.running.url}{PAGE}?consultation={c.cid}#token={c.patient.token}")
            await page_state(page, "waiting")
            await admit(c)
            await host.start()
            await page_state(page, "connected", timeout=30)
            leg = bridge.calls[c.cid].legs[c.patient_participant]
            assert leg.policy.mode is Mode.AUDIO_ONLY
            step, rate = await _packet_ms(leg)
            assert step == 60 and rate < 20, (step, rate)

            # As if the link had climbed back, for both: with two participants the patient's
            # audio is relayed to the host as it is, so it is asked for no more than the host's
            # mode takes.
            for climbed in bridge.calls[c.cid].legs.values():
                climbed.policy._s.mode = Mode.VIDEO_HIGH
                climbed.policy._s.probe = None
                if climbed.decision is not None:
                    climbed.decision = replace(
                        climbed.decision,
                        mode=Mode.VIDEO_HIGH,
                        probing=None,
                        targets=targets_for(Mode.VIDEO_HIGH),
                    )
            await page.evaluate("window.relais.renegotiate()")
            await asyncio.sleep(0.5)
            step, rate = await _packet_ms(leg)
            assert step == 20 and rate > 40, (step, rate)
        finally:
            await _quietly(page.close)
            await host.close()
            await c.host.close()
            await c.patient.close()

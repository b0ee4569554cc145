"""Proves the browser fixture is fit for the media tests: the fake camera produces frames, WebRTC
connects inside the page, a page connects to an aiortc peer in this process (host candidates are
plain addresses, not mDNS names), and a browser started inside a NetLab namespace reaches a server
on the host side of the veth."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from playwright.async_api import BrowserContext

from tests.conftest import free_port
from tests.netlab import NetLab

PAGE = "<!doctype html><html><head><title>relais test</title></head><body></body></html>"

GUM = """async () => {
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const v = document.createElement('video');
  v.muted = true; v.srcObject = s; document.body.appendChild(v); await v.play();
  while (v.videoWidth === 0) await new Promise(r => requestAnimationFrame(r));
  const t = s.getVideoTracks()[0];
  return {video: s.getVideoTracks().length, audio: s.getAudioTracks().length,
          width: t.getSettings().width, height: t.getSettings().height,
          decodedWidth: v.videoWidth};
}"""

LOOPBACK = """async () => {
  const s = await navigator.mediaDevices.getUserMedia({audio: true, video: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = e => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = e => e.candidate && a.addIceCandidate(e.candidate);
  const v = document.createElement('video'); v.muted = true; document.body.appendChild(v);
  b.ontrack = e => { v.srcObject = e.streams[0]; v.play(); };
  s.getTracks().forEach(t => a.addTrack(t, s));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  const up = pc => new Promise((ok, no) => {
    const check = () => {
      if (pc.connectionState === 'connected') ok();
      if (pc.connectionState === 'failed') no(new Error('failed'));
    };
    pc.onconnectionstatechange = check; check();
  });
  await Promise.all([up(a), up(b)]);
  while (v.videoWidth === 0) await new Promise(r => requestAnimationFrame(r));
  const st = [a.connectionState, b.connectionState, v.videoWidth];
  a.close(); b.close();
  return st;
}"""

OFFER = """async () => {
  const s = await navigator.mediaDevices.getUserMedia({audio: false, video: true});
  const pc = new RTCPeerConnection(); window.pc = pc; window.got = [];
  s.getTracks().forEach(t => pc.addTrack(t, s));
  const dc = pc.createDataChannel('probe');
  dc.onopen = () => dc.send('ping'); dc.onmessage = e => window.got.push(e.data);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => {
    const done = () => pc.iceGatheringState === 'complete' && r();
    pc.onicegatheringstatechange = done; done();
  });
  return pc.localDescription.sdp;
}"""


@pytest.fixture
async def page_server() -> AsyncIterator[Callable[[str], str]]:
    """Serve PAGE; the callable binds a host address and returns the page URL."""

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()

    async def serve(host: str) -> str:
        port = free_port()
        await web.TCPSite(runner, host, port).start()
        return f"http://{host}:{port}/"

    try:
        yield serve  # type: ignore[misc]
    finally:
        await runner.cleanup()


async def test_fake_camera_and_microphone(
    chromium_browser: BrowserContext, page_server: Any
) -> None:
    page = await chromium_browser.new_page()
    await page.goto(await page_server("127.0.0.1"))
    got = await page.evaluate(GUM)
    assert got["video"] == 1 and got["audio"] == 1
    assert got["width"] > 0 and got["height"] > 0
    assert got["decodedWidth"] > 0  # frames actually flow, not just a track object


async def test_in_page_peer_connection_connects(
    chromium_browser: BrowserContext, page_server: Any
) -> None:
    page = await chromium_browser.new_page()
    await page.goto(await page_server("127.0.0.1"))
    a_state, b_state, remote_width = await page.evaluate(LOOPBACK)
    assert (a_state, b_state) == ("connected", "connected")
    assert remote_width > 0


async def test_page_connects_to_aiortc_peer(
    chromium_browser: BrowserContext, page_server: Any
) -> None:
    page = await chromium_browser.new_page()
    await page.goto(await page_server("127.0.0.1"))
    offer = await page.evaluate(OFFER)
    hosts = [ln.split()[4] for ln in offer.splitlines() if ln.startswith("a=candidate")]
    assert hosts and not any(h.endswith(".local") for h in hosts), hosts

    pc = RTCPeerConnection()
    tasks: list[asyncio.Future[None]] = []
    message: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    frame: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

    @pc.on("datachannel")
    def _on_channel(channel: Any) -> None:
        @channel.on("message")
        def _on_message(msg: str) -> None:
            channel.send(f"pong:{msg}")
            if not message.done():
                message.set_result(msg)

    @pc.on("track")
    def _on_track(track: Any) -> None:
        async def first_frame() -> None:
            f = await track.recv()
            if not frame.done():
                frame.set_result((f.width, f.height))

        tasks.append(asyncio.ensure_future(first_frame()))

    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await page.evaluate(
            "sdp => window.pc.setRemoteDescription({type: 'answer', sdp})",
            pc.localDescription.sdp,
        )
        assert await asyncio.wait_for(message, 20) == "ping"
        width, height = await asyncio.wait_for(frame, 20)
        assert width > 0 and height > 0
        await page.wait_for_function("window.got.includes('pong:ping')", timeout=10_000)
        assert await page.evaluate("window.pc.connectionState") == "connected"
    finally:
        await pc.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_browser_inside_netlab_namespace(
    netlab: NetLab, chromium_launcher: Any, page_server: Any
) -> None:
    url = await page_server(netlab.host_addr)
    browser = await chromium_launcher(netns=netlab.name)
    page = await browser.new_page()
    await page.goto(url)
    assert await page.title() == "relais test"
    # The namespace has no route to the root namespace's loopback: the page above came over the
    # veth, and 127.0.0.1 inside is the namespace's own (nothing listens there).
    with pytest.raises(Exception, match="ERR_CONNECTION_REFUSED"):
        await page.goto(url.replace(netlab.host_addr, "127.0.0.1"))

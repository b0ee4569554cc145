"""Headless system Chromium driven by async Playwright, with a fake camera and microphone, for the
browser-interoperability tests.

Why these choices:
- Debian's /usr/bin/chromium, not Playwright's downloaded build: CI installs it with apt and
  nothing is fetched at test time.
- A fresh profile directory per browser, deleted afterwards: no permission, cache or service
  worker state leaks between tests.
- `--disable-quic`, `--disable-background-networking`, ... keep the browser from talking to
  anything but the test server (and from adding noise on a shaped link).
- `--disable-features=WebRtcHideLocalIpsWithMdns`: without it a page that has not been granted
  camera/microphone (a receive-only participant) offers only `<uuid>.local` host candidates,
  which aiortc cannot resolve. See docs/testing.md.
- `netns=`: the browser can run inside a NetLab namespace (through a two-line wrapper script), so
  a shaped link can sit between a real browser and the server.
"""

from __future__ import annotations

import array
import contextlib
import math
import os
import shutil
import sys
import tempfile
import wave
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext

CHROMIUM = os.environ.get("RELAIS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def chromium_available() -> tuple[bool, str]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return False, f"{CHROMIUM} not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError as exc:
        return False, f"playwright not importable: {exc}"
    return True, ""


def require_chromium() -> None:
    """Skip the calling test without Chromium, or fail it under RELAIS_REQUIRE_SERVICES=1."""
    ok, why = chromium_available()
    if not ok:
        from tests.conftest import service_unavailable

        service_unavailable("headless Chromium", why)


@contextlib.asynccontextmanager
async def launch_chromium(
    *,
    extra_args: Sequence[str] = (),
    netns: str | None = None,
    **context_options: Any,
) -> AsyncIterator[BrowserContext]:
    """A headless Chromium with a fresh profile, as one Playwright BrowserContext (a persistent
    context: the profile directory is ours to create and delete). `netns` runs the browser
    inside that network namespace. `context_options` go to `launch_persistent_context`
    (e.g. `viewport`, `locale`)."""
    from playwright.async_api import async_playwright

    require_chromium()
    tmp = Path(tempfile.mkdtemp(prefix="relais-chromium-"))
    executable = CHROMIUM
    if netns is not None:
        wrapper = tmp / "chromium-in-netns"
        wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns} {CHROMIUM} "$@"\n')
        wrapper.chmod(0o755)
        executable = str(wrapper)
    try:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                str(tmp / "profile"),
                executable_path=executable,
                headless=True,
                args=[*CHROMIUM_ARGS, *extra_args],
                **context_options,
            )
            try:
                yield context
            finally:
                await context.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
async def chromium_launcher() -> AsyncIterator[Callable[..., Any]]:
    """`await launch(**kw)` -> BrowserContext, for tests with several browsers (each its own
    process and profile). Everything launched is closed at teardown."""
    async with contextlib.AsyncExitStack() as stack:

        async def launch(**kw: Any) -> BrowserContext:
            return await stack.enter_async_context(launch_chromium(**kw))

        yield launch


@pytest.fixture
async def chromium_browser() -> AsyncIterator[BrowserContext]:
    """One headless Chromium (fake camera/microphone, fresh profile) as a BrowserContext."""
    async with launch_chromium() as context:
        yield context


# The fake microphone's tone: 48 kHz samples, shaped at the rate of syllables (tone_wav).
RATE_HZ = 48000
SYLLABLE_HZ = 4.0


def tone_wav(path: Path, hz: float, *, seconds: int = 30, amplitude: int = 8000) -> Path:
    """A tone for Chromium's fake microphone (`--use-file-for-fake-audio-capture`) that the
    sender's Opus treats as speech. The default fake device plays short beeps, mostly silence
    to DTX and to a spectrum; a steady sine is no better: with `usedtx=1` (the server's answer
    asks for it) Chromium's Opus judged a constant tone inactive after ~10 s in about one run
    in three and sent only comfort-noise packets (~5 a second instead of 50), which looked like
    a source missing from the mix. Speech rises and falls a few times a second, so the tone is
    shaped by a 4 Hz syllable-like envelope (never below a tenth of full level) that keeps the
    encoder's activity detector awake; a spectrum still finds the carrier at `hz` (the
    envelope's side bands are 4 Hz away)."""
    samples = array.array("h")
    for i in range(RATE_HZ * seconds):
        t = i / RATE_HZ
        envelope = 0.55 + 0.45 * math.sin(2 * math.pi * SYLLABLE_HZ * t)
        samples.append(int(amplitude * envelope * math.sin(2 * math.pi * hz * t)))
    if sys.byteorder != "little":
        samples.byteswap()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE_HZ)
        out.writeframes(samples.tobytes())
    return path

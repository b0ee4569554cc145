"""A three-way consultation in the browser (issue 13): the host clinician invites a colleague (the
remote specialist) from the consultation screen, the colleague finds the invitation in their
workspace, waits and is let in, the patient comes by link; the three talk. Each Chromium's fake
microphone plays its own tone (500, 800 and 1,250 Hz), and each page analyses the sound it
receives (WebAudio FFT of the leg's remote stream): it must hear both other tones and not its own
(the server mixes minus the receiver), while video reaches all three pages."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.browser import tone_wav
from tests.security.conftest import Served
from tests.web.test_call import PATIENT, stats
from tests.web.workspace import first_device, host_with_link, patient_waits, sign_in

TONES = {"host": 500.0, "colleague": 800.0, "patient": 1250.0}
COLLEAGUE = "dr.vidal"

# Level (dB) of each asked frequency in what the page receives, averaged over 2 s of FFT frames,
# and the median level of the spectrum below 4 kHz (the floor the tones are judged against).
SPECTRUM = """async (freqs) => {
  const ctx = new AudioContext();
  await ctx.resume();
  const source = ctx.createMediaStreamSource(window.relaisCall.remote);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0;
  source.connect(analyser);
  const bins = analyser.frequencyBinCount;
  const hz = ctx.sampleRate / analyser.fftSize;
  const frame = new Float32Array(bins);
  const sum = new Float64Array(bins);
  const frames = 20;
  for (let k = 0; k < frames; k++) {
    await new Promise((r) => setTimeout(r, 100));
    analyser.getFloatFrequencyData(frame);
    for (let i = 0; i < bins; i++) sum[i] += Math.max(frame[i], -160);
  }
  const level = (i) => sum[i] / frames;
  const at = freqs.map((f) => {
    const c = Math.round(f / hz);
    let best = -160;
    for (let i = c - 2; i <= c + 2; i++) best = Math.max(best, level(i));
    return best;
  });
  const low = [];
  for (let i = Math.round(100 / hz); i < Math.round(4000 / hz); i++) low.push(level(i));
  low.sort((a, b) => a - b);
  await ctx.close();
  return { at, floor: low[Math.floor(low.length / 2)] };
}"""


async def video_and_sound_arrive(page: Page, who: str) -> None:
    """Sound keeps arriving, and video keeps being decoded. A receiver of three sees the active
    speaker's video, and with three tones playing at once the speaker changes often; each change
    waits for a keyframe, so video is judged over 6 s rather than test_call's 2 s."""
    first = await media_flows_started(page, who)
    await asyncio.sleep(6)
    later = await stats(page)
    assert later["audio"]["packetsReceived"] > first["audio"]["packetsReceived"] + 150, (who, later)
    assert later["video"]["framesDecoded"] > first["video"]["framesDecoded"] + 10, (who, later)


async def media_flows_started(page: Page, who: str, timeout: float = 45) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = await stats(page)
        if (
            found["audio"].get("packetsReceived", 0) > 20
            and found["video"].get("framesDecoded", 0) > 5
        ):
            return found
        await asyncio.sleep(0.5)
    raise AssertionError(f"{who}: no media arrived: {await stats(page)}")


async def heard(page: Page, who: str) -> dict[str, float]:
    """dB above the floor of each participant's tone in what `who`'s page receives."""
    names = list(TONES)
    found = await page.evaluate(SPECTRUM, [TONES[n] for n in names])
    return {n: round(found["at"][i] - found["floor"], 1) for i, n in enumerate(names)}


async def test_two_clinicians_and_the_patient_each_hear_both_others(
    app_server: Served, browser: Any, tmp_path: Path
) -> None:
    def opened(role: str) -> Any:
        wav = tone_wav(tmp_path / f"{role}.wav", TONES[role], seconds=20, amplitude=9000)
        return browser(
            extra_args=[
                f"--use-file-for-fake-audio-capture={wav}",
                "--autoplay-policy=no-user-gesture-required",
            ]
        )

    host, colleague, patient = (
        await opened("host"),
        await opened("colleague"),
        await opened("patient"),
    )
    link, code = await host_with_link(app_server, host.page, PATIENT)
    await app_server.add_user(COLLEAGUE)
    await sign_in(colleague.page, app_server.url, COLLEAGUE)
    await first_device(colleague.page, backup=False)

    # The host invites the colleague from the consultation screen.
    await host.page.get_by_role("link", name="Ouvrir la consultation").click()
    await host.page.get_by_label("Nom ou identifiant du ou de la collègue").fill("dr.v")
    await host.page.get_by_role("button", name=f"Inviter {COLLEAGUE}").click()
    await expect(
        host.page.get_by_role("status").filter(has_text=f"{COLLEAGUE} est invité·e")
    ).to_be_visible()
    await host.assert_accessible("consultation with the invitation form")

    # The colleague is told, finds the invitation, and waits to be let in.
    notice = colleague.page.get_by_role("link", name="Vous êtes invité·e à une consultation")
    await expect(notice).to_be_visible(timeout=15_000)
    await notice.click()
    await colleague.page.get_by_role("link", name="Invitation de").click()
    await expect(
        colleague.page.get_by_role("status").filter(has_text="L'hôte de la consultation va")
    ).to_be_visible(timeout=15_000)
    await colleague.assert_accessible("a colleague in the waiting room")
    await host.page.get_by_role("button", name=f"Admettre {COLLEAGUE}").click()
    await expect(colleague.page.get_by_role("heading", name="Appel", exact=True)).to_be_visible(
        timeout=15_000
    )

    await patient_waits(patient.page, link, code)
    await host.page.get_by_role("button", name=f"Admettre {PATIENT}").click()
    await expect(
        patient.page.get_by_role("heading", name="Vous êtes dans la consultation")
    ).to_be_visible()

    pages = {"host": host.page, "colleague": colleague.page, "patient": patient.page}
    for who, page in pages.items():
        await video_and_sound_arrive(page, who)
    for who, page in pages.items():
        others = [n for n in TONES if n != who]
        windows = []
        # Both others clearly above the floor, one's own tone not sent back (mix-minus), in one
        # 2-second window out of four: a renegotiation (the answer's packet length following a
        # mode) can drop a source for a moment.
        for _ in range(4):
            levels = await heard(page, who)
            windows.append(levels)
            if (
                all(levels[n] >= 20 for n in others)
                and levels[who] < min(levels[n] for n in others) - 15
            ):
                break
        else:
            raise AssertionError((who, windows))
    await colleague.assert_accessible("a colleague in the three-way call")
    for w in (host, colleague, patient):
        await w.assert_clean()

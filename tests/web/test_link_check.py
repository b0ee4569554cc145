"""The waiting room's network check (issue 13, item 1): while the patient waits, the join page
measures loss, RTT and goodput to the server's media peer over a data channel on the call's own
path (media/probe.py, web_client/src/net/link_check.js) and says in plain words how the call will
start. On the machine's own link it says video; inside the network lab, shaped to a thin link, it
says sound only, then text when the link gets thinner and the patient checks again."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page, expect

from tests.netlab import NetLab
from tests.security.conftest import Served
from tests.web.workspace import browsers, host_with_link, patient_waits

PATIENT = "Mme Laurent"
VIDEO = "Votre connexion est bonne : la vidéo devrait bien passer."
AUDIO = "nous commencerons avec le son seulement"
TEXT = "nous commencerons par écrit"


def verdict(page: Page) -> Any:
    return page.get_by_role("region", name="Votre connexion").locator(".verdict")


async def test_a_good_link_is_told_video(app_server: Served, browser: Any) -> None:
    w, p = await browsers(browser)
    link, code = await host_with_link(app_server, w.page, PATIENT)
    await patient_waits(p.page, link, code)
    await expect(verdict(p.page)).to_have_text(VIDEO, timeout=30_000)
    found = await p.page.evaluate("() => window.relaisLinkCheck")
    assert found["opened"] and found["verdict"] == "video", found
    assert found["kbps"] >= 170 and found["loss"] < 0.1 and found["rtt_ms"] is not None, found
    await expect(p.page.locator(".check .figures")).to_contain_text("kbit/s")
    await p.assert_accessible("waiting room with the link check")
    # Checking again is one keyboard action away.
    again = p.page.get_by_role("button", name="Vérifier à nouveau")
    await again.focus()
    await p.page.keyboard.press("Enter")
    await expect(verdict(p.page)).to_contain_text("Nous vérifions")
    await expect(verdict(p.page)).to_have_text(VIDEO, timeout=30_000)
    await p.assert_clean()


async def test_a_thin_link_is_told_sound_then_text(
    lab_server: Served, netlab: NetLab, browser: Any
) -> None:
    origin = f"http://{netlab.host_addr}:{lab_server.port}"
    w = await browser()
    # A lab address over http is no secure context by default (and the page's COOP header would
    # be reported as ignored).
    p = await browser(
        netns=netlab.name, extra_args=[f"--unsafely-treat-insecure-origin-as-secure={origin}"]
    )
    link, code = await host_with_link(lab_server, w.page, PATIENT)
    await netlab.set_rate(80)
    await patient_waits(p.page, origin + "/consult/" + link.rsplit("/", 1)[1], code)
    await expect(verdict(p.page)).not_to_contain_text("Nous vérifions", timeout=40_000)
    found = await p.page.evaluate("() => window.relaisLinkCheck")
    assert found["verdict"] == "audio" and 40 <= found["kbps"] < 162.5, found
    await expect(verdict(p.page)).to_contain_text(AUDIO)

    await netlab.set_rate(16)
    await p.page.get_by_role("button", name="Vérifier à nouveau").click()
    await expect(verdict(p.page)).to_contain_text("Nous vérifions")
    await expect(verdict(p.page)).to_contain_text(TEXT, timeout=60_000)
    await netlab.restore()
    await p.assert_accessible("waiting room, thin link")
    await p.assert_clean()

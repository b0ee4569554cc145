"""Readable at 200% zoom (WCAG 1.4.4) and reflowing at 320 CSS px (1.4.10): a 1280-px-wide
screen at 200% is a 640-px viewport, a phone at 400% a 320-px one. On each screen nothing needs
horizontal scrolling and every control stays inside the viewport, long names and long unbroken
words included (the skip link waits off-screen until it has focus, by design)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.workspace import create_room, first_device, send, sign_in, timeline

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = document.documentElement.scrollWidth > width + 1;
  const outside = [...document.querySelectorAll('button, a, input, textarea, select, h1, h2, p')]
    .filter((el) => el.offsetParent !== null && !el.closest('.skip, .visually-hidden'))
    .filter((el) => {
      const r = el.getBoundingClientRect();
      return r.right > width + 1 || r.left < -1;
    })
    .map((el) => el.tagName.toLowerCase() + ': ' + (el.innerText || el.value || '').slice(0, 40));
  return {wide, outside};
}"""


async def _fits(page: Page, screen: str) -> None:
    got = await page.evaluate(OVERFLOW)
    assert got == {"wide": False, "outside": []}, f"{screen}: {got}"


@pytest.mark.parametrize("width", [640, 320])
async def test_every_screen_reflows(app_server: Served, browser: Any, width: int) -> None:
    name = f"dr.zoom{width}"
    await app_server.add_user(name)
    w = await browser(viewport={"width": width, "height": 720})
    page = w.page
    await page.goto(app_server.url + "/app/")
    await expect(page.get_by_label("Identifiant")).to_be_visible()
    await _fits(page, "sign-in")
    await sign_in(page, app_server.url, name)
    await expect(page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()
    await _fits(page, "device set-up")
    await first_device(page)
    await _fits(page, "room list")
    title = "Mme Lagrange-Dubreuil de Saint-Priest-Taurion, chambre 12"
    await create_room(page, title)
    await send(page, "Pansement à refaire : " + "x" * 120)
    await expect(timeline(page).get_by_text("Pansement à refaire")).to_have_count(1)
    await _fits(page, "room with a long title and an unbroken word")
    await page.get_by_role("button", name="Membres").click()
    await _fits(page, "members panel")
    await page.get_by_role("button", name="Démarrer une consultation").click()
    await _fits(page, "start a consultation")
    await w.assert_clean()

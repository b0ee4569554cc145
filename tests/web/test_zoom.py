"""Readable at 200% zoom (WCAG 1.4.4) and reflowing at 320 CSS px (1.4.10): a 1280-px-wide
screen at 200% is a 640-px viewport, a phone at 400% a 320-px one. On each screen nothing needs
horizontal scrolling and every control stays inside the viewport, long names and long unbroken
words included (the skip link waits off-screen until it has focus, by design)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.test_call import in_call
from tests.web.workspace import (
    create_room,
    first_device,
    host_with_link,
    patient_waits,
    send,
    sign_in,
    timeline,
)

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


# What makes the page wider than the viewport: boxes past its right edge, and boxes whose content
# overflows them (a long word in a heading), innermost first. Said when a screen is too wide.
WIDEST = """() => {
  const width = document.documentElement.clientWidth;
  const out = (el) => el.getBoundingClientRect().right > width + 1
    || (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
        && getComputedStyle(el).overflowX === 'visible');
  return [...document.body.querySelectorAll('*')]
    .filter((el) => out(el) && ![...el.children].some(out))
    .slice(0, 8)
    .map((el) => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' '
      + el.scrollWidth + '/' + el.clientWidth + ': ' + (el.innerText || '').slice(0, 40));
}"""


async def _overflow(page: Page, screen: str) -> list[str]:
    """What makes `screen` scroll sideways or puts a control outside the viewport."""
    got = await page.evaluate(OVERFLOW)
    found = [f"{screen}: outside the viewport: {got['outside']}"] if got["outside"] else []
    if got["wide"]:
        found.append(f"{screen}: scrolls sideways because of {await page.evaluate(WIDEST)}")
    return found


async def _fits(page: Page, screen: str) -> None:
    assert await _overflow(page, screen) == []


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


# A caption is readable when its box and every line of its text lie inside the viewport's width,
# nothing is cut by its own box (scrollWidth) or by a clipping ancestor (the rects of its text
# inside every `overflow: hidden` box around it).
CAPTION = """(selector) => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll(selector)].map((el) => {
    const r = el.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(el);
    const lines = [...range.getClientRects()].filter((q) => q.width > 0);
    const problems = [];
    if (!el.getClientRects().length || r.width === 0) problems.push('not shown');
    const outside = (q, b) => q.left < b.left - 1 || q.right > b.right + 1;
    if (el.scrollWidth > el.clientWidth + 1)
      problems.push(`clipped ${el.scrollWidth} > ${el.clientWidth}`);
    if (outside(r, {left: 0, right: width})) problems.push(`box ${r.left}..${r.right} of ${width}`);
    for (const q of lines) {
      if (outside(q, {left: 0, right: width}))
        problems.push(`text ${q.left}..${q.right} of ${width}`);
      for (let a = el.parentElement; a; a = a.parentElement) {
        const s = getComputedStyle(a);
        if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
        const b = a.getBoundingClientRect();
        if (outside(q, b) || q.top < b.top - 1 || q.bottom > b.bottom + 1)
          problems.push(`text cut by ${a.tagName.toLowerCase()}.${a.className}`);
      }
    }
    return {text: el.innerText.slice(0, 80), problems: [...new Set(problems)]};
  });
}"""

# A 360-px-wide phone at 200 % zoom: 180 CSS px across.
PHONE_200 = {"width": 180, "height": 640}


async def _unreadable(page: Page, selector: str, screen: str) -> list[str]:
    got = await page.evaluate(CAPTION, selector)
    if not got:
        return [f"{screen}: nothing matches {selector!r}"]
    return [f"{screen}: {c['text']!r}: {c['problems']}" for c in got if c["problems"]]


async def test_the_mode_indicator_reads_at_200_percent_on_a_phone(
    app_server: Served, browser: Any
) -> None:
    """The call at 180 CSS px (a 360-px phone at 200 %), clinician and patient alike: the mode
    indicator and the plain reason of its change are whole and inside the screen, on the
    patient's call screen and on the clinician's consultation screen, before and after the
    clinician sets the patient to sound only; no horizontal scrolling, every control in view."""
    w = await browser(viewport=PHONE_200)
    p = await browser(viewport=PHONE_200)
    clinician, patient = w.page, p.page
    link, code = await host_with_link(app_server, clinician, "M. Roche")
    await clinician.get_by_role("link", name="Ouvrir la consultation").click()
    await patient_waits(patient, link, code)
    await clinician.get_by_role("button", name="Admettre M. Roche").click()
    await expect(in_call(patient)).to_be_visible()

    # Every problem of every screen, said at once.
    problems: list[str] = []
    await expect(patient.locator(".mode-now")).to_contain_text("Vidéo", timeout=20_000)
    problems += await _unreadable(patient, ".mode, .mode-now", "patient, video")
    problems += await _overflow(patient, "patient's call screen, video")

    switch = clinician.get_by_label("Mode de M. Roche")
    await expect(switch).to_be_visible(timeout=15_000)
    problems += await _overflow(clinician, "clinician's consultation screen, video")
    await switch.select_option("audio-only")
    await expect(patient.locator(".mode-now")).to_contain_text("Son seulement", timeout=10_000)
    await expect(patient.locator(".mode-why")).to_contain_text("choisi pendant l'appel")
    problems += await _unreadable(patient, ".mode, .mode-now, .mode-why", "patient, sound only")
    problems += await _overflow(patient, "patient's call screen, sound only")

    line = clinician.locator("ul.participants li").filter(has_text="M. Roche")
    await expect(line).to_contain_text("son seulement (choisi à la main)", timeout=10_000)
    await expect(clinician.locator(".call-status")).to_contain_text(
        "M. Roche : son seulement, choisi à la main."
    )
    indicator = ".participants .mode, .participants .media, .call-status"
    problems += await _unreadable(clinician, indicator, "clinician, sound only")
    problems += await _overflow(clinician, "clinician's consultation screen, sound only")
    assert problems == [], "\n".join(problems)
    await w.assert_clean()
    await p.assert_clean()

"""The workspace with the keyboard alone (WCAG 2.1.1): signing in, setting up the device,
creating a room, adding a colleague, writing, attaching a file, reading the members and signing
out, by Tab, Shift+Tab, typing, Enter and Space only. Every element reached shows a visible
focus indicator (2.4.7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import PASSWORD
from tests.security.conftest import Served
from tests.web.test_call import PATIENT, in_call
from tests.web.workspace import (
    RECOVERY,
    browsers,
    first_device,
    host_with_link,
    open_room,
    patient_waits,
    sign_in,
    timeline,
)

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
  const name = (el.getAttribute('aria-label') || label || el.innerText || el.value || '').trim();
  const style = getComputedStyle(el);
  const visible = (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2)
    || style.boxShadow !== 'none';
  return {tag: el.tagName.toLowerCase(), name, visible};
}"""


async def tab_to(page: Page, name: str, *, limit: int = 60, back: bool = False) -> None:
    """Press Tab (or Shift+Tab) until the focused element is called `name` (its label, text or
    aria-label starts with it), and check that its focus is visible."""
    seen = []
    for _ in range(limit):
        await page.keyboard.press("Shift+Tab" if back else "Tab")
        focused = await page.evaluate(FOCUSED)
        if focused and focused["name"].startswith(name):
            assert focused["visible"], f"focus on {name!r} is not visible: {focused}"
            return
        seen.append(focused and focused["name"][:30])
    raise AssertionError(f"{name!r} not reached by keyboard; went through {seen}")


async def test_every_flow_with_the_keyboard_alone(
    app_server: Served, browser: Any, tmp_path: Path
) -> None:
    await app_server.add_user("dr.clavier")
    await app_server.add_user("ide.touche")
    w = await browser()
    other = await browser()
    page = w.page
    await sign_in(other.page, app_server.url, "ide.touche")
    await first_device(other.page)

    await page.goto(app_server.url + "/app/")
    await expect(page.get_by_label("Identifiant")).to_be_focused()
    await page.keyboard.type("dr.clavier")
    await tab_to(page, "Mot de passe")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")

    await expect(page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()
    await expect(page.get_by_label("Phrase de récupération", exact=True)).to_be_focused()
    await page.keyboard.type(RECOVERY)
    await tab_to(page, "La même phrase")
    await page.keyboard.type(RECOVERY)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Salles de soins", exact=True)).to_be_visible(
        timeout=30_000
    )

    await tab_to(page, "Nouvelle salle")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Nom de la nouvelle salle")).to_be_focused()
    await page.keyboard.type("Mme Clavier, Bourganeuf")
    await page.keyboard.press("Enter")
    heading = page.get_by_role("heading", name="Mme Clavier, Bourganeuf", level=1)
    await expect(heading).to_be_focused(timeout=15_000)

    await tab_to(page, "Membres")
    await page.keyboard.press("Enter")
    await tab_to(page, "Ajouter une personne")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Chercher un collègue")).to_be_focused()
    await page.keyboard.type("ide.tou")
    await page.keyboard.press("Enter")
    await tab_to(page, "ide.touche")
    await page.keyboard.press("Enter")
    await tab_to(page, "Ajouter")
    await page.keyboard.press("Space")
    await expect(page.get_by_role("status").filter(has_text="a été ajouté")).to_be_visible(
        timeout=15_000
    )
    await tab_to(page, "Fermer")
    await page.keyboard.press("Enter")

    await tab_to(page, "Votre message")
    await page.keyboard.type("Écrit au clavier seulement")
    await page.keyboard.press("Enter")
    await expect(timeline(page).get_by_text("Écrit au clavier seulement")).to_be_visible()

    doc = tmp_path / "files" / "ordonnance.pdf"
    doc.parent.mkdir()
    doc.write_bytes(b"%PDF-1.4\n% ordonnance de test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    await tab_to(page, "Joindre une photo ou un PDF", back=True)
    async with page.expect_file_chooser() as chooser:
        await page.keyboard.press("Space")
    await (await chooser.value).set_files(str(doc))
    attached = timeline(page).get_by_text("ordonnance.pdf", exact=True)
    await expect(attached).to_be_visible(timeout=15_000)

    await open_room(other.page, "Mme Clavier, Bourganeuf")
    await expect(timeline(other.page).get_by_text("Écrit au clavier seulement")).to_be_visible()
    await expect(timeline(other.page).get_by_text("ordonnance.pdf", exact=True)).to_be_visible()

    await tab_to(page, "Se déconnecter", back=True, limit=80)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    await w.assert_clean()


async def focused_is(page: Page, name: str) -> None:
    """The focus is on the element called `name` (as `tab_to` names it), and visibly so."""
    focused = await page.evaluate(FOCUSED)
    assert focused and focused["name"].startswith(name), f"focus on {focused}, not {name!r}"
    assert focused["visible"], f"focus on {name!r} is not visible: {focused}"


async def test_the_consultation_screen_with_the_keyboard_alone(
    app_server: Served, browser: Any
) -> None:
    """The host's consultation screen during a call, by Tab, Shift+Tab, arrows, typing and Enter:
    the patient admitted from the waiting room, their mode set to sound only with the "Mode de"
    select and back to automatic (the patient's page follows each time), a message in the
    consultation's text channel, and the end, confirmed. The focus stays where the keyboard
    left it through every update of the screen, and shows."""
    w, p = await browsers(browser)
    page, patient = w.page, p.page
    link, code = await host_with_link(app_server, page, PATIENT)
    await tab_to(page, "Ouvrir la consultation")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Consultation", exact=True)).to_be_focused()

    await patient_waits(patient, link, code)
    await expect(page.locator("ul.waiting li")).to_contain_text(PATIENT)
    await tab_to(page, f"Admettre {PATIENT}")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Salle d'attente", level=2)).to_be_focused()
    await expect(in_call(patient)).to_be_visible()
    await expect(patient.locator(".mode-now")).to_contain_text("Vidéo", timeout=20_000)

    # The mode switch: arrows change a closed select; the focus stays on it while the server
    # takes the choice (the select is busy meanwhile) and after.
    switch = page.get_by_label(f"Mode de {PATIENT}")
    await expect(switch).to_be_visible(timeout=15_000)
    await tab_to(page, f"Mode de {PATIENT}")
    await page.keyboard.press("ArrowDown")
    await expect(switch).to_have_value("audio-only")
    await expect(patient.locator(".mode-now")).to_contain_text("Son seulement", timeout=10_000)
    line = page.locator("ul.participants li").filter(has_text=PATIENT)
    await expect(line).to_contain_text("son seulement (choisi à la main)", timeout=10_000)
    await expect(switch).to_be_enabled()
    await expect(switch).to_be_focused()
    await focused_is(page, f"Mode de {PATIENT}")
    await page.keyboard.press("ArrowUp")
    await expect(switch).to_have_value("auto")
    await expect(patient.locator(".mode-why")).to_contain_text("Retour au mode automatique")
    await expect(switch).to_be_enabled()
    await expect(switch).to_be_focused()

    # The consultation's text channel, back up the page.
    await tab_to(page, "Votre message", back=True)
    await page.keyboard.type("Écrit au clavier pendant l'appel")
    await page.keyboard.press("Enter")
    messages = page.get_by_label("Messages de la consultation")
    await expect(messages).to_contain_text("Écrit au clavier pendant l'appel", timeout=15_000)
    await expect(page.get_by_label("Votre message")).to_be_focused()
    await focused_is(page, "Votre message")
    await patient.get_by_role("button", name="Messages").click()
    await expect(patient.locator("#call-text")).to_contain_text(
        "Écrit au clavier pendant l'appel", timeout=15_000
    )

    # The end: asked once, confirmed by Enter, the focus back on the screen's heading.
    await tab_to(page, "Terminer la consultation")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("button", name="Oui, terminer")).to_be_focused()
    await focused_is(page, "Oui, terminer")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Consultation", exact=True)).to_be_focused()
    await expect(
        page.get_by_role("status").filter(has_text="Le compte rendu est dans la salle de soins")
    ).to_be_visible()
    ended = patient.get_by_role("heading", name="La consultation est terminée")
    await expect(ended).to_be_visible()
    await w.assert_clean()
    await p.assert_clean()

"""The clinician's consultation screen (issue 13, item 2, without media): the host sees the
patient arrive in the waiting room (announced), admits or refuses them from the screen, sees who
is in, and ends the consultation after confirming; the patient's page follows each step. The
screen has its own address, so a reload comes back to it, and the room lists its open
consultations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.workspace import browsers, host_with_link, patient_waits, timeline

PATIENT = "M. Roche"


def arrival(page: Page) -> Any:
    return page.get_by_role("status").filter(has_text=f"Dans la salle d'attente : {PATIENT}")


async def test_host_admits_from_the_waiting_room_then_ends(
    app_server: Served, browser: Any
) -> None:
    w, p = await browsers(browser)
    page = w.page
    link, code = await host_with_link(app_server, page, PATIENT)
    await page.get_by_role("link", name="Ouvrir la consultation").click()
    screen = page.get_by_role("heading", name="Consultation", exact=True, level=1)
    await expect(screen).to_be_focused()
    assert "/consultations/c_" in page.url
    await expect(page.get_by_text("Personne n'attend pour le moment.")).to_be_visible()
    await w.assert_accessible("consultation, nobody waiting")

    await patient_waits(p.page, link, code)
    await expect(arrival(page)).to_be_visible()
    waiting = page.locator("ul.waiting li")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text(PATIENT)
    await w.assert_accessible("consultation, someone waiting")

    await page.get_by_role("button", name=f"Admettre {PATIENT}").click()
    await expect(page.get_by_role("heading", name="Salle d'attente", level=2)).to_be_focused()
    await expect(
        p.page.get_by_role("heading", name="Vous êtes dans la consultation")
    ).to_be_visible()
    inside = page.locator("ul.participants")
    await expect(inside).to_contain_text(f"{PATIENT} · patient · connecté")
    await expect(inside).to_contain_text("hôte")
    await expect(waiting).to_have_count(0)

    # The address brings the screen back after a reload, with who is in.
    await page.reload()
    await expect(screen).to_be_visible(timeout=15_000)
    await expect(inside).to_contain_text(f"{PATIENT} · patient · connecté")

    end = page.get_by_role("button", name="Terminer la consultation")
    await end.click()
    await expect(page.get_by_role("button", name="Oui, terminer")).to_be_focused()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # "Annuler": nothing ends, the focus comes back
    await expect(end).to_be_focused()
    await end.press("Enter")
    await w.assert_accessible("end, confirming")
    await page.get_by_role("button", name="Oui, terminer").press("Enter")
    await expect(screen).to_be_focused()
    await expect(
        page.get_by_role("status").filter(
            has_text="Consultation terminée. Le compte rendu est dans la salle de soins."
        )
    ).to_be_visible()
    await expect(p.page.get_by_role("heading", name="La consultation est terminée")).to_be_visible()
    await w.assert_accessible("consultation ended")

    # The summary, an encrypted message in the care room: who, when, how long.
    await page.get_by_role("link", name="Retour à la salle de soins").click()
    summary = timeline(page).locator("li").filter(has_text="Compte rendu de téléconsultation")
    await expect(summary).to_be_visible(timeout=15_000)
    await expect(summary).to_contain_text(f"{PATIENT} (patient)")
    await expect(summary).to_contain_text("(hôte)")
    await expect(summary).to_contain_text("Aucun changement de mode d'appel.")
    db = Path(app_server.database_url.split("///", 1)[1])
    stored = b"".join(f.read_bytes() for f in db.parent.glob(db.name + "*") if f.is_file())
    assert "Compte rendu de téléconsultation".encode() not in stored
    await w.assert_clean()
    await p.assert_clean()


async def test_host_refuses_a_waiting_patient(app_server: Served, browser: Any) -> None:
    w, p = await browsers(browser)
    page = w.page
    link, code = await host_with_link(app_server, page, PATIENT)
    await page.get_by_role("button", name="Fermer").click()
    # Back to the consultation from the room's list of open ones.
    await page.get_by_role("link", name="Consultations ouvertes").click()
    await expect(page.get_by_role("heading", name="Consultations ouvertes")).to_be_focused()
    await w.assert_accessible("open consultations")
    await page.get_by_role("link", name="Consultation ouverte à").click()
    await expect(page.get_by_role("heading", name="Consultation", exact=True)).to_be_focused()

    await patient_waits(p.page, link, code)
    await expect(arrival(page)).to_be_visible()
    await page.get_by_role("button", name=f"Refuser {PATIENT}").click()
    await expect(page.get_by_role("heading", name="Salle d'attente", level=2)).to_be_focused()
    await expect(p.page.get_by_role("heading", name="Vous ne pouvez pas entrer")).to_be_visible()
    await expect(page.locator("ul.waiting li")).to_have_count(0)
    await expect(page.get_by_text("Personne n'attend pour le moment.")).to_be_visible()
    await w.assert_clean()
    await p.assert_clean()

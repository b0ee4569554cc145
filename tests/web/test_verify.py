"""Two clinicians verify each other's keys in Chromium (docs/crypto.md §2.3): each opens the
other's verification from the room's members, both see the same 60-digit safety number (and its
QR code), each confirms the match, and each side's members list then says the other is
verified, a state this device keeps."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.workspace import browsers, shared_room, signed_in

TITLE = "M. Girard, Felletin"


async def _open_verification(page: Page, name: str) -> str:
    """From the open room: the members panel, then `name`'s verification; its safety number."""
    await page.get_by_role("button", name="Membres").click()
    await page.get_by_role("button", name=f"Vérifier {name}").click()
    await expect(page.get_by_role("heading", name=f"Vérifier {name}")).to_be_visible()
    await expect(page.get_by_role("img", name=f"QR code de sécurité avec {name}")).to_be_visible()
    number = page.locator(".safety-number")
    await expect(number).to_have_text(re.compile(r"^\s*(\d{5}\s+){11}\d{5}\s*$"))
    return re.sub(r"\D", "", await number.inner_text())


async def _confirm(page: Page, name: str) -> None:
    await expect(page.get_by_role("status").filter(has_text="Pas encore vérifié")).to_be_visible()
    await page.get_by_role("button", name="Les numéros sont identiques").click()
    await expect(
        page.get_by_role("status").filter(has_text=f"{name} est vérifié·e")
    ).to_be_visible()
    await page.get_by_role("button", name="Fermer").click()
    await page.get_by_role("button", name="Membres").click()
    members = page.get_by_role("region", name="Membres")
    member = members.get_by_role("listitem").filter(has_text=name)
    await expect(member).to_contain_text("✓ vérifié·e")


async def test_two_clinicians_verify_each_other(app_server: Served, browser: Any) -> None:
    a, b = await browsers(browser)
    await signed_in(app_server, [a, b], ["dr.martin", "ide.leroy"])
    await shared_room(a.page, b.page, TITLE, "ide.leroy")

    number_a, number_b = (
        await _open_verification(a.page, "ide.leroy"),
        await _open_verification(b.page, "dr.martin"),
    )
    assert len(number_a) == 60 and number_a == number_b
    await a.assert_accessible("verification")
    await _confirm(a.page, "ide.leroy")
    await a.assert_accessible("members, colleague verified")
    await _confirm(b.page, "dr.martin")

    # Kept: after a reload, straight to the verification's address, still verified.
    await a.page.goto(a.page.url.split("#")[0] + "#/verify/" + app_server.users["ide.leroy"])
    await a.page.reload()
    await expect(a.page.get_by_role("heading", name="Vérifier ide.leroy")).to_be_visible()
    await expect(
        a.page.get_by_role("status").filter(has_text="ide.leroy est vérifié·e")
    ).to_be_visible()
    await a.assert_clean()
    await b.assert_clean()

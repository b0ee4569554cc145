"""Steps of the clinician workspace as a user does them in Chromium (labels and roles, as a
screen reader or the keyboard reaches them), shared by the browser tests."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, WebSocketRoute, expect

from tests.conftest import PASSWORD
from tests.security.conftest import Served
from tests.web.conftest import Watched

RECOVERY = "une phrase de récupération assez longue"
ROOMS = "Salles de soins"


async def sign_in(page: Page, url: str, username: str) -> None:
    await page.goto(url + "/app/")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()


async def first_device(page: Page, *, backup: bool = True) -> None:
    """The first browser of a user: choose the recovery passphrase, wait for argon2id (or,
    `backup=False`, "later": no key backup, and no seconds of argon2id)."""
    await expect(page.get_by_role("heading", name="Protéger vos messages")).to_be_visible()
    if backup:
        await page.get_by_label("Phrase de récupération", exact=True).fill(RECOVERY)
        await page.get_by_label("La même phrase, encore une fois").fill(RECOVERY)
        await page.get_by_role("button", name="Protéger mes clés").click()
    else:
        await page.get_by_role("button", name="Plus tard").click()
    await expect(page.get_by_role("heading", name=ROOMS, exact=True)).to_be_visible(timeout=30_000)


async def browsers(browser: Callable[..., Any], n: int = 2) -> list[Watched]:
    """`n` Chromiums, launched side by side."""
    return list(await asyncio.gather(*(browser() for _ in range(n))))


async def signed_in(
    served: Served, pages: list[Watched], usernames: list[str], *, backup: bool = False
) -> None:
    """Each user created, signed in on their page and set up as their first device, together."""
    for username in usernames:
        await served.add_user(username)

    async def one(w: Watched, username: str) -> None:
        await sign_in(w.page, served.url, username)
        await first_device(w.page, backup=backup)

    await asyncio.gather(*(one(w, u) for w, u in zip(pages, usernames, strict=True)))


async def shared_room(owner: Page, member: Page, title: str, username: str) -> None:
    """`owner` creates the room and adds `username`, who opens it on `member`."""
    await create_room(owner, title)
    await add_member(owner, username)
    await open_room(member, title)


async def create_room(page: Page, title: str) -> None:
    await page.get_by_role("button", name="Nouvelle salle").click()
    await page.get_by_label("Nom de la nouvelle salle").fill(title)
    await page.get_by_role("button", name="Créer la salle").click()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=15_000)


async def add_member(page: Page, username: str) -> None:
    await page.get_by_role("button", name="Membres").click()
    await page.get_by_role("button", name="Ajouter une personne").click()
    await page.get_by_label("Chercher un collègue").fill(username)
    await page.get_by_role("button", name="Chercher", exact=True).click()
    await page.get_by_role("button", name=username).click()
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="a été ajouté")).to_be_visible(
        timeout=15_000
    )
    await page.get_by_role("button", name="Fermer").click()


async def open_room(page: Page, title: str) -> None:
    await page.get_by_role("navigation").get_by_role("link", name=title).click()
    await expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


async def send(page: Page, text: str) -> None:
    box = page.get_by_label("Votre message")
    await box.fill(text)
    await box.press("Enter")


def timeline(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("log", name="Messages")


class SocketLink:
    """The page's socket.io link, cut and restored at will while the page itself and its REST
    calls stay up (so a reload works while the socket cannot connect). While cut, a new socket
    is held open unanswered (as on a dead link) and joined to the server once restored. Install
    it before the page opens its socket."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.restored = asyncio.Event()
        self.restored.set()
        self.open: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    async def install(self) -> None:
        async def route(ws: WebSocketRoute) -> None:
            await self.restored.wait()
            self.open.append((ws, ws.connect_to_server()))

        await self.page.route_web_socket(re.compile(r"/socket\.io/"), route)

    async def cut(self) -> None:
        self.restored.clear()
        for page_side, server_side in self.open:
            await page_side.close()
            await server_side.close()
        self.open.clear()

    def restore(self) -> None:
        self.restored.set()


def offline(page: Page):  # type: ignore[no-untyped-def]
    return page.get_by_role("status").filter(has_text="Hors ligne")


async def start_consultation(page: Page, patient: str) -> tuple[str, str]:
    """From the open care room: create a consultation with a code for `patient`; returns the
    patient's link and code as shown (once) to the clinician."""
    await page.get_by_role("button", name="Démarrer une consultation").click()
    await page.get_by_label("Nom affiché du patient").fill(patient)
    await page.get_by_role("button", name="Créer la consultation").click()
    await expect(page.get_by_role("heading", name="Consultation créée")).to_be_focused(
        timeout=15_000
    )
    link = await page.get_by_label("Lien pour le patient").input_value()
    code_text = await page.get_by_text("Code à donner au patient").inner_text()
    return link, code_text.rsplit(":", 1)[1].strip()


async def host_with_link(served: Served, page: Page, patient: str) -> tuple[str, str]:
    """dr.roche signs in (first device, no backup), creates a care room and starts a consultation
    for `patient`; returns the patient's link and code."""
    await served.add_user("dr.roche")
    await sign_in(page, served.url, "dr.roche")
    await first_device(page, backup=False)
    await create_room(page, f"{patient}, Aubusson")
    return await start_consultation(page, patient)


async def patient_admitted(served: Served, clinician: Page, patient: Page, name: str) -> None:
    """dr.roche hosts a consultation for `name` (`host_with_link`) and opens it; the patient's
    browser comes through the link into the waiting room; dr.roche admits them."""
    link, code = await host_with_link(served, clinician, name)
    await clinician.get_by_role("link", name="Ouvrir la consultation").click()
    await patient_waits(patient, link, code)
    await clinician.get_by_role("button", name=f"Admettre {name}").click()


async def patient_waits(page: Page, link: str, code: str) -> None:
    """The patient's join page: the link, the code, the consent, then the waiting room."""
    await page.goto(link)
    await page.get_by_label("Code à 6 chiffres").fill(code)
    await page.get_by_role("button", name="Valider le code").click()
    await page.get_by_role("button", name="Rejoindre la consultation").click()
    await expect(page.get_by_role("heading", name="Salle d'attente")).to_be_visible()

"""The README's path, run as a new user would (issue 12, "Done when"): accounts made with the admin
CLI, `docs/quickstart.py` run (twice: a rerun keeps the users' identities), then alice signs in to
the browser app, restores her keys from the quickstart's backup and reads the quickstart's room;
bob, in another browser, does the same and they chat; `docs/python_peer.py` is added to a new
room and answers in it. Everything end to end encrypted, over a real `relais serve`."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.security.conftest import Served
from tests.web.workspace import add_member, create_room, open_room, send, timeline

ROOT = Path(__file__).resolve().parents[2]
ALICE = ("alice", "change-me-alice-1", "alice's long recovery passphrase")
BOB = ("bob", "change-me-bob-1", "bob's long recovery passphrase")
FROM_PYTHON = "Thanks, I will adjust the dose tonight."


async def _run(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def _restore(page: Page, url: str, user: tuple[str, str, str]) -> None:
    """Sign in on a new browser and unlock the keys with the recovery passphrase."""
    await page.goto(url + "/app/")
    await page.get_by_label("Identifiant").fill(user[0])
    await page.get_by_label("Mot de passe").fill(user[1])
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Nouvel appareil")).to_be_visible()
    await page.get_by_role("button", name="Avec ma phrase de récupération").click()
    await page.get_by_label("Phrase de récupération", exact=True).fill(user[2])
    await page.get_by_role("button", name="Retrouver mes clés").click()
    await expect(page.get_by_role("heading", name="Salles de soins", exact=True)).to_be_visible(
        timeout=60_000
    )


async def test_the_readme_from_make_run_to_chatting(app_server: Served, browser: Any) -> None:
    env = {
        **os.environ,
        "RELAIS_URL": app_server.url,
        "RELAIS_DATABASE_URL": app_server.database_url,
    }
    relais = str(Path(sys.executable).with_name("relais"))
    for name, role, password in (
        ("admin", "admin", "change-me-admin-1"),
        ("alice", "clinician", ALICE[1]),
        ("labo", "clinician", "change-me-labo-1"),
    ):
        await _run(
            relais, "admin", "create-user", name, "--role", role, "--password", password, env=env
        )
    first = await _run(sys.executable, "docs/quickstart.py", env=env)
    assert "quickstart OK" in first, first
    again = await _run(sys.executable, "docs/quickstart.py", env=env)
    assert "quickstart OK" in again, again

    a, b = await browser(), await browser()
    await asyncio.gather(
        _restore(a.page, app_server.url, ALICE), _restore(b.page, app_server.url, BOB)
    )
    rooms = a.page.get_by_role("navigation").get_by_role("list").get_by_role("link")
    await expect(rooms).to_have_count(2)  # one room per quickstart run
    await rooms.first.click()
    await expect(timeline(a.page).get_by_text(FROM_PYTHON)).to_be_visible(timeout=20_000)
    await a.assert_accessible("the quickstart's room, restored in the browser")

    await create_room(a.page, "Mme Lemaire, Felletin")
    await add_member(a.page, "bob")
    await add_member(a.page, "labo")
    await open_room(b.page, "Mme Lemaire, Felletin")
    await send(a.page, "Bonjour Bob, vu Mme Lemaire ce matin")
    await expect(timeline(b.page).get_by_text("vu Mme Lemaire ce matin")).to_be_visible()
    await send(b.page, "Merci Alice")
    await expect(timeline(a.page).get_by_text("Merci Alice")).to_be_visible()

    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        "docs/python_peer.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert peer.stdout is not None
        line = await asyncio.wait_for(peer.stdout.readline(), 60)
        assert b"is listening" in line, line
        await send(a.page, "Résultats de la prise de sang ?")
        reply = timeline(a.page).get_by_text("Bien reçu : Résultats de la prise de sang ?")
        await expect(reply).to_be_visible(timeout=20_000)
        await expect(timeline(b.page).get_by_text("Bien reçu : Résultats")).to_be_visible()
    finally:
        peer.terminate()
        await peer.wait()
    await a.assert_clean()
    await b.assert_clean()

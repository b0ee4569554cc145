"""A clinician in Chromium and a program on the Python SDK (client/, as docs/quickstart.py uses
it) in one care room: each reads what the other wrote, both ways end to end encrypted; the
browser names the Python user rather than showing an id, both compute the same safety number,
and the server's database holds none of the words."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from client.e2ee import E2EEClient, MessageRecord
from client.sdk import RelaisClient
from tests.conftest import PASSWORD
from tests.security.conftest import Served
from tests.web.workspace import add_member, create_room, first_device, send, sign_in, timeline

TITLE = "M. Faure, La Souterraine"
ASK = "Résultat de la NFS de ce matin ?"
ANSWER = "Hb 11,2 g/dL, plaquettes 210 G/L"


async def _python_device(served: Served, username: str) -> tuple[E2EEClient, asyncio.Queue[Any]]:
    """A first device on the Python SDK, connected; its decrypted text messages in a queue."""
    api = RelaisClient(served.url)
    await api.login(username, PASSWORD, device_name="labo-bot")
    device = E2EEClient(api)
    await device.bootstrap()
    texts: asyncio.Queue[MessageRecord] = asyncio.Queue()

    def decrypted(rec: MessageRecord) -> None:
        if rec.sender_user != device.user_id and (rec.content or {}).get("type") == "text":
            texts.put_nowait(rec)

    device.on_decrypted = decrypted
    await device.connect()
    return device, texts


async def test_browser_and_python_sdk_chat_both_ways(app_server: Served, browser: Any) -> None:
    await app_server.add_user("dr.martin")
    await app_server.add_user("labo.guéret")
    bot, texts = await _python_device(app_server, "labo.guéret")
    try:
        w = await browser()
        await sign_in(w.page, app_server.url, "dr.martin")
        await first_device(w.page, backup=False)
        await create_room(w.page, TITLE)
        await add_member(w.page, "labo.guéret")
        await send(w.page, ASK)

        asked = await asyncio.wait_for(texts.get(), 15)
        assert asked.content == {"type": "text", "body": ASK}
        assert asked.sender_user == app_server.users["dr.martin"]
        await bot.send_text(asked.room_id, ANSWER)
        answer = timeline(w.page).locator(".message").filter(has_text=ANSWER)
        await expect(answer).to_be_visible(timeout=15_000)
        await expect(answer.locator(".sender")).to_have_text("labo.guéret")
        await w.assert_accessible("room with a message from the Python SDK")

        await w.page.get_by_role("button", name="Membres").click()
        await w.page.get_by_role("button", name="Vérifier labo.guéret").click()
        number = w.page.locator(".safety-number")
        await expect(number).to_have_text(
            " ".join(
                bot.safety_number(app_server.users["dr.martin"])[i : i + 5] for i in range(0, 60, 5)
            ),
            use_inner_text=True,
        )
        await w.assert_clean()
    finally:
        await bot.close()

    db = Path(app_server.database_url.split("///", 1)[1])
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for secret in (TITLE, ASK, ANSWER):
        assert secret.encode() not in stored, f"plaintext on the server: {secret!r}"

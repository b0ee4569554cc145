"""Two clinicians, each in their own Chromium, chat end to end encrypted in one care room:
messages both ways, an image with its inline preview, read receipts; and what reached the server
(its database file and its attachment blobs) holds none of the plaintext (issue 12, tests)."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.security.conftest import Served
from tests.web.workspace import (
    add_member,
    create_room,
    first_device,
    open_room,
    send,
    sign_in,
    timeline,
)

TITLE = "Mme Dupont, Guéret"
HELLO = "Bonjour, tension 14/9 ce matin, à surveiller"
REPLY = "Bien reçu, je passe à 16 h"


def _png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG (a gradient), so Chromium decodes and shows it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 120)) for x in range(width))
        for y in range(height)
    )
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _server_bytes(served: Served) -> bytes:
    """Everything the server stored: the database file(s) and every attachment blob."""
    db = Path(served.database_url.split("///", 1)[1])
    files = [*db.parent.glob(db.name + "*"), *sorted((db.parent / "data").rglob("*"))]
    blobs = [p for p in files if p.is_file()]
    assert any("attachments" in p.parts for p in blobs), "the image blob is where we look"
    return b"".join(p.read_bytes() for p in blobs)


async def test_two_clinicians_chat_and_share_an_image(
    app_server: Served, browser: Any, tmp_path: Path
) -> None:
    await app_server.add_user("dr.martin")
    await app_server.add_user("ide.leroy")
    a, b = await browser(), await browser()

    await sign_in(a.page, app_server.url, "dr.martin")
    await first_device(a.page)
    await a.assert_accessible("workspace, empty")
    await sign_in(b.page, app_server.url, "ide.leroy")
    await first_device(b.page)

    await create_room(a.page, TITLE)
    await add_member(a.page, "ide.leroy")
    await send(a.page, HELLO)
    await expect(timeline(a.page).get_by_text(HELLO)).to_be_visible()

    await open_room(b.page, TITLE)
    await expect(timeline(b.page).get_by_text(HELLO)).to_be_visible(timeout=15_000)
    await b.assert_accessible("room view")
    await send(b.page, REPLY)
    await expect(timeline(a.page).get_by_text(REPLY)).to_be_visible(timeout=15_000)
    # A read B's reply while looking at the room: B sees it read.
    await expect(timeline(b.page).get_by_text("Lu par dr.martin")).to_be_visible(timeout=15_000)

    image = tmp_path / "upload" / "plaie-jambe.png"
    image.parent.mkdir()
    png = _png()
    image.write_bytes(png)
    await a.page.set_input_files("#composer-file", str(image))
    preview = timeline(b.page).get_by_role("img", name="Aperçu de plaie-jambe.png")
    await expect(preview).to_be_visible(timeout=20_000)
    width = await preview.evaluate("img => img.naturalWidth")
    assert width == 64, "the preview is the decrypted image itself"

    await b.page.get_by_role("button", name="Membres").click()
    await b.assert_accessible("members panel")
    await a.assert_clean()
    await b.assert_clean()

    stored = _server_bytes(app_server)
    for secret in (TITLE, HELLO, REPLY):
        for form in (secret.encode(), base64.b64encode(secret.encode())):
            assert form not in stored, f"plaintext on the server: {secret!r}"
    assert png[8:64] not in stored and zlib.compress(png)[:32] not in stored

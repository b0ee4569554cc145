"""Attachment upload/download of ciphertext blobs by room members, over real HTTP."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import select

from client import RelaisError
from server.db.models import Attachment, AuditEvent
from tests.conftest import make_user
from tests.conftest import test_settings as settings_for


async def _chunks(data: bytes, size: int):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def _team(running, clients):
    doc = await make_user(running, "clinician")
    nurse = await make_user(running, "clinician")
    c_doc = await clients(running, doc, connect=False)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(running, nurse, connect=False)
    return c_doc, c_nurse, room


def _blob_files(running) -> list[str]:
    root = running.services.settings.attachments_dir
    return sorted(p.name for p in root.rglob("*") if p.is_file())


async def test_round_trip_and_audit(relais, clients):
    c_doc, c_nurse, room = await _team(relais, clients)
    blob = os.urandom(3 * 1024 * 1024 + 17)  # several read chunks and flush batches
    res = await c_doc.upload_attachment(room, blob)
    assert res["size"] == len(blob)
    assert res["sha256"] == hashlib.sha256(blob).hexdigest()
    assert res["room_id"] == room
    att = res["attachment_id"]
    assert att.startswith("a_")

    assert await c_nurse.download_attachment(att) == blob
    assert await c_doc.download_attachment(att) == blob
    # The file on disk is named by the server's id, nothing the client chose; no temp left.
    assert _blob_files(relais) == [att]

    # Chunked (no Content-Length) uploads are streamed the same way.
    res2 = await c_nurse.upload_attachment(room, _chunks(blob, 100_000))
    assert (res2["size"], res2["sha256"]) == (res["size"], res["sha256"])
    assert res2["attachment_id"] != att

    async with relais.services.db.read() as c:
        rows = (
            await c.execute(
                select(AuditEvent.__table__).where(AuditEvent.target == att).order_by(AuditEvent.id)
            )
        ).all()
        stored = (await c.execute(select(Attachment.__table__).where(Attachment.id == att))).one()
    assert [r.action for r in rows] == [
        "attachment.upload",
        "attachment.download",
        "attachment.download",
    ]
    assert [r.actor_user_id for r in rows] == [c_doc.user_id, c_nurse.user_id, c_doc.user_id]
    assert all(r.room_id == room for r in rows)
    assert (stored.size, stored.sha256, stored.uploader_device_id) == (
        len(blob),
        res["sha256"],
        c_doc.device_id,
    )
    ok, _n, reason = await relais.services.audit.verify()
    assert ok, reason


async def test_download_headers(relais, clients):
    c_doc, _c_nurse, room = await _team(relais, clients)
    res = await c_doc.upload_attachment(room, b"\x00\x01ciphertext")
    http = await c_doc._session()
    async with http.get(
        f"{relais.url}/api/v1/attachments/{res['attachment_id']}",
        headers={"Authorization": f"Bearer {c_doc.token}"},
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["X-Content-SHA256"] == res["sha256"]
        assert resp.headers["Cache-Control"] == "private, no-store"
        assert await resp.read() == b"\x00\x01ciphertext"


async def test_members_only(relais, clients):
    c_doc, _c_nurse, room = await _team(relais, clients)
    att = (await c_doc.upload_attachment(room, b"secret-ct"))["attachment_id"]
    stranger = await make_user(relais, "clinician")
    c_str = await clients(relais, stranger, connect=False)
    for attachment_id in (att, "a_doesnotexist00", "..%2Fetc%2Fpasswd"):
        with pytest.raises(RelaisError) as err:
            await c_str.download_attachment(attachment_id)
        assert (err.value.code, err.value.status) == ("not_found", 404)
    for room_id in (room, "r_doesnotexist"):
        with pytest.raises(RelaisError) as err:
            await c_str.upload_attachment(room_id, b"x")
        assert (err.value.code, err.value.status) == ("not_found", 404)
    anonymous = await clients(relais, stranger, connect=False)
    anonymous.token = None
    with pytest.raises(RelaisError) as err:
        await anonymous.download_attachment(att)
    assert err.value.code == "unauthorized"
    async with relais.services.db.read() as c:
        downloads = (
            await c.execute(select(AuditEvent.id).where(AuditEvent.action == "attachment.download"))
        ).all()
    assert downloads == []
    assert _blob_files(relais) == [att]


async def test_size_limit(start_server, tmp_path, database_url, clients):
    running = await start_server(settings_for(tmp_path, database_url, max_attachment_bytes=1000))
    c_doc, c_nurse, room = await _team(running, clients)
    # Refused up front from Content-Length ...
    with pytest.raises(RelaisError) as err:
        await c_doc.upload_attachment(room, os.urandom(1001))
    assert (err.value.code, err.value.status) == ("payload_too_large", 413)
    # ... and while streaming when the length is not announced.
    with pytest.raises(RelaisError) as err:
        await c_doc.upload_attachment(room, _chunks(os.urandom(5000), 300))
    assert err.value.code == "payload_too_large"
    with pytest.raises(RelaisError) as err:
        await c_doc.upload_attachment(room, b"")
    assert err.value.code == "validation_failed"
    # Nothing half-written stays behind, nothing was recorded.
    assert _blob_files(running) == []
    async with running.services.db.read() as c:
        assert (await c.execute(select(Attachment.id))).all() == []

    exact = os.urandom(1000)
    res = await c_doc.upload_attachment(room, _chunks(exact, 64))
    assert res["size"] == 1000
    assert await c_nurse.download_attachment(res["attachment_id"]) == exact

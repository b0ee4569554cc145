"""Attachment upload and download over REST: ciphertext in, ciphertext out, members only.

The client encrypts the file itself (the key and the plaintext hash travel inside the E2EE
message that references the attachment), so the server only stores bytes, their size and
SHA-256. Membership is checked before a single body byte is read, again when the row is written
(the uploader may have been removed meanwhile), and on every download; a non-member gets the
same `not_found` whether or not the room or the attachment exists. Every upload and download is
audited (sizes and ids only).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy import insert, select

from server.api.context import services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.auth.principal import Principal
from server.db.models import Attachment, new_id, now_ms
from server.errors import ApiError, not_found
from server.rooms.store import is_member

from .blobstore import ID_PATTERN, BlobStore

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.attachments")

ROOM_ID = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
READ_CHUNK = 64 * 1024
SEND_CHUNK = 256 * 1024


async def _chunks(request: web.Request) -> AsyncIterator[bytes]:
    async for chunk in request.content.iter_chunked(READ_CHUNK):
        yield chunk


@route(
    "POST",
    "/api/v1/rooms/{room_id}/attachments",
    raw_body=True,
    tags=("attachments",),
    errors=("not_found", "payload_too_large", "validation_failed"),
    summary="Upload an encrypted attachment (body: the ciphertext, "
    "application/octet-stream). Returns {attachment_id, room_id, size, sha256}.",
)
async def upload(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    room_id = request.match_info["room_id"]
    if not ROOM_ID.match(room_id):
        raise not_found()
    async with svc.db.read() as conn:
        if not await is_member(conn, room_id, p.user_id):
            raise not_found()
    limit = svc.settings.max_attachment_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("payload_too_large", f"attachment larger than {limit} bytes")
    blobs = svc.parts.blobs
    staged = await blobs.stage(_chunks(request), limit)
    if staged.size == 0:
        await blobs.discard(staged)
        raise ApiError("validation_failed", "an attachment cannot be empty")
    attachment_id = new_id("a")
    # On disk first, then the row: a crash in between leaves an orphan file, never a row
    # pointing at nothing.
    await blobs.commit(staged, attachment_id)
    ts = now_ms()
    try:
        async with svc.db.write() as conn:
            if not await is_member(conn, room_id, p.user_id):
                raise not_found()
            await conn.execute(
                insert(Attachment).values(
                    id=attachment_id,
                    room_id=room_id,
                    uploader_user_id=p.user_id,
                    uploader_device_id=p.device_id,
                    size=staged.size,
                    sha256=staged.sha256,
                    created_at=ts,
                )
            )
            await append(
                conn,
                [
                    AuditRecord(
                        "attachment.upload",
                        p.user_id,
                        p.device_id,
                        room_id,
                        target=attachment_id,
                        ip=p.ip,
                        ts=ts,
                        detail={"bytes": staged.size},
                    )
                ],
            )
    except BaseException:
        await blobs.remove(attachment_id)
        raise
    return json_response(
        {
            "attachment_id": attachment_id,
            "room_id": room_id,
            "size": staged.size,
            "sha256": staged.sha256,
            "created_at": ts,
        },
        status=201,
    )


@route(
    "GET",
    "/api/v1/attachments/{attachment_id}",
    tags=("attachments",),
    errors=("not_found",),
    summary="Download an attachment's ciphertext (members of its room only). Headers: "
    "X-Content-SHA256, Content-Length.",
)
async def download(request: web.Request, p: Principal, _b: None) -> web.StreamResponse:
    svc = services(request)
    attachment_id = request.match_info["attachment_id"]
    if not ID_PATTERN.match(attachment_id):
        raise not_found("attachment")
    async with svc.db.read() as conn:
        row = (
            await conn.execute(select(Attachment.__table__).where(Attachment.id == attachment_id))
        ).first()
        if row is None or not await is_member(conn, row.room_id, p.user_id):
            raise not_found("attachment")
    blobs = svc.parts.blobs
    if not await blobs.exists(attachment_id):
        log.error("attachment row without its blob", extra={"attachment_id": attachment_id})
        raise not_found("attachment")
    await svc.audit.record(
        AuditRecord(
            "attachment.download",
            p.user_id,
            p.device_id,
            row.room_id,
            target=attachment_id,
            ip=p.ip,
            detail={"bytes": row.size},
        )
    )
    return web.FileResponse(
        blobs.path_for(attachment_id),
        chunk_size=SEND_CHUNK,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{attachment_id}"',
            "Cache-Control": "private, no-store",
            "X-Content-SHA256": row.sha256,
        },
    )


async def setup(svc: Services) -> None:
    store = BlobStore(svc.settings.attachments_dir)
    await store.prepare()
    svc.parts.blobs = store

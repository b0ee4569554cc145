"""Encrypted key backup: one versioned header and its entries per user, the caller's own only.

The client encrypts everything (docs/crypto.md): `info` holds its backup key wrapped under a
passphrase or recovery key, each entry one encrypted item (typically a room key). The server
keeps the version discipline that lets several devices of one user share the backup safely:
- version 1 creates it; the same version re-writes `info` in place (a passphrase change
  re-wraps the same key); version + 1 starts a new backup key and deletes every older entry in
  the same transaction, since nothing could decrypt them any more; anything else is a conflict
  that names the current version, so a device that missed a rotation learns it;
- entries are written only under the current version, so a device still using a rotated-out key
  cannot mix its items into the new backup.
Every call is audited, with versions and counts only, refused ones included. The statements are
in `backup_store.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)

from server.api.context import services
from server.api.routing import json_response, route, validation_error
from server.audit.log import AuditRecord, append
from server.auth.principal import Principal
from server.db.models import now_ms
from server.errors import ApiError

from . import backup_store as store

if TYPE_CHECKING:
    from server.services import Services

MAX_INFO = 16_384
MAX_ENTRY = 65_536
MAX_ENTRIES = 1000
DEFAULT_PAGE = 500
MAX_VERSION = 2**31 - 1  # an INTEGER column

EntryId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
Version = Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)]


class PutBackup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version
    info: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INFO)]


class BackupEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: EntryId
    data: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENTRY)]


class PutEntries(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version
    entries: Annotated[list[BackupEntry], Field(min_length=1, max_length=MAX_ENTRIES)]

    @field_validator("entries")
    @classmethod
    def _unique(cls, value: list[BackupEntry]) -> list[BackupEntry]:
        # One upsert statement cannot touch a row twice (PostgreSQL refuses it); the client
        # would not know which copy won anyway.
        if len({e.id for e in value}) != len(value):
            raise ValueError("entry ids must be unique within a request")
        return value


class EntriesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: EntryId | None = None
    limit: Annotated[int, Field(ge=1, le=MAX_ENTRIES)] = DEFAULT_PAGE


def _conflict(current: int) -> ApiError:
    return ApiError(
        "conflict", "the key backup is at another version", details={"current_version": current}
    )


def _no_backup() -> ApiError:
    return ApiError("not_found", "no key backup")


async def _refused(svc: Services, p: Principal, action: str, err: ApiError) -> None:
    """Refusals roll their transaction back; they are recorded in one of their own."""
    await svc.audit.record(
        AuditRecord(action, p.user_id, p.device_id, target=p.user_id, ip=p.ip, outcome=err.code)
    )


@route(
    "GET",
    "/api/v1/keys/backup",
    tags=("keys",),
    summary="The caller's key backup header (version, opaque info), or null.",
)
async def get_backup(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    async with svc.db.read() as conn:
        row = await store.header(conn, p.user_id)
    await svc.audit.record(
        AuditRecord(
            "keys.backup_read",
            p.user_id,
            p.device_id,
            target=p.user_id,
            ip=p.ip,
            detail={"version": None if row is None else row.version},
        )
    )
    backup = (
        None
        if row is None
        else {"version": row.version, "info": row.info, "updated_at": row.updated_at}
    )
    return json_response({"backup": backup})


@route(
    "PUT",
    "/api/v1/keys/backup",
    body=PutBackup,
    tags=("keys",),
    errors=("conflict",),
    summary="Create (version 1), re-wrap (same version) or replace (version + 1) the backup.",
)
async def put_backup(request: web.Request, p: Principal, body: PutBackup) -> web.Response:
    svc = services(request)
    action = "keys.backup_write"
    try:
        return json_response(await _write_backup(svc, p, body, action))
    except ApiError as err:
        await _refused(svc, p, action, err)
        raise


async def _write_backup(
    svc: Services, p: Principal, body: PutBackup, action: str
) -> dict[str, Any]:
    now = now_ms()
    deleted = 0
    async with svc.db.write() as conn:
        current = await store.current_version(conn, p.user_id, lock=True)
        if current is None:
            if body.version != 1:
                raise _conflict(0)
            mode = "create"
            if not await store.create(conn, svc.db.is_sqlite, p.user_id, body.info, now):
                # another device created it meanwhile
                raise _conflict(await store.current_version(conn, p.user_id, lock=False) or 0)
        elif body.version == current:
            mode = "update"
            await store.set_header(conn, p.user_id, current, body.info, now)
        elif body.version == current + 1:
            mode = "replace"
            await store.set_header(conn, p.user_id, body.version, body.info, now)
            deleted = await store.drop_entries_before(conn, p.user_id, body.version)
        else:
            raise _conflict(current)
        await append(
            conn,
            [
                AuditRecord(
                    action,
                    p.user_id,
                    p.device_id,
                    target=p.user_id,
                    ip=p.ip,
                    ts=now,
                    detail={
                        "version": body.version,
                        "mode": mode,
                        "bytes": len(body.info),
                        "entries_deleted": deleted,
                    },
                )
            ],
        )
    return {"version": body.version, "updated_at": now, "entries_deleted": deleted}


@route(
    "PUT",
    "/api/v1/keys/backup/entries",
    body=PutEntries,
    tags=("keys",),
    errors=("not_found", "conflict"),
    summary="Store encrypted backup entries under the current version (same id replaces).",
)
async def put_entries(request: web.Request, p: Principal, body: PutEntries) -> web.Response:
    svc = services(request)
    action = "keys.backup_entries_write"
    try:
        return json_response(await _write_entries(svc, p, body, action))
    except ApiError as err:
        await _refused(svc, p, action, err)
        raise


async def _write_entries(
    svc: Services, p: Principal, body: PutEntries, action: str
) -> dict[str, Any]:
    now = now_ms()
    async with svc.db.write() as conn:
        current = await store.current_version(conn, p.user_id, lock=True)
        if current is None:
            raise _no_backup()
        if body.version != current:
            raise _conflict(current)
        pairs = [(e.id, e.data) for e in body.entries]
        await store.put_entries(conn, svc.db.is_sqlite, p.user_id, current, pairs, now)
        await append(
            conn,
            [
                AuditRecord(
                    action,
                    p.user_id,
                    p.device_id,
                    target=p.user_id,
                    ip=p.ip,
                    ts=now,
                    detail={
                        "version": current,
                        "count": len(body.entries),
                        "bytes": sum(len(e.data) for e in body.entries),
                    },
                )
            ],
        )
    return {"version": current, "stored": len(body.entries)}


def _entries_query(request: web.Request) -> EntriesQuery:
    params = dict(request.query)
    if len(params) != len(request.query):
        raise ApiError(
            "validation_failed",
            "a query parameter is repeated",
            details={"problems": [{"loc": "query", "type": "repeated"}]},
        )
    try:
        return EntriesQuery.model_validate(params)
    except ValidationError as exc:
        raise validation_error(exc) from None


@route(
    "GET",
    "/api/v1/keys/backup/entries",
    tags=("keys",),
    errors=("not_found",),
    summary="A page of the caller's backup entries, ordered by id (query: after, limit).",
)
async def get_entries(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    action = "keys.backup_entries_read"
    query = _entries_query(request)
    try:
        async with svc.db.read() as conn:
            version = await store.current_version(conn, p.user_id, lock=False)
            if version is None:
                raise _no_backup()
            rows = await store.entries_page(
                conn, svc.db.is_sqlite, p.user_id, version, query.after, query.limit + 1
            )
    except ApiError as err:
        await _refused(svc, p, action, err)
        raise
    page = rows[: query.limit]
    more = len(rows) > query.limit
    await svc.audit.record(
        AuditRecord(
            action,
            p.user_id,
            p.device_id,
            target=p.user_id,
            ip=p.ip,
            detail={"version": version, "count": len(page)},
        )
    )
    return json_response(
        {
            "version": version,
            "entries": [{"id": r.entry_id, "data": r.data} for r in page],
            "next": page[-1].entry_id if more else None,
        }
    )

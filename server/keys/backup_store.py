"""The key backup's storage (`key_backups`, `key_backup_entries`), on the caller's connection.

`keys/backup.py` holds the rules (which version may write what, what is audited) and the HTTP
side; the statements are here, so the handlers hold no SQL. Everything is one user's own rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import KeyBackup, KeyBackupEntry

from .store import byte_order


async def current_version(conn: AsyncConnection, user_id: str, *, lock: bool) -> int | None:
    stmt = select(KeyBackup.version).where(KeyBackup.user_id == user_id)
    if lock:
        # Orders this user's concurrent backup writers on PostgreSQL (a rotation must not race
        # an entry upload); SQLite writers are already serialised.
        stmt = stmt.with_for_update()
    found = (await conn.execute(stmt)).scalar_one_or_none()
    return None if found is None else int(found)


async def header(conn: AsyncConnection, user_id: str) -> Any | None:
    """The backup's header row (version, info, updated_at), or None."""
    stmt = select(KeyBackup.version, KeyBackup.info, KeyBackup.updated_at).where(
        KeyBackup.user_id == user_id
    )
    return (await conn.execute(stmt)).first()


async def create(conn: AsyncConnection, is_sqlite: bool, user_id: str, info: str, now: int) -> bool:
    """Version 1; False when another device created the backup meanwhile."""
    created = await conn.execute(
        _insert(is_sqlite, KeyBackup)
        .values(user_id=user_id, version=1, info=info, updated_at=now)
        .on_conflict_do_nothing(index_elements=[KeyBackup.user_id])
    )
    return bool(created.rowcount)


async def set_header(
    conn: AsyncConnection, user_id: str, version: int, info: str, now: int
) -> None:
    await conn.execute(
        update(KeyBackup)
        .where(KeyBackup.user_id == user_id)
        .values(version=version, info=info, updated_at=now)
    )


async def drop_entries_before(conn: AsyncConnection, user_id: str, version: int) -> int:
    """Entries of older versions (nothing can decrypt them after a rotation); how many went."""
    gone = await conn.execute(
        delete(KeyBackupEntry).where(
            KeyBackupEntry.user_id == user_id, KeyBackupEntry.version < version
        )
    )
    return int(gone.rowcount)


async def put_entries(
    conn: AsyncConnection,
    is_sqlite: bool,
    user_id: str,
    version: int,
    entries: Iterable[tuple[str, str]],
    now: int,
) -> None:
    """(id, data) pairs under `version`; an id already stored is replaced."""
    ins = _insert(is_sqlite, KeyBackupEntry)
    upsert = ins.on_conflict_do_update(
        index_elements=[KeyBackupEntry.user_id, KeyBackupEntry.entry_id],
        set_={
            "version": ins.excluded.version,
            "data": ins.excluded.data,
            "updated_at": ins.excluded.updated_at,
        },
    )
    rows = [
        {
            "user_id": user_id,
            "entry_id": entry_id,
            "version": version,
            "data": data,
            "updated_at": now,
        }
        for entry_id, data in entries
    ]
    await conn.execute(upsert, rows)


async def entries_page(
    conn: AsyncConnection,
    is_sqlite: bool,
    user_id: str,
    version: int,
    after: str | None,
    limit: int,
) -> Sequence[Any]:
    """Up to `limit` rows (entry_id, data) of `version` after the id `after`, in byte order of
    the ids on both databases."""
    entry_id = byte_order(KeyBackupEntry.entry_id, is_sqlite)
    stmt = (
        select(KeyBackupEntry.entry_id, KeyBackupEntry.data)
        .where(KeyBackupEntry.user_id == user_id, KeyBackupEntry.version == version)
        .order_by(entry_id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(entry_id > after)
    return (await conn.execute(stmt)).all()


def _insert(is_sqlite: bool, model: Any) -> Any:
    return (sqlite_insert if is_sqlite else pg_insert)(model)

"""Storage of the key directory: the key columns of `users` and `devices`, and `device_list_log`.

The rows of users and devices belong to auth, but the public key material on them belongs to the
key directory: a user's identity key and signed device list, a device's public keys, and the log
of every device list published under the current identity key. Keeping every read and write of
that material here means another capability (the membership chain checking a signature, say)
asks for a key instead of spelling the query, and the directory's rules never meet auth's
columns. Every function runs on the caller's connection, inside the caller's transaction, so a
check and the write it guards stay atomic.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import Device, DeviceListLog, User, now_ms


@dataclass(frozen=True, slots=True)
class UserKeys:
    """What a user published: both None until their first device publishes."""

    user_id: str
    identity_key: str | None
    signed_device_list: str | None


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """A device's published public keys: None until the device publishes."""

    device_id: str
    user_id: str
    public_keys: str | None


def byte_order(column: Any, is_sqlite: bool) -> ColumnElement[str]:
    """Compare and sort client-visible ids by their bytes on both databases.

    SQLite compares text bytewise; PostgreSQL uses the database's collation, which for most
    locales ignores punctuation and case. Paging cursors and "ordered by id" must mean the same
    on both, so PostgreSQL is told to use "C".
    """
    col: ColumnElement[str] = column
    return col if is_sqlite else col.collate("C")


# -- users' identity keys and device lists ----------------------------------------------------
async def identity_key(conn: AsyncConnection, user_id: str) -> str | None:
    """The user's published identity key; None for a user who has none (or no such user)."""
    return (
        await conn.execute(select(User.identity_key).where(User.id == user_id))
    ).scalar_one_or_none()


async def lock_user_keys(conn: AsyncConnection, user_id: str) -> UserKeys:
    """The user's keys under a row lock, so two publishes of one user take turns."""
    row = (
        await conn.execute(
            select(User.identity_key, User.signed_device_list)
            .where(User.id == user_id)
            .with_for_update()
        )
    ).one()
    return UserKeys(user_id, row.identity_key, row.signed_device_list)


async def set_user_keys(
    conn: AsyncConnection, user_id: str, identity_key: str, signed_device_list: str
) -> None:
    await conn.execute(
        update(User)
        .where(User.id == user_id)
        .values(identity_key=identity_key, signed_device_list=signed_device_list)
    )


async def users_keys(conn: AsyncConnection, user_ids: Iterable[str]) -> list[UserKeys]:
    """The keys of those of `user_ids` that exist, published or not."""
    rows = await conn.execute(
        select(User.id, User.identity_key, User.signed_device_list).where(
            User.id.in_(list(user_ids))
        )
    )
    return [UserKeys(r.id, r.identity_key, r.signed_device_list) for r in rows]


# -- the device list log ----------------------------------------------------------------------
async def log_head(conn: AsyncConnection, user_id: str) -> int:
    """The newest logged version of the user's device list; 0 when the log is empty."""
    head = (
        await conn.execute(
            select(func.max(DeviceListLog.version)).where(DeviceListLog.user_id == user_id)
        )
    ).scalar_one_or_none()
    return head or 0


async def logged_list(conn: AsyncConnection, user_id: str, version: int) -> str:
    """The list logged at `version`, which must exist."""
    return (
        await conn.execute(
            select(DeviceListLog.signed_device_list).where(
                DeviceListLog.user_id == user_id, DeviceListLog.version == version
            )
        )
    ).scalar_one()


async def logged_after(conn: AsyncConnection, user_id: str, after: int, limit: int) -> list[str]:
    """Up to `limit` logged lists after version `after`, oldest first."""
    rows = await conn.execute(
        select(DeviceListLog.signed_device_list)
        .where(DeviceListLog.user_id == user_id, DeviceListLog.version > after)
        .order_by(DeviceListLog.version)
        .limit(limit)
    )
    return list(rows.scalars())


async def add_to_log(
    conn: AsyncConnection, user_id: str, version: int, signed_device_list: str
) -> None:
    await conn.execute(
        insert(DeviceListLog).values(
            user_id=user_id,
            version=version,
            signed_device_list=signed_device_list,
            created_at=now_ms(),
        )
    )


async def clear_log(conn: AsyncConnection, user_id: str) -> None:
    await conn.execute(delete(DeviceListLog).where(DeviceListLog.user_id == user_id))


# -- devices' public keys ---------------------------------------------------------------------
async def lock_live_device_keys(
    conn: AsyncConnection, user_id: str, device_id: str
) -> DeviceKeys | None:
    """The device's keys under a row lock; None unless it is the user's and not revoked."""
    row = (
        await conn.execute(
            select(Device.public_keys)
            .where(
                Device.id == device_id,
                Device.user_id == user_id,
                Device.revoked_at.is_(None),
            )
            .with_for_update()
        )
    ).first()
    return None if row is None else DeviceKeys(device_id, user_id, row.public_keys)


async def set_device_keys(conn: AsyncConnection, device_id: str, public_keys: str) -> None:
    await conn.execute(update(Device).where(Device.id == device_id).values(public_keys=public_keys))


async def live_device_keys(
    conn: AsyncConnection, user_ids: Iterable[str], *, is_sqlite: bool
) -> list[DeviceKeys]:
    """The published keys of the users' devices that are not revoked, by user then by device
    id (bytewise on both databases); devices that published nothing are left out."""
    rows = await conn.execute(
        select(Device.id, Device.user_id, Device.public_keys)
        .where(
            Device.user_id.in_(list(user_ids)),
            Device.revoked_at.is_(None),
            Device.public_keys.is_not(None),
        )
        .order_by(Device.user_id, byte_order(Device.id, is_sqlite))
    )
    return [DeviceKeys(r.id, r.user_id, r.public_keys) for r in rows]

"""User accounts: creation, password changes, disabling. Used by the REST API and the CLI."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import ROLES, User, new_id, now_ms
from server.errors import ApiError

from . import lockout
from .passwords import MIN_PASSWORD_LENGTH, hash_password


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError(
            "validation_failed", f"password must have at least {MIN_PASSWORD_LENGTH} characters"
        )


async def create_user(
    conn: AsyncConnection,
    *,
    username: str,
    role: str,
    display_name: str | None = None,
    password_hash: str | None = None,
) -> str:
    """Insert a user. Hash the password (`prepare_password`) before opening the transaction:
    an argon2 hash held inside a SQLite write transaction would stall every other writer."""
    if role not in ROLES:
        raise ApiError("validation_failed", f"role must be one of {', '.join(ROLES)}")
    username = username.strip().lower()
    if not username:
        raise ApiError("validation_failed", "username is empty")
    taken = (await conn.execute(select(User.id).where(User.username == username))).first()
    if taken is not None:
        raise ApiError("conflict", "username already taken")
    user_id = new_id("u")
    await conn.execute(
        insert(User).values(
            id=user_id,
            username=username,
            display_name=display_name or username,
            role=role,
            password_hash=password_hash,
            disabled=False,
            failed_logins=0,
            locked_until=0,
            created_at=now_ms(),
        )
    )
    return user_id


async def prepare_password(password: str) -> str:
    check_password_policy(password)
    return await hash_password(password)


async def set_password_hash(conn: AsyncConnection, user_id: str, pw_hash: str) -> None:
    """Set a new password; an administrator doing so also lifts the name's login lockout."""
    username = (
        await conn.execute(
            update(User)
            .where(User.id == user_id)
            .values(password_hash=pw_hash)
            .returning(User.username)
        )
    ).scalar_one_or_none()
    if username is None:
        raise ApiError("not_found", "user not found")
    await lockout.forget_name(conn, username)


async def user_id_by_name(conn: AsyncConnection, username: str) -> str | None:
    row = (
        await conn.execute(select(User.id).where(User.username == username.strip().lower()))
    ).first()
    return row.id if row else None


async def set_disabled(conn: AsyncConnection, user_id: str, disabled: bool) -> None:
    await conn.execute(update(User).where(User.id == user_id).values(disabled=disabled))

"""User accounts: creation, password changes, disabling, and the lookups other capabilities
make by name. Used by the REST API and the CLI, and by consultations for their guests."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.engine import Database
from server.db.models import ROLES, User, new_id, now_ms
from server.errors import ApiError

from . import lockout
from .passwords import MIN_PASSWORD_LENGTH, hash_password

# A patient who joins one consultation by link (server/consultations/guests.py). Not in ROLES, so
# no admin route or CLI command creates one: only `create_guest` does.
GUEST_ROLE = "guest"


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


async def create_guest(conn: AsyncConnection, display_name: str, now: int) -> str:
    """A password-less account for one consultation: it signs in only by the session its link
    redemption issues, and `disable_guests` ends it with the consultation."""
    guest_id = new_id("u")
    await conn.execute(
        insert(User).values(
            id=guest_id,
            username=f"guest-{secrets.token_hex(8)}",
            display_name=display_name,
            role=GUEST_ROLE,
            password_hash=None,
            disabled=False,
            failed_logins=0,
            locked_until=0,
            created_at=now,
        )
    )
    return guest_id


async def disable_guests(conn: AsyncConnection, user_ids: list[str]) -> None:
    """Disable those of `user_ids` that are guests (never a real account, whatever the caller
    passes)."""
    await conn.execute(
        update(User).where(User.id.in_(user_ids), User.role == GUEST_ROLE).values(disabled=True)
    )


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


@dataclass(frozen=True)
class Account:
    """What another capability checks of a user before acting for or on them."""

    user_id: str
    role: str
    disabled: bool
    display_name: str


async def account(conn: AsyncConnection, user_id: str) -> Account | None:
    row = (
        await conn.execute(
            select(User.role, User.disabled, User.display_name).where(User.id == user_id)
        )
    ).first()
    return None if row is None else Account(user_id, row.role, row.disabled, row.display_name)


async def accounts(conn: AsyncConnection, user_ids: Iterable[str]) -> dict[str, Account]:
    """user_id -> account for those of `user_ids` that exist, in one query (a room's member
    list, however long)."""
    rows = await conn.execute(
        select(User.id, User.role, User.disabled, User.display_name).where(
            User.id.in_(set(user_ids))
        )
    )
    return {r.id: Account(r.id, r.role, r.disabled, r.display_name) for r in rows}


async def display_name(conn: AsyncConnection, user_id: str) -> str:
    """The name of an existing user (raises when there is none: callers pass a caller's id)."""
    return str(
        (await conn.execute(select(User.display_name).where(User.id == user_id))).scalar_one()
    )


async def set_disabled(conn: AsyncConnection, user_id: str, disabled: bool) -> None:
    await conn.execute(update(User).where(User.id == user_id).values(disabled=disabled))


@dataclass(frozen=True)
class Person:
    """What a directory search shows of an account."""

    user_id: str
    username: str
    display_name: str
    role: str


async def find_people(
    db: Database,
    text: str,
    *,
    prefix_roles: Sequence[str],
    exact_roles: Sequence[str],
    exclude_user_id: str,
    limit: int,
) -> list[Person]:
    """Enabled accounts other than `exclude_user_id`, by username: of `prefix_roles` when their
    username or display name starts with `text`, of `exact_roles` only when their username is
    `text` (case-insensitive both)."""
    pattern = _like_prefix(text)
    username = func.lower(User.username)
    display = func.lower(func.coalesce(User.display_name, ""))
    found = or_(
        (User.role.in_(prefix_roles))
        & or_(username.like(pattern, escape="\\"), display.like(pattern, escape="\\")),
        (User.role.in_(exact_roles)) & (username == text.lower()),
    )
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(User.id, User.username, User.display_name, User.role)
                .where(found, User.disabled.is_(False), User.id != exclude_user_id)
                .order_by(User.username)
                .limit(limit)
            )
        ).all()
    return [Person(r.id, r.username, r.display_name, r.role) for r in rows]


def _like_prefix(text: str) -> str:
    """A LIKE pattern matching `text` literally at the start (its own % and _ escaped)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"

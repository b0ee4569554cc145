"""TOTP codes (RFC 6238) that can each be used once.

A code is valid for its 30 s step and one step either side (clock drift between phone and
server). Accepting the same code twice inside that window would let someone who watched it being
typed log in again, so the step of the last accepted code is stored and a login must present a
later one. The update is conditional, so two concurrent logins with one code cannot both pass.
"""

from __future__ import annotations

import hmac
import time

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.db.models import User


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step whose code equals `code` (drift window: one step either side), or None."""
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    for offset in (0, -1, 1):
        for_time = now + offset * totp.interval
        if hmac.compare_digest(totp.at(for_time), code):
            return int(for_time // totp.interval)  # the step pyotp.at() used (RFC 6238 T)
    return None


async def consume_step(conn: AsyncConnection, user_id: str, step: int) -> bool:
    """Record `step` as used; False when it (or a later one) was already used."""
    result = await conn.execute(
        update(User)
        .where(
            User.id == user_id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return bool(result.rowcount)

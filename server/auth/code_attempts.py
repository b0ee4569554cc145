"""The 6-digit code of a single-use link (patient invitations, consultation links), capped.

A code has only 10^6 values, so besides hashing it (salted with the link id) the number of codes
tried is capped and the link burns after the cap. Both kinds of link use this module, each
naming its own table and columns (`CodedLinks`), so the rule is written once while each table
stays with the capability that owns it:

- each code is counted *before* it is compared, by one conditional `UPDATE ... SET failed_codes =
  failed_codes + 1 WHERE failed_codes < cap RETURNING`: however many guesses arrive at once, at
  most the cap of them are ever compared;
- a wrong code at the cap burns the link (`used_at` set);
- the right code gives its count back if the redemption then fails (the room already has its
  patient, the consultation was ended meanwhile, ...), by one conditional `UPDATE ... SET
  failed_codes = failed_codes - 1 WHERE failed_codes > 0`: only wrong codes use a link up, and
  the bound is unchanged (at most the cap of *wrong* codes are ever compared, since a count comes
  back only after a code compared equal). A successful redemption keeps its count: the link is
  used, and `failed_codes` counts the codes tried, the right one included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from server.audit.log import AuditRecord, append
from server.db.models import Base, now_ms
from server.errors import ApiError

from .tokens import same

if TYPE_CHECKING:
    from server.db.engine import Database
    from server.services import Services

MAX_CODE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class CodedLinks:
    """Where one kind of coded link keeps what this module counts, named by the capability that
    owns the table (invitations, consultation links), so the counting lives here once without
    this module knowing whose rows it counts in."""

    table: type[Base]
    id: InstrumentedAttribute[str]
    used_at: InstrumentedAttribute[int | None]  # set when the link is used or burnt
    failed_codes: InstrumentedAttribute[int]


def code_hash(link_id: str, code: str) -> str:
    """Salted with the link id so one precomputed table of 10^6 hashes fits no other link."""
    return hashlib.sha256(f"relais-invite-code:{link_id}:{code}".encode()).hexdigest()


async def count_code_attempt(conn: AsyncConnection, links: CodedLinks, row_id: str) -> int | None:
    """Count one code attempt before comparing it: its rank (1..cap), or None when the link is
    used, burned or out of attempts, in which case the code must not be compared at all."""
    rank = (
        await conn.execute(
            update(links.table)
            .where(
                links.id == row_id,
                links.used_at.is_(None),
                links.failed_codes < MAX_CODE_ATTEMPTS,
            )
            .values({links.failed_codes: links.failed_codes + 1})
            .returning(links.failed_codes)
        )
    ).scalar_one_or_none()
    return None if rank is None else int(rank)


async def check_code(
    svc: Services,
    links: CodedLinks,
    link: Any,
    code: str | None,
    *,
    action: str,
    ip: str,
    noun: str,
    invalid: ApiError,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Let a redemption of `link` (a row of `links.table`) go on only with its right code: returns
    whether a code was counted (give it back with `give_back` if the redemption then fails),
    False for a link without a code. Raises `invalid_credentials` for a missing or wrong code
    (burning the link at the cap) and `invalid` when the link can no longer be tried.
    `action` names the audit records, `noun` the link in the answers."""
    if link.code_hash is None:
        return False
    if code is None:
        await svc.audit.record(AuditRecord(action, target=link.id, ip=ip, outcome="code_missing"))
        raise ApiError(
            "invalid_credentials",
            f"this {noun} needs its code",
            details={
                "code_required": True,
                "attempts_left": max(0, MAX_CODE_ATTEMPTS - link.failed_codes),
            },
        )
    async with svc.db.write() as conn:
        rank = await count_code_attempt(conn, links, link.id)
    if rank is None:  # used, burned or out of attempts meanwhile: nothing is compared
        await svc.audit.record(AuditRecord(action, target=link.id, ip=ip, outcome="invalid"))
        raise invalid
    if same(code_hash(link.id, code), link.code_hash):
        return True
    burned = rank >= MAX_CODE_ATTEMPTS
    async with svc.db.write() as conn:
        if burned:
            await conn.execute(
                update(links.table)
                .where(links.id == link.id, links.used_at.is_(None))
                .values({links.used_at: now_ms()})
            )
        await append(
            conn,
            [
                AuditRecord(
                    action,
                    target=link.id,
                    ip=ip,
                    outcome="burned" if burned else "bad_code",
                    detail={"failed_codes": rank, **(detail or {})},
                )
            ],
        )
    raise ApiError(
        "invalid_credentials",
        f"wrong {noun} code",
        details={"attempts_left": max(0, MAX_CODE_ATTEMPTS - rank)},
    )


async def give_back(db: Database, links: CodedLinks, row_id: str) -> None:
    """The right code was counted but the redemption failed: hand its count back (never below
    zero, and not on a link that is used or burned meanwhile)."""
    async with db.write() as conn:
        await conn.execute(
            update(links.table)
            .where(links.id == row_id, links.used_at.is_(None), links.failed_codes > 0)
            .values({links.failed_codes: links.failed_codes - 1})
        )

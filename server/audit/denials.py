"""Audit of refused attempts on a room.

"Every access to a patient room is audited" includes the ones that were refused: a user probing
room ids, or a removed member still trying, is what an auditor looks for. Handlers refuse by
raising `not_found` / `forbidden` / `consent_required` inside their transaction (rolled back), so
the refusal is recorded here, once, by the REST and socket dispatchers, in its own transaction.
A failure to record it is logged and never changes the answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from server.auth.principal import Principal

from .log import AuditRecord

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.audit")

DENIAL_CODES = frozenset({"not_found", "forbidden", "consent_required"})


async def record_denial(
    svc: Services, principal: Principal, room_id: str | None, what: str, code: str
) -> None:
    if code not in DENIAL_CODES or room_id is None:
        return
    try:
        await svc.audit.record(
            AuditRecord(
                "access.denied",
                principal.user_id,
                principal.device_id,
                room_id[:40],
                target=what[:80],
                ip=principal.ip,
                outcome=code,
            )
        )
    except Exception:
        log.exception("could not audit a denied access", extra={"code": code})

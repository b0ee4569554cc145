"""Socket events of the waiting room: join, admit, deny, leave, end."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from server.errors import ApiError
from server.realtime.registry import EventHandler, on

from .schemas import ConsultationRef, ParticipantRef
from .store import record_denial
from .waiting import wait_info

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


def audited(name: str) -> Callable[[EventHandler], EventHandler]:
    """Refusals on a named consultation are audited like refused room accesses."""

    def deco(fn: EventHandler) -> EventHandler:
        @functools.wraps(fn)
        async def wrapper(svc: Services, conn: Connection, payload: Any) -> Any:
            try:
                return await fn(svc, conn, payload)
            except ApiError as err:
                await record_denial(svc, conn.principal, payload.consultation_id, name, err.code)
                raise

        return wrapper

    return deco


@on("consult.join", ConsultationRef, summary="Enter the waiting room (the host: admitted).")
@audited("consult.join")
async def join(svc: Services, conn: Connection, p: ConsultationRef) -> dict[str, Any]:
    return await svc.parts.consultations.join(conn.principal, p.consultation_id)


@on("consult.admit", ParticipantRef, summary="The host admits someone waiting.")
@audited("consult.admit")
async def admit(svc: Services, conn: Connection, p: ParticipantRef) -> dict[str, Any]:
    return await svc.parts.consultations.admit(conn.principal, p.consultation_id, p.participant_id)


@on("consult.deny", ParticipantRef, summary="The host refuses (or sends away) a participant.")
@audited("consult.deny")
async def deny(svc: Services, conn: Connection, p: ParticipantRef) -> dict[str, Any]:
    return await svc.parts.consultations.deny(conn.principal, p.consultation_id, p.participant_id)


@on("consult.leave", ConsultationRef, summary="Leave the consultation (or the waiting room).")
@audited("consult.leave")
async def leave(svc: Services, conn: Connection, p: ConsultationRef) -> dict[str, Any]:
    return await svc.parts.consultations.leave(conn.principal, p.consultation_id)


@on("consult.end", ConsultationRef, summary="The host ends the consultation for everyone.")
@audited("consult.end")
async def end(svc: Services, conn: Connection, p: ConsultationRef) -> dict[str, Any]:
    return await svc.parts.consultations.end(conn.principal, p.consultation_id)


@on(
    "consult.wait",
    ConsultationRef,
    summary="The waiting room's news: host there, people before, estimate.",
)
@audited("consult.wait")
async def wait(svc: Services, conn: Connection, p: ConsultationRef) -> dict[str, Any]:
    return await wait_info(svc, conn.principal, p.consultation_id)

"""Closes live sockets whose session ended on another node.

A revoke, logout or account disable closes the sockets of the node that handled it at once
(server/realtime/disconnect.py); the other nodes learn it here, by re-checking
all their connections' sessions in one query every `session_recheck_s`. That bounds how long
a revoked device keeps receiving, without a database read on every socket event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from server.auth.sessions import live_session_ids
from server.parts import Parts

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.sessions")


async def sweep_once(svc: Services) -> int:
    """Disconnect every local socket whose session is no longer valid; returns how many."""
    by_session: dict[str, list[str]] = {}
    for sid, conn in list(svc.connections.by_sid.items()):
        by_session.setdefault(conn.principal.session_id, []).append(sid)
    if not by_session:
        return 0
    valid = await live_session_ids(svc.db, list(by_session))
    closed = 0
    for session_id, sids in by_session.items():
        if session_id in valid:
            continue
        for sid in sids:
            await svc.sio.disconnect(sid)
            closed += 1
    if closed:
        log.info("closed sockets of ended sessions", extra={"count": closed})
    return closed


async def _loop(svc: Services) -> None:
    while True:
        await asyncio.sleep(svc.settings.session_recheck_s)
        try:
            await sweep_once(svc)
        except Exception:
            log.exception("session sweep failed")


def setup(svc: Services) -> None:
    svc.parts.session_sweeper = asyncio.create_task(_loop(svc), name="relais-session-sweeper")


async def teardown(svc: Services) -> None:
    task = Parts.session_sweeper.detach(svc.parts)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

"""Presence announcements, sent by one task with one co-member query per batch.

Telling a user's co-members that it came or went needs their list, a database read. Done inline
it sat on every connect's critical path, and a reconnection storm queued one read per client on
the pool (5,000 at once, thousands timing out: docs/performance.md §16). Here a connect or
disconnect only queues its change; one task takes every change queued so far, asks the database
once for all of their co-members, and emits them in the order they happened. Under light load a
batch is one change, sent as soon as the read returns; nothing is merged, so co-members see every
coming and going in order. A batch whose read fails (the database is down) is logged and not
sent: presence is best effort, and clients ask `presence.get` when they come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from server.rooms import store
from server.rooms.member_cache import emit_to_users

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.presence")

# Users per co-member query: a bound on the statement's size, not a delay.
MAX_BATCH = 500


class PresenceAnnouncer:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._changes: list[tuple[str, bool]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="relais-presence-announcer")

    async def stop(self) -> None:
        """Send what is queued (best effort: the node is going), then stop."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            while self._changes:
                await self._send_batch()

    def announce(self, user_id: str, online: bool) -> None:
        self._changes.append((user_id, online))
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._changes:
                try:
                    await self._send_batch()
                except Exception:
                    # Presence is best effort; the next change is announced anyway.
                    log.exception("presence announcement failed")

    async def _send_batch(self) -> None:
        batch = self._changes[:MAX_BATCH]
        del self._changes[:MAX_BATCH]
        async with self.svc.db.read() as conn:
            peers = await store.co_members_of(conn, {u for u, _ in batch})
        for user_id, online in batch:
            await emit_to_users(
                self.svc,
                "presence",
                {"user_id": user_id, "online": online},
                peers.get(user_id, set()),
            )

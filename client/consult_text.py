"""A consultation's end-to-end encrypted text channel, from Python.

The chat room is made by the server and its server-side membership follows admission
(server/consultations/chat.py), but who gets message keys is decided by the room's signed
membership chain (docs/crypto.md §5), which only clients can sign. So the host's client starts
the chain and keeps it in step with the roster. It signs in only the participants the host
admitted *through this client* (`admit`) or approved (`approve`): were it to sign whomever the
server lists, a server could add a reader to any consultation. Someone the server lists as
admitted without that is left out of the chain and shown in `unapproved`. Signing people out
follows the server's roster (a lying server can only make the host drop someone, which it could
do anyway by not delivering). Everyone else just sends and reads.

Text does not depend on media: it goes over the socket.io connection, so it keeps working when a
participant's leg is in `text-only` (or has no media at all), which is the point of the fallback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from client.e2ee.client import E2EEClient
from client.e2ee.records import DECRYPTED
from client.e2ee.state import E2EEError
from client.sdk import RelaisError

log = logging.getLogger(__name__)

SYNC_RETRIES = 5
SYNC_RETRY_S = 2.0


class ConsultationText:
    def __init__(self, e2ee: E2EEClient, consultation_id: str) -> None:
        self.e2ee = e2ee
        self.api = e2ee.api
        self.consultation_id = consultation_id
        self.chat_room_id: str | None = None
        self.host = False
        # Users this client admitted or the host approved: the only ones it signs in.
        self.approved: set[str] = set()
        # Admitted according to the server, not approved here: for the application to show.
        self.unapproved: set[str] = set()
        self._sync_wanted = asyncio.Event()
        self._sync_lock = asyncio.Lock()
        self._syncer: asyncio.Task[None] | None = None
        self.sync_errors = 0
        self._previous_on_event = self.api.on_event
        self.api.on_event = self._on_event

    async def open(self) -> str:
        """Learn the chat room; as host, start its chain and sign the current roster in.
        A participant calls this once admitted (the chat room is hidden before)."""
        state = await self._state()
        room = state.get("chat_room_id")
        if room is None:
            raise RelaisError("not_admitted", "the chat room opens once admitted")
        self.chat_room_id = str(room)
        self.host = state["me"]["role"] == "host"
        if self.host:
            await self.e2ee.sign_room_create(self.chat_room_id)
            await self.sync_roster()
            self._syncer = asyncio.create_task(self._sync_loop())
        return self.chat_room_id

    async def admit(self, participant_id: str) -> None:
        """Host: admit someone from the waiting room and sign them (or, for a walk-in patient,
        the assistant who represents them) into the text channel."""
        state = await self._state()
        rows = {p["participant_id"]: p for p in state.get("waiting") or []}
        rows.update({p["participant_id"]: p for p in state.get("participants") or []})
        target = rows.get(participant_id)
        await self.api.call(
            "consult.admit",
            {"consultation_id": self.consultation_id, "participant_id": participant_id},
        )
        if target is not None:
            for row in (target, rows.get(target.get("represented_by") or "")):
                if row is not None and row.get("user_id"):
                    self.approved.add(str(row["user_id"]))
        await self.sync_roster()

    def approve(self, user_id: str) -> None:
        """Host: sign in someone the server lists as admitted (say, admitted from another of
        the host's devices) once the host has said so."""
        self.approved.add(user_id)
        self._sync_wanted.set()

    async def sync_roster(self) -> None:
        """Host: the signed chain names the host and the admitted participants with an account
        whom this client approved (a walk-in patient has none: their assistant reads for them),
        and nobody who has left."""
        async with self._sync_lock:
            await self._sync_roster()

    async def _sync_roster(self) -> None:
        # One at a time: two syncs signing the same add would each see it missing, and the
        # second, re-signed on the new head, would add a member twice (refused).
        room = self._room()
        state = await self._state()
        admitted = {
            str(p["user_id"])
            for p in state.get("participants") or []
            if p.get("user_id") and p.get("state") == "admitted"
        }
        if state.get("status") == "ended":
            admitted = set()
        me = self.e2ee.user_id
        chain = await self.e2ee.chains.get(room, force=True)
        signed = set(chain.members) if chain is not None else set()
        self.unapproved = admitted - self.approved - signed - {me}
        for user_id in sorted((admitted & self.approved) - signed - {me}):
            await self.e2ee.add_member(room, user_id)
        for user_id in sorted(signed - admitted - {me}):
            await self.e2ee.remove_member(room, user_id)

    async def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = await self.api.request(
            "GET", f"/api/v1/consultations/{self.consultation_id}"
        )
        return state

    async def send(self, text: str) -> dict[str, Any]:
        return await self.e2ee.send_text(self._room(), text)

    def texts(self) -> list[tuple[str, str]]:
        """(sender user id, text) of every message this device could decrypt, in room order."""
        out = []
        for rec in self.e2ee.messages(self._room()):
            if rec.state == DECRYPTED and rec.content and rec.content.get("type") == "text":
                out.append((rec.sender_user, str(rec.content.get("body"))))
        return out

    async def close(self) -> None:
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
            self._syncer = None
        if self.api.on_event == self._on_event:
            self.api.on_event = self._previous_on_event

    def _room(self) -> str:
        if self.chat_room_id is None:
            raise RelaisError("not_admitted", "call open() once admitted")
        return self.chat_room_id

    def _on_event(self, event: str, data: Any) -> Any:
        res = self._previous_on_event(event, data) if self._previous_on_event else None
        if (
            self.host
            and isinstance(data, dict)
            and data.get("consultation_id") == self.consultation_id
            and event in ("consult.participants", "consult.ended")
        ):
            self._sync_wanted.set()
        return res

    async def _sync_loop(self) -> None:
        """One roster sync at a time; changes arriving meanwhile fold into the next one. A
        failed sync (say, a participant whose keys are not published yet) is tried again a few
        times, then waits for the next roster change; the chain stays as it was meanwhile, so
        nobody gets keys they should not."""
        failures = 0
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            try:
                await self.sync_roster()
                failures = 0
            except (RelaisError, E2EEError, OSError) as err:
                failures += 1
                self.sync_errors += 1
                log.warning("consultation chat roster sync failed: %s", getattr(err, "code", err))
                if failures < SYNC_RETRIES:
                    await asyncio.sleep(SYNC_RETRY_S)
                    self._sync_wanted.set()

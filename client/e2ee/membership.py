"""Room creation and membership changes, each signed by the acting user (docs/crypto.md §5).

Who receives keys is decided by the signed chain, never by the server's word, so every change
this device makes is an event signed on the head it verified. When another device changed the
chain in between, the server refuses the event and it is signed again on the new head.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from crypto import membership as chain_events

from ..sdk import RelaisError
from .outbox import Outbox
from .sessions import SessionStore
from .state import DeviceState, E2EEError

# Tries at signing on the current head before giving up on a room whose chain keeps moving.
MAX_ATTEMPTS = 5


class RoomMembership:
    def __init__(self, state: DeviceState, sessions: SessionStore, outbox: Outbox) -> None:
        self.state = state
        self.sessions = sessions
        self.outbox = outbox

    async def create_room(self, patient_user_id: str | None, *, history: str) -> str:
        """The room id is chosen here because the signed create event must name it."""
        st = self.state
        ik = st.require_identity()
        room_id = "r_" + secrets.token_urlsafe(16)
        create = chain_events.make_event(
            ik,
            room=room_id,
            n=1,
            prev=b"",
            action="create",
            actor=st.user_id,
            target=st.user_id,
            role="owner",
            consent=None,
            history=history,
            ts=st.clock(),
        )
        patient_event = None
        if patient_user_id is not None:
            await st.directory.ensure([patient_user_id])
            patient_event = chain_events.make_event(
                ik,
                room=room_id,
                n=2,
                prev=chain_events.event_hash(create),
                action="add",
                actor=st.user_id,
                target=patient_user_id,
                role="member",
                consent=None,
                history="shared",
                ts=st.clock(),
            )
        async with st.lock:
            await st.api.create_room(
                patient_user_id,
                room_id=room_id,
                signed_event=create,
                patient_signed_event=patient_event,
            )
            await st.chains.refresh(room_id)
        return room_id

    async def sign_room_create(self, room_id: str, *, history: str) -> bool:
        """Start the chain of a room the server made for this user (a consultation's chat
        room); False when it already has one (signed by another of this user's devices)."""
        st = self.state
        st.require_identity()
        async with st.lock:
            chain = await st.chains.get(room_id, force=True)
            if chain is None:
                raise E2EEError("room_frozen", st.chains.frozen.get(room_id, "unknown"))
            if chain.head_n > 0:
                return False

            async def submit(wire: str) -> None:
                await st.api.sign_chain_create(room_id, wire)

            try:
                await self._sign_change(
                    room_id,
                    action="create",
                    target=st.user_id,
                    role="owner",
                    consent=None,
                    history=history,
                    submit=submit,
                    attempts=1,
                )
            except E2EEError as err:
                if err.code != "conflict":
                    raise
                await st.chains.refresh(room_id)
                return False
            return True

    async def add_member(
        self,
        room_id: str,
        user_id: str,
        *,
        room_role: str,
        consent_id: str | None,
        history: str,
    ) -> None:
        """With shared history the adder forwards its sessions of the room at once (§6.1): the
        new member should not have to ask for every past message."""
        st = self.state
        st.require_identity()
        async with st.lock:
            await st.directory.ensure([user_id], force=True)

            async def submit(wire: str) -> None:
                await st.api.add_member(
                    room_id,
                    user_id,
                    room_role=room_role,
                    consent_id=consent_id,
                    signed_event=wire,
                )

            await self._sign_change(
                room_id,
                action="add",
                target=user_id,
                role=room_role,
                consent=consent_id,
                history=history,
                submit=submit,
            )
            if history == "shared":
                items = [
                    (user_id, d.id, "room_key", sess.export_body())
                    for d in st.directory.devices_of(user_id)
                    for sess in self.sessions.of_room(room_id)
                ]
                await self.outbox.send_items(items)
                st.metrics.inc("keys_forwarded", len(items))

    async def remove_member(self, room_id: str, user_id: str) -> None:
        """Nothing is re-keyed here: this device's next message rotates its session (§6.1)."""
        st = self.state
        st.require_identity()
        async with st.lock:
            chain = await st.chains.get(room_id)
            if chain is not None and user_id not in chain.members:
                # Never signed in (say, joined by invitation link): a server-side removal
                # only; a signed `remove` of a non-member would freeze the room.
                await st.api.remove_member(room_id, user_id)
                return

            async def submit(wire: str) -> None:
                await st.api.remove_member(room_id, user_id, signed_event=wire)

            await self._sign_change(
                room_id,
                action="remove",
                target=user_id,
                role=None,
                consent=None,
                history=None,
                submit=submit,
            )
            if user_id == st.user_id:
                st.outbound.pop(room_id, None)

    async def _sign_change(
        self,
        room_id: str,
        *,
        action: str,
        target: str,
        role: str | None,
        consent: str | None,
        history: str | None,
        submit: Callable[[str], Awaitable[None]],
        attempts: int = MAX_ATTEMPTS,
    ) -> None:
        """Sign the change on the verified head and submit it; when another owner moved the
        chain first, refresh it and sign again on the new head. Caller holds the lock."""
        st = self.state
        ik = st.require_identity()
        for attempt in range(attempts):
            chain = await st.chains.get(room_id, force=attempt > 0)
            if chain is None:
                raise E2EEError("room_frozen", st.chains.frozen.get(room_id, "unknown"))
            wire = chain_events.make_event(
                ik,
                room=room_id,
                n=chain.head_n + 1,
                prev=chain.head_hash if chain.head_n else b"",
                action=action,
                actor=st.user_id,
                target=target,
                role=role,
                consent=consent,
                history=history,
                ts=st.clock(),
            )
            try:
                await submit(wire)
            except RelaisError as err:
                if _chain_moved(err):
                    continue
                raise
            st.chains.adopt(room_id, wire, ik.public)
            return
        raise E2EEError("conflict", "membership chain kept moving")


def _chain_moved(err: RelaisError) -> bool:
    """The server refuses an event not signed on its current head: sign again on the new one."""
    return err.code == "conflict" and isinstance(err.details, dict) and "expected_n" in err.details

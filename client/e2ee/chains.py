"""Each room's membership as this device verified it from the signed chain (docs/crypto.md §5).

The server's member list decides who may fetch ciphertext; this one decides who gets keys. A room
whose served chain stops verifying (forged, dropped, reordered or rewritten events) is frozen:
nothing is shared in it until a human looks, and the reason is kept for the application.
"""

from __future__ import annotations

import asyncio
from typing import Any

from crypto.errors import CryptoError
from crypto.membership import ChainEvent, ChainState, event_hash, parse_event, verify_chain

from ..sdk import RelaisClient, RelaisError
from .directory import KeyDirectory
from .records import Metrics

# Fetches overtaken by this device's own signing, made again before giving up for now.
STALE_RETRIES = 3


class RoomChains:
    def __init__(
        self, api: RelaisClient, directory: KeyDirectory, metrics: Metrics, user_id: str
    ) -> None:
        self.api = api
        self.user_id = user_id
        # Rooms this user was added to again since this device last looked: the device's sync
        # position there skips what was sent in between, which shared history entitles it to.
        self.rejoined: set[str] = set()
        self._joined_at: dict[str, int] = {}
        self.directory = directory
        self.metrics = metrics
        self.states: dict[str, ChainState] = {}
        self.events: dict[str, list[ChainEvent]] = {}
        self.frozen: dict[str, str] = {}
        self.dirty: set[str] = set()
        self.warnings: list[dict[str, Any]] = []
        # One refresh at a time per room, so an older fetch never lands last; and how many events
        # this device adopted per room, so a fetch overtaken by one of them is made again.
        self._refreshing: dict[str, asyncio.Lock] = {}
        self._adopted: dict[str, int] = {}

    def mark_dirty(self, room_id: str) -> None:
        self.dirty.add(room_id)

    def warn(self, code: str, **details: Any) -> None:
        self.metrics.inc(code)
        self.warnings.append({"code": code, **details})

    async def get(self, room_id: str, *, force: bool = False) -> ChainState | None:
        """The verified state, refreshed when unknown, dirty or forced; None when frozen."""
        if room_id in self.frozen:
            return None
        if force or room_id not in self.states or room_id in self.dirty:
            await self.refresh(room_id)
        if room_id in self.frozen:
            return None
        return self.states.get(room_id)

    async def refresh(self, room_id: str) -> None:
        """Fetch and verify the served chain. A served chain shorter than the verified head is a
        fork only when it was fetched after that head: refreshes of a room run one at a time,
        and a fetch overtaken by an event this device signed meanwhile is made again."""
        lock = self._refreshing.setdefault(room_id, asyncio.Lock())
        async with lock:
            await self._refresh(room_id)

    async def _refresh(self, room_id: str) -> None:
        self.dirty.discard(room_id)
        for _ in range(STALE_RETRIES):
            adopted = self._adopted.get(room_id, 0)
            try:
                rows = await self.api.membership_events(room_id)
            except RelaisError as err:
                if err.code != "not_found":
                    raise
                # No longer a member (or the room is gone): keep the last verified view, which
                # is only used to decide whom to ask for keys.
                self.metrics.inc("chain_unavailable")
                return
            wires = [r["signed_event"] for r in rows if r.get("signed_event")]
            actors: set[str] = set()
            for w in wires:
                try:
                    actors.add(parse_event(w).actor)
                except CryptoError:
                    pass  # verify_chain names it: chain_forked in the verified prefix, else invalid
            await self.directory.ensure(actors)
            if self._adopted.get(room_id, 0) == adopted:
                self._verified(room_id, wires)
                return
        self.dirty.add(room_id)  # kept moving under us: the adopted head stands, looked at later

    def _verified(self, room_id: str, wires: list[str]) -> None:
        trust = self.directory.trust

        def identity_key_of(user: str) -> bytes | None:
            return trust.pinned(user) if trust.trusted(user) else None

        try:
            state = verify_chain(room_id, wires, identity_key_of, known=self.states.get(room_id))
        except CryptoError as err:
            self.freeze(room_id, err.code)
            return
        self.states[room_id] = state
        self.events[room_id] = [parse_event(w) for w in wires]  # all parsed in verify_chain
        me = state.members.get(self.user_id)
        if me is not None:
            if self._joined_at.get(room_id, me.added_n) != me.added_n:
                self.rejoined.add(room_id)
            self._joined_at[room_id] = me.added_n

    async def view(self, room_id: str, *, force: bool = False) -> ChainState | None:
        """Like `get`, but a frozen room still answers with its last verified state. Only for
        *accepting* keys and choosing whom to ask for one: giving keys needs `get`."""
        state = await self.get(room_id, force=force)
        return state if state is not None else self.states.get(room_id)

    def freeze(self, room_id: str, code: str) -> None:
        """Stop sharing keys in this room until a human looks: its chain cannot be trusted."""
        self.frozen[room_id] = code
        self.warn(code, room=room_id)

    def head(self, room_id: str) -> tuple[int, bytes]:
        st = self.states[room_id]
        return st.head_n, st.head_hash

    def hash_at(self, room_id: str, n: int) -> bytes | None:
        evs = self.events.get(room_id) or []
        return event_hash(evs[n - 1].wire) if 1 <= n <= len(evs) else None

    def changed_since(self, room_id: str, n: int, actions: tuple[str, ...]) -> bool:
        return any(e.action in actions for e in (self.events.get(room_id) or [])[n:])

    def adopt(self, room_id: str, wire: str, actor_ik: bytes) -> None:
        """Apply an event this device just signed and the server accepted. A refresh that ran
        meanwhile may already hold it: then there is nothing to apply."""
        self._adopted[room_id] = self._adopted.get(room_id, 0) + 1
        st = self.states[room_id]
        n = parse_event(wire).n
        if st.head_n >= n:
            if self.hash_at(room_id, n) != event_hash(wire):
                self.mark_dirty(room_id)
            return
        ev = st.apply(wire, actor_ik)
        self.events.setdefault(room_id, []).append(ev)

"""The inbound sessions this device can decrypt with, from whatever source they came.

Keys arrive from their sender, from another device forwarding them, from the backup, or from this
device's own outbound session; all go through `store` so that a copy starting at an earlier index
extends the one held, forwarded copies stay marked as such, and every change reaches the backup.
"""

from __future__ import annotations

from typing import Any

from crypto import group

from .backup import KeyBackup
from .state import DeviceState, SessionKey


class SessionStore:
    def __init__(self, state: DeviceState, backup: KeyBackup) -> None:
        self.state = state
        self.backup = backup

    def store(self, body: dict[str, Any], *, forwarded: bool) -> SessionKey:
        """Raises CryptoError for a share that does not parse or contradicts the held copy."""
        st = self.state
        incoming = group.InboundSession.from_share(body)
        key = (incoming.room, incoming.sd, incoming.sid)
        known = st.inbound.get(key)
        if known is None:
            st.inbound[key] = incoming
            if forwarded:
                st.inbound_forwarded.add(key)
            else:
                st.inbound_forwarded.discard(key)
            self.backup.queue(incoming)
        elif known.merge(body):
            self.backup.queue(known)
        return key

    def forget(self, key: SessionKey) -> None:
        """Drop a forwarded copy that failed to decrypt, so that asking again can replace it."""
        del self.state.inbound[key]
        self.state.inbound_forwarded.discard(key)

    def of_room(self, room_id: str) -> list[group.InboundSession]:
        return [sess for key, sess in self.state.inbound.items() if key[0] == room_id]

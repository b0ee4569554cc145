"""The user's server-side key backup: what lets a device that lost everything read the past.

Only the passphrase unlocks it (docs/crypto.md §6.3). Every session this device learns is sealed
into an entry; entries are queued as sessions change and uploaded in one go after each step of
work, so a burst of keys costs a few requests instead of one each.
"""

from __future__ import annotations

import asyncio
import os

from crypto import backup as backup_format
from crypto import group

from .state import DeviceState

# Entries per upload request.
UPLOAD_CHUNK = 1000


class KeyBackup:
    def __init__(self, state: DeviceState) -> None:
        self.state = state
        self._queue: dict[str, str] = {}

    async def enable(
        self,
        passphrase: str,
        *,
        ops: int = backup_format.DEFAULT_OPS,
        mem: int = backup_format.DEFAULT_MEM,
    ) -> None:
        """A new backup version under a fresh key, filled at once with every session this device
        holds, so a device restored from it lacks nothing this one could read."""
        st = self.state
        ik = st.require_identity()
        bk = os.urandom(32)
        info = await asyncio.to_thread(
            backup_format.make_backup_info, st.user_id, passphrase, bk, ik.seed, ops=ops, mem=mem
        )
        existing = await st.api.get_backup()
        version = 1 if existing is None else int(existing["version"]) + 1
        await st.api.put_backup(version, info)
        st.backup_key, st.backup_version = bk, version
        for sess in st.inbound.values():
            self.queue(sess)
        self.queue_head()
        await self.flush()

    def queue_head(self) -> None:
        """The user's newest verified device-list head, sealed under this backup's key."""
        st = self.state
        head = st.directory.head(st.user_id)
        if st.backup_key is None or head is None:
            return
        eid = backup_format.head_entry_id(st.backup_key)
        self._queue[eid] = backup_format.seal_head(st.backup_key, st.user_id, *head)

    async def record_head(self) -> None:
        """Part of signing a new list: uploaded at once, since a restore trusts this head."""
        self.queue_head()
        await self.flush()

    def queue(self, sess: group.InboundSession) -> None:
        """Seal now, while the session is at hand; a later seal of the same session replaces it."""
        st = self.state
        if st.backup_key is None:
            return
        eid = backup_format.entry_id(st.backup_key, sess.room, sess.sd, sess.sid)
        self._queue[eid] = backup_format.seal_entry(
            st.backup_key, st.user_id, eid, sess.export_body()
        )

    async def flush(self) -> None:
        st = self.state
        if not self._queue or st.backup_version is None:
            return
        items = [{"id": k, "data": v} for k, v in self._queue.items()]
        self._queue.clear()
        for start in range(0, len(items), UPLOAD_CHUNK):
            await st.api.put_backup_entries(st.backup_version, items[start : start + UPLOAD_CHUNK])

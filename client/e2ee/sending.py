"""Room messages and files out, under an outbound session shared before it is used (§6.1).

A message goes out only after its session's key is durable in the to-device queue of every
entitled device, so no entitled device can receive a message it has no key for. The session is
replaced whenever someone could otherwise read what they should not: a member removed, a device
revoked, a member added to a room whose history is `joined`, or simply too many messages or days.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from crypto import attachments, group
from crypto.encoding import b64d, b64e

from ..sdk import RelaisError
from .backup import KeyBackup
from .outbox import Outbox
from .records import DECRYPTED, MessageRecord
from .sessions import SessionStore
from .state import DeviceState, E2EEError, UserDevice

# Tries at sending while the room's membership changes under us.
MAX_ATTEMPTS = 5


class Sender:
    def __init__(
        self, state: DeviceState, sessions: SessionStore, backup: KeyBackup, outbox: Outbox
    ) -> None:
        self.state = state
        self.sessions = sessions
        self.backup = backup
        self.outbox = outbox
        # Per room: the directory's revocation counts when the outbound session was made.
        self._revocations_at: dict[str, dict[str, int]] = {}

    def _device_left(self, room_id: str, members: Iterable[str]) -> bool:
        """A member's device was revoked since the session was made: whoever gave it the key
        (us, another member forwarding, a backup restore), it must not read what follows."""
        seen = self._revocations_at.get(room_id, {})
        now = self.state.directory.revocations
        return any(now.get(u, 0) > seen.get(u, 0) for u in members)

    async def send_content(self, room_id: str, content: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        async with st.lock:
            for _attempt in range(MAX_ATTEMPTS):
                try:
                    return await self._send_locked(room_id, content)
                except RelaisError as err:
                    if err.code != "stale_membership":
                        raise
                    # Someone joined or left since our chain was verified: catch up, re-share
                    # or rotate as the rules say, and encrypt again under the new head.
                    st.metrics.inc("stale_membership")
                    st.chains.mark_dirty(room_id)
            raise E2EEError("conflict", "membership kept changing while sending")

    async def send_file(self, room_id: str, data: bytes, *, name: str, mime: str) -> dict[str, Any]:
        """The server stores only ciphertext; the key travels in the (encrypted) room message,
        so exactly the room's readers can open the file."""
        blob, fk = await asyncio.to_thread(attachments.encrypt_file, data)
        up = await self.state.api.upload_attachment(room_id, blob)
        content = {
            "type": "file",
            "attachment_id": up["attachment_id"],
            "key": b64e(fk.key),
            "hash": b64e(fk.hash),
            "size": fk.size,
            "name": name,
            "mime": mime,
        }
        return await self.send_content(room_id, content)

    async def download_file(self, content: dict[str, Any]) -> bytes:
        blob = await self.state.api.download_attachment(str(content["attachment_id"]))
        fk = attachments.FileKey(
            b64d(content["key"], 32), b64d(content["hash"], 32), int(content["size"])
        )
        return await asyncio.to_thread(attachments.decrypt_file, blob, fk)

    async def _send_locked(self, room_id: str, content: dict[str, Any]) -> dict[str, Any]:
        st = self.state
        chain = await st.chains.get(room_id)
        if chain is None:
            raise E2EEError("room_frozen", st.chains.frozen.get(room_id, "unknown"))
        if st.user_id not in chain.members:
            raise E2EEError("not_member", "this user is not in the room's verified chain")
        await st.directory.ensure(chain.members)
        entitled = self._entitled_devices(room_id)
        sess = self._outbound_session(room_id, entitled)
        missing = [t for t in entitled if t[1] not in sess.shared_with]
        if missing:
            body = sess.share_body(st.user_id, st.device_id)
            sent = await self.outbox.send(missing, "room_key", body)
            for dev in sent:
                sess.shared_with[dev] = sess.index
            st.metrics.inc("keys_shared", len(sent))
        head_n, head_hash = st.chains.head(room_id)
        env = sess.encrypt(
            content, su=st.user_id, sd=st.device_id, dsk=st.dsk, me=head_n, mh=head_hash
        )
        ack = await st.api.send(room_id, env)
        rec = MessageRecord(ack["id"], room_id, int(ack["seq"]), st.user_id, st.device_id, env)
        rec.state, rec.content = DECRYPTED, content
        # Bind the index to this message id, so the server cannot replay it to us as another.
        own = st.inbound.get((room_id, st.device_id, env["sid"]))
        if own is not None:
            own.decrypt(group.parse_envelope(env), room_id, ack["id"])
        st.records.setdefault(rec.id, rec)
        st.metrics.inc("sent")
        await self.backup.flush()
        return ack

    def _entitled_devices(self, room_id: str) -> list[UserDevice]:
        """Every device of every current, trusted member (own other devices included)."""
        st = self.state
        chain = st.chains.states[room_id]
        out = []
        for user in sorted(chain.members):
            for dev in st.directory.devices_of(user):
                if dev.id != st.device_id:
                    out.append((user, dev.id))
        return out

    def _outbound_session(self, room_id: str, entitled: list[UserDevice]) -> group.OutboundSession:
        """The held session, unless one of the rotation rules of §6.1 says its key may reach
        someone who must not read what comes next; a new one is also kept as an inbound
        session, so this device reads its own messages like any other."""
        st = self.state
        sess = st.outbound.get(room_id)
        chain = st.chains.states[room_id]
        if sess is not None:
            devices = {d for _u, d in entitled}
            rotate = (
                sess.sent >= st.policy.rotate_after_messages
                or st.clock() - sess.created_ms >= st.policy.rotate_after_ms
                or st.chains.changed_since(room_id, sess.me, ("remove",))
                or (
                    chain.policy == "joined" and st.chains.changed_since(room_id, sess.me, ("add",))
                )
                or any(d not in devices for d in sess.shared_with)
                or self._device_left(room_id, chain.members)
            )
            if not rotate:
                return sess
            st.metrics.inc("rotations")
        sess = group.OutboundSession.new(room_id, created_ms=st.clock(), me=chain.head_n)
        st.outbound[room_id] = sess
        self._revocations_at[room_id] = dict(st.directory.revocations)
        self.sessions.store(sess.share_body(st.user_id, st.device_id), forwarded=False)
        return sess

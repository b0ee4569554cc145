"""Room messages in: decrypt what we can, and keep visibly waiting, and asking, for the rest.

No message is dropped silently (docs/crypto.md §6.2): each ends up decrypted, failed with a reason,
or waiting for a named session while every device of the current members is asked for it. The
envelope also carries the chain head its sender saw and its index in the session, which lets this
device notice a server that withholds membership events, forks the history or reorders messages.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from crypto import group
from crypto.encoding import b64e
from crypto.errors import CryptoError

from .outbox import Outbox
from .records import DECRYPTED, FAILED, WAITING, MessageRecord
from .sessions import SessionStore
from .state import DeviceState, SessionKey


class Receiver:
    def __init__(self, state: DeviceState, sessions: SessionStore, outbox: Outbox) -> None:
        self.state = state
        self.sessions = sessions
        self.outbox = outbox

    async def handle_message(self, msg: dict[str, Any]) -> None:
        st = self.state
        if msg["id"] in st.records and st.records[msg["id"]].state == DECRYPTED:
            return
        rec = MessageRecord(
            msg["id"],
            msg["room_id"],
            int(msg["seq"]),
            msg["sender"]["user_id"],
            msg["sender"]["device_id"],
            msg["envelope"],
        )
        st.records[rec.id] = rec
        await self.try_decrypt(rec)

    async def try_decrypt(self, rec: MessageRecord) -> None:
        """Safe to call again on the same record: it is how waiting messages get another go."""
        st = self.state
        try:
            header = group.parse_envelope(rec.envelope)
            if header.su != rec.sender_user or header.sd != rec.sender_device:
                raise CryptoError("unknown_device", "envelope sender differs from the server's")
            dev = st.directory.device(header.su, header.sd)
            if dev is None:
                await st.directory.ensure([header.su], force=True)
                dev = st.directory.device(header.su, header.sd)
            sign_key = dev.sign if dev is not None else None
            if sign_key is None:
                sign_key = st.directory.retired_sign_key(header.su, header.sd)
                if sign_key is None:
                    raise CryptoError("unknown_device")
                rec.note = "sent from a since-revoked device"
                st.metrics.inc("from_revoked_device")
            group.verify_envelope(header, rec.room_id, sign_key)
            await self._check_chain_reference(rec.room_id, header.me, header.mh)
            self._check_sender_is_member(rec.room_id, header.su, header.me)
            key = (rec.room_id, header.sd, header.sid)
            sess = st.inbound.get(key)
            if sess is None or header.i < sess.first_index:
                raise CryptoError("missing_key")
            try:
                content = sess.decrypt(header, rec.room_id, rec.id)
            except CryptoError as err:
                if err.code == "bad_ciphertext" and key in st.inbound_forwarded:
                    # A forwarder handed us a wrong chain: forget it and ask again.
                    self.sessions.forget(key)
                    raise CryptoError("missing_key") from err
                raise
            self._check_order(key, rec.seq, header.i)
        except CryptoError as err:
            if err.code == "missing_key":
                hdr = group.parse_envelope(rec.envelope)
                self._set_waiting(rec, (rec.room_id, hdr.sd, hdr.sid))
                await self.request_key(rec.room_id, hdr.sd, hdr.sid, hdr.i)
                return
            self._clear_waiting(rec)
            rec.state, rec.error = FAILED, err.code
            st.metrics.inc(f"failed_{err.code}")
            return
        self._clear_waiting(rec)
        rec.state, rec.content, rec.error = DECRYPTED, content, None
        st.metrics.inc("decrypted")
        if st.on_decrypted is not None:
            res = st.on_decrypted(rec)
            if asyncio.iscoroutine(res):
                await res

    async def retry_waiting(self) -> None:
        """Membership or device lists changed, or time passed: keys may have come in by now,
        and whoever holds them may be someone not asked before."""
        st = self.state
        for room in list(st.chains.dirty):
            await st.chains.get(room)
        for key in list(st.waiting):
            ids = st.waiting.get(key)
            if not ids:
                continue
            recs = [st.records[i] for i in ids]
            for rec in recs:
                await self.try_decrypt(rec)
            if key in st.waiting:
                index = min(group.parse_envelope(st.records[i].envelope).i for i in ids)
                await self.request_key(key[0], key[1], key[2], index, force=True)

    async def request_key(
        self, room_id: str, sd: str, sid: str, index: int, *, force: bool = False
    ) -> None:
        """Ask every device of every current member, not only the sender: the sender may be
        offline for good, and anyone entitled who holds the session can answer (§6.2). Without
        `force`, a request already covering this index is not repeated."""
        st = self.state
        key = (room_id, sd, sid)
        if not force and key in st.requested and st.requested[key] <= index:
            return
        st.requested[key] = min(index, st.requested.get(key, index))
        chain = await st.chains.view(room_id)
        users = set(chain.members) if chain is not None else set()
        users.add(st.user_id)
        await st.directory.ensure(users)
        targets = [
            (u, d.id)
            for u in sorted(users)
            for d in st.directory.devices_of(u)
            if d.id != st.device_id
        ]
        body = {
            "room": room_id,
            "sd": sd,
            "sid": sid,
            "i": st.requested[key],
            "req": b64e(os.urandom(8)),
        }
        sent = await self.outbox.send(targets, "key_request", body)
        for rid in st.waiting.get(key, ()):
            st.records[rid].asked = sent
        st.metrics.inc("key_requests")

    async def _check_chain_reference(self, room_id: str, me: int, mh: bytes) -> None:
        """A message names the chain head its sender saw: fetch what we lack, and report a
        server that withholds events or showed the sender a different history."""
        chains = self.state.chains
        chain = await chains.get(room_id)
        if chain is None:
            return
        if me > chain.head_n:
            chain = await chains.get(room_id, force=True)
            if chain is None:
                return
            if me > chain.head_n:
                chains.freeze(room_id, "chain_withheld")
                return
        if me and chains.hash_at(room_id, me) != mh:
            chains.freeze(room_id, "chain_forked")

    def _check_sender_is_member(self, room_id: str, user: str, me: int) -> None:
        """Only a member of the verified chain may speak in the room: the server's member table
        alone must not let someone post messages that others display as genuine."""
        chain = self.state.chains.states.get(room_id)
        if chain is None or not chain.member_at(user, max(1, min(me, chain.head_n))):
            raise CryptoError("not_entitled", "the sender is not in the room's verified chain")

    def _check_order(self, key: SessionKey, seq: int, index: int) -> None:
        """Within one session, a later room seq must carry a later index; otherwise the server
        reordered messages (reported, the content stays readable)."""
        st = self.state
        last = st.order.get(key)
        if last is not None:
            last_seq, last_index = last
            if (seq > last_seq) != (index > last_index) and seq != last_seq:
                st.chains.warn("reordered", room=key[0], seq=seq)
        if last is None or seq > last[0]:
            st.order[key] = (seq, index)

    def _set_waiting(self, rec: MessageRecord, key: SessionKey) -> None:
        st = self.state
        if rec.state != WAITING or rec.needs != key:
            st.metrics.inc("waited")
        rec.state, rec.needs = WAITING, key
        st.waiting.setdefault(key, set()).add(rec.id)

    def _clear_waiting(self, rec: MessageRecord) -> None:
        """The last message leaving a session's wait also clears its request, so a later miss
        of the same session asks again."""
        st = self.state
        if rec.needs is not None:
            ids = st.waiting.get(rec.needs)
            if ids is not None:
                ids.discard(rec.id)
                if not ids:
                    del st.waiting[rec.needs]
                    st.requested.pop(rec.needs, None)
            rec.needs = None

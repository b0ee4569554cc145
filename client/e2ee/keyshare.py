"""Pairwise messages in: room keys, key requests, this user's secrets, refusals.

Everything here arrives through a server that may replay, forge or redirect it, so nothing is
believed until its envelope opens to this device and its signature verifies under a device of a
verified list (docs/crypto.md §4); then each type has its own entitlement rule (§6.1, §6.2): a
forwarded key counts only from a current member, a key is handed out only to an entitled
device, and the identity seed only from this user's own devices.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from crypto import group, pairwise
from crypto.encoding import b64d
from crypto.errors import CryptoError
from crypto.keys import SigningKey

from .outbox import TODEVICE_TYPE, Outbox
from .receiving import Receiver
from .sessions import SessionStore
from .state import DeviceState

log = logging.getLogger("relais.e2ee")

# The pairwise message types this client acts on (docs/crypto.md §3).
PAIRWISE_TYPES = ("room_key", "key_request", "key_withheld", "device_secrets")


def _shown(value: Any) -> str:
    """A server- or peer-chosen name, safe for one log line: repr'd (no raw newlines) and cut."""
    return repr(value)[:80]


class KeyShare:
    def __init__(
        self, state: DeviceState, sessions: SessionStore, outbox: Outbox, receiver: Receiver
    ) -> None:
        self.state = state
        self.sessions = sessions
        self.outbox = outbox
        self.receiver = receiver
        self._handled: set[tuple[int, str]] = set()

    async def handle(self, entry: dict[str, Any]) -> None:
        st = self.state
        marker = (
            int(entry.get("id", -1)),
            hashlib.sha256(str(entry.get("payload")).encode()).hexdigest(),
        )
        if marker in self._handled:
            return  # the same queue entry seen live and again through sync before its ack
        self._handled.add(marker)
        sender = entry.get("sender") or {}
        if not isinstance(sender, dict):
            sender = {}
        if entry.get("type") != TODEVICE_TYPE:
            # Not for the E2EE layer (the server refuses any other type, docs/protocol.md §4.4;
            # this is an entry queued before that, or a server that does not): counted and
            # logged, never silently lost. Ids and the type only: the payload stays out of logs.
            st.metrics.inc("todevice_unknown_type")
            log.warning(
                "to-device entry of an unknown type dropped",
                extra={
                    "entry_id": marker[0],
                    "todevice_type": _shown(entry.get("type")),
                    "sender_user": _shown(sender.get("user_id")),
                    "sender_device": _shown(sender.get("device_id")),
                },
            )
            return
        try:
            opened = pairwise.open_payload(
                str(entry.get("payload")),
                my_user=st.user_id,
                my_device=st.device_id,
                my_dh=st.dx,
                prekeys=st.prekeys,
                server_sender_device=sender.get("device_id"),
            )
            dev = st.directory.device(opened.su, opened.sd)
            if dev is None:
                await st.directory.ensure([opened.su], force=True)
                dev = st.directory.device(opened.su, opened.sd)
            if dev is None:
                raise CryptoError("unknown_device")
            msg = opened.verify(dev.sign, st.seen_pairwise)
        except CryptoError as err:
            st.metrics.inc(f"todevice_{err.code}")
            return
        if msg.head is not None:
            # Vouched for by a device of the sender's own user (the signature just verified).
            await st.directory.learn_head(msg.su, *msg.head)
        if msg.type not in PAIRWISE_TYPES:
            # Signed by a verified device, but nothing this client knows how to act on (a newer
            # client's type): counted and logged without its body, then dropped.
            st.metrics.inc("pairwise_unknown_type")
            log.warning(
                "pairwise message of an unknown type dropped",
                extra={
                    "pairwise_type": _shown(msg.type),
                    "sender_user": msg.su,
                    "sender_device": msg.sd,
                },
            )
            return
        st.metrics.inc(f"todevice_{msg.type}")
        if msg.type == "room_key":
            await self._on_room_key(msg)
        elif msg.type == "key_request":
            await self._on_key_request(msg)
        elif msg.type == "device_secrets":
            self._on_device_secrets(msg)
        elif msg.type == "key_withheld":
            st.metrics.inc("key_withheld")

    async def _on_room_key(self, msg: pairwise.Opened) -> None:
        """A key from its own sender is always welcome; a forwarded one only from this user or
        a current member, since anyone else could be feeding us a session of their making."""
        st = self.state
        body = msg.body
        room, sd, su = body.get("room"), body.get("sd"), body.get("su")
        if not isinstance(room, str) or not isinstance(sd, str) or not isinstance(su, str):
            st.metrics.inc("todevice_bad_encoding")
            return
        forwarded = msg.sd != sd
        if not forwarded and msg.su != su:
            st.metrics.inc("todevice_not_entitled")
            return
        if not forwarded and su != st.user_id and not await self._was_member(room, su, body):
            st.metrics.inc("todevice_not_entitled")
            return
        if forwarded and msg.su != st.user_id:
            chain = await st.chains.view(room)
            if chain is None or msg.su not in chain.members:
                chain = await st.chains.view(room, force=True)
            if chain is None or msg.su not in chain.members:
                st.metrics.inc("todevice_not_entitled")
                return
        try:
            key = self.sessions.store(body, forwarded=forwarded)
        except CryptoError as err:
            st.metrics.inc(f"todevice_{err.code}")
            return
        for rid in list(st.waiting.get(key, ())):
            await self.receiver.try_decrypt(st.records[rid])

    async def _was_member(self, room: str, user: str, body: dict[str, Any]) -> bool:
        """A sender's own session is accepted only if the chain had them as a member when they
        made it (the share's `me`): nobody outside the chain gets a voice in the room."""
        me = body.get("me")
        if not isinstance(me, int) or isinstance(me, bool):
            return False
        for force in (False, True):
            chain = await self.state.chains.view(room, force=force)
            if chain is not None and chain.member_at(user, max(1, min(me, chain.head_n))):
                return True
        return False

    async def _on_key_request(self, msg: pairwise.Opened) -> None:
        """A refusal is answered rather than ignored, so the requester can show why it waits."""
        st = self.state
        body = msg.body
        room, sd, sid, index = body.get("room"), body.get("sd"), body.get("sid"), body.get("i")
        if not (
            isinstance(room, str)
            and isinstance(sd, str)
            and isinstance(sid, str)
            and isinstance(index, int)
        ):
            return
        sess = st.inbound.get((room, sd, sid))
        if sess is None or sess.first_index > index:
            return
        if not await self._may_receive(msg.su, room, sess):
            await self.outbox.send(
                [(msg.su, msg.sd)],
                "key_withheld",
                {"room": room, "sid": sid, "reason": "not_entitled"},
            )
            st.metrics.inc("key_requests_refused")
            return
        shared = sess.export_body()
        await self.outbox.send([(msg.su, msg.sd)], "room_key", shared)
        st.metrics.inc("key_requests_answered")

    async def _may_receive(self, user: str, room: str, sess: group.InboundSession) -> bool:
        """§6.2: this user, or a trusted current member who, with `joined` history, was already
        a member when the session began. The chain is re-fetched before saying no, since the
        requester may have been added a moment ago."""
        st = self.state
        if user == st.user_id:
            return True
        if not st.trust.trusted(user):
            return False
        chain = await st.chains.get(room)
        if chain is None:
            return False
        if user not in chain.members:
            chain = await st.chains.get(room, force=True)
        if chain is None or user not in chain.members:
            return False
        if chain.members[user].history == "joined":
            return chain.member_at(user, max(sess.me, 1))
        return True

    def _on_device_secrets(self, msg: pairwise.Opened) -> None:
        """Taken only from this user's own devices and only if it matches the identity key
        pinned for the user, if any: a server cannot slip in an identity of its own."""
        st = self.state
        if msg.su != st.user_id:
            st.metrics.inc("todevice_not_entitled")
            return
        try:
            ik = SigningKey.from_seed(b64d(msg.body.get("ik"), 32))
        except CryptoError:
            return
        if st.trust.pinned(st.user_id) not in (None, ik.public):
            st.metrics.inc("todevice_not_entitled")
            return
        st.trust.observe(st.user_id, ik.public)
        st.ik = ik
        if "bk" in msg.body and isinstance(msg.body.get("bv"), int):
            st.backup_key = b64d(msg.body["bk"], 32)
            st.backup_version = int(msg.body["bv"])

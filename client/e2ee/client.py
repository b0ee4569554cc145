"""An end-to-end encrypted Relais device: the only way the SDK sends room content.

It follows the sharing rules of docs/crypto.md §6 so that no entitled device is ever left with an
undecryptable message: a session's key is made durable in the recipients' to-device queues before
the first message that needs it; a new member with shared history gets the adder's sessions; a
device that still misses a key asks every device of the current members and keeps the message
visibly "waiting" until one answers. Everything received is handled by one worker task, in arrival
order, so key state is never mutated concurrently; sending takes the same lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from crypto import attachments, backup, group, membership, pairwise
from crypto.encoding import b64d, b64e, dumps, loads_object
from crypto.errors import CryptoError
from crypto.identity import DeviceEntry, make_device_list, make_prekey
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore

from ..sdk import RelaisClient, RelaisError
from .chains import RoomChains
from .directory import KeyDirectory
from .records import DECRYPTED, FAILED, WAITING, MessageRecord, Metrics

log = logging.getLogger("relais.e2ee")

TODEVICE_TYPE = "relais.pairwise.v1"
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


class E2EEError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Policy:
    """Rotation and retry settings (docs/crypto.md §6.1, §2.2)."""

    rotate_after_messages: int = 100
    rotate_after_ms: int = 7 * DAY_MS
    prekey_rotate_ms: int = 7 * DAY_MS
    prekey_grace_ms: int = 14 * DAY_MS
    retry_interval_s: float = 30.0


SessionKey = tuple[str, str, str]  # (room, sender device, session id)


class E2EEClient:
    def __init__(
        self,
        api: RelaisClient,
        *,
        policy: Policy | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if api.user_id is None or api.device_id is None:
            raise E2EEError("not_logged_in", "log the RelaisClient in first")
        self.api = api
        self.user_id: str = api.user_id
        self.device_id: str = api.device_id
        self.policy = policy or Policy()
        self.clock = clock
        self.metrics = Metrics()
        self.trust = TrustStore()
        self.directory = KeyDirectory(api, self.trust, self.metrics)
        self.chains = RoomChains(api, self.directory, self.metrics, self.user_id)
        self.ik: SigningKey | None = None
        self.dsk = SigningKey.generate()
        self.dx = DhKey.generate()
        self.prekeys: dict[int, DhKey] = {}
        self.prekey_made: dict[int, int] = {}
        self.prekey_retired: dict[int, int] = {}
        self.outbound: dict[str, group.OutboundSession] = {}
        self.inbound: dict[SessionKey, group.InboundSession] = {}
        self.inbound_forwarded: set[SessionKey] = set()
        self.seen_pairwise: set[str] = set()
        self.records: dict[str, MessageRecord] = {}
        self.waiting: dict[SessionKey, set[str]] = {}
        self.requested: dict[SessionKey, int] = {}
        self.order: dict[SessionKey, tuple[int, int]] = {}
        self.backup_key: bytes | None = None
        self.backup_version: int | None = None
        self._backup_queue: dict[str, str] = {}
        self._handled_entries: set[tuple[int, str]] = set()
        self.on_decrypted: Callable[[MessageRecord], Awaitable[None] | None] | None = None
        self._lock = asyncio.Lock()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._busy = 0
        self._worker: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[None]] = set()
        api.on_message = self._enqueue_message
        api.on_to_device = self._enqueue_to_device
        api.on_event = self._on_event

    # -- device set-up ---------------------------------------------------------------------------
    async def bootstrap(
        self,
        passphrase: str | None = None,
        *,
        backup_ops: int = backup.DEFAULT_OPS,
        backup_mem: int = backup.DEFAULT_MEM,
    ) -> None:
        """First device of a user: make the identity key, publish a device list naming only this
        device, and (with a passphrase) the encrypted key backup holding the identity seed."""
        self.ik = SigningKey.generate()
        self.trust.observe(self.user_id, self.ik.public)
        self.trust.mark_verified(self.user_id, self.ik.public)
        await self._publish_prekey()
        await self._publish_devices([self._own_entry()], ver=1)
        if passphrase is not None:
            await self.enable_backup(passphrase, ops=backup_ops, mem=backup_mem)

    async def start_new_device(self) -> dict[str, str]:
        """A further device of an existing user: publish its pre-key and return the code the
        user carries to one of their other devices (shown as a QR in the apps)."""
        await self._publish_prekey()
        await self.directory.ensure([self.user_id], force=True)
        return self.approval_code()

    def approval_code(self) -> dict[str, str]:
        return {
            "user": self.user_id,
            "device": self.device_id,
            "sign": self.dsk.public_b64(),
            "dh": self.dx.public_b64(),
        }

    async def approve_device(self, code: dict[str, str]) -> None:
        """On a trusted device: sign the new device into the list, then hand it the identity
        seed, the backup key and every session this device holds, over the pairwise channel."""
        ik = self._require_identity()
        if code.get("user") != self.user_id:
            raise E2EEError("forbidden", "a device can only approve its own user's devices")
        entry = DeviceEntry(code["device"], b64d(code["sign"], 32), b64d(code["dh"], 32))
        async with self._lock:
            await self.directory.ensure([self.user_id], force=True)
            current = self.directory.lists[self.user_id]
            devices = [d for d in current.devices if d.id != entry.id] + [entry]
            await self._publish_devices(devices, ver=current.ver + 1)
            await self.directory.ensure([self.user_id], force=True)
            secrets_body: dict[str, Any] = {"ik": b64e(ik.seed)}
            if self.backup_key is not None and self.backup_version is not None:
                secrets_body["bk"] = b64e(self.backup_key)
                secrets_body["bv"] = self.backup_version
            items = [(self.user_id, entry.id, "device_secrets", secrets_body)]
            items += [
                (self.user_id, entry.id, "room_key", sess.export_body())
                for sess in self.inbound.values()
            ]
            await self._send_items(items)
            self.metrics.inc("keys_forwarded", len(items) - 1)

    async def restore_from_backup(self, passphrase: str) -> int:
        """A new device that knows the recovery passphrase: unlock the identity seed and the
        backup key, add itself to the device list, import every backed-up session."""
        info = await self.api.get_backup()
        if info is None:
            raise E2EEError("no_backup", "this account has no key backup")
        bk, seed = await asyncio.to_thread(
            backup.unlock_backup, info["info"], self.user_id, passphrase
        )
        self.ik = SigningKey.from_seed(seed)
        self.backup_key, self.backup_version = bk, int(info["version"])
        self.trust.observe(self.user_id, self.ik.public)
        self.trust.mark_verified(self.user_id, self.ik.public)
        await self._publish_prekey()
        async with self._lock:
            await self.directory.ensure([self.user_id], force=True)
            current = self.directory.lists.get(self.user_id)
            devices = [d for d in (current.devices if current else ()) if d.id != self.device_id]
            await self._publish_devices(
                [*devices, self._own_entry()], ver=(current.ver + 1) if current else 1
            )
            await self.directory.ensure([self.user_id], force=True)
            imported = 0
            for entry in await self.api.backup_entries():
                try:
                    body = backup.open_entry(bk, self.user_id, entry["id"], entry["data"])
                    self._store_session(body, forwarded=True)
                    imported += 1
                except CryptoError as err:
                    self.metrics.inc(f"backup_{err.code}")
            return imported

    async def enable_backup(
        self, passphrase: str, *, ops: int = backup.DEFAULT_OPS, mem: int = backup.DEFAULT_MEM
    ) -> None:
        ik = self._require_identity()
        bk = os.urandom(32)
        info = await asyncio.to_thread(
            backup.make_backup_info, self.user_id, passphrase, bk, ik.seed, ops=ops, mem=mem
        )
        existing = await self.api.get_backup()
        version = 1 if existing is None else int(existing["version"]) + 1
        await self.api.put_backup(version, info)
        self.backup_key, self.backup_version = bk, version
        for sess in self.inbound.values():
            self._queue_backup(sess)
        await self._flush_backup()

    async def revoke_device(self, device_id: str) -> None:
        """Drop a device from the signed list (others rotate their sessions away from it), then
        have the server revoke its sessions."""
        async with self._lock:
            await self.directory.ensure([self.user_id], force=True)
            current = self.directory.lists[self.user_id]
            devices = [d for d in current.devices if d.id != device_id]
            await self._publish_devices(devices, ver=current.ver + 1)
            await self.directory.ensure([self.user_id], force=True)
        await self.api.revoke_device(device_id)

    async def rotate_prekey(self) -> None:
        """Publish a new signed pre-key; the old private half is kept for the grace period."""
        if self.prekeys:
            self.prekey_retired[max(self.prekeys)] = self.clock()
        await self._publish_prekey()
        self.erase_expired_prekeys()

    def erase_expired_prekeys(self) -> None:
        limit = self.clock() - self.policy.prekey_grace_ms
        for key_id, retired in list(self.prekey_retired.items()):
            if retired <= limit:
                self.prekeys.pop(key_id, None)
                del self.prekey_retired[key_id]

    def _own_entry(self) -> DeviceEntry:
        return DeviceEntry(self.device_id, self.dsk.public, self.dx.public)

    def _require_identity(self) -> SigningKey:
        if self.ik is None:
            raise E2EEError("no_identity", "this device has not been approved yet")
        return self.ik

    async def _publish_prekey(self) -> None:
        key_id = max(self.prekeys, default=0) + 1
        key = DhKey.generate()
        self.prekeys[key_id] = key
        self.prekey_made[key_id] = self.clock()
        wire = make_prekey(self.dsk, self.user_id, self.device_id, key_id, key.public, self.clock())
        await self.api.publish_device_keys(wire)

    async def _publish_devices(self, devices: list[DeviceEntry], *, ver: int) -> None:
        ik = self._require_identity()
        wire = make_device_list(ik, self.user_id, ver, devices, self.clock())
        await self.api.publish_device_list(ik.public_b64(), wire)

    # -- connection ---------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        if self._retry_task is None and self.policy.retry_interval_s > 0:
            self._retry_task = asyncio.create_task(self._retry_loop())
        # Events missed while offline (membership, device lists) arrive with no notice.
        for room in self.chains.states:
            self.chains.mark_dirty(room)
        for user in self.directory.lists:
            self.directory.mark_dirty(user)
        await self.api.connect()
        await self.api.sync()
        async with self._lock:
            for room in list(self.chains.dirty):
                await self.chains.get(room)
        await self._resync_rejoined()

    async def _resync_rejoined(self) -> None:
        """Fetch again the rooms this user re-joined: their history is ours again (§6.1)."""
        if not self.chains.rejoined:
            return
        for room in self.chains.rejoined:
            self.api.inbox.since.pop(room, None)
        self.chains.rejoined.clear()
        await self.api.sync()

    async def close(self) -> None:
        for task in (self._worker, self._retry_task, *self._bg):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._worker = self._retry_task = None
        await self.api.close()

    async def disconnect(self) -> None:
        """Go offline (the device keeps its keys); `connect()` brings it back and syncs."""
        if self.api.sio is not None:
            await self.api.sio.disconnect()
            self.api.sio = None

    async def idle(self, timeout: float = 30) -> None:
        """Wait until everything received so far has been processed (tests, bots)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._queue.empty() or self._busy:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("E2EE worker still busy")
            await asyncio.sleep(0.01)

    async def _enqueue_message(self, msg: dict[str, Any]) -> None:
        self._busy += 1
        await self._queue.put(("message", msg))
        self._busy -= 1

    async def _enqueue_to_device(self, entries: list[dict[str, Any]]) -> None:
        """Sync pages are handled before they are acked: wait until the worker is done."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(("to_device", (entries, done)))
        if self._worker is not None:
            await done

    def _on_event(self, event: str, data: Any) -> None:
        if event == "keys.changed" and isinstance(data, dict):
            self.directory.mark_dirty(str(data.get("user_id")))
            self._queue.put_nowait(("retry", None))
        elif event == "room.member" and isinstance(data, dict):
            self.chains.mark_dirty(str(data.get("room_id")))
            self._queue.put_nowait(("retry", None))

    async def _work(self) -> None:
        while True:
            kind, item = await self._queue.get()
            self._busy += 1
            try:
                async with self._lock:
                    if kind == "message":
                        await self._handle_message(item)
                    elif kind == "to_device":
                        entries, done = item
                        try:
                            for entry in entries:
                                await self._handle_to_device(entry)
                        finally:
                            if not done.done():
                                done.set_result(None)
                    elif kind == "retry":
                        await self._retry_waiting()
                    await self._flush_backup()
                if self.chains.rejoined and self.api.sio is not None:
                    # Not from this task: sync hands to-device entries back to this worker.
                    self._bg.add(asyncio.create_task(self._resync_rejoined()))
            except Exception:
                self.metrics.inc("worker_errors")
                log.exception("e2ee worker step failed", extra={"kind": kind})
            finally:
                self._busy -= 1

    async def _retry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.policy.retry_interval_s)
            if self.waiting:
                await self._queue.put(("retry", None))

    async def retry_waiting(self) -> None:
        async with self._lock:
            await self._retry_waiting()

    # -- rooms and membership -----------------------------------------------------------------
    async def create_room(
        self, patient_user_id: str | None = None, *, history: str = "shared"
    ) -> str:
        ik = self._require_identity()
        room_id = "r_" + secrets.token_urlsafe(16)
        create = membership.make_event(
            ik,
            room=room_id,
            n=1,
            prev=b"",
            action="create",
            actor=self.user_id,
            target=self.user_id,
            role="owner",
            consent=None,
            history=history,
            ts=self.clock(),
        )
        patient_event = None
        if patient_user_id is not None:
            await self.directory.ensure([patient_user_id])
            patient_event = membership.make_event(
                ik,
                room=room_id,
                n=2,
                prev=membership.event_hash(create),
                action="add",
                actor=self.user_id,
                target=patient_user_id,
                role="member",
                consent=None,
                history="shared",
                ts=self.clock(),
            )
        async with self._lock:
            await self.api.create_room(
                patient_user_id,
                room_id=room_id,
                signed_event=create,
                patient_signed_event=patient_event,
            )
            await self.chains.refresh(room_id)
        return room_id

    async def add_member(
        self,
        room_id: str,
        user_id: str,
        *,
        room_role: str = "member",
        consent_id: str | None = None,
        history: str = "shared",
    ) -> None:
        """Sign the add on the verified head; with shared history, forward this device's
        sessions of the room to the new member's devices at once."""
        ik = self._require_identity()
        async with self._lock:
            await self.directory.ensure([user_id], force=True)
            for attempt in range(5):
                chain = await self.chains.get(room_id, force=attempt > 0)
                if chain is None:
                    raise E2EEError("room_frozen", self.chains.frozen.get(room_id, "unknown"))
                wire = membership.make_event(
                    ik,
                    room=room_id,
                    n=chain.head_n + 1,
                    prev=chain.head_hash if chain.head_n else b"",
                    action="add",
                    actor=self.user_id,
                    target=user_id,
                    role=room_role,
                    consent=consent_id,
                    history=history,
                    ts=self.clock(),
                )
                try:
                    await self.api.add_member(
                        room_id,
                        user_id,
                        room_role=room_role,
                        consent_id=consent_id,
                        signed_event=wire,
                    )
                except RelaisError as err:
                    if err.code == "conflict" and "chain" in err.message:
                        continue
                    raise
                self.chains.adopt(room_id, wire, ik.public)
                break
            else:
                raise E2EEError("conflict", "membership chain kept moving")
            if history == "shared":
                items = [
                    (user_id, d.id, "room_key", sess.export_body())
                    for d in self.directory.devices_of(user_id)
                    for key, sess in self.inbound.items()
                    if key[0] == room_id
                ]
                await self._send_items(items)
                self.metrics.inc("keys_forwarded", len(items))

    async def remove_member(self, room_id: str, user_id: str) -> None:
        """Sign the removal; this device's next message rotates its session (§6.1)."""
        ik = self._require_identity()
        async with self._lock:
            for attempt in range(5):
                chain = await self.chains.get(room_id, force=attempt > 0)
                if chain is None:
                    raise E2EEError("room_frozen", self.chains.frozen.get(room_id, "unknown"))
                wire = membership.make_event(
                    ik,
                    room=room_id,
                    n=chain.head_n + 1,
                    prev=chain.head_hash,
                    action="remove",
                    actor=self.user_id,
                    target=user_id,
                    role=None,
                    consent=None,
                    history=None,
                    ts=self.clock(),
                )
                try:
                    await self.api.remove_member(room_id, user_id, signed_event=wire)
                except RelaisError as err:
                    if err.code == "conflict" and "chain" in err.message:
                        continue
                    raise
                self.chains.adopt(room_id, wire, ik.public)
                if user_id == self.user_id:
                    self.outbound.pop(room_id, None)
                return
            raise E2EEError("conflict", "membership chain kept moving")

    # -- sending ------------------------------------------------------------------------------
    async def send_text(self, room_id: str, text: str) -> dict[str, Any]:
        return await self.send_content(room_id, {"type": "text", "body": text})

    async def send_content(self, room_id: str, content: dict[str, Any]) -> dict[str, Any]:
        async with self._lock:
            for _attempt in range(5):
                try:
                    return await self._send_locked(room_id, content)
                except RelaisError as err:
                    if err.code != "stale_membership":
                        raise
                    # Someone joined or left since our chain was verified: catch up, re-share
                    # or rotate as the rules say, and encrypt again under the new head.
                    self.metrics.inc("stale_membership")
                    self.chains.mark_dirty(room_id)
            raise E2EEError("conflict", "membership kept changing while sending")

    async def _send_locked(self, room_id: str, content: dict[str, Any]) -> dict[str, Any]:
        chain = await self.chains.get(room_id)
        if chain is None:
            raise E2EEError("room_frozen", self.chains.frozen.get(room_id, "unknown"))
        if self.user_id not in chain.members:
            raise E2EEError("not_member", "this user is not in the room's verified chain")
        await self.directory.ensure(chain.members)
        entitled = self._entitled_devices(room_id)
        sess = self._outbound_session(room_id, entitled)
        missing = [t for t in entitled if t[1] not in sess.shared_with]
        if missing:
            body = sess.share_body(self.user_id, self.device_id)
            sent = await self._send_pairwise(missing, "room_key", body)
            for dev in sent:
                sess.shared_with[dev] = sess.index
            self.metrics.inc("keys_shared", len(sent))
        head_n, head_hash = self.chains.head(room_id)
        env = sess.encrypt(
            content, su=self.user_id, sd=self.device_id, dsk=self.dsk, me=head_n, mh=head_hash
        )
        ack = await self.api.send(room_id, env)
        rec = MessageRecord(ack["id"], room_id, int(ack["seq"]), self.user_id, self.device_id, env)
        rec.state, rec.content = DECRYPTED, content
        own = self.inbound.get((room_id, self.device_id, env["sid"]))
        if own is not None:
            own.decrypt(group.parse_envelope(env), room_id, ack["id"])
        self.records.setdefault(rec.id, rec)
        self.metrics.inc("sent")
        await self._flush_backup()
        return ack

    async def send_file(
        self, room_id: str, data: bytes, *, name: str, mime: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Encrypt with a fresh secretstream key, upload ciphertext, send the key in-room."""
        blob, fk = await asyncio.to_thread(attachments.encrypt_file, data)
        up = await self.api.upload_attachment(room_id, blob)
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
        blob = await self.api.download_attachment(str(content["attachment_id"]))
        fk = attachments.FileKey(
            b64d(content["key"], 32), b64d(content["hash"], 32), int(content["size"])
        )
        return await asyncio.to_thread(attachments.decrypt_file, blob, fk)

    def _entitled_devices(self, room_id: str) -> list[tuple[str, str]]:
        """Every device of every current, trusted member (own other devices included)."""
        chain = self.chains.states[room_id]
        out = []
        for user in sorted(chain.members):
            for dev in self.directory.devices_of(user):
                if dev.id != self.device_id:
                    out.append((user, dev.id))
        return out

    def _outbound_session(
        self, room_id: str, entitled: list[tuple[str, str]]
    ) -> group.OutboundSession:
        sess = self.outbound.get(room_id)
        chain = self.chains.states[room_id]
        if sess is not None:
            devices = {d for _u, d in entitled}
            rotate = (
                sess.sent >= self.policy.rotate_after_messages
                or self.clock() - sess.created_ms >= self.policy.rotate_after_ms
                or self.chains.changed_since(room_id, sess.me, ("remove",))
                or (
                    chain.policy == "joined"
                    and self.chains.changed_since(room_id, sess.me, ("add",))
                )
                or any(d not in devices for d in sess.shared_with)
            )
            if not rotate:
                return sess
            self.metrics.inc("rotations")
        sess = group.OutboundSession.new(room_id, created_ms=self.clock(), me=chain.head_n)
        self.outbound[room_id] = sess
        self._store_session(sess.share_body(self.user_id, self.device_id), forwarded=False)
        return sess

    async def _send_pairwise(
        self, targets: list[tuple[str, str]], type_: str, body: dict[str, Any]
    ) -> list[str]:
        """The same body to several devices, each in its own pairwise envelope."""
        return await self._send_items([(u, d, type_, body) for u, d in targets])

    async def _send_items(self, items: list[tuple[str, str, str, dict[str, Any]]]) -> list[str]:
        """Encrypt one pairwise message per (user, device, type, body) and queue them; returns
        the devices whose queue accepted one. A device without verified keys is skipped and
        counted. A `todevice.send` takes each device once, so calls are cut accordingly."""
        batches: list[list[dict[str, str]]] = []
        for user, device, type_, body in items:
            rcpt = self.directory.recipient(user, device)
            if rcpt is None:
                self.metrics.inc("unreachable_device")
                continue
            payload = pairwise.encrypt(
                sender_user=self.user_id,
                sender_device=self.device_id,
                sender_key=self.dsk,
                recipient=rcpt,
                type=type_,
                body=body,
                ts=self.clock(),
            )
            msg = {"device_id": device, "type": TODEVICE_TYPE, "payload": payload}
            for batch in batches:
                if len(batch) < 100 and all(m["device_id"] != device for m in batch):
                    batch.append(msg)
                    break
            else:
                batches.append([msg])
        stored: list[str] = []
        for batch in batches:
            ack = await self.api.send_to_device(batch)
            refused = set(ack.get("not_found") or [])
            stored.extend(m["device_id"] for m in batch if m["device_id"] not in refused)
        return stored

    # -- receiving messages ---------------------------------------------------------------------
    async def _handle_message(self, msg: dict[str, Any]) -> None:
        if msg["id"] in self.records and self.records[msg["id"]].state == DECRYPTED:
            return
        rec = MessageRecord(
            msg["id"],
            msg["room_id"],
            int(msg["seq"]),
            msg["sender"]["user_id"],
            msg["sender"]["device_id"],
            msg["envelope"],
        )
        self.records[rec.id] = rec
        await self._try_decrypt(rec)

    async def _try_decrypt(self, rec: MessageRecord) -> None:
        try:
            header = group.parse_envelope(rec.envelope)
            if header.su != rec.sender_user or header.sd != rec.sender_device:
                raise CryptoError("unknown_device", "envelope sender differs from the server's")
            dev = self.directory.device(header.su, header.sd)
            if dev is None:
                await self.directory.ensure([header.su], force=True)
                dev = self.directory.device(header.su, header.sd)
            if dev is None:
                raise CryptoError("unknown_device")
            group.verify_envelope(header, rec.room_id, dev.sign)
            await self._check_chain_reference(rec.room_id, header.me, header.mh)
            key = (rec.room_id, header.sd, header.sid)
            sess = self.inbound.get(key)
            if sess is None or header.i < sess.first_index:
                raise CryptoError("missing_key")
            try:
                content = sess.decrypt(header, rec.room_id, rec.id)
            except CryptoError as err:
                if err.code == "bad_ciphertext" and key in self.inbound_forwarded:
                    # A forwarder handed us a wrong chain: forget it and ask again.
                    del self.inbound[key]
                    self.inbound_forwarded.discard(key)
                    raise CryptoError("missing_key") from err
                raise
            self._check_order(key, rec.seq, header.i)
        except CryptoError as err:
            if err.code == "missing_key":
                hdr = group.parse_envelope(rec.envelope)
                self._set_waiting(rec, (rec.room_id, hdr.sd, hdr.sid))
                await self._request_key(rec.room_id, hdr.sd, hdr.sid, hdr.i)
                return
            self._clear_waiting(rec)
            rec.state, rec.error = FAILED, err.code
            self.metrics.inc(f"failed_{err.code}")
            return
        self._clear_waiting(rec)
        rec.state, rec.content, rec.error = DECRYPTED, content, None
        self.metrics.inc("decrypted")
        if self.on_decrypted is not None:
            res = self.on_decrypted(rec)
            if asyncio.iscoroutine(res):
                await res

    async def _check_chain_reference(self, room_id: str, me: int, mh: bytes) -> None:
        """A message names the chain head its sender saw: fetch what we lack, and report a
        server that withholds events or showed the sender a different history."""
        chain = await self.chains.get(room_id)
        if chain is None:
            return
        if me > chain.head_n:
            chain = await self.chains.get(room_id, force=True)
            if chain is None:
                return
            if me > chain.head_n:
                self.chains.warn("chain_withheld", room=room_id, me=me)
                return
        if me and self.chains.hash_at(room_id, me) != mh:
            self.chains.warn("chain_forked", room=room_id, me=me)

    def _check_order(self, key: SessionKey, seq: int, index: int) -> None:
        """Within one session, a later room seq must carry a later index; otherwise the server
        reordered messages (reported, the content stays readable)."""
        last = self.order.get(key)
        if last is not None:
            last_seq, last_index = last
            if (seq > last_seq) != (index > last_index) and seq != last_seq:
                self.chains.warn("reordered", room=key[0], seq=seq)
        if last is None or seq > last[0]:
            self.order[key] = (seq, index)

    def _set_waiting(self, rec: MessageRecord, key: SessionKey) -> None:
        if rec.state != WAITING or rec.needs != key:
            self.metrics.inc("waited")
        rec.state, rec.needs = WAITING, key
        self.waiting.setdefault(key, set()).add(rec.id)

    def _clear_waiting(self, rec: MessageRecord) -> None:
        if rec.needs is not None:
            ids = self.waiting.get(rec.needs)
            if ids is not None:
                ids.discard(rec.id)
                if not ids:
                    del self.waiting[rec.needs]
                    self.requested.pop(rec.needs, None)
            rec.needs = None

    async def _request_key(
        self, room_id: str, sd: str, sid: str, index: int, *, force: bool = False
    ) -> None:
        key = (room_id, sd, sid)
        if not force and key in self.requested and self.requested[key] <= index:
            return
        self.requested[key] = min(index, self.requested.get(key, index))
        chain = await self.chains.get(room_id)
        users = set(chain.members) if chain is not None else set()
        users.add(self.user_id)
        await self.directory.ensure(users)
        targets = [
            (u, d.id)
            for u in sorted(users)
            for d in self.directory.devices_of(u)
            if d.id != self.device_id
        ]
        body = {
            "room": room_id,
            "sd": sd,
            "sid": sid,
            "i": self.requested[key],
            "req": b64e(os.urandom(8)),
        }
        sent = await self._send_pairwise(targets, "key_request", body)
        for rid in self.waiting.get(key, ()):
            self.records[rid].asked = sent
        self.metrics.inc("key_requests")

    async def _retry_waiting(self) -> None:
        for room in list(self.chains.dirty):
            await self.chains.get(room)
        for key in list(self.waiting):
            ids = self.waiting.get(key)
            if not ids:
                continue
            recs = [self.records[i] for i in ids]
            for rec in recs:
                await self._try_decrypt(rec)
            if key in self.waiting:
                index = min(group.parse_envelope(self.records[i].envelope).i for i in ids)
                await self._request_key(key[0], key[1], key[2], index, force=True)

    # -- receiving to-device --------------------------------------------------------------------
    async def _handle_to_device(self, entry: dict[str, Any]) -> None:
        marker = (
            int(entry.get("id", -1)),
            hashlib.sha256(str(entry.get("payload")).encode()).hexdigest(),
        )
        if marker in self._handled_entries:
            return  # the same queue entry seen live and again through sync before its ack
        self._handled_entries.add(marker)
        if entry.get("type") != TODEVICE_TYPE:
            self.metrics.inc("todevice_ignored")
            return
        sender = entry.get("sender") or {}
        try:
            opened = pairwise.open_payload(
                str(entry.get("payload")),
                my_user=self.user_id,
                my_device=self.device_id,
                my_dh=self.dx,
                prekeys=self.prekeys,
                server_sender_device=sender.get("device_id"),
            )
            dev = self.directory.device(opened.su, opened.sd)
            if dev is None:
                await self.directory.ensure([opened.su], force=True)
                dev = self.directory.device(opened.su, opened.sd)
            if dev is None:
                raise CryptoError("unknown_device")
            msg = opened.verify(dev.sign, self.seen_pairwise)
        except CryptoError as err:
            self.metrics.inc(f"todevice_{err.code}")
            return
        self.metrics.inc(f"todevice_{msg.type}")
        if msg.type == "room_key":
            await self._on_room_key(msg)
        elif msg.type == "key_request":
            await self._on_key_request(msg)
        elif msg.type == "device_secrets":
            self._on_device_secrets(msg)
        elif msg.type == "key_withheld":
            self.metrics.inc("key_withheld")

    async def _on_room_key(self, msg: pairwise.Opened) -> None:
        body = msg.body
        room, sd, su = body.get("room"), body.get("sd"), body.get("su")
        if not isinstance(room, str) or not isinstance(sd, str) or not isinstance(su, str):
            self.metrics.inc("todevice_bad_encoding")
            return
        forwarded = msg.sd != sd
        if not forwarded and msg.su != su:
            self.metrics.inc("todevice_not_entitled")
            return
        if forwarded and msg.su != self.user_id:
            chain = await self.chains.get(room)
            if chain is None or msg.su not in chain.members:
                chain = await self.chains.get(room, force=True)
            if chain is None or msg.su not in chain.members:
                self.metrics.inc("todevice_not_entitled")
                return
        try:
            key = self._store_session(body, forwarded=forwarded)
        except CryptoError as err:
            self.metrics.inc(f"todevice_{err.code}")
            return
        for rid in list(self.waiting.get(key, ())):
            await self._try_decrypt(self.records[rid])

    def _store_session(self, body: dict[str, Any], *, forwarded: bool) -> SessionKey:
        incoming = group.InboundSession.from_share(body)
        key = (incoming.room, incoming.sd, incoming.sid)
        known = self.inbound.get(key)
        if known is None:
            self.inbound[key] = incoming
            if forwarded:
                self.inbound_forwarded.add(key)
            else:
                self.inbound_forwarded.discard(key)
            self._queue_backup(incoming)
        elif known.merge(body):
            self._queue_backup(known)
        return key

    async def _on_key_request(self, msg: pairwise.Opened) -> None:
        body = msg.body
        room, sd, sid, index = body.get("room"), body.get("sd"), body.get("sid"), body.get("i")
        if not (
            isinstance(room, str)
            and isinstance(sd, str)
            and isinstance(sid, str)
            and isinstance(index, int)
        ):
            return
        sess = self.inbound.get((room, sd, sid))
        if sess is None or sess.first_index > index:
            return
        if not await self._may_receive(msg.su, room, sess):
            await self._send_pairwise(
                [(msg.su, msg.sd)],
                "key_withheld",
                {"room": room, "sid": sid, "reason": "not_entitled"},
            )
            self.metrics.inc("key_requests_refused")
            return
        shared = sess.export_body()
        await self._send_pairwise([(msg.su, msg.sd)], "room_key", shared)
        self.metrics.inc("key_requests_answered")

    async def _may_receive(self, user: str, room: str, sess: group.InboundSession) -> bool:
        if user == self.user_id:
            return True
        if not self.trust.trusted(user):
            return False
        chain = await self.chains.get(room)
        if chain is None:
            return False
        if user not in chain.members:
            chain = await self.chains.get(room, force=True)
        if chain is None or user not in chain.members:
            return False
        if chain.members[user].history == "joined":
            return chain.member_at(user, max(sess.me, 1))
        return True

    def _on_device_secrets(self, msg: pairwise.Opened) -> None:
        if msg.su != self.user_id:
            self.metrics.inc("todevice_not_entitled")
            return
        try:
            ik = SigningKey.from_seed(b64d(msg.body.get("ik"), 32))
        except CryptoError:
            return
        if self.trust.pinned(self.user_id) not in (None, ik.public):
            self.metrics.inc("todevice_not_entitled")
            return
        self.trust.observe(self.user_id, ik.public)
        self.ik = ik
        if "bk" in msg.body and isinstance(msg.body.get("bv"), int):
            self.backup_key = b64d(msg.body["bk"], 32)
            self.backup_version = int(msg.body["bv"])

    # -- backup ---------------------------------------------------------------------------------
    def _queue_backup(self, sess: group.InboundSession) -> None:
        if self.backup_key is None:
            return
        eid = backup.entry_id(self.backup_key, sess.room, sess.sd, sess.sid)
        self._backup_queue[eid] = backup.seal_entry(
            self.backup_key, self.user_id, eid, sess.export_body()
        )

    async def _flush_backup(self) -> None:
        if not self._backup_queue or self.backup_version is None:
            return
        items = [{"id": k, "data": v} for k, v in self._backup_queue.items()]
        self._backup_queue.clear()
        for start in range(0, len(items), 1000):
            await self.api.put_backup_entries(self.backup_version, items[start : start + 1000])

    # -- what the user sees ---------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out = {DECRYPTED: 0, WAITING: 0, FAILED: 0}
        for rec in self.records.values():
            out[rec.state] += 1
        return out

    def messages(self, room_id: str) -> list[MessageRecord]:
        return sorted(
            (r for r in self.records.values() if r.room_id == room_id), key=lambda r: r.seq
        )

    def safety_number(self, user_id: str) -> str:
        from crypto.identity import safety_number

        mine, theirs = self.trust.pinned(self.user_id), self.trust.pinned(user_id)
        if mine is None or theirs is None:
            raise E2EEError("unknown_user", "fetch both identity keys first")
        return safety_number(self.user_id, mine, user_id, theirs)

    def export_state_summary(self) -> dict[str, Any]:
        """Non-secret facts for logs and bots (never keys)."""
        return loads_object(
            dumps(
                {
                    "device": self.device_id,
                    "rooms": sorted(self.chains.states),
                    "inbound_sessions": len(self.inbound),
                    "counts": self.counts(),
                }
            )
        )

"""An end-to-end encrypted Relais device: the only way the SDK sends room content.

It follows the sharing rules of docs/crypto.md §6 so that no entitled device is ever left with an
undecryptable message. The work is split by job (own device keys, backup, sending, receiving,
key sharing, membership); this class wires those parts to one shared `DeviceState` and to the
connection. Everything received is handled by one worker task, in arrival order, so key state is
never mutated concurrently; user calls that touch keys take the same lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, overload

from crypto import backup as backup_format
from crypto import group, identity
from crypto.encoding import dumps, loads_object
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore

from ..sdk import RelaisClient
from .backup import KeyBackup
from .chains import RoomChains
from .devices import OwnDevice
from .directory import KeyDirectory
from .keyshare import KeyShare
from .membership import RoomMembership
from .outbox import Outbox
from .receiving import Receiver
from .records import DECRYPTED, FAILED, WAITING, MessageRecord, Metrics
from .sending import Sender
from .sessions import SessionStore
from .state import DeviceState, E2EEError, Policy, SessionKey, now_ms

__all__ = ["E2EEClient", "E2EEError", "Policy"]

log = logging.getLogger("relais.e2ee")

T = TypeVar("T")


class _Shared(Generic[T]):
    """An attribute of the client that lives in its `DeviceState`: applications and tests keep
    reading (and setting) `client.ik`, `client.records`... while the parts share one copy."""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Shared[T]: ...
    @overload
    def __get__(self, obj: E2EEClient, owner: type[Any]) -> T: ...
    def __get__(self, obj: E2EEClient | None, owner: type[Any]) -> T | _Shared[T]:
        if obj is None:
            return self
        value: T = getattr(obj.state, self.name)
        return value

    def __set__(self, obj: E2EEClient, value: T) -> None:
        setattr(obj.state, self.name, value)


class E2EEClient:
    api: _Shared[RelaisClient] = _Shared()
    user_id: _Shared[str] = _Shared()
    device_id: _Shared[str] = _Shared()
    policy: _Shared[Policy] = _Shared()
    clock: _Shared[Callable[[], int]] = _Shared()
    metrics: _Shared[Metrics] = _Shared()
    trust: _Shared[TrustStore] = _Shared()
    directory: _Shared[KeyDirectory] = _Shared()
    chains: _Shared[RoomChains] = _Shared()
    ik: _Shared[SigningKey | None] = _Shared()
    dsk: _Shared[SigningKey] = _Shared()
    dx: _Shared[DhKey] = _Shared()
    prekeys: _Shared[dict[int, DhKey]] = _Shared()
    prekey_made: _Shared[dict[int, int]] = _Shared()
    prekey_retired: _Shared[dict[int, int]] = _Shared()
    outbound: _Shared[dict[str, group.OutboundSession]] = _Shared()
    inbound: _Shared[dict[SessionKey, group.InboundSession]] = _Shared()
    inbound_forwarded: _Shared[set[SessionKey]] = _Shared()
    seen_pairwise: _Shared[set[str]] = _Shared()
    records: _Shared[dict[str, MessageRecord]] = _Shared()
    waiting: _Shared[dict[SessionKey, set[str]]] = _Shared()
    requested: _Shared[dict[SessionKey, int]] = _Shared()
    order: _Shared[dict[SessionKey, tuple[int, int]]] = _Shared()
    backup_key: _Shared[bytes | None] = _Shared()
    backup_version: _Shared[int | None] = _Shared()
    on_decrypted: _Shared[Callable[[MessageRecord], Awaitable[None] | None] | None] = _Shared()

    def __init__(
        self,
        api: RelaisClient,
        *,
        policy: Policy | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if api.user_id is None or api.device_id is None:
            raise E2EEError("not_logged_in", "log the RelaisClient in first")
        metrics = Metrics()
        trust = TrustStore()
        directory = KeyDirectory(api, trust, metrics)
        self.state = DeviceState(
            api=api,
            user_id=api.user_id,
            device_id=api.device_id,
            policy=policy or Policy(),
            clock=clock,
            metrics=metrics,
            trust=trust,
            directory=directory,
            chains=RoomChains(api, directory, metrics, api.user_id),
        )
        self.backup = KeyBackup(self.state)
        self.sessions = SessionStore(self.state, self.backup)
        self.outbox = Outbox(self.state)
        self.own_device = OwnDevice(self.state, self.backup, self.sessions, self.outbox)
        self.membership = RoomMembership(self.state, self.sessions, self.outbox)
        self.sender = Sender(self.state, self.sessions, self.backup, self.outbox)
        self.receiver = Receiver(self.state, self.sessions, self.outbox)
        self.keyshare = KeyShare(self.state, self.sessions, self.outbox, self.receiver)
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._busy = 0
        self._worker: asyncio.Task[None] | None = None
        self._retry_task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[None]] = set()
        api.on_message = self._enqueue_message
        api.on_to_device = self._enqueue_to_device
        api.on_event = self._on_event

    # -- this device ------------------------------------------------------------------------------
    async def bootstrap(
        self,
        passphrase: str | None = None,
        *,
        backup_ops: int = backup_format.DEFAULT_OPS,
        backup_mem: int = backup_format.DEFAULT_MEM,
    ) -> None:
        """First device of a user: make the identity key, publish a device list naming only this
        device, and (with a passphrase) the encrypted key backup holding the identity seed."""
        await self.own_device.bootstrap(passphrase, backup_ops=backup_ops, backup_mem=backup_mem)

    async def start_new_device(self) -> dict[str, str]:
        """A further device of an existing user: publish its pre-key and return the code the
        user carries to one of their other devices (shown as a QR in the apps)."""
        return await self.own_device.start_new_device()

    def approval_code(self) -> dict[str, str]:
        return self.own_device.approval_code()

    async def approve_device(self, code: dict[str, str]) -> None:
        """On a trusted device: sign the new device into the list, then hand it the identity
        seed, the backup key and every session this device holds, over the pairwise channel."""
        await self.own_device.approve_device(code)

    async def restore_from_backup(self, passphrase: str) -> int:
        """A new device that knows the recovery passphrase: unlock the identity seed and the
        backup key, add itself to the device list, import every backed-up session."""
        return await self.own_device.restore_from_backup(passphrase)

    async def enable_backup(
        self,
        passphrase: str,
        *,
        ops: int = backup_format.DEFAULT_OPS,
        mem: int = backup_format.DEFAULT_MEM,
    ) -> None:
        await self.backup.enable(passphrase, ops=ops, mem=mem)

    async def revoke_device(self, device_id: str) -> None:
        """Drop a device from the signed list (others rotate their sessions away from it), then
        have the server revoke its sessions."""
        await self.own_device.revoke_device(device_id)

    async def rotate_prekey(self) -> None:
        """Publish a new signed pre-key; the old private half is kept for the grace period."""
        await self.own_device.rotate_prekey()

    def erase_expired_prekeys(self) -> None:
        self.own_device.erase_expired_prekeys()

    # -- rooms and messages -----------------------------------------------------------------------
    async def create_room(
        self, patient_user_id: str | None = None, *, history: str = "shared"
    ) -> str:
        return await self.membership.create_room(patient_user_id, history=history)

    async def sign_room_create(self, room_id: str, *, history: str = "shared") -> bool:
        """Start the signed chain of a room the server made for this user (a consultation's
        chat room); False when it already had one."""
        return await self.membership.sign_room_create(room_id, history=history)

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
        await self.membership.add_member(
            room_id, user_id, room_role=room_role, consent_id=consent_id, history=history
        )

    async def remove_member(self, room_id: str, user_id: str) -> None:
        """Sign the removal; this device's next message rotates its session (§6.1)."""
        await self.membership.remove_member(room_id, user_id)

    async def send_text(self, room_id: str, text: str) -> dict[str, Any]:
        return await self.send_content(room_id, {"type": "text", "body": text})

    async def send_content(self, room_id: str, content: dict[str, Any]) -> dict[str, Any]:
        return await self.sender.send_content(room_id, content)

    async def send_file(
        self, room_id: str, data: bytes, *, name: str, mime: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Encrypt with a fresh secretstream key, upload ciphertext, send the key in-room."""
        return await self.sender.send_file(room_id, data, name=name, mime=mime)

    async def download_file(self, content: dict[str, Any]) -> bytes:
        return await self.sender.download_file(content)

    async def retry_waiting(self) -> None:
        async with self.state.lock:
            await self.receiver.retry_waiting()

    # -- connection -------------------------------------------------------------------------------
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
        if self.state.prekeys:
            await self.own_device.rotate_prekey_if_due()
        async with self.state.lock:
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
            await self.api.sio.shutdown()  # also stops a reconnection under way
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
                async with self.state.lock:
                    if kind == "message":
                        await self.receiver.handle_message(item)
                    elif kind == "to_device":
                        entries, done = item
                        try:
                            for entry in entries:
                                await self.keyshare.handle(entry)
                        finally:
                            if not done.done():
                                done.set_result(None)
                    elif kind == "retry":
                        await self.receiver.retry_waiting()
                    await self.backup.flush()
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

    # -- what the user sees -----------------------------------------------------------------------
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
        mine, theirs = self.trust.pinned(self.user_id), self.trust.pinned(user_id)
        if mine is None or theirs is None:
            raise E2EEError("unknown_user", "fetch both identity keys first")
        return identity.safety_number(self.user_id, mine, user_id, theirs)

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

"""This device's own keys and its place in the user's signed device list (docs/crypto.md §2, §6.3).

A device is useless to its user until the identity key vouches for it, and there are three ways
to get there: be the first device (bootstrap), be approved by a device that already holds the
identity key, or unlock the key backup with the passphrase. The approving device also hands over
every session it holds, so the new device reads the past from its first minute.

Every list this device signs extends the newest one it verified (docs/crypto.md §2.5) and moves
the head recorded in the key backup, so a restore can refuse to build on an older list a server
serves, and a revoked device can never come back.
"""

from __future__ import annotations

import asyncio
from typing import Any

from crypto import backup as backup_format
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.identity import (
    DeviceEntry,
    DeviceList,
    RetiredDevice,
    make_device_list,
    make_prekey,
)
from crypto.keys import DhKey, SigningKey

from .backup import KeyBackup
from .outbox import Item, Outbox
from .sessions import SessionStore
from .state import DeviceState, E2EEError


class OwnDevice:
    def __init__(
        self, state: DeviceState, backup: KeyBackup, sessions: SessionStore, outbox: Outbox
    ) -> None:
        self.state = state
        self.backup = backup
        self.sessions = sessions
        self.outbox = outbox

    async def bootstrap(self, passphrase: str | None, *, backup_ops: int, backup_mem: int) -> None:
        """First device of a user: it makes the identity key, so it is verified by definition."""
        st = self.state
        st.ik = SigningKey.generate()
        st.trust.observe(st.user_id, st.ik.public)
        st.trust.mark_verified(st.user_id, st.ik.public)
        await self.publish_prekey()
        await self._publish_devices([st.own_entry()])
        if passphrase is not None:
            await self.backup.enable(passphrase, ops=backup_ops, mem=backup_mem)

    async def start_new_device(self) -> dict[str, str]:
        """The pre-key goes out first, so the approving device can encrypt to this one at once."""
        await self.publish_prekey()
        await self.state.directory.ensure([self.state.user_id], force=True)
        return self.approval_code()

    def approval_code(self) -> dict[str, str]:
        st = self.state
        return {
            "user": st.user_id,
            "device": st.device_id,
            "sign": st.dsk.public_b64(),
            "dh": st.dx.public_b64(),
        }

    async def approve_device(self, code: dict[str, str]) -> None:
        """The code travelled outside the server (a QR code), so its keys are the device's own;
        once signed in, the device receives what it needs to act as this one does."""
        st = self.state
        ik = st.require_identity()
        if code.get("user") != st.user_id:
            raise E2EEError("forbidden", "a device can only approve its own user's devices")
        entry = DeviceEntry(code["device"], b64d(code["sign"], 32), b64d(code["dh"], 32))
        async with st.lock:
            current = await self._own_list()
            if current.get_retired(entry.id) is not None:
                raise E2EEError("forbidden", "a revoked device never returns")
            listed = current.get(entry.id)
            if listed is not None and listed != entry:
                raise E2EEError("forbidden", "this device id is listed with other keys")
            if listed is None:
                await self._publish_devices([*current.devices, entry])
            secrets_body: dict[str, Any] = {"ik": b64e(ik.seed)}
            if st.backup_key is not None and st.backup_version is not None:
                secrets_body["bk"] = b64e(st.backup_key)
                secrets_body["bv"] = st.backup_version
            items: list[Item] = [(st.user_id, entry.id, "device_secrets", secrets_body)]
            items += [
                (st.user_id, entry.id, "room_key", sess.export_body())
                for sess in st.inbound.values()
            ]
            await self.outbox.send_items(items)
            st.metrics.inc("keys_forwarded", len(items) - 1)

    async def restore_from_backup(self, passphrase: str) -> int:
        """For a user with no other device at hand: the passphrase alone yields the identity
        seed (to sign this device in) and the backup key (to import every session).

        The new list builds on the newest list the server can prove, never on an older one:
        the backup names the last head the user signed, and a served log that does not reach
        it is refused (`devices_withheld`, or `devices_forked` if it names another list)
        before anything is published."""
        st = self.state
        info = await st.api.get_backup()
        if info is None:
            raise E2EEError("no_backup", "this account has no key backup")
        bk, seed = await asyncio.to_thread(
            backup_format.unlock_backup, info["info"], st.user_id, passphrase
        )
        ik = SigningKey.from_seed(seed)
        entries = await st.api.backup_entries()
        head_id = backup_format.head_entry_id(bk)
        head: tuple[int, bytes] | None = None
        for entry in entries:
            if entry["id"] == head_id:
                try:
                    head = backup_format.open_head(bk, st.user_id, entry["data"])
                except CryptoError as err:
                    st.metrics.inc(f"backup_{err.code}")
        st.trust.observe(st.user_id, ik.public)
        st.trust.mark_verified(st.user_id, ik.public)
        async with st.lock:
            if head is not None:
                await st.directory.learn_head(st.user_id, *head)
            await st.directory.ensure([st.user_id], force=True)
            frozen = st.directory.frozen.get(st.user_id)
            current = st.directory.lists.get(st.user_id)
            if frozen is not None:
                served = st.directory.served.get(st.user_id)
                raise E2EEError(
                    frozen,
                    f"the server serves device list version {served}, the backup names "
                    f"version {head[0] if head else None}: refusing to build on it",
                )
            if current is not None and current.get_retired(st.device_id) is not None:
                raise E2EEError("forbidden", "a revoked device never returns")
            st.ik = ik
            st.backup_key, st.backup_version = bk, int(info["version"])
            await self.publish_prekey()
            devices = [d for d in (current.devices if current else ()) if d.id != st.device_id]
            await self._publish_devices([*devices, st.own_entry()])
            imported = 0
            for entry in entries:
                if entry["id"] == head_id:
                    continue
                try:
                    body = backup_format.open_entry(bk, st.user_id, entry["id"], entry["data"])
                    self.sessions.store(body, forwarded=True)
                    imported += 1
                except CryptoError as err:
                    st.metrics.inc(f"backup_{err.code}")
            return imported

    async def revoke_device(self, device_id: str) -> None:
        """The signed list changes first: other devices then rotate their sessions away from the
        device even if the server were to keep serving it."""
        st = self.state
        async with st.lock:
            current = await self._own_list()
            if current.get(device_id) is not None:
                await self._publish_devices([d for d in current.devices if d.id != device_id])
        await st.api.revoke_device(device_id)

    async def rotate_prekey(self) -> None:
        """The old private half is kept for the grace period: messages to it may still be queued."""
        st = self.state
        if st.prekeys:
            st.prekey_retired[max(st.prekeys)] = st.clock()
        await self.publish_prekey()
        self.erase_expired_prekeys()

    async def rotate_prekey_if_due(self) -> None:
        """Called on every (re)connect: the pre-key ages out after `prekey_rotate_ms`, and
        retired private halves past their grace period are erased even on a quiet device."""
        st = self.state
        current = max(st.prekeys, default=None)
        if (
            current is not None
            and st.clock() - st.prekey_made[current] >= st.policy.prekey_rotate_ms
        ):
            await self.rotate_prekey()
        self.erase_expired_prekeys()

    def erase_expired_prekeys(self) -> None:
        """Erasing the private half is what makes past pairwise messages unreadable if this
        device is compromised later."""
        st = self.state
        limit = st.clock() - st.policy.prekey_grace_ms
        for key_id, retired in list(st.prekey_retired.items()):
            if retired <= limit:
                st.prekeys.pop(key_id, None)
                del st.prekey_retired[key_id]

    async def publish_prekey(self) -> None:
        st = self.state
        key_id = max(st.prekeys, default=0) + 1
        key = DhKey.generate()
        st.prekeys[key_id] = key
        st.prekey_made[key_id] = st.clock()
        wire = make_prekey(st.dsk, st.user_id, st.device_id, key_id, key.public, st.clock())
        await st.api.publish_device_keys(wire)

    async def _own_list(self) -> DeviceList:
        """The user's newest verified list; a frozen one (forked, withheld) is never built on."""
        st = self.state
        await st.directory.ensure([st.user_id], force=True)
        frozen = st.directory.frozen.get(st.user_id)
        if frozen is not None:
            raise E2EEError(frozen, "this user's device list log cannot be verified")
        current = st.directory.lists.get(st.user_id)
        if current is None:
            raise E2EEError("no_identity", "this user has no verified device list")
        return current

    async def _publish_devices(self, devices: list[DeviceEntry]) -> None:
        """Sign the next list on top of the verified head. A device that leaves goes to
        `retired` (signing key only): what it signed before stays verifiable for members who
        join later, and the succession rules keep it out for good. Then the backup's head
        moves, so a restore never builds on anything older."""
        st = self.state
        ik = st.require_identity()
        current = st.directory.lists.get(st.user_id)
        if current is not None and current.ik != ik.public:
            current = None
        live = {d.id for d in devices}
        retired: list[RetiredDevice] = list(current.retired) if current else []
        retired += [
            RetiredDevice(d.id, d.sign)
            for d in (current.devices if current else ())
            if d.id not in live
        ]
        ver = current.ver + 1 if current else 1
        wire = make_device_list(
            ik,
            st.user_id,
            ver,
            devices,
            st.clock(),
            prev=current.hash if current else None,
            retired=retired,
        )
        await st.api.publish_device_list(ik.public_b64(), wire, version=ver)
        await st.directory.ensure([st.user_id], force=True)
        await self.backup.record_head()

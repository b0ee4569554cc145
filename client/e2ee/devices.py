"""This device's own keys and its place in the user's signed device list (docs/crypto.md §2, §6.3).

A device is useless to its user until the identity key vouches for it, and there are three ways
to get there: be the first device (bootstrap), be approved by a device that already holds the
identity key, or unlock the key backup with the passphrase. The approving device also hands over
every session it holds, so the new device reads the past from its first minute.
"""

from __future__ import annotations

import asyncio
from typing import Any

from crypto import backup as backup_format
from crypto.encoding import b64d, b64e
from crypto.errors import CryptoError
from crypto.identity import DeviceEntry, RetiredDevice, make_device_list, make_prekey
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
        await self._publish_devices([st.own_entry()], ver=1)
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
            await st.directory.ensure([st.user_id], force=True)
            current = st.directory.lists[st.user_id]
            devices = [d for d in current.devices if d.id != entry.id] + [entry]
            await self._publish_devices(devices, ver=current.ver + 1)
            await st.directory.ensure([st.user_id], force=True)
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
        seed (to sign this device in) and the backup key (to import every session)."""
        st = self.state
        info = await st.api.get_backup()
        if info is None:
            raise E2EEError("no_backup", "this account has no key backup")
        bk, seed = await asyncio.to_thread(
            backup_format.unlock_backup, info["info"], st.user_id, passphrase
        )
        st.ik = SigningKey.from_seed(seed)
        st.backup_key, st.backup_version = bk, int(info["version"])
        st.trust.observe(st.user_id, st.ik.public)
        st.trust.mark_verified(st.user_id, st.ik.public)
        await self.publish_prekey()
        async with st.lock:
            await st.directory.ensure([st.user_id], force=True)
            current = st.directory.lists.get(st.user_id)
            devices = [d for d in (current.devices if current else ()) if d.id != st.device_id]
            await self._publish_devices(
                [*devices, st.own_entry()], ver=(current.ver + 1) if current else 1
            )
            await st.directory.ensure([st.user_id], force=True)
            imported = 0
            for entry in await st.api.backup_entries():
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
            await st.directory.ensure([st.user_id], force=True)
            current = st.directory.lists[st.user_id]
            devices = [d for d in current.devices if d.id != device_id]
            await self._publish_devices(devices, ver=current.ver + 1, retire=current.get(device_id))
            await st.directory.ensure([st.user_id], force=True)
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

    async def _publish_devices(
        self, devices: list[DeviceEntry], *, ver: int, retire: DeviceEntry | None = None
    ) -> None:
        """Publish the list; revoked devices stay in it as `retired` (signing key only) so
        that what they signed before stays verifiable for members who join later."""
        st = self.state
        ik = st.require_identity()
        current = st.directory.lists.get(st.user_id)
        live = {d.id for d in devices}
        retired = [r for r in (current.retired if current else ()) if r.id not in live]
        if retire is not None and all(r.id != retire.id for r in retired):
            retired.append(RetiredDevice(retire.id, retire.sign))
        wire = make_device_list(ik, st.user_id, ver, devices, st.clock(), retired=retired)
        await st.api.publish_device_list(ik.public_b64(), wire)

"""Other users' public keys as this device has verified them.

The server answers key queries with whatever it likes; only what verifies is kept: a device list
signed by the user's pinned identity key (trust on first use, loud warning on change, refusal of
rollbacks) and per-device pre-keys signed by a device of that list. Devices the server lists but
the signed list does not name are counted as injected and never receive anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from crypto.errors import CryptoError
from crypto.identity import DeviceEntry, DeviceList, PreKey, verify_device_list, verify_prekey
from crypto.keys import public_key
from crypto.pairwise import RecipientKeys
from crypto.trust import TrustStore

from ..sdk import RelaisClient
from .records import Metrics


class KeyDirectory:
    def __init__(self, api: RelaisClient, trust: TrustStore, metrics: Metrics) -> None:
        self.api = api
        self.trust = trust
        self.metrics = metrics
        self.lists: dict[str, DeviceList] = {}
        # Keyed by (user, device): a list naming another user's device id cannot touch it.
        self.prekeys: dict[tuple[str, str], PreKey] = {}
        self.warnings: list[dict[str, Any]] = []
        self.dirty: set[str] = set()
        # user -> how many times a device left their verified list (as seen by this device)
        self.revocations: dict[str, int] = {}

    def mark_dirty(self, user_id: str) -> None:
        self.dirty.add(user_id)

    async def ensure(self, user_ids: Iterable[str], *, force: bool = False) -> None:
        """Fetch users never seen, marked dirty (a `keys.changed` event) or all when forced."""
        wanted = sorted({u for u in user_ids if force or u not in self.lists or u in self.dirty})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            users = await self.api.query_keys(chunk)
            for uid in chunk:
                self.dirty.discard(uid)
                if uid in users:
                    self._absorb(uid, users[uid])

    def _warn(self, code: str, **details: Any) -> None:
        self.metrics.inc(code)
        self.warnings.append({"code": code, **details})

    def _absorb(self, uid: str, entry: dict[str, Any]) -> None:
        ik_text, wire = entry.get("identity_key"), entry.get("signed_device_list")
        if not isinstance(ik_text, str) or not isinstance(wire, str):
            return
        try:
            ik = public_key(ik_text)
        except CryptoError:
            self._warn("bad_encoding", user=uid)
            return
        state = self.trust.observe(uid, ik)
        if state == "changed":
            self._warn("identity_changed", user=uid)
            return
        pinned = self.trust.pinned(uid)
        assert pinned is not None
        try:
            dl = verify_device_list(wire, uid, pinned, previous=self.lists.get(uid))
        except CryptoError as err:
            self._warn(err.code, user=uid)
            return
        before = self.lists.get(uid)
        if before is not None and {d.id for d in before.devices} - {d.id for d in dl.devices}:
            # A device left a verified list: any session it may hold (shared by us, forwarded
            # by someone else, restored from a backup) must not carry what comes next.
            self.revocations[uid] = self.revocations.get(uid, 0) + 1
        self.lists[uid] = dl
        for dev in entry.get("devices") or []:
            did, keys = dev.get("device_id"), dev.get("public_keys")
            listed = dl.get(did) if isinstance(did, str) else None
            if listed is None:
                self._warn("unsigned_device", user=uid, device=did)
                continue
            if not isinstance(keys, str):
                continue
            try:
                pk = verify_prekey(keys, uid, listed.id, listed.sign)
            except CryptoError as err:
                self._warn(err.code, user=uid, device=did)
                continue
            held = self.prekeys.get((uid, listed.id))
            if held is None or pk.id >= held.id:
                self.prekeys[(uid, listed.id)] = pk

    def device(self, user_id: str, device_id: str) -> DeviceEntry | None:
        dl = self.lists.get(user_id)
        return dl.get(device_id) if dl is not None else None

    def retired_sign_key(self, user_id: str, device_id: str) -> bytes | None:
        """The signing key of a device its user revoked: it still verifies what it signed."""
        dl = self.lists.get(user_id)
        entry = dl.get_retired(device_id) if dl is not None else None
        return entry.sign if entry is not None else None

    def devices_of(self, user_id: str) -> tuple[DeviceEntry, ...]:
        """Devices that may receive keys: only users currently trusted (not `changed`)."""
        dl = self.lists.get(user_id)
        if dl is None or not self.trust.trusted(user_id):
            return ()
        return dl.devices

    def recipient(self, user_id: str, device_id: str) -> RecipientKeys | None:
        dev = self.device(user_id, device_id)
        pk = self.prekeys.get((user_id, device_id))
        if dev is None or pk is None or not self.trust.trusted(user_id):
            return None
        return RecipientKeys(user_id, device_id, dev.dh, pk.id, pk.pub)

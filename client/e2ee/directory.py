"""Other users' public keys as this device has verified them.

The server answers key queries with whatever it likes; only what verifies is kept: a device list
signed by the user's pinned identity key (trust on first use, loud warning on change) that
extends, by its hash chain, the last list this device verified for that user (docs/crypto.md
§2.5), and per-device pre-keys signed by a device of that list. Devices the server lists but the
signed list does not name are counted as injected and never receive anything.

A user whose log this device cannot follow is **frozen**: no key goes to any of their devices.
That happens when the server forks the log (`devices_forked`), serves a list breaking the
succession rules (`devices_invalid`), or withholds a head this device learned from the user's
own devices or from the key backup (`devices_withheld`, lifted once the server serves it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from crypto.errors import CryptoError
from crypto.identity import (
    DeviceEntry,
    DeviceList,
    PreKey,
    verify_device_list,
    verify_device_log,
    verify_prekey,
)
from crypto.keys import public_key
from crypto.pairwise import RecipientKeys
from crypto.trust import TrustStore

from ..sdk import RelaisClient
from .records import Metrics

# The server's page of logged lists per user and query (server/keys/directory.py LOG_PAGE).
LOG_PAGE = 100
# The most logged lists (and pages) one fetch follows for a user (docs/crypto.md §2.5). The server
# chooses the pages, so without a bound it could keep this client fetching forever; a log longer
# than this behind the head this device verified is refused as `devices_withheld` (lifted when a
# later fetch is served within bounds). Thousands of device changes would be needed to reach it.
MAX_LOG_LISTS = 10_000
MAX_LOG_PAGES = MAX_LOG_LISTS // LOG_PAGE
# Freezes that only the user (or an operator) can resolve; a withheld head resolves itself.
HARD_FREEZES = ("devices_forked", "devices_invalid")

Head = tuple[int, bytes]  # (version, list hash)


def _log_page(entry: Any) -> list[str]:
    """The text entries of a served `device_list_log` (anything else a server sends is dropped)."""
    raw = entry.get("device_list_log") if isinstance(entry, dict) else None
    return [w for w in raw if isinstance(w, str)] if isinstance(raw, list) else []


class KeyDirectory:
    def __init__(self, api: RelaisClient, trust: TrustStore, metrics: Metrics) -> None:
        self.api = api
        self.trust = trust
        self.metrics = metrics
        self.lists: dict[str, DeviceList] = {}
        # user -> version -> hash of every list verified on the chain since the first pinned.
        self.hashes: dict[str, dict[int, bytes]] = {}
        # user -> a head learned from gossip or the backup and not yet proven by the server.
        self.claimed: dict[str, Head] = {}
        # user -> the version of the head the server served last (verified signature only).
        self.served: dict[str, int] = {}
        # user -> why no key goes to their devices (see the module docstring).
        self.frozen: dict[str, str] = {}
        # Keyed by (user, device): a list naming another user's device id cannot touch it.
        self.prekeys: dict[tuple[str, str], PreKey] = {}
        self.warnings: list[dict[str, Any]] = []
        self.dirty: set[str] = set()
        # user -> how many times a device left their verified list (as seen by this device)
        self.revocations: dict[str, int] = {}

    def mark_dirty(self, user_id: str) -> None:
        self.dirty.add(user_id)

    def head(self, user_id: str) -> Head | None:
        dl = self.lists.get(user_id)
        return (dl.ver, dl.hash) if dl is not None else None

    async def ensure(self, user_ids: Iterable[str], *, force: bool = False) -> None:
        """Fetch users never seen, marked dirty (a `keys.changed` event) or all when forced;
        with each, the logged lists after the version this device can build on."""
        wanted = sorted({u for u in user_ids if force or u not in self.lists or u in self.dirty})
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            since = {u: v for u in chunk if (v := self._log_from(u)) is not None}
            users = await self.api.query_keys(chunk, since=since)
            for uid in chunk:
                self.dirty.discard(uid)
                if uid in users:
                    await self._absorb(uid, users[uid])

    def _log_from(self, uid: str) -> int | None:
        """The version after which the log is needed: the verified head, or just before a
        claimed head when nothing is verified yet (its list must be shown to hash right)."""
        dl = self.lists.get(uid)
        if dl is not None:
            return dl.ver
        claim = self.claimed.get(uid)
        return claim[0] - 1 if claim is not None else None

    async def learn_head(self, user_id: str, ver: int, list_hash: bytes) -> None:
        """A head vouched for by one of the user's own devices (gossip in a pairwise message)
        or by the key backup: a served list older than it is a rollback from now on."""
        if self.frozen.get(user_id) in HARD_FREEZES:
            return
        known = self.hashes.get(user_id, {}).get(ver)
        if known is not None:
            if known != list_hash:
                self._freeze(user_id, "devices_forked")
            return
        dl = self.lists.get(user_id)
        if dl is not None and ver <= dl.ver:
            return  # before the first list this device verified: nothing to compare with
        claim = self.claimed.get(user_id)
        if claim is not None and claim[0] >= ver:
            if claim[0] == ver and claim[1] != list_hash:
                self._freeze(user_id, "devices_forked")
            return
        self.claimed[user_id] = (ver, list_hash)
        await self.ensure([user_id], force=True)

    def _warn(self, code: str, **details: Any) -> None:
        self.metrics.inc(code)
        self.warnings.append({"code": code, **details})

    def _freeze(self, uid: str, code: str) -> None:
        if self.frozen.get(uid) in HARD_FREEZES:
            return
        if self.frozen.get(uid) != code:
            self._warn(code, user=uid)
        self.frozen[uid] = code

    async def _full_log(
        self, uid: str, pinned: bytes, entry: dict[str, Any], after: int
    ) -> list[str]:
        """The served log after version `after` (what `_log_from` asked for), page after page.

        Only text entries are kept, on every page (what is dropped leaves a gap the chain check
        refuses). A full page is followed by a query after its last list, whose version must be
        beyond the cursor the page was asked after; a page that does not advance, or more than
        MAX_LOG_PAGES pages or MAX_LOG_LISTS lists, is `devices_withheld`."""
        page = _log_page(entry)
        log = list(page)
        cursor, pages = after, 1
        while len(page) == LOG_PAGE:
            try:
                last = verify_device_list(page[-1], uid, pinned).ver
            except CryptoError:
                break  # the chain check refuses it with its own code
            if last <= cursor:
                raise CryptoError(
                    "devices_withheld", f"a log page ends at {last}, not after {cursor}"
                )
            if pages >= MAX_LOG_PAGES:
                raise CryptoError("devices_withheld", f"the log goes on past {pages} pages")
            cursor, pages = last, pages + 1
            more = await self.api.query_keys([uid], since={uid: cursor})
            page = _log_page(more.get(uid))
            log += page
        if len(log) > MAX_LOG_LISTS:
            raise CryptoError("devices_withheld", f"the log goes on past {len(log)} lists")
        return log

    async def _absorb(self, uid: str, entry: dict[str, Any]) -> None:
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
        before = self.lists.get(uid)
        if before is not None and before.ik != pinned:
            # A new identity the application re-accepted: its log starts afresh.
            before = None
            self.hashes.pop(uid, None)
            self.claimed.pop(uid, None)
            self.frozen.pop(uid, None)
            self.lists.pop(uid, None)
        if self.frozen.get(uid) in HARD_FREEZES:
            return
        try:
            latest = verify_device_list(wire, uid, pinned)
            self.served[uid] = latest.ver
            chain = await self._follow(uid, pinned, before, latest, entry)
        except CryptoError as err:
            if err.code.startswith("devices_"):
                self._freeze(uid, err.code)
            else:
                self._warn(err.code, user=uid)
            return
        if chain:
            known = self.hashes.setdefault(uid, {})
            for dl in chain:
                known[dl.ver] = dl.hash
            head = chain[-1]
            if before is not None and {d.id for d in before.devices} - {d.id for d in head.devices}:
                # A device left a verified list: any session it may hold (shared by us,
                # forwarded by someone else, restored from a backup) must not carry what
                # comes next.
                self.revocations[uid] = self.revocations.get(uid, 0) + 1
            self.lists[uid] = head
        if not self._claim_holds(uid):
            return
        dl = self.lists[uid]
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
            else:
                # Pre-key ids only grow (docs/crypto.md §2.2): an older one served again is a
                # replay; the newer one stays in use and the server's move is reported.
                self._warn("rollback", user=uid, device=did, prekey=pk.id, held=held.id)

    async def _follow(
        self,
        uid: str,
        pinned: bytes,
        before: DeviceList | None,
        latest: DeviceList,
        entry: dict[str, Any],
    ) -> list[DeviceList]:
        """The lists that extend what this device verified (or its claimed head) up to the
        served head; raises the code that freezes the user when the chain does not hold."""
        claim = self.claimed.get(uid)
        if before is None and claim is None:
            return [latest]  # first contact: trust on first use, like the identity key
        after = self._log_from(uid)
        assert after is not None  # a held or a claimed head
        chain = await self._verify_log(
            await self._full_log(uid, pinned, entry, after), uid, pinned, before
        )
        top = chain[-1] if chain else before
        if top is None or latest.ver > top.ver:
            # The served head is beyond the served log: it must follow it directly.
            chain.append(verify_device_list(latest.wire, uid, pinned, previous=top))
        else:
            known = {**self.hashes.get(uid, {}), **{dl.ver: dl.hash for dl in chain}}
            if known.get(latest.ver, latest.hash) != latest.hash:
                raise CryptoError("devices_forked", f"another list at version {latest.ver}")
            if latest.ver < top.ver:
                # Keep the newer list (it is what the user signed last) and say so.
                self._warn("rollback", user=uid, served=latest.ver, held=top.ver)
        if before is None and claim is not None:
            # Nothing verified yet: the claimed head anchors the chain, so the chain must
            # contain it (its hash is compared in `_claim_holds`).
            if chain[0].ver > claim[0] or chain[-1].ver < claim[0]:
                raise CryptoError(
                    "devices_withheld", f"version {claim[0]} not served (head {latest.ver})"
                )
        return chain

    @staticmethod
    async def _verify_log(
        wires: list[str], uid: str, pinned: bytes, before: DeviceList | None
    ) -> list[DeviceList]:
        """One signature per list: a long log is verified off the event loop."""
        if len(wires) <= 4:
            return verify_device_log(wires, uid, pinned, previous=before)
        return await asyncio.to_thread(verify_device_log, wires, uid, pinned, previous=before)

    def _claim_holds(self, uid: str) -> bool:
        """Reconcile a claimed head with the verified chain; False while the user is frozen."""
        claim = self.claimed.get(uid)
        withheld = False
        if claim is not None:
            dl = self.lists.get(uid)
            known = self.hashes.get(uid, {}).get(claim[0])
            if dl is None or claim[0] > dl.ver:
                withheld = True
            elif known is not None and known != claim[1]:
                self._freeze(uid, "devices_forked")
            else:
                del self.claimed[uid]
        if withheld:
            self._freeze(uid, "devices_withheld")
        elif self.frozen.get(uid) == "devices_withheld":
            del self.frozen[uid]  # the head this device waited for is now verified
        return uid in self.lists and uid not in self.frozen

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
        if dl is None or not self.trust.trusted(user_id) or user_id in self.frozen:
            return ()
        return dl.devices

    def recipient(self, user_id: str, device_id: str) -> RecipientKeys | None:
        dev = self.device(user_id, device_id)
        pk = self.prekeys.get((user_id, device_id))
        if dev is None or pk is None or not self.trust.trusted(user_id):
            return None
        if user_id in self.frozen:
            return None
        return RecipientKeys(user_id, device_id, dev.dh, pk.id, pk.pub)

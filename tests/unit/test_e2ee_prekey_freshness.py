"""Pre-key freshness as a sender sees it (docs/crypto.md §2.2): the highest id verified for a
device is the one used; an older pre-key served again is ignored and reported as `rollback`."""

from __future__ import annotations

from typing import Any, cast

from client.e2ee.directory import KeyDirectory
from client.e2ee.records import Metrics
from crypto.encoding import b64e
from crypto.identity import DeviceEntry, make_device_list, make_prekey
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore

USER, DEVICE = "u_bob", "d_bob"


async def test_an_older_prekey_is_ignored_and_reported() -> None:
    ik, dsk, dx = SigningKey.generate(), SigningKey.generate(), DhKey.generate()
    wire = make_device_list(ik, USER, 1, [DeviceEntry(DEVICE, dsk.public, dx.public)], 1)
    keys = {k: DhKey.generate() for k in (1, 2)}
    signed = {k: make_prekey(dsk, USER, DEVICE, k, keys[k].public, k) for k in keys}
    directory = KeyDirectory(cast(Any, None), TrustStore(), Metrics())

    def entry(prekey_id: int) -> dict[str, Any]:
        return {
            "identity_key": b64e(ik.public),
            "signed_device_list": wire,
            "devices": [{"device_id": DEVICE, "public_keys": signed[prekey_id]}],
        }

    await directory._absorb(USER, entry(2))
    rcpt = directory.recipient(USER, DEVICE)
    assert rcpt is not None and (rcpt.prekey_id, rcpt.prekey) == (2, keys[2].public)
    await directory._absorb(USER, entry(1))
    rcpt = directory.recipient(USER, DEVICE)
    assert rcpt is not None and rcpt.prekey_id == 2
    assert directory.metrics["rollback"] == 1
    assert directory.warnings[-1] == {
        "code": "rollback",
        "user": USER,
        "device": DEVICE,
        "prekey": 1,
        "held": 2,
    }

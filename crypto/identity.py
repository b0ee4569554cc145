"""Identities: signed device lists and pre-keys, fingerprints, safety numbers (docs/crypto.md §2).

A user's device lists form a hash-chained log (each names the hash of the one before), so a
server that serves an older list, or drops one from the middle, is caught by anyone who has seen
a later head, and a revoked device can never come back: the succession rules below keep every
retired id retired along the chain.

Everything a peer serves us goes through here before any key in it is used, so every check is
strict: a field of the wrong type, a duplicate JSON key or a non-canonical base64 string is a
`CryptoError`, never another exception and never a silent acceptance (the strict parsing and field
checks are the shared ones of `encoding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .encoding import (
    ID_MAX,
    U32_MAX,
    b64d,
    b64e,
    check_bytes,
    check_fields,
    check_id,
    check_int,
    h,
    loads_object,
    lp,
    make_signed,
    req_int,
    split_signed,
    verify_detached,
)
from .errors import CryptoError
from .keys import SigningKey

DEVICES_LABEL = "relais/v1/devices"
DEVICES_HASH_LABEL = "relais/v1/devices-hash"
PREKEY_LABEL = "relais/v1/prekey"
FINGERPRINT_LABEL = "relais/v1/fingerprint"
DEVICES_T = "relais.devices.v2"
PREKEY_T = "relais.prekey.v1"
QR_VERSION = 0x01
MAX_ID = ID_MAX


# ---------------------------------------------------------------------------------------------
# §2.1 Device list
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceEntry:
    id: str
    sign: bytes
    dh: bytes


@dataclass(frozen=True)
class RetiredDevice:
    """A revoked device whose signing key still verifies what it signed before (its messages
    stay readable for members who join later); it receives nothing any more."""

    id: str
    sign: bytes


@dataclass(frozen=True)
class DeviceList:
    user: str
    ver: int
    ik: bytes
    ts: int
    devices: tuple[DeviceEntry, ...]
    wire: str
    retired: tuple[RetiredDevice, ...] = ()
    # Hash of the list this one follows (b"" for version 1) and of this list's wire form.
    prev: bytes = b""
    hash: bytes = b""

    def get(self, device_id: str) -> DeviceEntry | None:
        for d in self.devices:
            if d.id == device_id:
                return d
        return None

    def get_retired(self, device_id: str) -> RetiredDevice | None:
        for d in self.retired:
            if d.id == device_id:
                return d
        return None


def _check_devices(devices: Sequence[DeviceEntry]) -> None:
    seen: set[str] = set()
    for d in devices:
        if not isinstance(d, DeviceEntry):
            raise CryptoError("bad_encoding", "devices must be DeviceEntry values")
        check_id(d.id, "device id")
        check_bytes(d.sign, 32, "device signing key")
        check_bytes(d.dh, 32, "device DH key")
        if d.id in seen:
            raise CryptoError("bad_encoding", f"duplicate device id {d.id!r}")
        seen.add(d.id)


def _check_prev(ver: int, prev: bytes | None) -> bytes:
    """Version 1 starts the log (no predecessor); every later version names one."""
    if ver < 1:
        raise CryptoError("bad_encoding", "device list versions start at 1")
    if ver == 1:
        if prev not in (None, b""):
            raise CryptoError("bad_encoding", "version 1 has no previous list")
        return b""
    if prev is None:
        raise CryptoError("bad_encoding", f"version {ver} must name the previous list's hash")
    return check_bytes(prev, 32, "previous list hash")


def list_hash(wire: str) -> bytes:
    """H(32, lp(label) || lp(S) || lp(sig)): the signature is hashed too, so two wire forms of
    one signed text (never produced, but possible) still have distinct hashes."""
    s, sig = split_signed(wire)
    return h(32, lp(DEVICES_HASH_LABEL, s, sig))


def make_device_list(
    ik: SigningKey,
    user: str,
    ver: int,
    devices: Sequence[DeviceEntry],
    ts: int,
    *,
    prev: bytes | None = None,
    retired: Sequence[RetiredDevice] = (),
) -> str:
    """`prev` is the hash (`list_hash`) of version `ver - 1`; none for version 1."""
    check_id(user, "user")
    check_int(ver, "ver")
    check_int(ts, "ts")
    prev_hash = _check_prev(ver, prev)
    _check_devices(devices)
    _check_retired(retired, devices)
    body: dict[str, object] = {
        "t": DEVICES_T,
        "user": user,
        "ver": ver,
        "prev": b64e(prev_hash),
        "ik": b64e(ik.public),
        "ts": ts,
        "devices": [{"id": d.id, "sign": b64e(d.sign), "dh": b64e(d.dh)} for d in devices],
    }
    if retired:
        body["retired"] = [{"id": d.id, "sign": b64e(d.sign)} for d in retired]
    return make_signed(ik.secret, DEVICES_LABEL, body)


def _check_retired(retired: Sequence[RetiredDevice], devices: Sequence[DeviceEntry]) -> None:
    live = {d.id for d in devices}
    seen: set[str] = set()
    for d in retired:
        if not isinstance(d, RetiredDevice):
            raise CryptoError("bad_encoding", "retired must be RetiredDevice values")
        check_id(d.id, "retired device id")
        check_bytes(d.sign, 32, "retired device signing key")
        if d.id in seen or d.id in live:
            raise CryptoError("bad_encoding", f"retired device id {d.id!r} repeated or live")
        seen.add(d.id)


def _claims_other_identity(s: str, sig: bytes, pinned_ik: bytes) -> bool:
    """Whether a list that fails under the pinned key is validly self-signed by the identity key
    it names: that is a changed identity, not a forgery, and the client must say so."""
    try:
        other = b64d(loads_object(s).get("ik"), 32)
        if other == pinned_ik:
            return False
        verify_detached(other, DEVICES_LABEL, lp(s), sig)
    except CryptoError:
        return False
    return True


def verify_device_list(
    wire: str, user: str, pinned_ik: bytes, *, previous: DeviceList | None = None
) -> DeviceList:
    """Accept a served device list, or raise.

    `previous` is the list last accepted for `user`; the log rules apply only while the identity
    key is the same (a re-accepted new identity starts its own log at version 1). Against it, a
    lower version is a `rollback`, the same version with other bytes or a successor that does not
    link to it is `devices_forked`, a successor that breaks the succession rules is
    `devices_invalid`, and a version further ahead is `devices_withheld`: the lists between must
    be verified first (`verify_device_log`).
    """
    check_id(user, "user")
    check_bytes(pinned_ik, 32, "pinned identity key")
    s, sig = split_signed(wire)
    try:
        verify_detached(pinned_ik, DEVICES_LABEL, lp(s), sig)
    except CryptoError as err:
        if err.code == "bad_signature" and _claims_other_identity(s, sig, pinned_ik):
            raise CryptoError(
                "identity_changed", "device list signed by another identity key"
            ) from err
        raise
    obj = loads_object(s)
    base = {"t", "user", "ver", "prev", "ik", "ts", "devices"}
    check_fields(obj, base | ({"retired"} if "retired" in obj else set()), "device list")
    if obj["t"] != DEVICES_T:
        raise CryptoError("bad_encoding", "not a device list")
    if obj["user"] != user:
        raise CryptoError("bad_encoding", "device list of another user")
    if b64d(obj["ik"], 32) != pinned_ik:
        raise CryptoError("identity_changed", "device list names another identity key")
    ver = req_int(obj, "ver")
    ts = req_int(obj, "ts")
    if not isinstance(obj["prev"], str):
        raise CryptoError("bad_encoding", "prev must be a string")
    prev = _check_prev(ver, b64d(obj["prev"], 32) if obj["prev"] or ver > 1 else None)
    raw = obj["devices"]
    if not isinstance(raw, list):
        raise CryptoError("bad_encoding", "devices must be a list")
    entries: list[DeviceEntry] = []
    for d in raw:
        if not isinstance(d, dict):
            raise CryptoError("bad_encoding", "device entry must be an object")
        check_fields(d, {"id", "sign", "dh"}, "device entry")
        entries.append(
            DeviceEntry(check_id(d["id"], "device id"), b64d(d["sign"], 32), b64d(d["dh"], 32))
        )
    _check_devices(entries)
    retired: list[RetiredDevice] = []
    if "retired" in obj:
        raw_retired = obj["retired"]
        if not isinstance(raw_retired, list) or not raw_retired:
            raise CryptoError("bad_encoding", "retired must be a non-empty list when present")
        for d in raw_retired:
            if not isinstance(d, dict):
                raise CryptoError("bad_encoding", "retired entry must be an object")
            check_fields(d, {"id", "sign"}, "retired entry")
            retired.append(
                RetiredDevice(check_id(d["id"], "retired device id"), b64d(d["sign"], 32))
            )
        _check_retired(retired, entries)
    dl = DeviceList(
        user, ver, pinned_ik, ts, tuple(entries), wire, tuple(retired), prev, list_hash(wire)
    )
    if previous is not None:
        if previous.user != user:
            raise CryptoError("bad_encoding", "previous device list is another user's")
        if previous.ik == pinned_ik:
            if ver < previous.ver:
                raise CryptoError("rollback", f"version {ver} < accepted {previous.ver}")
            if ver == previous.ver:
                if dl.hash != previous.hash:
                    raise CryptoError("devices_forked", f"two different lists at version {ver}")
                return previous
            if ver > previous.ver + 1:
                raise CryptoError(
                    "devices_withheld", f"versions {previous.ver + 1}..{ver - 1} not verified"
                )
            check_successor(previous, dl)
    return dl


def check_successor(before: DeviceList, after: DeviceList) -> None:
    """The succession rules: `after` links to `before` by hash, keeps every retired device
    retired (same signing key), and every device live in `before` is, in `after`, either live
    with the same keys or newly retired with the same signing key. So a retired id can never
    come back, a device's keys never change under its id, and nothing leaves without a trace."""
    if after.ver != before.ver + 1 or after.prev != before.hash:
        raise CryptoError("devices_forked", f"version {after.ver} does not follow {before.ver}")
    live_after = {d.id: d for d in after.devices}
    retired_after = {d.id: d.sign for d in after.retired}
    for r in before.retired:
        if retired_after.get(r.id) != r.sign:
            raise CryptoError("devices_invalid", f"retired device {r.id!r} dropped or changed")
    before_live = {d.id: d for d in before.devices}
    for d in before.devices:
        kept = live_after.get(d.id)
        if kept is not None and kept != d:
            raise CryptoError("devices_invalid", f"device {d.id!r} changed its keys")
        if kept is None and retired_after.get(d.id) != d.sign:
            raise CryptoError("devices_invalid", f"device {d.id!r} left without being retired")
    old_retired = {r.id for r in before.retired}
    for rid in retired_after:
        if rid not in old_retired and rid not in before_live:
            raise CryptoError("devices_invalid", f"retired device {rid!r} was never live")


def verify_device_log(
    wires: Sequence[str], user: str, pinned_ik: bytes, *, previous: DeviceList | None = None
) -> list[DeviceList]:
    """Verify consecutive lists, each the successor of the one before (the first of
    `previous`, when given). Returns them in order; the last is the new head."""
    out: list[DeviceList] = []
    last = previous
    for wire in wires:
        dl = verify_device_list(wire, user, pinned_ik, previous=last)
        if last is not None and dl.ver != last.ver + 1:
            raise CryptoError("devices_forked", f"the log repeats version {dl.ver}")
        out.append(dl)
        last = dl
    return out


# ---------------------------------------------------------------------------------------------
# §2.2 Signed pre-key
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreKey:
    user: str
    device: str
    id: int
    pub: bytes
    ts: int
    wire: str


def make_prekey(dsk: SigningKey, user: str, device: str, key_id: int, pub: bytes, ts: int) -> str:
    body = {
        "t": PREKEY_T,
        "user": check_id(user, "user"),
        "device": check_id(device, "device"),
        "id": check_int(key_id, "pre-key id", U32_MAX),
        "pub": b64e(check_bytes(pub, 32, "pre-key")),
        "ts": check_int(ts, "ts"),
    }
    return make_signed(dsk.secret, PREKEY_LABEL, body)


def verify_prekey(wire: str, user: str, device: str, sign_pub: bytes) -> PreKey:
    """`sign_pub` is the device's `sign` key from its user's verified device list."""
    check_id(user, "user")
    check_id(device, "device")
    check_bytes(sign_pub, 32, "device signing key")
    s, sig = split_signed(wire)
    verify_detached(sign_pub, PREKEY_LABEL, lp(s), sig)
    obj = loads_object(s)
    check_fields(obj, {"t", "user", "device", "id", "pub", "ts"}, "pre-key")
    if obj["t"] != PREKEY_T:
        raise CryptoError("bad_encoding", "not a pre-key")
    if obj["user"] != user or obj["device"] != device:
        raise CryptoError("bad_encoding", "pre-key of another device")
    key_id = check_int(obj["id"], "pre-key id", U32_MAX)
    return PreKey(user, device, key_id, b64d(obj["pub"], 32), req_int(obj, "ts"), wire)


# ---------------------------------------------------------------------------------------------
# §2.3 Fingerprints, safety numbers, QR payload
# ---------------------------------------------------------------------------------------------


def fingerprint(user: str, ik_pub: bytes) -> bytes:
    return h(
        32, lp(FINGERPRINT_LABEL, check_id(user, "user"), check_bytes(ik_pub, 32, "identity key"))
    )


def _digits(fp: bytes) -> str:
    return "".join(f"{int.from_bytes(fp[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))


def fingerprint_digits(user: str, ik_pub: bytes) -> str:
    return _digits(fingerprint(user, ik_pub))


def _ordered(
    user_a: str, ik_a: bytes, user_b: str, ik_b: bytes
) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    # Ties on user_id (never expected) fall back to the fingerprint bytes, so the result stays
    # symmetric whatever the arguments.
    fp_a, fp_b = fingerprint(user_a, ik_a), fingerprint(user_b, ik_b)
    a, b = (user_a.encode("ascii"), fp_a), (user_b.encode("ascii"), fp_b)
    return (a, b) if a <= b else (b, a)


def safety_number(user_a: str, ik_a: bytes, user_b: str, ik_b: bytes) -> str:
    """60 digits (display them in 12 groups of 5); the same on both sides."""
    first, second = _ordered(user_a, ik_a, user_b, ik_b)
    return _digits(first[1]) + _digits(second[1])


def qr_bytes(user_a: str, ik_a: bytes, user_b: str, ik_b: bytes) -> bytes:
    first, second = _ordered(user_a, ik_a, user_b, ik_b)
    return bytes([QR_VERSION]) + lp(first[0], first[1], second[0], second[1])


def qr_payload(user_a: str, ik_a: bytes, user_b: str, ik_b: bytes) -> str:
    return b64e(qr_bytes(user_a, ik_a, user_b, ik_b))


def _parse_qr(payload: Any) -> None:
    raw = b64d(payload)
    if not raw or raw[0] != QR_VERSION:
        raise CryptoError("bad_encoding", "not a Relais v1 QR payload")
    pos, n = 1, 0
    while pos < len(raw):
        if pos + 2 > len(raw):
            raise CryptoError("bad_encoding", "truncated QR payload")
        size = int.from_bytes(raw[pos : pos + 2], "big")
        pos += 2 + size
        n += 1
    if pos != len(raw) or n != 4:
        raise CryptoError("bad_encoding", "malformed QR payload")


def verify_qr(payload: str, me: str, my_ik: bytes, other: str, other_ik: bytes) -> bool:
    """True when the scanned code names exactly this pair of identities. A code that is not a
    Relais payload at all raises `bad_encoding`, so the application can tell "not our code"
    from "codes differ"."""
    _parse_qr(payload)
    return payload == qr_payload(me, my_ik, other, other_ik)

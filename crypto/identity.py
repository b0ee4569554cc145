"""Identities: signed device lists and pre-keys, fingerprints, safety numbers (docs/crypto.md §2).

Everything a peer serves us goes through here before any key in it is used, so every check is
strict: a field of the wrong type, a duplicate JSON key or a non-canonical base64 string is a
`CryptoError`, never another exception and never a silent acceptance.

The private helpers at the top (strict JSON, id and key checks, AEAD wrappers) are shared with
`pairwise` and `backup`; `encoding.py` lacks them (its `loads_object` accepts NaN, duplicate keys
and lets `RecursionError`/`TypeError` escape).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .encoding import b64d, b64e, h, lp, make_signed, req_int, verify_detached
from .errors import CryptoError
from .keys import SigningKey

DEVICES_LABEL = "relais/v1/devices"
PREKEY_LABEL = "relais/v1/prekey"
FINGERPRINT_LABEL = "relais/v1/fingerprint"
DEVICES_T = "relais.devices.v1"
PREKEY_T = "relais.prekey.v1"
QR_VERSION = 0x01
MAX_ID = 255
U32_MAX = 0xFFFFFFFF

# ---------------------------------------------------------------------------------------------
# Shared private helpers
# ---------------------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise CryptoError("bad_encoding", f"{name} is not JSON")


def _finite(text: str) -> float:
    # json accepts 1e400 as infinity, which no other JSON parser agrees on.
    value = float(text)
    if not math.isfinite(value):
        raise CryptoError("bad_encoding", "number out of range")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers may keep different copies of a duplicated key; refusing it keeps the Python
    # and browser clients from ever disagreeing on what a signed text says.
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CryptoError("bad_encoding", f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _loads(text: str | bytes) -> dict[str, Any]:
    """Strict JSON object: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CryptoError("bad_encoding", "not UTF-8") from err
    if not isinstance(text, str):
        raise CryptoError("bad_encoding", "not a JSON text")
    try:
        obj = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant, parse_float=_finite
        )
    except CryptoError:
        raise
    except (ValueError, RecursionError) as err:
        raise CryptoError("bad_encoding", "not JSON") from err
    if not isinstance(obj, dict):
        raise CryptoError("bad_encoding", "not a JSON object")
    return obj


def _dumps(obj: Any) -> str:
    """The compact sorted form of `encoding.dumps`, refusing anything that would not come back
    identical from a JSON parser (NaN, tuples, non-string keys, lone surrogates)."""
    try:
        text = json.dumps(
            obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
        )
        text.encode("utf-8")
        same = json.loads(text) == obj
    except (TypeError, ValueError, RecursionError) as err:
        raise CryptoError("bad_encoding", "not representable as JSON") from err
    if not same:
        raise CryptoError("bad_encoding", "does not survive a JSON round trip")
    return text


def _fields(obj: dict[str, Any], names: set[str], what: str) -> None:
    if set(obj) != names:
        raise CryptoError("bad_encoding", f"{what}: unexpected or missing fields")


def _id(value: Any, field: str) -> str:
    """The server's ids are printable ASCII: that keeps lp() encodable and comparisons exact."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_ID
        or not all("!" <= c <= "~" for c in value)
    ):
        raise CryptoError("bad_encoding", f"{field} must be 1-{MAX_ID} printable ASCII characters")
    return value


def _bytes(value: Any, size: int, field: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != size:
        raise CryptoError("bad_encoding", f"{field} must be {size} bytes")
    return value


def _int(value: Any, field: str, top: int = 2**53) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise CryptoError("bad_encoding", f"{field} must be an integer in 0..{top}")
    return value


def _version(obj: dict[str, Any], key: str, want: int) -> None:
    v = obj.get(key)
    if type(v) is not int or v != want:
        raise CryptoError("bad_encoding", f"{key} must be {want}")


def _x25519(private: bytes, public: bytes) -> bytes:
    # Lengths are checked here because libsodium reads 32 bytes whatever it is given.
    _bytes(private, 32, "X25519 private key")
    _bytes(public, 32, "X25519 public key")
    try:
        return bytes(sodium.crypto_scalarmult(private, public))
    except nacl.exceptions.CryptoError as err:
        raise CryptoError("bad_encoding", "low-order X25519 public key") from err


def _aead_seal(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    _bytes(nonce, 24, "nonce")
    return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key))


def _aead_open(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    if len(ciphertext) < sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES:
        raise CryptoError("bad_ciphertext", "shorter than the tag")
    try:
        return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key))
    except nacl.exceptions.CryptoError as err:
        raise CryptoError("bad_ciphertext") from err


def _split_signed(wire: Any) -> tuple[str, bytes]:
    outer = _loads(wire)
    _fields(outer, {"signed", "sig"}, "signed object")
    s = outer["signed"]
    if not isinstance(s, str):
        raise CryptoError("bad_encoding", "signed must be a JSON text")
    return s, b64d(outer["sig"], 64)


def _verify(public: bytes, label: str, s: str, sig: bytes) -> None:
    try:
        data = lp(s)
    except UnicodeEncodeError as err:  # a lone surrogate from a \ud800 escape
        raise CryptoError("bad_encoding", "signed text is not UTF-8") from err
    verify_detached(public, label, data, sig)


# ---------------------------------------------------------------------------------------------
# §2.1 Device list
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceEntry:
    id: str
    sign: bytes
    dh: bytes


@dataclass(frozen=True)
class DeviceList:
    user: str
    ver: int
    ik: bytes
    ts: int
    devices: tuple[DeviceEntry, ...]
    wire: str

    def get(self, device_id: str) -> DeviceEntry | None:
        for d in self.devices:
            if d.id == device_id:
                return d
        return None


def _check_devices(devices: Sequence[DeviceEntry]) -> None:
    seen: set[str] = set()
    for d in devices:
        if not isinstance(d, DeviceEntry):
            raise CryptoError("bad_encoding", "devices must be DeviceEntry values")
        _id(d.id, "device id")
        _bytes(d.sign, 32, "device signing key")
        _bytes(d.dh, 32, "device DH key")
        if d.id in seen:
            raise CryptoError("bad_encoding", f"duplicate device id {d.id!r}")
        seen.add(d.id)


def make_device_list(
    ik: SigningKey, user: str, ver: int, devices: Sequence[DeviceEntry], ts: int
) -> str:
    _id(user, "user")
    _int(ver, "ver")
    _int(ts, "ts")
    _check_devices(devices)
    body = {
        "t": DEVICES_T,
        "user": user,
        "ver": ver,
        "ik": b64e(ik.public),
        "ts": ts,
        "devices": [{"id": d.id, "sign": b64e(d.sign), "dh": b64e(d.dh)} for d in devices],
    }
    return make_signed(ik.secret, DEVICES_LABEL, body)


def _claims_other_identity(s: str, sig: bytes, pinned_ik: bytes) -> bool:
    """Whether a list that fails under the pinned key is validly self-signed by the identity key
    it names: that is a changed identity, not a forgery, and the client must say so."""
    try:
        other = b64d(_loads(s).get("ik"), 32)
        if other == pinned_ik:
            return False
        _verify(other, DEVICES_LABEL, s, sig)
    except CryptoError:
        return False
    return True


def verify_device_list(
    wire: str, user: str, pinned_ik: bytes, *, previous: DeviceList | None = None
) -> DeviceList:
    """Accept a served device list, or raise.

    `previous` is the list last accepted for `user`; the version rule applies only while the
    identity key is the same (a re-accepted new identity starts its own version sequence).
    """
    _id(user, "user")
    _bytes(pinned_ik, 32, "pinned identity key")
    s, sig = _split_signed(wire)
    try:
        _verify(pinned_ik, DEVICES_LABEL, s, sig)
    except CryptoError as err:
        if err.code == "bad_signature" and _claims_other_identity(s, sig, pinned_ik):
            raise CryptoError(
                "identity_changed", "device list signed by another identity key"
            ) from err
        raise
    obj = _loads(s)
    _fields(obj, {"t", "user", "ver", "ik", "ts", "devices"}, "device list")
    if obj["t"] != DEVICES_T:
        raise CryptoError("bad_encoding", "not a device list")
    if obj["user"] != user:
        raise CryptoError("bad_encoding", "device list of another user")
    if b64d(obj["ik"], 32) != pinned_ik:
        raise CryptoError("identity_changed", "device list names another identity key")
    ver = req_int(obj, "ver")
    ts = req_int(obj, "ts")
    raw = obj["devices"]
    if not isinstance(raw, list):
        raise CryptoError("bad_encoding", "devices must be a list")
    entries: list[DeviceEntry] = []
    for d in raw:
        if not isinstance(d, dict):
            raise CryptoError("bad_encoding", "device entry must be an object")
        _fields(d, {"id", "sign", "dh"}, "device entry")
        entries.append(
            DeviceEntry(_id(d["id"], "device id"), b64d(d["sign"], 32), b64d(d["dh"], 32))
        )
    _check_devices(entries)
    if previous is not None:
        if previous.user != user:
            raise CryptoError("bad_encoding", "previous device list is another user's")
        if previous.ik == pinned_ik:
            if ver < previous.ver:
                raise CryptoError("rollback", f"version {ver} < accepted {previous.ver}")
            if ver == previous.ver and s != _split_signed(previous.wire)[0]:
                raise CryptoError("rollback", f"version {ver} re-signed with other content")
    return DeviceList(user, ver, pinned_ik, ts, tuple(entries), wire)


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
        "user": _id(user, "user"),
        "device": _id(device, "device"),
        "id": _int(key_id, "pre-key id", U32_MAX),
        "pub": b64e(_bytes(pub, 32, "pre-key")),
        "ts": _int(ts, "ts"),
    }
    return make_signed(dsk.secret, PREKEY_LABEL, body)


def verify_prekey(wire: str, user: str, device: str, sign_pub: bytes) -> PreKey:
    """`sign_pub` is the device's `sign` key from its user's verified device list."""
    _id(user, "user")
    _id(device, "device")
    _bytes(sign_pub, 32, "device signing key")
    s, sig = _split_signed(wire)
    _verify(sign_pub, PREKEY_LABEL, s, sig)
    obj = _loads(s)
    _fields(obj, {"t", "user", "device", "id", "pub", "ts"}, "pre-key")
    if obj["t"] != PREKEY_T:
        raise CryptoError("bad_encoding", "not a pre-key")
    if obj["user"] != user or obj["device"] != device:
        raise CryptoError("bad_encoding", "pre-key of another device")
    key_id = _int(obj["id"], "pre-key id", U32_MAX)
    return PreKey(user, device, key_id, b64d(obj["pub"], 32), req_int(obj, "ts"), wire)


# ---------------------------------------------------------------------------------------------
# §2.3 Fingerprints, safety numbers, QR payload
# ---------------------------------------------------------------------------------------------


def fingerprint(user: str, ik_pub: bytes) -> bytes:
    return h(32, lp(FINGERPRINT_LABEL, _id(user, "user"), _bytes(ik_pub, 32, "identity key")))


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

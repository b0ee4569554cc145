"""Byte-level building blocks shared by every part of the protocol (docs/crypto.md §0).

Everything that is signed, hashed or used as associated data is a concatenation of
length-prefixed fields starting with a purpose label, so bytes made for one purpose can never be
valid for another, and a second implementation needs no canonical JSON: signed JSON travels as the
exact string that was signed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .errors import CryptoError

_B64_RE = re.compile(r"^[A-Za-z0-9_-]*$")


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: Any, size: int | None = None) -> bytes:
    """Strict base64url without padding: anything else is `bad_encoding`, so two encodings of the
    same bytes can never both be accepted (ids derived from them stay unique)."""
    if not isinstance(text, str) or not _B64_RE.match(text) or len(text) % 4 == 1:
        raise CryptoError("bad_encoding", "not base64url without padding")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise CryptoError("bad_encoding", "not base64url") from err
    if b64e(data) != text:
        raise CryptoError("bad_encoding", "non-canonical base64url")
    if size is not None and len(data) != size:
        raise CryptoError("bad_encoding", f"expected {size} bytes")
    return data


def _as_bytes(field: bytes | str) -> bytes:
    return field.encode("utf-8") if isinstance(field, str) else field


def lp(*fields: bytes | str) -> bytes:
    """Each field as a 2-byte big-endian length followed by its bytes."""
    out = bytearray()
    for f in fields:
        b = _as_bytes(f)
        if len(b) > 0xFFFF:
            raise CryptoError("bad_encoding", "field longer than 65535 bytes")
        out += len(b).to_bytes(2, "big")
        out += b
    return bytes(out)


def u32(n: int) -> bytes:
    if not 0 <= n <= 0xFFFFFFFF:
        raise CryptoError("bad_encoding", "integer out of u32 range")
    return n.to_bytes(4, "big")


def h(out: int, msg: bytes, key: bytes | None = None) -> bytes:
    """BLAKE2b (crypto_generichash) with an optional key: the only KDF and hash of the protocol."""
    return sodium.crypto_generichash_blake2b_salt_personal(msg, digest_size=out, key=key or b"")


def sign_detached(secret_key: bytes, label: str, data: bytes) -> bytes:
    """Ed25519 over lp(label) || data; `secret_key` is libsodium's 64-byte form."""
    return bytes(sodium.crypto_sign(lp(label) + data, secret_key)[:64])


def verify_detached(public_key: bytes, label: str, data: bytes, sig: bytes) -> None:
    if len(sig) != 64 or len(public_key) != 32:
        raise CryptoError("bad_signature", "wrong signature or key length")
    try:
        sodium.crypto_sign_open(sig + lp(label) + data, public_key)
    except (nacl.exceptions.BadSignatureError, ValueError) as err:
        raise CryptoError("bad_signature") from err


def dumps(obj: Any) -> str:
    """The JSON text that gets signed; any valid JSON text works for verifiers (they never
    re-serialise), this is just a compact, stable choice for our own output."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def loads_object(text: str | bytes) -> dict[str, Any]:
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise CryptoError("bad_encoding", "not JSON") from err
    if not isinstance(obj, dict):
        raise CryptoError("bad_encoding", "not a JSON object")
    return obj


def make_signed(secret_key: bytes, label: str, obj: dict[str, Any]) -> str:
    """The wire form {"signed": S, "sig": b64(sig)} of a signed object, as JSON text."""
    s = dumps(obj)
    sig = sign_detached(secret_key, label, lp(s))
    return dumps({"signed": s, "sig": b64e(sig)})


def split_signed(wire: str) -> tuple[str, bytes]:
    outer = loads_object(wire)
    s, sig = outer.get("signed"), outer.get("sig")
    if not isinstance(s, str) or set(outer) != {"signed", "sig"}:
        raise CryptoError("bad_encoding", "not a signed object")
    return s, b64d(sig, 64)


def open_signed(wire: str, public_key: bytes, label: str) -> dict[str, Any]:
    """Verify first, parse after: nothing unverified is ever interpreted."""
    s, sig = split_signed(wire)
    verify_detached(public_key, label, lp(s), sig)
    return loads_object(s)


def req_str(obj: dict[str, Any], key: str, *, nullable: bool = False) -> Any:
    v = obj.get(key)
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise CryptoError("bad_encoding", f"field {key!r} must be a string")
    return v


def req_int(obj: dict[str, Any], key: str) -> int:
    v = obj.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 2**53:
        raise CryptoError("bad_encoding", f"field {key!r} must be a non-negative integer")
    return v

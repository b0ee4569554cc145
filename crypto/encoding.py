"""Byte-level building blocks shared by every part of the protocol (docs/crypto.md §0).

Everything that is signed, hashed or used as associated data is a concatenation of
length-prefixed fields starting with a purpose label, so bytes made for one purpose can never be
valid for another, and a second implementation needs no canonical JSON: signed JSON travels as the
exact string that was signed.

This module is also the one place where input from peers and the server is checked: every other
module parses and writes JSON, decodes base64 and checks ids, integers and key lengths through the
helpers below, so one rule holds everywhere and a malformed input is always a `CryptoError` (code
`bad_encoding` unless a primitive refuses it), never another exception escaping from `json`,
`base64` or libsodium.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Set
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .errors import CryptoError

ID_MAX = 255
U32_MAX = 0xFFFFFFFF
# The largest integer every JSON implementation (a browser's double included) reads exactly.
INT_MAX = 2**53
NONCE_BYTES = 24
TAG_BYTES = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES
SIG_BYTES = 64

_B64_RE = re.compile(r"^[A-Za-z0-9_-]*$")
# libsodium misbehaves or raises its own exception types on wrong-sized or wrong-typed input.
_SODIUM_ERRORS = (nacl.exceptions.CryptoError, ValueError, TypeError)

# -- base64 and byte strings ----------------------------------------------------------------


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


def utf8(text: str) -> bytes:
    """A Python string may hold lone surrogates (a JSON `\\ud800` escape makes one), which have
    no UTF-8 form: such text can be neither signed nor sent."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise CryptoError("bad_encoding", "text is not valid Unicode") from err


def lp(*fields: bytes | bytearray | memoryview | str) -> bytes:
    """Each field as a 2-byte big-endian length followed by its bytes."""
    out = bytearray()
    for f in fields:
        if isinstance(f, bytes):
            b = f
        elif isinstance(f, str):
            b = utf8(f)
        elif isinstance(f, bytearray | memoryview):
            b = bytes(f)
        else:
            raise CryptoError("bad_encoding", "lp fields are bytes or text")
        if len(b) > 0xFFFF:
            raise CryptoError("bad_encoding", "field longer than 65535 bytes")
        out += len(b).to_bytes(2, "big")
        out += b
    return bytes(out)


def u32(n: int) -> bytes:
    if not is_u32(n):
        raise CryptoError("bad_encoding", "integer out of u32 range")
    return n.to_bytes(4, "big")


# -- primitives ------------------------------------------------------------------------------


def h(out: int, msg: bytes, key: bytes | None = None) -> bytes:
    """BLAKE2b (crypto_generichash) with an optional key: the only KDF and hash of the protocol."""
    return sodium.crypto_generichash_blake2b_salt_personal(msg, digest_size=out, key=key or b"")


def sign_detached(secret_key: bytes, label: str, data: bytes) -> bytes:
    """Ed25519 over lp(label) || data; `secret_key` is libsodium's 64-byte form."""
    check_bytes(secret_key, 64, "Ed25519 secret key")
    if not isinstance(data, bytes):
        raise CryptoError("bad_encoding", "signed data must be bytes")
    return bytes(sodium.crypto_sign(lp(label) + data, secret_key)[:SIG_BYTES])


def verify_detached(public_key: bytes, label: str, data: bytes, sig: bytes) -> None:
    if (
        not isinstance(sig, bytes)
        or not isinstance(public_key, bytes)
        or len(sig) != SIG_BYTES
        or len(public_key) != 32
    ):
        raise CryptoError("bad_signature", "wrong signature or key length")
    if not isinstance(data, bytes):
        raise CryptoError("bad_encoding", "signed data must be bytes")
    try:
        sodium.crypto_sign_open(sig + lp(label) + data, public_key)
    except _SODIUM_ERRORS as err:
        raise CryptoError("bad_signature") from err


def aead_seal(key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """XChaCha20-Poly1305; a reused nonce breaks it, so callers pass fresh random nonces except
    in test vectors."""
    check_bytes(key, 32, "AEAD key")
    check_bytes(nonce, NONCE_BYTES, "nonce")
    if not isinstance(plaintext, bytes) or not isinstance(ad, bytes):
        raise CryptoError("bad_encoding", "AEAD input must be bytes")
    return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, key))


def aead_open(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    """Every way a ciphertext can fail to open is the one code `bad_ciphertext`: a receiver must
    not learn (or reveal) more than "this was not sealed for you"."""
    if not isinstance(ciphertext, bytes) or len(ciphertext) < TAG_BYTES:
        raise CryptoError("bad_ciphertext", "shorter than the tag")
    try:
        return bytes(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad, nonce, key))
    except _SODIUM_ERRORS as err:
        raise CryptoError("bad_ciphertext") from err


# -- strict JSON -----------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise CryptoError("bad_encoding", f"{name} is not JSON")


def _no_fraction(text: str) -> Any:
    # A number with a fraction or an exponent: serialisers disagree on how to write them (Python
    # writes 1.0 and 1e+16, JavaScript 1 and 10000000000000000), so the protocol has none.
    raise CryptoError("bad_encoding", "non-integer number")


def _exact_int(text: str) -> int:
    # Beyond 2^53 a browser's double no longer reads the integer exactly. The length check comes
    # first so that a 5000-digit literal is refused without converting it.
    if len(text.lstrip("-")) > 16 or abs(value := int(text)) > INT_MAX:
        raise CryptoError("bad_encoding", "integer beyond 2^53")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers may keep different copies of a duplicated key; refusing it keeps the Python
    # and browser clients from ever disagreeing on what a signed text says.
    out: dict[str, Any] = dict(pairs)
    if len(out) != len(pairs):
        raise CryptoError("bad_encoding", "duplicate JSON key")
    return out


def _strict_loads(text: str) -> Any:
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_constant=_no_constant,
        parse_float=_no_fraction,
        parse_int=_exact_int,
    )


def dumps(obj: Any) -> str:
    """The JSON text that gets signed or encrypted (docs/crypto.md §0): no whitespace, keys
    sorted, non-ASCII written raw, as UTF-8. Verifiers never re-serialise, but the vectors'
    "make" operations compare these bytes. Anything the strict parser would not give back as the
    same value (a non-integer number, an integer beyond 2^53, NaN, tuples, non-string keys,
    lone surrogates, cycles) is refused here rather than becoming a message the receiver reads
    differently or refuses."""
    try:
        text = json.dumps(
            obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
        )
        same = _strict_loads(text) == obj
    except CryptoError as err:
        raise CryptoError("bad_encoding", f"not representable as protocol JSON ({err})") from err
    except (TypeError, ValueError, RecursionError) as err:
        raise CryptoError("bad_encoding", "not representable as JSON") from err
    if not same:
        raise CryptoError("bad_encoding", "does not survive a JSON round trip")
    utf8(text)
    return text


def loads_object(text: str | bytes) -> dict[str, Any]:
    """A JSON object, strictly: bytes must be UTF-8 (no BOM, no UTF-16); NaN/Infinity, numbers
    with a fraction or an exponent, integers beyond +-2^53 and duplicate keys are refused.
    Escaped lone surrogates in strings are valid JSON and are kept; `utf8`/`lp` refuse them
    wherever such a string would be encoded."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as err:
            raise CryptoError("bad_encoding", "not UTF-8") from err
    if not isinstance(text, str):
        raise CryptoError("bad_encoding", "not a JSON text")
    try:
        obj = _strict_loads(text)
    except CryptoError:
        raise
    except (ValueError, RecursionError) as err:
        # ValueError includes integers beyond Python's digit limit; RecursionError is deep
        # nesting such as "[" * 50000.
        raise CryptoError("bad_encoding", "not JSON") from err
    if not isinstance(obj, dict):
        raise CryptoError("bad_encoding", "not a JSON object")
    return obj


# -- signed objects --------------------------------------------------------------------------


def make_signed(secret_key: bytes, label: str, obj: dict[str, Any]) -> str:
    """The wire form {"signed": S, "sig": b64(sig)} of a signed object, as JSON text."""
    s = dumps(obj)
    sig = sign_detached(secret_key, label, lp(s))
    return dumps({"signed": s, "sig": b64e(sig)})


def split_signed(wire: Any) -> tuple[str, bytes]:
    """(S, signature) of a signed object, not yet verified. S is checked to be encodable, so the
    verifier's lp(S) cannot fail for another reason than a bad signature."""
    if not isinstance(wire, str):
        raise CryptoError("bad_encoding", "a signed object is JSON text")
    outer = loads_object(wire)
    check_fields(outer, {"signed", "sig"}, "signed object")
    s = outer["signed"]
    if not isinstance(s, str):
        raise CryptoError("bad_encoding", "signed must be a JSON text")
    utf8(s)
    return s, b64d(outer["sig"], SIG_BYTES)


def open_signed(wire: Any, public_key: bytes, label: str) -> dict[str, Any]:
    """Verify first, parse after: nothing unverified is ever interpreted."""
    s, sig = split_signed(wire)
    verify_detached(public_key, label, lp(s), sig)
    return loads_object(s)


# -- field checks ----------------------------------------------------------------------------


def check_id(value: Any, what: str) -> str:
    """The server's ids are 1-255 visible ASCII characters ('!' to '~', no space): that keeps
    lp() encodable, comparisons exact and ids unambiguous when shown or logged."""
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= ID_MAX
        or not all("!" <= c <= "~" for c in value)
    ):
        raise CryptoError("bad_encoding", f"{what} must be 1-{ID_MAX} printable ASCII characters")
    return value


def check_bytes(value: Any, size: int, what: str) -> bytes:
    # libsodium reads a fixed number of bytes whatever it is given: lengths are checked first.
    if not isinstance(value, bytes) or len(value) != size:
        raise CryptoError("bad_encoding", f"{what} must be {size} bytes")
    return value


def check_int(value: Any, what: str, top: int = INT_MAX) -> int:
    """A non-negative integer up to `top`; booleans are not integers here, whatever Python says."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise CryptoError("bad_encoding", f"{what} must be an integer in 0..{top}")
    return value


def check_u32(value: Any, what: str) -> int:
    return check_int(value, what, U32_MAX)


def is_u32(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U32_MAX


def check_fields(obj: dict[str, Any], names: Set[str], what: str) -> None:
    """Exactly the listed fields: an unsigned extra could otherwise ride along with a valid
    signature, and a missing one could be read as a default."""
    if set(obj) != names:
        raise CryptoError("bad_encoding", f"{what}: unexpected or missing fields")


def req_str(obj: dict[str, Any], key: str, *, nullable: bool = False) -> Any:
    v = obj.get(key)
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise CryptoError("bad_encoding", f"field {key!r} must be a string")
    return v


def req_int(obj: dict[str, Any], key: str) -> int:
    return check_int(obj.get(key), f"field {key!r}")


def req_u32(obj: dict[str, Any], key: str) -> int:
    return check_int(obj.get(key), f"field {key!r}", U32_MAX)


def req_id(obj: dict[str, Any], key: str) -> str:
    return check_id(obj.get(key), f"field {key!r}")


def req_version(obj: dict[str, Any], key: str, want: int) -> None:
    v = obj.get(key)
    if type(v) is not int or v != want:
        raise CryptoError("bad_encoding", f"{key} must be {want}")

"""Server-stored key backup (docs/crypto.md §6.3).

The server holds only ciphertext: the backup key `BK` and the identity seed wrapped under an
argon2id key from the user's passphrase, and one entry per inbound session sealed under a key
derived from `BK`. The argon2id cost comes back from the server, so it is bounded both ways: too
low would make a served header cheap to brute-force against, too high would let the server
exhaust the client's memory.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .encoding import (
    TAG_BYTES,
    aead_open,
    aead_seal,
    b64d,
    b64e,
    check_bytes,
    check_fields,
    check_id,
    check_int,
    dumps,
    h,
    loads_object,
    lp,
    req_version,
    utf8,
)
from .errors import CryptoError

DEFAULT_OPS = 3
DEFAULT_MEM = 64 * 1024 * 1024
MIN_OPS = int(sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN)
MAX_OPS = 10
MIN_MEM = int(sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN)
MAX_MEM = 1024 * 1024 * 1024
ALG = "relais.backup.v1"
KEY_LABEL = "relais/v1/backup-key"
ID_LABEL = "relais/v1/backup-id"
ENTRY_KEY_LABEL = "relais/v1/backup-entry-key"
ENTRY_LABEL = "relais/v1/backup-entry"
INFO_FIELDS = {"v", "alg", "user", "salt", "ops", "mem", "n", "ct"}


def _cost(ops: Any, mem: Any) -> tuple[int, int]:
    # mem must be whole KiB: argon2 works in KiB, so 1024 values would otherwise name one cost.
    if type(ops) is not int or not MIN_OPS <= ops <= MAX_OPS:
        raise CryptoError("bad_encoding", f"ops must be in {MIN_OPS}..{MAX_OPS}")
    if type(mem) is not int or not MIN_MEM <= mem <= MAX_MEM or mem % 1024:
        raise CryptoError("bad_encoding", f"mem must be a multiple of 1024 in {MIN_MEM}..{MAX_MEM}")
    return ops, mem


def passphrase_bytes(passphrase: str) -> bytes:
    """NFC then UTF-8, so the same passphrase typed on any keyboard unlocks the backup."""
    if not isinstance(passphrase, str):
        raise CryptoError("bad_encoding", "passphrase must be a string")
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError as err:
        raise CryptoError("bad_encoding", "passphrase is not valid Unicode") from err


def wrapping_key(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    """WK = argon2id(passphrase, salt, ops, mem, 32)."""
    check_bytes(salt, 16, "salt")
    ops, mem = _cost(ops, mem)
    try:
        return bytes(
            sodium.crypto_pwhash_alg(
                32,
                passphrase_bytes(passphrase),
                salt,
                ops,
                mem,
                sodium.crypto_pwhash_ALG_ARGON2ID13,
            )
        )
    except nacl.exceptions.CryptoError as err:
        raise CryptoError("bad_encoding", "argon2id refused its parameters") from err


def key_ad(user: str) -> bytes:
    return lp(KEY_LABEL, check_id(user, "user"))


def make_backup_info(
    user: str,
    passphrase: str,
    bk: bytes,
    ik_seed: bytes,
    *,
    ops: int = DEFAULT_OPS,
    mem: int = DEFAULT_MEM,
    salt: bytes | None = None,
    nonce: bytes | None = None,
) -> str:
    """The `info` JSON text for `PUT /api/v1/keys/backup`."""
    ad = key_ad(user)
    secret = check_bytes(bk, 32, "backup key") + check_bytes(ik_seed, 32, "identity seed")
    salt = os.urandom(16) if salt is None else check_bytes(salt, 16, "salt")
    nonce = os.urandom(24) if nonce is None else check_bytes(nonce, 24, "nonce")
    ct = aead_seal(wrapping_key(passphrase, salt, ops, mem), nonce, secret, ad)
    info = {"v": 1, "alg": ALG, "user": user, "salt": b64e(salt), "ops": ops, "mem": mem}
    info.update({"n": b64e(nonce), "ct": b64e(ct)})
    return dumps(info)


def unlock_backup(info: str, user: str, passphrase: str) -> tuple[bytes, bytes]:
    """(BK, identity seed). A wrong passphrase is `bad_ciphertext`, like any tampering."""
    obj = loads_object(info)
    check_fields(obj, INFO_FIELDS, "backup info")
    req_version(obj, "v", 1)
    if obj["alg"] != ALG:
        raise CryptoError("bad_encoding", "not a backup info")
    ad = key_ad(user)
    if obj["user"] != user:
        raise CryptoError("bad_encoding", "backup info of another user")
    salt, nonce = b64d(obj["salt"], 16), b64d(obj["n"], 24)
    ct = b64d(obj["ct"], 64 + TAG_BYTES)
    ops, mem = _cost(obj["ops"], obj["mem"])
    plain = aead_open(wrapping_key(passphrase, salt, ops, mem), nonce, ct, ad)
    return plain[:32], plain[32:]


def entry_id(bk: bytes, room: str, sd: str, sid: str) -> str:
    """Stable per session and opaque to the server. `sid` is the b64 session id; its 16 raw
    bytes are hashed."""
    check_bytes(bk, 32, "backup key")
    raw_sid = b64d(sid, 16)
    return b64e(h(16, lp(ID_LABEL, check_id(room, "room"), check_id(sd, "sd"), raw_sid), key=bk))


def entry_key(bk: bytes) -> bytes:
    return h(32, lp(ENTRY_KEY_LABEL), key=check_bytes(bk, 32, "backup key"))


def entry_ad(user: str, entry_id: str) -> bytes:
    b64d(entry_id, 16)
    return lp(ENTRY_LABEL, check_id(user, "user"), entry_id)


def seal_entry(
    bk: bytes, user: str, entry_id: str, export: dict[str, Any], *, nonce: bytes | None = None
) -> str:
    """`data` of one backup entry; `export` is the session's `room_key` body at its earliest
    index."""
    ad = entry_ad(user, entry_id)
    if not isinstance(export, dict):
        raise CryptoError("bad_encoding", "export must be an object")
    plain = utf8(dumps(export))
    nonce = os.urandom(24) if nonce is None else check_bytes(nonce, 24, "nonce")
    return b64e(nonce + aead_seal(entry_key(bk), nonce, plain, ad))


def open_entry(bk: bytes, user: str, entry_id: str, data: str) -> dict[str, Any]:
    ad = entry_ad(user, entry_id)
    raw = b64d(data)
    if len(raw) < 24 + TAG_BYTES:
        raise CryptoError("bad_ciphertext", "entry shorter than nonce and tag")
    plain = aead_open(entry_key(bk), raw[:24], raw[24:], ad)
    return loads_object(plain)


# The owner's device-list head (§2.1, §6.3): one entry under an id derived from BK alone, so
# every device holding BK overwrites the same entry when it signs a new list.
HEAD_ID_LABEL = "relais/v1/backup-devices-head"
HEAD_T = "relais.devices-head.v1"


def head_entry_id(bk: bytes) -> str:
    return b64e(h(16, lp(HEAD_ID_LABEL), key=check_bytes(bk, 32, "backup key")))


def seal_head(
    bk: bytes, user: str, ver: int, list_hash: bytes, *, nonce: bytes | None = None
) -> str:
    """`data` of the head entry: the version and hash of the newest device list the user
    signed, so a restore refuses to build on anything older the server serves."""
    head = {
        "t": HEAD_T,
        "user": check_id(user, "user"),
        "ver": check_int(ver, "ver"),
        "h": b64e(check_bytes(list_hash, 32, "list hash")),
    }
    return seal_entry(bk, user, head_entry_id(bk), head, nonce=nonce)


def open_head(bk: bytes, user: str, data: str) -> tuple[int, bytes]:
    """(version, list hash) from the head entry."""
    obj = open_entry(bk, user, head_entry_id(bk), data)
    check_fields(obj, {"t", "user", "ver", "h"}, "device-list head")
    if obj["t"] != HEAD_T or obj["user"] != user:
        raise CryptoError("bad_encoding", "not this user's device-list head")
    ver = check_int(obj["ver"], "ver")
    if ver < 1:
        raise CryptoError("bad_encoding", "device list versions start at 1")
    return ver, b64d(obj["h"], 32)

"""Pairwise channel: one signed, encrypted message from one device to another (docs/crypto.md §3).

Opening is split in two: `open_payload` decrypts and checks everything the payload says about
itself, and only then does the client know which user's device list it needs (`Opened.su`) to
check the signature with `Opened.verify`. Nothing from an `Opened` may be acted on before
`verify` returned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableSet
from dataclasses import dataclass
from typing import Any

from .encoding import (
    U32_MAX,
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
    req_int,
    req_version,
    sign_detached,
    u32,
    utf8,
    verify_detached,
)
from .errors import CryptoError
from .identity import DeviceList
from .keys import DhKey, SigningKey, dh

ALG = "relais.pairwise.v1"
KEY_LABEL = "relais/v1/pairwise-key"
SIG_LABEL = "relais/v1/pairwise-sig"
AD_LABEL = "relais/v1/pairwise"
ID_BYTES = 16
SIG_BYTES = 64
HEADER_FIELDS = {"v", "alg", "sd", "rd", "spk", "e", "n", "ct"}
INNER_FIELDS = {"t", "body", "su", "sd", "ru", "rd", "ts", "id"}


@dataclass(frozen=True)
class RecipientKeys:
    """From the recipient's verified device list (`dh`) and verified pre-key (`prekey_id`,
    `prekey`)."""

    user: str
    device: str
    dh: bytes
    prekey_id: int
    prekey: bytes


def derive_key(
    dh1: bytes, dh2: bytes, e_pub: bytes, spk_pub: bytes, dx_pub: bytes
) -> tuple[bytes, bytes]:
    """(key, the hashed input), the latter exposed for test vectors."""
    data = lp(KEY_LABEL, dh1, dh2, e_pub, spk_pub, dx_pub)
    return h(32, data), data


def associated_data(sd: str, rd: str, spk_id: int, e_pub: bytes) -> bytes:
    return lp(AD_LABEL, sd, rd, u32(spk_id), e_pub)


def encrypt(
    *,
    sender_user: str,
    sender_device: str,
    sender_key: SigningKey,
    recipient: RecipientKeys,
    type: str,
    body: dict[str, Any],
    ts: int,
    msg_id: bytes | None = None,
    eph: DhKey | None = None,
    nonce: bytes | None = None,
    head: tuple[int, bytes] | None = None,
) -> str:
    """The to-device payload JSON text. `msg_id`, `eph` and `nonce` are random unless given
    (test vectors only: reusing any of them breaks the channel's guarantees). `head` is the
    sender user's device-list head (version, hash) as the sender knows it: the gossip that lets
    the recipient refuse an older list the server may serve it (§2.5)."""
    su, sd = check_id(sender_user, "sender user"), check_id(sender_device, "sender device")
    ru, rd = (
        check_id(recipient.user, "recipient user"),
        check_id(recipient.device, "recipient device"),
    )
    k = check_int(recipient.prekey_id, "pre-key id", U32_MAX)
    spk, dx = (
        check_bytes(recipient.prekey, 32, "pre-key"),
        check_bytes(recipient.dh, 32, "device key"),
    )
    if not isinstance(type, str) or not type:
        raise CryptoError("bad_encoding", "type must be a non-empty string")
    if not isinstance(body, dict):
        raise CryptoError("bad_encoding", "body must be an object")
    check_int(ts, "ts")
    msg_id = os.urandom(ID_BYTES) if msg_id is None else check_bytes(msg_id, ID_BYTES, "msg_id")
    nonce = os.urandom(24) if nonce is None else check_bytes(nonce, 24, "nonce")
    eph = DhKey.generate() if eph is None else eph
    e_pub = check_bytes(eph.public, 32, "ephemeral key")

    dh1, dh2 = dh(eph.private, spk), dh(eph.private, dx)
    key, _ = derive_key(dh1, dh2, e_pub, spk, dx)
    inner = {"t": type, "body": body, "su": su, "sd": sd, "ru": ru, "rd": rd, "ts": ts}
    inner["id"] = b64e(msg_id)
    if head is not None:
        inner["dl"] = {
            "v": _check_head_ver(head[0]),
            "h": b64e(check_bytes(head[1], 32, "device-list hash")),
        }
    p = utf8(dumps(inner))
    sig = sign_detached(sender_key.secret, SIG_LABEL, lp(p))
    ct = aead_seal(key, nonce, sig + p, associated_data(sd, rd, k, e_pub))
    header = {"v": 1, "alg": ALG, "sd": sd, "rd": rd, "spk": k}
    header.update({"e": b64e(e_pub), "n": b64e(nonce), "ct": b64e(ct)})
    return dumps(header)


@dataclass(frozen=True)
class Opened:
    """A decrypted, self-consistent pairwise message whose signature is NOT yet checked."""

    su: str
    sd: str
    ru: str
    rd: str
    type: str
    body: dict[str, Any]
    ts: int
    id: str
    inner: bytes  # P, the exact signed bytes
    sig: bytes
    # The sender user's device-list head (version, hash), when the sender gossiped it.
    head: tuple[int, bytes] | None = None

    def verify(self, sign_pub: bytes, seen_ids: MutableSet[str]) -> Opened:
        """`sign_pub` is the `sign` key of device `sd` in the verified device list of `su`.
        The id is recorded only once the signature verified, so a forgery cannot burn an id."""
        verify_detached(
            check_bytes(sign_pub, 32, "signing key"), SIG_LABEL, lp(self.inner), self.sig
        )
        if self.id in seen_ids:
            raise CryptoError("replay", "pairwise message id already accepted")
        seen_ids.add(self.id)
        return self

    def verify_from(self, devices: DeviceList, seen_ids: MutableSet[str]) -> Opened:
        """`verify` with the device looked up in the sender's verified device list."""
        entry = devices.get(self.sd) if devices.user == self.su else None
        if entry is None:
            raise CryptoError("unknown_device", "sender device not in its user's device list")
        return self.verify(entry.sign, seen_ids)


def open_payload(
    payload: str,
    *,
    my_user: str,
    my_device: str,
    my_dh: DhKey,
    prekeys: Mapping[int, DhKey],
    server_sender_device: str | None = None,
) -> Opened:
    """Decrypt a to-device payload addressed to this device. `prekeys` holds the pre-key
    privates still kept (current and those replaced less than 14 days ago)."""
    check_id(my_user, "my_user")
    check_id(my_device, "my_device")
    hdr = loads_object(payload)
    check_fields(hdr, HEADER_FIELDS, "pairwise payload")
    req_version(hdr, "v", 1)
    if hdr["alg"] != ALG:
        raise CryptoError("bad_encoding", "not a pairwise payload")
    sd, rd = check_id(hdr["sd"], "sd"), check_id(hdr["rd"], "rd")
    k = check_int(hdr["spk"], "spk", U32_MAX)
    e_pub, nonce, ct = b64d(hdr["e"], 32), b64d(hdr["n"], 24), b64d(hdr["ct"])
    if rd != my_device:
        raise CryptoError("bad_encoding", "payload addressed to another device")
    spk = prekeys.get(k)
    if spk is None:
        raise CryptoError("prekey_gone", f"pre-key {k} is not (or no longer) held")

    dh1, dh2 = dh(spk.private, e_pub), dh(my_dh.private, e_pub)
    key, _ = derive_key(dh1, dh2, e_pub, spk.public, my_dh.public)
    plain = aead_open(key, nonce, ct, associated_data(sd, rd, k, e_pub))
    if len(plain) <= SIG_BYTES:
        raise CryptoError("bad_encoding", "plaintext shorter than a signature")
    sig, p = plain[:SIG_BYTES], plain[SIG_BYTES:]

    inner = loads_object(p)
    check_fields(inner, INNER_FIELDS | ({"dl"} & inner.keys()), "pairwise message")
    head = _parse_head(inner["dl"]) if "dl" in inner else None
    t, body = inner["t"], inner["body"]
    if not isinstance(t, str) or not t:
        raise CryptoError("bad_encoding", "t must be a non-empty string")
    if not isinstance(body, dict):
        raise CryptoError("bad_encoding", "body must be an object")
    su, ru = check_id(inner["su"], "su"), check_id(inner["ru"], "ru")
    if inner["sd"] != sd or inner["rd"] != rd:
        raise CryptoError("bad_encoding", "inner devices differ from the header's")
    if ru != my_user:
        raise CryptoError("bad_encoding", "payload addressed to another user")
    if server_sender_device is not None and server_sender_device != sd:
        raise CryptoError("bad_encoding", "server-reported sender device differs")
    msg_id = inner["id"]
    b64d(msg_id, ID_BYTES)
    return Opened(su, sd, ru, rd, t, body, req_int(inner, "ts"), msg_id, p, sig, head)


def _check_head_ver(ver: Any) -> int:
    if check_int(ver, "device-list version") < 1:
        raise CryptoError("bad_encoding", "device list versions start at 1")
    return int(ver)


def _parse_head(raw: Any) -> tuple[int, bytes]:
    if not isinstance(raw, dict):
        raise CryptoError("bad_encoding", "dl must be an object")
    check_fields(raw, {"v", "h"}, "device-list head")
    return _check_head_ver(raw["v"]), b64d(raw["h"], 32)

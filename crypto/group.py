"""Group messages on sender-key sessions (docs/crypto.md §4).

A sender encrypts each room message once, under a chain key that only moves forward, and signs it
with its device key; every receiver holding the chain key from some index on can read from there,
never before. Costs per message are one ratchet step plus one AEAD and one signature, whatever the
room's size: sharing the session (one `room_key` per device) happens once per session, not per
message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .encoding import (
    b64d,
    b64e,
    dumps,
    h,
    lp,
    req_int,
    req_str,
    sign_detached,
    u32,
    utf8,
    verify_detached,
)
from .encoding import check_bytes as _bytes
from .encoding import check_id as _check_id
from .encoding import check_int as _nonneg
from .encoding import check_u32 as _u32
from .encoding import is_u32 as _is_u32
from .encoding import loads_object as _decode_content
from .encoding import req_id as _id_field
from .encoding import req_u32 as _u32_field
from .errors import CryptoError
from .keys import SigningKey

ALG = "relais.group.v1"
# The only padded lengths (docs/crypto.md §4.2). The largest is bounded twice over: the signature
# covers lp(c), and lp holds at most 65535 bytes, so a 65536 bucket (ciphertext 65552 bytes) could
# never be signed; and its envelope (~87 KB of base64) would not fit the server's 64 KiB cap.
# Content up to 16383 bytes fits the 16384 bucket; larger payloads belong in attachments (§7).
BUCKETS = (256, 1024, 4096, 16384)
MAX_SKIP = 10_000
MAX_CONTENT = BUCKETS[-1] - 1
SID_BYTES = 16
CK_BYTES = 32
MH_BYTES = 32
TAG_BYTES = 16
_ENVELOPE_KEYS = frozenset({"v", "alg", "ct", "sid", "i", "sd", "su", "me", "mh", "sig"})
_SHARE_KEYS = frozenset({"room", "sid", "i", "ck", "sd", "su", "me", "fwd"})

L_MSG = "relais/v1/msg"
L_CHAIN = "relais/v1/chain"
L_AD = "relais/v1/group"
L_SIG = "relais/v1/group-sig"


# -- ratchet and padding ---------------------------------------------------------------------


def message_keys(ck: bytes) -> tuple[bytes, bytes]:
    """(mk, nonce) for the message at the index `ck` belongs to."""
    m = h(56, lp(L_MSG), key=ck)
    return m[:32], m[32:]


def next_ck(ck: bytes) -> bytes:
    return h(32, lp(L_CHAIN), key=ck)


def _advance(ck: bytes, steps: int) -> bytes:
    for _ in range(steps):
        ck = next_ck(ck)
    return ck


def _bucket(length: int) -> int:
    """The smallest bucket that holds `length` content bytes plus the 0x80 marker."""
    for b in BUCKETS:
        if length + 1 <= b:
            return b
    raise CryptoError("bad_encoding", f"content longer than {MAX_CONTENT} bytes")


def pad(content: bytes) -> bytes:
    """Only the bucket shows in the ciphertext length, not the message length. Content longer
    than MAX_CONTENT has no bucket (`bad_encoding`): it goes as an attachment."""
    return bytes(sodium.sodium_pad(content, _bucket(len(content))))


def unpad(padded: bytes) -> bytes:
    """Inverse of `pad`, and only of `pad`: the padded length must be a bucket, and a padding
    that `pad` would not have produced (wrong bucket for the content) is refused, so one
    plaintext has exactly one padded form."""
    n = len(padded)
    if n not in BUCKETS:
        raise CryptoError("bad_encoding", "padded length is not a bucket size")
    try:
        content = bytes(sodium.sodium_unpad(padded, n))
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as err:
        raise CryptoError("bad_encoding", "bad padding") from err
    if _bucket(len(content)) != n:
        raise CryptoError("bad_encoding", "padding longer than the bucket rule allows")
    return content


# -- field checks ----------------------------------------------------------------------------


def _encode_content(content: Any) -> bytes:
    if not isinstance(content, dict):
        raise CryptoError("bad_encoding", "content must be a JSON object")
    data = utf8(dumps(content))
    if len(data) > MAX_CONTENT:
        raise CryptoError("bad_encoding", f"content longer than {MAX_CONTENT} bytes")
    return data


def group_ad(room: str, sid: bytes, i: int, su: str, sd: str, me: int, mh: bytes) -> bytes:
    return lp(L_AD, room, sid, u32(i), su, sd, u32(me), mh)


# -- outbound --------------------------------------------------------------------------------


@dataclass
class OutboundSession:
    """The sender's side: `ck` is always the key of `index`, the next message to send; earlier
    keys are dropped as soon as they are used so a device stolen later cannot read back."""

    room: str
    sid: bytes
    ck: bytes = field(repr=False)
    index: int
    created_ms: int
    me: int
    sent: int = 0
    shared_with: dict[str, int] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        room: str,
        *,
        created_ms: int,
        me: int,
        sid: bytes | None = None,
        ck: bytes | None = None,
    ) -> OutboundSession:
        return cls(
            room=_check_id(room, "room"),
            sid=_bytes(os.urandom(SID_BYTES) if sid is None else sid, SID_BYTES, "sid"),
            ck=_bytes(os.urandom(CK_BYTES) if ck is None else ck, CK_BYTES, "ck"),
            index=0,
            created_ms=_nonneg(created_ms, "created_ms"),
            me=_u32(me, "me"),
        )

    def share_body(self, su: str, sd: str) -> dict[str, Any]:
        return {
            "room": self.room,
            "sid": b64e(self.sid),
            "i": self.index,
            "ck": b64e(self.ck),
            "sd": _check_id(sd, "sd"),
            "su": _check_id(su, "su"),
            "me": self.me,
            "fwd": False,
        }

    def encrypt(
        self, content: dict[str, Any], *, su: str, sd: str, dsk: SigningKey, me: int, mh: bytes
    ) -> dict[str, Any]:
        """`me`/`mh` are the sender's verified chain head now, which may be past the session's
        creation head: receivers use them to notice membership events they have not seen."""
        i = _u32(self.index, "index")
        ad = group_ad(
            _check_id(self.room, "room"),
            self.sid,
            i,
            _check_id(su, "su"),
            _check_id(sd, "sd"),
            _u32(me, "me"),
            _bytes(mh, MH_BYTES, "mh"),
        )
        plaintext = pad(_encode_content(content))
        mk, nonce = message_keys(self.ck)
        c = bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, ad, nonce, mk))
        sig = sign_detached(dsk.secret, L_SIG, ad + lp(c))
        self.ck = next_ck(self.ck)
        self.index = i + 1
        self.sent += 1
        return {
            "v": 1,
            "alg": ALG,
            "ct": b64e(c),
            "sid": b64e(self.sid),
            "i": i,
            "sd": sd,
            "su": su,
            "me": me,
            "mh": b64e(mh),
            "sig": b64e(sig),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "sid": b64e(self.sid),
            "ck": b64e(self.ck),
            "index": self.index,
            "created_ms": self.created_ms,
            "me": self.me,
            "sent": self.sent,
            "shared_with": dict(self.shared_with),
        }

    @classmethod
    def from_json(cls, d: Any) -> OutboundSession:
        if not isinstance(d, dict):
            raise CryptoError("bad_encoding", "outbound session is not an object")
        shared = d.get("shared_with")
        if not isinstance(shared, dict) or not all(
            isinstance(k, str) and _is_u32(v) for k, v in shared.items()
        ):
            raise CryptoError("bad_encoding", "shared_with must map device ids to indices")
        return cls(
            room=_id_field(d, "room"),
            sid=b64d(d.get("sid"), SID_BYTES),
            ck=b64d(d.get("ck"), CK_BYTES),
            index=req_int(d, "index"),
            created_ms=req_int(d, "created_ms"),
            me=_u32_field(d, "me"),
            sent=req_int(d, "sent"),
            shared_with=dict(shared),
        )


# -- envelope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    sid: str
    i: int
    sd: str
    su: str
    me: int
    mh: bytes
    ct: bytes
    sig: bytes

    def ad(self, room: str) -> bytes:
        return group_ad(room, b64d(self.sid, SID_BYTES), self.i, self.su, self.sd, self.me, self.mh)


def parse_envelope(env: Any) -> Header:
    """Exactly the fields of §4.2 and nothing else: unsigned extras could otherwise ride along
    with a valid signature."""
    if not isinstance(env, dict) or set(env) != _ENVELOPE_KEYS:
        raise CryptoError("bad_encoding", "envelope fields differ from relais.group.v1")
    if type(env["v"]) is not int or env["v"] != 1 or env["alg"] != ALG:
        raise CryptoError("bad_encoding", "unsupported envelope version or algorithm")
    sid = req_str(env, "sid")
    b64d(sid, SID_BYTES)
    ct = b64d(env["ct"])
    if len(ct) - TAG_BYTES not in BUCKETS:
        raise CryptoError("bad_encoding", "ciphertext length is not a padded bucket")
    return Header(
        sid=sid,
        i=_u32_field(env, "i"),
        sd=_id_field(env, "sd"),
        su=_id_field(env, "su"),
        me=_u32_field(env, "me"),
        mh=b64d(env["mh"], MH_BYTES),
        ct=ct,
        sig=b64d(env["sig"], 64),
    )


def verify_envelope(h: Header, room: str, sign_pub: bytes) -> None:
    """`sign_pub` is the DSK of `h.sd` from `h.su`'s verified device list: the caller has
    already matched su/sd against the server's sender ids."""
    ad = h.ad(_check_id(room, "room"))
    verify_detached(sign_pub, L_SIG, ad + lp(h.ct), h.sig)


# -- inbound ---------------------------------------------------------------------------------


def _parse_share(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or set(body) != _SHARE_KEYS:
        raise CryptoError("bad_encoding", "room_key body fields differ from §4.4")
    if not isinstance(body["fwd"], bool):
        raise CryptoError("bad_encoding", "fwd must be a boolean")
    sid = req_str(body, "sid")
    b64d(sid, SID_BYTES)
    return {
        "room": _id_field(body, "room"),
        "sid": sid,
        "i": _u32_field(body, "i"),
        "ck": b64d(body["ck"], CK_BYTES),
        "sd": _id_field(body, "sd"),
        "su": _id_field(body, "su"),
        "me": _u32_field(body, "me"),
        "fwd": body["fwd"],
    }


@dataclass
class InboundSession:
    """A receiver's copy of one sender session.

    `first_*` is the earliest key held (what can be forwarded or backed up); `cur_*` is the key of
    the next index after the highest one decrypted, so in-order messages cost one step. Older
    indices are recomputed from `first_ck`, at most MAX_SKIP steps, and no per-index keys are
    kept: the state stays the same size however many messages were skipped.
    """

    room: str
    sid: str
    sd: str
    su: str
    me: int
    first_index: int
    first_ck: bytes = field(repr=False)
    cur_index: int
    cur_ck: bytes = field(repr=False)
    used: dict[int, str] = field(default_factory=dict)

    @classmethod
    def from_share(cls, body: Any) -> InboundSession:
        s = _parse_share(body)
        return cls(
            room=s["room"],
            sid=s["sid"],
            sd=s["sd"],
            su=s["su"],
            me=s["me"],
            first_index=s["i"],
            first_ck=s["ck"],
            cur_index=s["i"],
            cur_ck=s["ck"],
        )

    def _ck_at(self, i: int) -> bytes:
        """The chain key of index `i` (>= first_index), from the nearest key held below it."""
        if i >= self.cur_index:
            base_i, base_ck = self.cur_index, self.cur_ck
        else:
            base_i, base_ck = self.first_index, self.first_ck
        if i - base_i > MAX_SKIP:
            raise CryptoError("too_far", f"index {i} is {i - base_i} steps past the key held")
        return _advance(base_ck, i - base_i)

    def merge(self, body: Any) -> bool:
        """Take an earlier starting point only if it leads to the chain already held: a forwarder
        may give access to earlier messages, never swap in another chain (`not_entitled`).

        Returns True when the earliest key moved back. A share at the same or a later index adds
        nothing and returns False, but if it is within MAX_SKIP of a key held it is checked too,
        and one that contradicts the chain is refused the same way.
        """
        s = _parse_share(body)
        if (s["room"], s["sid"], s["sd"]) != (self.room, self.sid, self.sd):
            raise CryptoError("bad_encoding", "share is for another session")
        if s["su"] != self.su or s["me"] != self.me:
            raise CryptoError("not_entitled", "share disagrees with the session's sender or head")
        j, ck = s["i"], s["ck"]
        if j < self.first_index:
            if self.first_index - j > MAX_SKIP:
                raise CryptoError("too_far", "earlier share more than MAX_SKIP steps back")
            if not sodium.sodium_memcmp(_advance(ck, self.first_index - j), self.first_ck):
                raise CryptoError("not_entitled", "earlier share does not lead to the held chain")
            self.first_index, self.first_ck = j, ck
            return True
        try:
            expected = self._ck_at(j)
        except CryptoError:
            return False
        if not sodium.sodium_memcmp(expected, ck):
            raise CryptoError("not_entitled", "share contradicts the held chain")
        return False

    def decrypt(self, h: Header, room: str, message_id: str) -> dict[str, Any]:
        """Checks of §4.2 after the signature (which `verify_envelope` did), in its order.

        Decrypting the same message id again returns its content again (a re-delivered event);
        the same index under another message id is a `replay`.
        """
        if (room, h.sid, h.sd) != (self.room, self.sid, self.sd):
            raise CryptoError("missing_key", "envelope is not for this session")
        if h.su != self.su:
            raise CryptoError("unknown_device", "envelope's user differs from the session's")
        if not isinstance(message_id, str) or not message_id:
            raise CryptoError("bad_encoding", "message id must be a non-empty string")
        if h.i < self.first_index:
            raise CryptoError("missing_key", f"session known from index {self.first_index}")
        seen = self.used.get(h.i)
        if seen is not None and seen != message_id:
            raise CryptoError("replay", f"index {h.i} already used by another message")
        ck = self._ck_at(h.i)
        mk, nonce = message_keys(ck)
        try:
            padded = bytes(
                sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(h.ct, h.ad(room), nonce, mk)
            )
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as err:
            raise CryptoError("bad_ciphertext") from err
        content = _decode_content(unpad(padded))
        self.used[h.i] = message_id
        if h.i >= self.cur_index:
            self.cur_index, self.cur_ck = h.i + 1, next_ck(ck)
        return content

    def export_body(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "sid": self.sid,
            "i": self.first_index,
            "ck": b64e(self.first_ck),
            "sd": self.sd,
            "su": self.su,
            "me": self.me,
            "fwd": True,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "sid": self.sid,
            "sd": self.sd,
            "su": self.su,
            "me": self.me,
            "first_index": self.first_index,
            "first_ck": b64e(self.first_ck),
            "cur_index": self.cur_index,
            "cur_ck": b64e(self.cur_ck),
            "used": {str(i): mid for i, mid in sorted(self.used.items())},
        }

    @classmethod
    def from_json(cls, d: Any) -> InboundSession:
        if not isinstance(d, dict):
            raise CryptoError("bad_encoding", "inbound session is not an object")
        used_raw = d.get("used")
        if not isinstance(used_raw, dict):
            raise CryptoError("bad_encoding", "used must be an object")
        used: dict[int, str] = {}
        for k, v in used_raw.items():
            if not (isinstance(k, str) and k.isdigit() and k.isascii() and str(int(k)) == k):
                raise CryptoError("bad_encoding", "used keys must be indices")
            if not isinstance(v, str):
                raise CryptoError("bad_encoding", "used values must be message ids")
            used[_u32(int(k), "used index")] = v
        sid = req_str(d, "sid")
        b64d(sid, SID_BYTES)
        first_index, cur_index = _u32_field(d, "first_index"), req_int(d, "cur_index")
        if cur_index < first_index:
            raise CryptoError("bad_encoding", "cursor before the first index")
        return cls(
            room=_id_field(d, "room"),
            sid=sid,
            sd=_id_field(d, "sd"),
            su=_id_field(d, "su"),
            me=_u32_field(d, "me"),
            first_index=first_index,
            first_ck=b64d(d.get("first_ck"), CK_BYTES),
            cur_index=cur_index,
            cur_ck=b64d(d.get("cur_ck"), CK_BYTES),
            used=used,
        )

"""Pairwise channel (docs/crypto.md §3).

(a) every vector of tests/vectors/pairwise.json recomputed from its inputs with the primitives
(dh1, dh2, key, P, signature, AD, ciphertext) and through the module; (b) properties: round
trips of random messages, and tampering, replay, misdelivery and erased pre-keys are refused
with the right CryptoError and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import identity, pairwise
from crypto.encoding import b64d, b64e, lp, u32
from crypto.errors import CryptoError
from crypto.keys import DhKey, SigningKey
from tests.vectors import flip_bit, load

CASES = load("pairwise.json")


def _code(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CryptoError) as err:
        fn(*args, **kwargs)
    return err.value.code


def test_every_op_is_checked() -> None:
    assert {c["op"] for c in CASES} == {"pairwise_encrypt", "pairwise_open"}
    assert {c.get("error") for c in CASES} >= {
        None,
        "bad_ciphertext",
        "prekey_gone",
        "replay",
        "bad_signature",
        "bad_encoding",
    }


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "pairwise_encrypt"], ids=lambda c: c["name"]
)
def test_vector_encrypt(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    dsk = SigningKey.from_seed(b64d(i["sender_sign_seed"], 32))
    dx = DhKey.from_private(b64d(i["recipient_dh_private"], 32))
    spk = DhKey.from_private(b64d(i["prekey_private"], 32))
    eph = DhKey.from_private(b64d(i["eph_private"], 32))
    nonce, msg_id = b64d(i["nonce"], 24), b64d(i["msg_id"], 16)
    assert (b64e(dsk.public), b64e(dx.public), b64e(spk.public), b64e(eph.public)) == (
        o["sender_sign_pub"],
        o["recipient_dh"],
        o["prekey"],
        o["e"],
    )

    dh1 = sodium.crypto_scalarmult(eph.private, spk.public)
    dh2 = sodium.crypto_scalarmult(eph.private, dx.public)
    assert (b64e(dh1), b64e(dh2)) == (o["dh1"], o["dh2"])
    # The recipient's side of the agreement gives the same secrets.
    assert sodium.crypto_scalarmult(spk.private, eph.public) == dh1
    assert sodium.crypto_scalarmult(dx.private, eph.public) == dh2
    key_input = b"".join(
        len(x).to_bytes(2, "big") + x
        for x in (b"relais/v1/pairwise-key", dh1, dh2, eph.public, spk.public, dx.public)
    )
    assert b64e(key_input) == o["key_input"]
    key = sodium.crypto_generichash_blake2b_salt_personal(key_input, digest_size=32)
    assert b64e(key) == o["key"]

    assert json.loads(o["inner"]) == {
        "t": i["type"],
        "body": i["body"],
        "su": i["sender_user"],
        "sd": i["sender_device"],
        "ru": i["recipient_user"],
        "rd": i["recipient_device"],
        "ts": i["ts"],
        "id": i["msg_id"],
        **({"dl": i["head"]} if "head" in i else {}),
    }
    p = o["inner"].encode("utf-8")
    sig_input = lp("relais/v1/pairwise-sig") + lp(p)
    assert b64e(sig_input) == o["sig_input"]
    sig = sodium.crypto_sign(sig_input, dsk.secret)[:64]
    assert b64e(sig) == o["sig"]
    assert b64e(sig + p) == o["plaintext"]
    ad = lp(
        "relais/v1/pairwise",
        i["sender_device"],
        i["recipient_device"],
        u32(i["prekey_id"]),
        eph.public,
    )
    assert b64e(ad) == o["ad"]
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(sig + p, ad, nonce, key)
    assert b64e(ct) == o["ct"]
    assert json.loads(o["payload"]) == {
        "v": 1,
        "alg": "relais.pairwise.v1",
        "sd": i["sender_device"],
        "rd": i["recipient_device"],
        "spk": i["prekey_id"],
        "e": o["e"],
        "n": i["nonce"],
        "ct": o["ct"],
    }

    payload = pairwise.encrypt(
        sender_user=i["sender_user"],
        sender_device=i["sender_device"],
        sender_key=dsk,
        recipient=pairwise.RecipientKeys(
            i["recipient_user"], i["recipient_device"], dx.public, i["prekey_id"], spk.public
        ),
        type=i["type"],
        body=i["body"],
        ts=i["ts"],
        msg_id=msg_id,
        eph=eph,
        nonce=nonce,
        head=(i["head"]["v"], b64d(i["head"]["h"], 32)) if "head" in i else None,
    )
    assert payload == o["payload"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "pairwise_open"], ids=lambda c: c["name"]
)
def test_vector_open(case: dict[str, Any]) -> None:
    i = case["input"]

    def run() -> pairwise.Opened:
        opened = pairwise.open_payload(
            i["payload"],
            my_user=i["my_user"],
            my_device=i["my_device"],
            my_dh=DhKey.from_private(b64d(i["my_dh_private"], 32)),
            prekeys={int(k): DhKey.from_private(b64d(v, 32)) for k, v in i["prekeys"].items()},
            server_sender_device=i["server_sender_device"],
        )
        return opened.verify(b64d(i["sender_sign_pub"], 32), set(i["seen_ids"]))

    if "error" in case:
        assert _code(run) == case["error"]
        return
    got = run()
    assert {
        "su": got.su,
        "sd": got.sd,
        "ru": got.ru,
        "rd": got.rd,
        "type": got.type,
        "body": got.body,
        "ts": got.ts,
        "id": got.id,
        **({"head": {"v": got.head[0], "h": b64e(got.head[1])}} if got.head else {}),
    } == case["output"]


# ------------------------------------------------------------------------------------------
# (b) properties
# ------------------------------------------------------------------------------------------

ALICE_DSK = SigningKey.from_seed(bytes(range(32)))
BOB_DX = DhKey.from_private(bytes(range(1, 33)))
BOB_SPK = {1: DhKey.from_private(bytes(range(2, 34))), 2: DhKey.from_private(bytes(range(3, 35)))}
CAROL_DX = DhKey.from_private(bytes(range(4, 36)))
CAROL_SPK = {1: DhKey.from_private(bytes(range(5, 37)))}


def _send(body: Any = None, t: str = "room_key", to: str = "d_bob", spk_id: int = 1) -> str:
    dx, spk = (BOB_DX, BOB_SPK) if to == "d_bob" else (CAROL_DX, CAROL_SPK)
    return pairwise.encrypt(
        sender_user="u_alice",
        sender_device="d_alice",
        sender_key=ALICE_DSK,
        recipient=pairwise.RecipientKeys("u_bob", to, dx.public, spk_id, spk[spk_id].public),
        type=t,
        body={"k": 1} if body is None else body,
        ts=1_700_000_000_000,
    )


def _open(
    payload: str,
    *,
    device: str = "d_bob",
    dx: DhKey = BOB_DX,
    prekeys: dict[int, DhKey] | None = None,
    server_sd: str | None = "d_alice",
) -> pairwise.Opened:
    return pairwise.open_payload(
        payload,
        my_user="u_bob",
        my_device=device,
        my_dh=dx,
        prekeys=BOB_SPK if prekeys is None else prekeys,
        server_sender_device=server_sd,
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
bodies = st.dictionaries(st.text(max_size=8), json_values, max_size=6)
types = st.text(min_size=1, max_size=20)


@settings(max_examples=150)
@given(body=bodies, t=types, spk_id=st.sampled_from([1, 2]))
def test_round_trip(body: dict[str, Any], t: str, spk_id: int) -> None:
    seen: set[str] = set()
    opened = _open(_send(body, t, spk_id=spk_id)).verify(ALICE_DSK.public, seen)
    assert (opened.type, opened.body, opened.su, opened.sd, opened.ru, opened.rd) == (
        t,
        body,
        "u_alice",
        "d_alice",
        "u_bob",
        "d_bob",
    )
    assert seen == {opened.id} and len(b64d(opened.id, 16)) == 16


PAYLOAD = _send({"room": "r_1", "ck": b64e(bytes(32))})


def _with(**changes: Any) -> str:
    return json.dumps({**json.loads(PAYLOAD), **changes})


def _flip_field(data: st.DataObject, field: str) -> str:
    raw = bytearray(b64d(json.loads(PAYLOAD)[field]))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    return b64e(bytes(raw))


@settings(max_examples=200)
@given(data=st.data(), field=st.sampled_from(["ct", "e", "n"]))
def test_flipped_ct_e_n_refused(data: st.DataObject, field: str) -> None:
    tampered = _with(**{field: _flip_field(data, field)})
    assert _code(_open, tampered) in ("bad_ciphertext", "bad_encoding")


@settings(max_examples=200)
@given(data=st.data(), field=st.sampled_from(["sd", "rd"]))
def test_flipped_header_ids_refused(data: st.DataObject, field: str) -> None:
    value = json.loads(PAYLOAD)[field]
    flipped = flip_bit(value, data.draw(st.integers(0, len(value) * 8 - 1)))
    with pytest.raises(CryptoError):
        _open(_with(**{field: flipped}), server_sd=None).verify(ALICE_DSK.public, set())


@settings(max_examples=50)
@given(spk=st.integers(0, 2**32 - 1).filter(lambda k: k != 1))
def test_header_prekey_id_is_authenticated(spk: int) -> None:
    """The right pre-key filed under another id still fails: the id is in the AD."""
    assert _code(_open, _with(spk=spk), prekeys={spk: BOB_SPK[1]}) == "bad_ciphertext"
    assert _code(_open, _with(spk=spk)) in ("prekey_gone", "bad_ciphertext")


def test_every_single_bit_flip_of_the_payload_is_refused() -> None:
    """Exhaustive over the whole payload text, signature check included."""
    for index in range(len(PAYLOAD.encode()) * 8):
        with pytest.raises(CryptoError):
            _open(flip_bit(PAYLOAD, index), server_sd=None).verify(ALICE_DSK.public, set())


def test_replay_refused_and_forgery_does_not_burn_the_id() -> None:
    seen: set[str] = set()
    opened = _open(PAYLOAD)
    assert _code(opened.verify, SigningKey.from_seed(bytes(32)).public, seen) == "bad_signature"
    assert seen == set()
    opened.verify(ALICE_DSK.public, seen)
    assert _code(_open(PAYLOAD).verify, ALICE_DSK.public, seen) == "replay"


def test_verify_from_device_list() -> None:
    ik = SigningKey.from_seed(bytes([9]) * 32)
    entry = identity.DeviceEntry("d_alice", ALICE_DSK.public, bytes(32))
    listed = identity.verify_device_list(
        identity.make_device_list(ik, "u_alice", 1, [entry], 0), "u_alice", ik.public
    )
    revoked = identity.verify_device_list(
        identity.make_device_list(ik, "u_alice", 2, [], 0, prev=listed.hash), "u_alice", ik.public
    )
    seen: set[str] = set()
    assert _code(_open(PAYLOAD).verify_from, revoked, seen) == "unknown_device"
    assert _open(PAYLOAD).verify_from(listed, seen).su == "u_alice"
    other = identity.verify_device_list(
        identity.make_device_list(ik, "u_mallory", 1, [entry], 0), "u_mallory", ik.public
    )
    assert _code(_open(_send()).verify_from, other, seen) == "unknown_device"


def test_payload_for_one_device_cannot_be_opened_by_another() -> None:
    for_carol = _send(to="d_carol")
    # Bob as himself: not addressed to him.
    assert _code(_open, for_carol) == "bad_encoding"
    # Bob claiming to be d_carol with his own keys (same pre-key id): no key agreement.
    assert _code(_open, for_carol, device="d_carol") == "bad_ciphertext"
    # Carol opens it.
    assert _open(for_carol, device="d_carol", dx=CAROL_DX, prekeys=CAROL_SPK).rd == "d_carol"


def test_stolen_device_without_the_erased_prekey_cannot_open_old_messages() -> None:
    old = _send(spk_id=1)
    # Pre-key 1 was replaced by 2 and erased 14 days later; then the device is stolen.
    current = {2: BOB_SPK[2]}
    assert _code(_open, old, prekeys=current) == "prekey_gone"
    # Every private the thief holds, tried under the old id, still opens nothing.
    for priv in (BOB_SPK[2], BOB_DX):
        assert _code(_open, old, prekeys={1: priv}) == "bad_ciphertext"
    assert _open(old, prekeys={1: BOB_SPK[1]}).verify(ALICE_DSK.public, set()).rd == "d_bob"


def test_inconsistent_inner_fields_are_refused() -> None:
    """A sender cannot make P disagree with the header or name another recipient user."""

    def forged(raw: bytes | None = None, **inner: Any) -> str:
        eph, nonce = DhKey.from_private(bytes([7]) * 32), bytes(24)
        spk = BOB_SPK[1]
        dh1 = sodium.crypto_scalarmult(eph.private, spk.public)
        dh2 = sodium.crypto_scalarmult(eph.private, BOB_DX.public)
        key, _ = pairwise.derive_key(dh1, dh2, eph.public, spk.public, BOB_DX.public)
        p_obj = {
            "t": "x",
            "body": {},
            "su": "u_alice",
            "sd": "d_alice",
            "ru": "u_bob",
            "rd": "d_bob",
            "ts": 1,
            "id": b64e(bytes(16)),
            **inner,
        }
        p = json.dumps(p_obj).encode() if raw is None else raw
        sig = sodium.crypto_sign(lp("relais/v1/pairwise-sig") + lp(p), ALICE_DSK.secret)[:64]
        ad = pairwise.associated_data("d_alice", "d_bob", 1, eph.public)
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(sig + p, ad, nonce, key)
        return json.dumps(
            {
                "v": 1,
                "alg": pairwise.ALG,
                "sd": "d_alice",
                "rd": "d_bob",
                "spk": 1,
                "e": b64e(eph.public),
                "n": b64e(nonce),
                "ct": b64e(ct),
            }
        )

    assert _open(forged()).verify(ALICE_DSK.public, set()).type == "x"
    bad: dict[str, Any]
    for bad in (
        {"sd": "d_other"},
        {"rd": "d_other"},
        {"ru": "u_other"},
        {"extra": 1},
        {"body": []},
        {"t": ""},
        {"id": "AAAA"},
        {"ts": -1},
        {"ts": True},
    ):
        assert _code(_open, forged(**bad)) == "bad_encoding", bad
    assert _code(_open, PAYLOAD, server_sd="d_mallory") == "bad_encoding"
    good = json.dumps(
        {
            "t": "x",
            "body": {"v": 0},
            "su": "u_alice",
            "sd": "d_alice",
            "ru": "u_bob",
            "rd": "d_bob",
            "ts": 1,
            "id": b64e(bytes(16)),
        }
    )
    for edit in ('{"v": 1e400}', '{"v": NaN}', '{"v": 0, "v": 1}'):
        p = good.replace('{"v": 0}', edit).encode()
        assert _code(_open, forged(raw=p)) == "bad_encoding", edit
    # A lone surrogate escaped inside a body string is valid JSON: returned as is, never
    # re-encoded by this module.
    p = good.replace('{"v": 0}', '{"v": "\\ud800"}').encode()
    assert _open(forged(raw=p)).body == {"v": "\ud800"}
    assert _code(_open, forged(raw=b"\xff" + good.encode())) == "bad_encoding"


def test_encrypt_refuses_unrepresentable_input() -> None:
    body: Any
    for body in ({"x": float("nan")}, {"x": (1, 2)}, {1: "a"}, {"x": "\ud800"}, []):
        assert _code(_send, body) == "bad_encoding"
    assert _code(_send, {"x": "a" * 70_000}) == "bad_encoding"  # lp() limit on P
    assert _code(_send, t="") == "bad_encoding"
    low_order = pairwise.RecipientKeys("u_b", "d_b", bytes(32), 1, bytes(32))
    with pytest.raises(CryptoError):
        pairwise.encrypt(
            sender_user="u_a",
            sender_device="d_a",
            sender_key=ALICE_DSK,
            recipient=low_order,
            type="t",
            body={},
            ts=0,
        )


@settings(max_examples=200)
@given(
    garbage=st.one_of(
        st.text(),
        st.none(),
        st.integers(),
        st.binary(),
        st.dictionaries(st.sampled_from(sorted(pairwise.HEADER_FIELDS)), json_values).map(
            json.dumps
        ),
    )
)
def test_garbage_only_raises_crypto_error(garbage: Any) -> None:
    with pytest.raises(CryptoError):
        _open(garbage)

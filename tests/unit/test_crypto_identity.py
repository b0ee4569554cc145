"""Identities, device lists, pre-keys, fingerprints and TOFU (docs/crypto.md §2).

Part (a) recomputes every vector in tests/vectors/identity.json from its inputs, with the
primitives directly where the spec gives a formula; part (b) is property tests: round trips,
and any single flipped bit of a signed object is refused with a CryptoError, never accepted and
never another exception.
"""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import identity
from crypto.encoding import b64d, b64e, lp
from crypto.errors import CryptoError
from crypto.identity import DeviceEntry, RetiredDevice
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore
from tests.vectors import flip_bit, gen_identity, load

CASES = load("identity.json")
OPS = {
    "make_device_list",
    "verify_device_list",
    "verify_device_log",
    "make_prekey",
    "verify_prekey",
    "fingerprint",
    "safety_number",
    "verify_qr",
}


def test_vector_files_are_current() -> None:
    """The committed files are exactly what the generator produces from the current code."""
    for name, doc in gen_identity.build().items():
        on_disk = (gen_identity.HERE / name).read_text(encoding="utf-8")
        assert on_disk == gen_identity.render(doc), f"{name} is stale: rerun the generator"


def test_every_op_is_checked() -> None:
    assert {c["op"] for c in CASES} == OPS
    assert any("error" in c for c in CASES)


def _code(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CryptoError) as err:
        fn(*args, **kwargs)
    return err.value.code


def _sig(secret: bytes, data: bytes) -> bytes:
    return bytes(sodium.crypto_sign(data, secret)[:64])


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "make_device_list"], ids=lambda c: c["name"]
)
def test_vector_make_device_list(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    ik = SigningKey.from_seed(b64d(i["ik_seed"], 32))
    devices = []
    for d in i["devices"]:
        assert b64e(SigningKey.from_seed(b64d(d["sign_seed"])).public) == d["sign"]
        assert b64e(sodium.crypto_scalarmult_base(b64d(d["dh_private"]))) == d["dh"]
        devices.append(DeviceEntry(d["id"], b64d(d["sign"]), b64d(d["dh"])))
    retired = [RetiredDevice(r["id"], b64d(r["sign"], 32)) for r in i["retired"]]
    prev = b64d(i["prev"]) or None
    wire = identity.make_device_list(
        ik, i["user"], i["ver"], devices, i["ts"], prev=prev, retired=retired
    )
    assert wire == o["wire"]
    assert b64e(ik.public) == o["ik"]
    outer = json.loads(wire)
    assert outer == {"signed": o["signed"], "sig": o["sig"]}
    assert json.loads(o["signed"]) == {
        "t": "relais.devices.v2",
        "user": i["user"],
        "ver": i["ver"],
        "prev": i["prev"],
        "ik": o["ik"],
        "ts": i["ts"],
        "devices": [{"id": d["id"], "sign": d["sign"], "dh": d["dh"]} for d in i["devices"]],
        **({"retired": i["retired"]} if i["retired"] else {}),
    }
    sig_input = lp("relais/v1/devices") + lp(o["signed"].encode())
    assert b64e(sig_input) == o["sig_input"]
    assert b64e(_sig(ik.secret, sig_input)) == o["sig"]
    hash_input = lp("relais/v1/devices-hash") + lp(o["signed"].encode()) + lp(b64d(o["sig"]))
    assert b64e(hash_input) == o["hash_input"]
    digest = sodium.crypto_generichash_blake2b_salt_personal(hash_input, digest_size=32)
    assert b64e(digest) == o["hash"] == b64e(identity.list_hash(wire))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "verify_device_list"], ids=lambda c: c["name"]
)
def test_vector_verify_device_list(case: dict[str, Any]) -> None:
    i = case["input"]
    pinned = b64d(i["pinned_ik"], 32)
    prev = None
    if i["previous"] is not None:
        prev = identity.verify_device_list(i["previous"], i["user"], pinned)
    if "error" in case:
        assert (
            _code(identity.verify_device_list, i["wire"], i["user"], pinned, previous=prev)
            == (case["error"])
        )
        return
    dl = identity.verify_device_list(i["wire"], i["user"], pinned, previous=prev)
    o = case["output"]
    assert (dl.user, dl.ver, b64e(dl.ik), dl.ts) == (o["user"], o["ver"], o["ik"], o["ts"])
    assert (b64e(dl.prev), b64e(dl.hash)) == (o["prev"], o["hash"])
    assert [{"id": d.id, "sign": b64e(d.sign), "dh": b64e(d.dh)} for d in dl.devices] == (
        o["devices"]
    )
    assert [{"id": d.id, "sign": b64e(d.sign)} for d in dl.retired] == o.get("retired", [])
    assert dl.wire == i["wire"]
    for d in dl.devices:
        assert dl.get(d.id) == d
    assert dl.get("d_nope") is None


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "verify_device_log"], ids=lambda c: c["name"]
)
def test_vector_verify_device_log(case: dict[str, Any]) -> None:
    i = case["input"]
    pinned = b64d(i["pinned_ik"], 32)
    prev = None
    if i["previous"] is not None:
        prev = identity.verify_device_list(i["previous"], i["user"], pinned)
    run = (identity.verify_device_log, i["wires"], i["user"], pinned)
    if "error" in case:
        assert _code(*run, previous=prev) == case["error"]
        return
    chain = identity.verify_device_log(i["wires"], i["user"], pinned, previous=prev)
    assert [{"ver": d.ver, "hash": b64e(d.hash)} for d in chain] == case["output"]["heads"]


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c["op"] in ("make_prekey", "verify_prekey")],
    ids=lambda c: c["name"],
)
def test_vector_prekey(case: dict[str, Any]) -> None:
    i = case["input"]
    if case["op"] == "make_prekey":
        o = case["output"]
        dsk = SigningKey.from_seed(b64d(i["dsk_seed"], 32))
        assert b64e(sodium.crypto_scalarmult_base(b64d(i["private"]))) == i["pub"]
        wire = identity.make_prekey(dsk, i["user"], i["device"], i["id"], b64d(i["pub"]), i["ts"])
        assert wire == o["wire"]
        assert b64e(dsk.public) == o["sign_pub"]
        assert json.loads(wire) == {"signed": o["signed"], "sig": o["sig"]}
        assert json.loads(o["signed"]) == {
            "t": "relais.prekey.v1",
            "user": i["user"],
            "device": i["device"],
            "id": i["id"],
            "pub": i["pub"],
            "ts": i["ts"],
        }
        sig_input = lp("relais/v1/prekey") + lp(o["signed"].encode())
        assert b64e(sig_input) == o["sig_input"]
        assert b64e(_sig(dsk.secret, sig_input)) == o["sig"]
        return
    args = (i["wire"], i["user"], i["device"], b64d(i["sign_pub"], 32))
    if "error" in case:
        assert _code(identity.verify_prekey, *args) == case["error"]
        return
    pk = identity.verify_prekey(*args)
    assert {"id": pk.id, "pub": b64e(pk.pub), "ts": pk.ts} == case["output"]
    assert (pk.user, pk.device, pk.wire) == (i["user"], i["device"], i["wire"])


def _digits(fp: bytes) -> str:
    return "".join(f"{int.from_bytes(fp[k : k + 5], 'big') % 100000:05d}" for k in range(0, 30, 5))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "fingerprint"], ids=lambda c: c["name"]
)
def test_vector_fingerprint(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    ik = SigningKey.from_seed(b64d(i["ik_seed"], 32))
    assert b64e(ik.public) == i["ik"]
    fp_input = (
        lp("relais/v1/fingerprint") + lp(i["user"].encode()) + len(ik.public).to_bytes(2, "big")
    ) + ik.public
    assert b64e(fp_input) == o["fp_input"]
    fp = sodium.crypto_generichash_blake2b_salt_personal(fp_input, digest_size=32)
    assert b64e(fp) == o["fp"]
    assert identity.fingerprint(i["user"], ik.public) == fp
    assert [int.from_bytes(fp[k : k + 5], "big") for k in range(0, 30, 5)] == o["groups"]
    assert _digits(fp) == o["digits"] == identity.fingerprint_digits(i["user"], ik.public)
    assert len(o["digits"]) == 30 and o["digits"].isdigit()


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] in ("safety_number", "verify_qr")], ids=lambda c: c["name"]
)
def test_vector_safety_number_and_qr(case: dict[str, Any]) -> None:
    i = case["input"]
    if case["op"] == "verify_qr":
        args = (i["payload"], i["me"], b64d(i["my_ik"]), i["other"], b64d(i["other_ik"]))
        if "error" in case:
            assert _code(identity.verify_qr, *args) == case["error"]
        else:
            assert identity.verify_qr(*args) is case["output"]["valid"]
        return
    o = case["output"]
    a = (i["user_a"], b64d(i["ik_a"], 32))
    b = (i["user_b"], b64d(i["ik_b"], 32))
    first, second = sorted([a, b], key=lambda x: x[0].encode())
    fp1, fp2 = identity.fingerprint(*first), identity.fingerprint(*second)
    assert o["safety_number"] == _digits(fp1) + _digits(fp2)
    assert identity.safety_number(*a, *b) == o["safety_number"]
    qr = b"\x01" + lp(first[0], fp1, second[0], fp2)
    assert b64e(qr) == o["qr_bytes"] == o["qr_payload"]
    assert identity.qr_payload(*a, *b) == o["qr_payload"]


# ------------------------------------------------------------------------------------------
# (b) properties
# ------------------------------------------------------------------------------------------

ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24)
keys32 = st.binary(min_size=32, max_size=32)
signing = st.builds(SigningKey.from_seed, keys32)
entries = st.builds(DeviceEntry, ids, keys32, keys32)
device_sets = st.lists(entries, max_size=5, unique_by=lambda d: d.id)
versions = st.integers(1, 2**53)
timestamps = st.integers(0, 2**53)
not_text = st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.integers()))


def _alice_list(ik: SigningKey, ver: int = 3) -> str:
    devs = [DeviceEntry("d_phone", bytes(range(32)), DhKey.from_private(bytes(32)).public)]
    prev = bytes(32) if ver > 1 else None
    return identity.make_device_list(ik, "u_alice", ver, devs, 1_700_000_000_000, prev=prev)


IK = SigningKey.from_seed(bytes(range(32)))
WIRE = _alice_list(IK)


@settings(max_examples=100)
@given(ik=signing, user=ids, ver=versions, devices=device_sets, ts=timestamps, prev=keys32)
def test_device_list_round_trip(
    ik: SigningKey, user: str, ver: int, devices: list[DeviceEntry], ts: int, prev: bytes
) -> None:
    link = prev if ver > 1 else None
    wire = identity.make_device_list(ik, user, ver, devices, ts, prev=link)
    dl = identity.verify_device_list(wire, user, ik.public)
    assert (dl.user, dl.ver, dl.ik, dl.ts, dl.devices, dl.wire) == (
        user,
        ver,
        ik.public,
        ts,
        tuple(devices),
        wire,
    )
    assert (dl.prev, dl.hash) == (link or b"", identity.list_hash(wire))
    assert identity.verify_device_list(wire, user, ik.public, previous=dl) == dl


@settings(max_examples=200)
@given(st.data())
def test_device_list_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(WIRE.encode()) * 8 - 1))
    with pytest.raises(CryptoError):
        identity.verify_device_list(flip_bit(WIRE, index), "u_alice", IK.public)


@settings(max_examples=200)
@given(st.data())
def test_device_list_flipped_signed_text_or_sig_is_refused(data: st.DataObject) -> None:
    outer = json.loads(WIRE)
    if data.draw(st.booleans()):
        s = outer["signed"]
        outer["signed"] = flip_bit(s, data.draw(st.integers(0, len(s.encode()) * 8 - 1)))
    else:
        sig = bytearray(b64d(outer["sig"]))
        bit = data.draw(st.integers(0, 511))
        sig[bit // 8] ^= 1 << (bit % 8)
        outer["sig"] = b64e(bytes(sig))
    with pytest.raises(CryptoError) as err:
        identity.verify_device_list(json.dumps(outer), "u_alice", IK.public)
    assert err.value.code in ("bad_signature", "bad_encoding")


@settings(max_examples=50)
@given(served=st.integers(1, 1000), held=st.integers(1, 1000))
def test_versions_against_the_held_list(served: int, held: int) -> None:
    """Lower is a rollback, the same list is itself, the next one must link to the held one by
    hash, and one further ahead needs the lists between (`verify_device_log`)."""
    prev = identity.verify_device_list(_alice_list(IK, held), "u_alice", IK.public)
    wire = _alice_list(IK, served)
    if served == held:
        assert identity.verify_device_list(wire, "u_alice", IK.public, previous=prev) == prev
        return
    code = _code(identity.verify_device_list, wire, "u_alice", IK.public, previous=prev)
    if served < held:
        assert code == "rollback"
    elif served == held + 1:
        assert code == "devices_forked"  # its prev is not the held list's hash
    else:
        assert code == "devices_withheld"


def _entries(n: int) -> list[DeviceEntry]:
    return [DeviceEntry(f"d_{k}", bytes([k]) * 32, bytes([k + 100]) * 32) for k in range(n)]


@settings(max_examples=100)
@given(steps=st.lists(st.tuples(st.booleans(), st.integers(0, 7)), min_size=1, max_size=12))
def test_a_revoked_device_never_returns(steps: list[tuple[bool, int]]) -> None:
    """An honest log (devices added, revoked into `retired`) always verifies; from any of its
    lists, a successor that brings a retired device back live, or drops it, is refused."""
    pool = _entries(8)
    live: list[DeviceEntry] = [pool[0]]
    retired: list[RetiredDevice] = []
    wires = [identity.make_device_list(IK, "u_alice", 1, live, 0)]
    heads = identity.verify_device_log(wires, "u_alice", IK.public)
    for add, k in steps:
        d = pool[k]
        gone = {r.id for r in retired}
        if add and d.id not in gone and d not in live:
            live = [*live, d]
        elif not add and d in live:
            live = [x for x in live if x != d]
            retired = [*retired, RetiredDevice(d.id, d.sign)]
        else:
            continue
        top = heads[-1]
        wire = identity.make_device_list(
            IK, "u_alice", top.ver + 1, live, 0, prev=top.hash, retired=retired
        )
        heads += identity.verify_device_log([wire], "u_alice", IK.public, previous=top)
        top = heads[-1]
        for r in top.retired:
            back = [x for x in pool if x.id == r.id]
            others = [x for x in top.retired if x.id != r.id]
            nxt = top.ver + 1
            revived = identity.make_device_list(
                IK, "u_alice", nxt, [*top.devices, *back], 0, prev=top.hash, retired=others
            )
            dropped = identity.make_device_list(
                IK, "u_alice", nxt, list(top.devices), 0, prev=top.hash, retired=others
            )
            for w in (revived, dropped):
                assert _code(
                    identity.verify_device_list, w, "u_alice", IK.public, previous=top
                ) == ("devices_invalid")


def test_new_identity_restarts_versions() -> None:
    """After the application re-accepted a new identity key, its lists are not compared with
    the old identity's versions."""
    old = identity.verify_device_list(_alice_list(IK, 9), "u_alice", IK.public)
    new_ik = SigningKey.from_seed(bytes(32))
    dl = identity.verify_device_list(_alice_list(new_ik, 1), "u_alice", new_ik.public, previous=old)
    assert dl.ver == 1
    with pytest.raises(CryptoError, match="identity_changed"):
        identity.verify_device_list(_alice_list(new_ik, 1), "u_alice", IK.public, previous=old)


def test_make_device_list_refuses_bad_input() -> None:
    d = DeviceEntry("d_1", bytes(32), bytes(32))
    assert _code(identity.make_device_list, IK, "u_a", 1, [d, d], 0) == "bad_encoding"
    bad = DeviceEntry("d_2", bytes(31), bytes(32))
    assert _code(identity.make_device_list, IK, "u_a", 1, [bad], 0) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u a", 1, [], 0) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u_a", -1, [], 0) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u_a", 0, [], 0) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u_a", 2, [], 0) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u_a", 1, [], 0, prev=bytes(32)) == "bad_encoding"
    assert _code(identity.make_device_list, IK, "u_a", 2, [], 0, prev=bytes(31)) == "bad_encoding"


@settings(max_examples=200)
@given(garbage=st.one_of(st.text(), not_text, st.just("[" * 50_000), st.just('{"a": NaN}')))
def test_garbage_only_raises_crypto_error(garbage: Any) -> None:
    for fn in (
        lambda: identity.verify_device_list(garbage, "u_alice", IK.public),
        lambda: identity.verify_prekey(garbage, "u_alice", "d_phone", IK.public),
        lambda: identity.verify_qr(garbage, "u_a", bytes(32), "u_b", bytes(32)),
    ):
        with pytest.raises(CryptoError):
            fn()


PREKEY = identity.make_prekey(IK, "u_alice", "d_phone", 7, bytes(range(32)), 1)


@settings(max_examples=100)
@given(dsk=signing, user=ids, device=ids, key_id=st.integers(0, 2**32 - 1), pub=keys32)
def test_prekey_round_trip(
    dsk: SigningKey, user: str, device: str, key_id: int, pub: bytes
) -> None:
    pk = identity.verify_prekey(
        identity.make_prekey(dsk, user, device, key_id, pub, 5), user, device, dsk.public
    )
    assert (pk.user, pk.device, pk.id, pk.pub, pk.ts) == (user, device, key_id, pub, 5)


@settings(max_examples=200)
@given(st.data())
def test_prekey_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(PREKEY.encode()) * 8 - 1))
    with pytest.raises(CryptoError):
        identity.verify_prekey(flip_bit(PREKEY, index), "u_alice", "d_phone", IK.public)


def test_prekey_id_must_fit_u32() -> None:
    assert _code(identity.make_prekey, IK, "u_a", "d_1", 2**32, bytes(32), 0) == "bad_encoding"


@settings(max_examples=200)
@given(ua=ids, ka=keys32, ub=ids, kb=keys32, other=keys32)
def test_safety_number_symmetric_and_key_bound(
    ua: str, ka: bytes, ub: str, kb: bytes, other: bytes
) -> None:
    n = identity.safety_number(ua, ka, ub, kb)
    assert n == identity.safety_number(ub, kb, ua, ka)
    assert len(n) == 60 and n.isdigit()
    assert identity.qr_payload(ua, ka, ub, kb) == identity.qr_payload(ub, kb, ua, ka)
    assert identity.verify_qr(identity.qr_payload(ua, ka, ub, kb), ub, kb, ua, ka)
    if other != kb:
        assert identity.safety_number(ua, ka, ub, other) != n
        assert not identity.verify_qr(identity.qr_payload(ua, ka, ub, other), ub, kb, ua, ka)
        assert identity.safety_number(ub, other, ua, ka) != n


# ------------------------------------------------------------------------------------------
# TOFU (§2.4)
# ------------------------------------------------------------------------------------------

K1, K2, K3 = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32


def test_trust_first_use_then_change_then_accept() -> None:
    t = TrustStore()
    assert t.pin_state("u_b") is None and t.pinned("u_b") is None and not t.trusted("u_b")
    assert t.observe("u_b", K1) == "tofu"
    assert t.observe("u_b", K1) == "tofu" and t.trusted("u_b") and t.warnings == []
    assert t.observe("u_b", K2) == "changed"
    assert t.observe("u_b", K2) == "changed"  # warned once per change
    assert t.pinned("u_b") == K1 and not t.trusted("u_b")
    assert t.warnings == [{"user": "u_b", "old": b64e(K1), "new": b64e(K2)}]
    assert t.observe("u_b", K1) == "changed"  # flipping back does not clear the warning state
    assert t.observe("u_b", K3) == "changed" and len(t.warnings) == 2
    t.accept_change("u_b", K3)
    assert (t.pin_state("u_b"), t.pinned("u_b"), t.trusted("u_b")) == ("tofu", K3, True)
    t.mark_verified("u_b", K3)
    assert t.observe("u_b", K3) == "verified" and t.trusted("u_b")
    assert t.observe("u_b", K1) == "changed" and t.pinned("u_b") == K3


def test_trust_verified_resolves_change() -> None:
    t = TrustStore()
    t.observe("u_b", K1)
    t.observe("u_b", K2)
    t.mark_verified("u_b", K2)
    assert (t.pin_state("u_b"), t.pinned("u_b")) == ("verified", K2)


def test_trust_persistence_round_trip() -> None:
    t = TrustStore()
    t.observe("u_a", K1)
    t.observe("u_b", K1)
    t.observe("u_b", K2)
    t.mark_verified("u_c", K3)
    back = TrustStore.from_json(t.to_json())
    assert back.to_json() == t.to_json() and back.warnings == t.warnings
    for u in ("u_a", "u_b", "u_c", "u_d"):
        assert (back.pin_state(u), back.pinned(u)) == (t.pin_state(u), t.pinned(u))
    assert back.observe("u_b", K2) == "changed" and len(back.warnings) == 1


@settings(max_examples=200)
@given(st.data())
def test_trust_store_corrupt_json_is_refused(data: st.DataObject) -> None:
    t = TrustStore()
    t.observe("u_b", K1)
    t.observe("u_b", K2)
    text = t.to_json()
    index = data.draw(st.integers(0, len(text.encode()) * 8 - 1))
    try:
        back = TrustStore.from_json(flip_bit(text, index))
    except CryptoError:
        return
    # A flip may land in a state-preserving spot (a user id character, key bytes); it must
    # still load into a consistent store.
    assert back.to_json() == TrustStore.from_json(back.to_json()).to_json()


def test_trust_refuses_bad_keys() -> None:
    t = TrustStore()
    with pytest.raises(CryptoError):
        t.observe("u_b", b"short")
    with pytest.raises(CryptoError):
        TrustStore.from_json(
            '{"v":1,"users":{"u_b":{"state":"weird","ik":"","seen":null}},"warnings":[]}'
        )


def test_every_single_bit_flip_of_signed_objects_is_refused() -> None:
    """Exhaustive over every bit (cheap here), on top of the sampled properties above."""
    for wire, check in (
        (WIRE, lambda w: identity.verify_device_list(w, "u_alice", IK.public)),
        (PREKEY, lambda w: identity.verify_prekey(w, "u_alice", "d_phone", IK.public)),
    ):
        for index in range(len(wire.encode()) * 8):
            with pytest.raises(CryptoError):
                check(flip_bit(wire, index))

"""Key backup (docs/crypto.md §6.3).

(a) every vector of tests/vectors/backup.json recomputed from its inputs (argon2id WK, AD,
wrapped key, entry id, entry key, sealed entry); (b) properties: round trips, wrong passphrase,
and any flipped bit of an info or an entry refused with a CryptoError. argon2id runs at
ops=1, mem=8 MiB here (same code path as the 3 / 64 MiB default).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import nacl.bindings as sodium
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import backup
from crypto.encoding import b64d, b64e, lp
from crypto.errors import CryptoError
from tests.vectors import flip_bit, load

CASES = load("backup.json")
OPS, MEM = 1, 8192 * 1024


def _code(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(CryptoError) as err:
        fn(*args, **kwargs)
    return err.value.code


def _h(out: int, msg: bytes, key: bytes = b"") -> bytes:
    return sodium.crypto_generichash_blake2b_salt_personal(msg, digest_size=out, key=key)


def test_every_op_is_checked() -> None:
    assert {c["op"] for c in CASES} == {
        "make_backup_info",
        "unlock_backup",
        "seal_entry",
        "open_entry",
        "seal_head",
        "open_head",
    }
    assert {"bad_ciphertext", "bad_encoding"} <= {c.get("error") for c in CASES}


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "make_backup_info"], ids=lambda c: c["name"]
)
def test_vector_backup_info(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    pw = unicodedata.normalize("NFC", i["passphrase"]).encode("utf-8")
    assert b64e(pw) == o["passphrase_bytes"]
    salt, nonce = b64d(i["salt"], 16), b64d(i["nonce"], 24)
    wk = sodium.crypto_pwhash_alg(
        32, pw, salt, i["ops"], i["mem"], sodium.crypto_pwhash_ALG_ARGON2ID13
    )
    assert b64e(wk) == o["wk"]
    ad = lp("relais/v1/backup-key", i["user"])
    assert b64e(ad) == o["ad"]
    bk, seed = b64d(i["bk"], 32), b64d(i["ik_seed"], 32)
    ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(bk + seed, ad, nonce, wk)
    assert b64e(ct) == o["ct"]
    assert json.loads(o["info"]) == {
        "v": 1,
        "alg": "relais.backup.v1",
        "user": i["user"],
        "salt": i["salt"],
        "ops": i["ops"],
        "mem": i["mem"],
        "n": i["nonce"],
        "ct": o["ct"],
    }
    info = backup.make_backup_info(
        i["user"], i["passphrase"], bk, seed, ops=i["ops"], mem=i["mem"], salt=salt, nonce=nonce
    )
    assert info == o["info"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] == "unlock_backup"], ids=lambda c: c["name"]
)
def test_vector_unlock(case: dict[str, Any]) -> None:
    i = case["input"]
    if "error" in case:
        assert _code(backup.unlock_backup, i["info"], i["user"], i["passphrase"]) == case["error"]
        return
    bk, seed = backup.unlock_backup(i["info"], i["user"], i["passphrase"])
    assert {"bk": b64e(bk), "ik_seed": b64e(seed)} == case["output"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] in ("seal_entry", "open_entry")], ids=lambda c: c["name"]
)
def test_vector_entry(case: dict[str, Any]) -> None:
    i = case["input"]
    bk = b64d(i["bk"], 32)
    if case["op"] == "open_entry":
        args = (bk, i["user"], i["id"], i["data"])
        if "error" in case:
            assert _code(backup.open_entry, *args) == case["error"]
        else:
            assert backup.open_entry(*args) == case["output"]["export"]
        return
    o = case["output"]
    id_input = lp("relais/v1/backup-id", i["room"], i["sd"], b64d(i["sid"], 16))
    assert b64e(id_input) == o["id_input"]
    eid = b64e(_h(16, id_input, bk))
    assert eid == o["id"] == backup.entry_id(bk, i["room"], i["sd"], i["sid"])
    ek = _h(32, lp("relais/v1/backup-entry-key"), bk)
    assert b64e(ek) == o["ek"]
    ad = lp("relais/v1/backup-entry", i["user"], eid)
    assert b64e(ad) == o["ad"]
    plain = b64d(o["plaintext"])
    assert json.loads(plain) == i["export"]
    nonce = b64d(i["nonce"], 24)
    sealed = nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, ad, nonce, ek)
    assert b64e(sealed) == o["data"]
    assert backup.seal_entry(bk, i["user"], eid, i["export"], nonce=nonce) == o["data"]
    assert backup.open_entry(bk, i["user"], eid, o["data"]) == i["export"]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c["op"] in ("seal_head", "open_head")], ids=lambda c: c["name"]
)
def test_vector_head(case: dict[str, Any]) -> None:
    i = case["input"]
    bk = b64d(i["bk"], 32)
    if case["op"] == "open_head":
        if "error" in case:
            assert _code(backup.open_head, bk, i["user"], i["data"]) == case["error"]
        else:
            ver, got = backup.open_head(bk, i["user"], i["data"])
            assert {"ver": ver, "hash": b64e(got)} == case["output"]
        return
    o = case["output"]
    hid = b64e(_h(16, lp("relais/v1/backup-devices-head"), bk))
    assert hid == o["id"] == backup.head_entry_id(bk)
    ad = lp("relais/v1/backup-entry", i["user"], hid)
    assert b64e(ad) == o["ad"]
    plain = b64d(o["plaintext"])
    assert json.loads(plain) == {
        "t": "relais.devices-head.v1",
        "user": i["user"],
        "ver": i["ver"],
        "h": i["hash"],
    }
    nonce = b64d(i["nonce"], 24)
    ek = _h(32, lp("relais/v1/backup-entry-key"), bk)
    sealed = nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, ad, nonce, ek)
    assert b64e(sealed) == o["data"]
    head = (i["ver"], b64d(i["hash"], 32))
    assert backup.seal_head(bk, i["user"], *head, nonce=nonce) == o["data"]


def test_head_entry_refuses_a_malformed_head() -> None:
    """The head is sealed like a session entry; a sealed object that is not a head (a session
    export, a version 0) is refused, so a restore never reads a wrong version from it."""
    eid = backup.head_entry_id(BK)
    for obj in (
        {"t": "relais.devices-head.v1", "user": "u_alice", "ver": 0, "h": b64e(bytes(32))},
        {"t": "other", "user": "u_alice", "ver": 1, "h": b64e(bytes(32))},
        {"t": "relais.devices-head.v1", "user": "u_bob", "ver": 1, "h": b64e(bytes(32))},
        {"t": "relais.devices-head.v1", "user": "u_alice", "ver": 1},
    ):
        data = backup.seal_entry(BK, "u_alice", eid, obj)
        assert _code(backup.open_head, BK, "u_alice", data) == "bad_encoding"
    assert backup.open_head(BK, "u_alice", backup.seal_head(BK, "u_alice", 7, bytes(32))) == (
        7,
        bytes(32),
    )


# ------------------------------------------------------------------------------------------
# (b) properties
# ------------------------------------------------------------------------------------------

keys32 = st.binary(min_size=32, max_size=32)
ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=24)
sids = st.binary(min_size=16, max_size=16).map(b64e)
BK, SEED = bytes(range(32)), bytes(range(32, 64))
INFO = backup.make_backup_info("u_alice", "pass phrase", BK, SEED, ops=OPS, mem=MEM)


@settings(max_examples=30, deadline=None)
@given(passphrase=st.text(max_size=40), bk=keys32, seed=keys32, user=ids)
def test_info_round_trip_and_wrong_passphrase(
    passphrase: str, bk: bytes, seed: bytes, user: str
) -> None:
    info = backup.make_backup_info(user, passphrase, bk, seed, ops=OPS, mem=MEM)
    assert backup.unlock_backup(info, user, passphrase) == (bk, seed)
    assert backup.unlock_backup(info, user, unicodedata.normalize("NFD", passphrase)) == (bk, seed)
    assert _code(backup.unlock_backup, info, user, passphrase + "x") == "bad_ciphertext"


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_info_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(INFO.encode()) * 8 - 1))
    with pytest.raises(CryptoError):
        backup.unlock_backup(flip_bit(INFO, index), "u_alice", "pass phrase")


@pytest.mark.parametrize(
    ("ops", "mem"),
    [(0, MEM), (11, MEM), (1, 4096), (1, 2**30 + 1024), (1, MEM + 1), (True, MEM), (1, 8192.0)],
)
def test_cost_bounds(ops: Any, mem: Any) -> None:
    assert _code(backup.make_backup_info, "u_a", "p", BK, SEED, ops=ops, mem=mem) == "bad_encoding"
    info = json.loads(INFO)
    info.update(ops=ops, mem=mem)
    assert _code(backup.unlock_backup, json.dumps(info), "u_alice", "p") == "bad_encoding"


def test_defaults_are_the_spec_defaults() -> None:
    assert (backup.DEFAULT_OPS, backup.DEFAULT_MEM) == (3, 64 * 1024 * 1024)


EXPORT = {
    "room": "r_1",
    "sid": b64e(bytes(16)),
    "i": 0,
    "ck": b64e(bytes(32)),
    "sd": "d_a",
    "su": "u_a",
    "me": 1,
    "fwd": True,
}
EID = backup.entry_id(BK, "r_1", "d_a", b64e(bytes(16)))
DATA = backup.seal_entry(BK, "u_alice", EID, EXPORT)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150)
@given(export=st.dictionaries(st.text(max_size=8), json_values), bk=keys32, user=ids)
def test_entry_round_trip(export: dict[str, Any], bk: bytes, user: str) -> None:
    eid = backup.entry_id(bk, "r_1", "d_a", b64e(bytes(16)))
    assert backup.open_entry(bk, user, eid, backup.seal_entry(bk, user, eid, export)) == export


@settings(max_examples=200)
@given(st.data())
def test_entry_any_flipped_bit_is_refused(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(DATA) * 8 - 1))
    with pytest.raises(CryptoError):
        backup.open_entry(BK, "u_alice", EID, flip_bit(DATA, index))


def test_entry_every_flipped_bit_is_refused() -> None:
    for index in range(len(DATA) * 8):
        with pytest.raises(CryptoError):
            backup.open_entry(BK, "u_alice", EID, flip_bit(DATA, index))


@settings(max_examples=200)
@given(a=st.tuples(ids, ids, sids), b=st.tuples(ids, ids, sids), bk=keys32)
def test_entry_id_stable_and_distinct(
    a: tuple[str, str, str], b: tuple[str, str, str], bk: bytes
) -> None:
    ida = backup.entry_id(bk, *a)
    assert ida == backup.entry_id(bk, *a) and len(b64d(ida, 16)) == 16
    assert (ida == backup.entry_id(bk, *b)) == (a == b)
    assert backup.entry_id(bytes(32) if bk != bytes(32) else bytes([1]) * 32, *a) != ida


@settings(max_examples=200)
@given(garbage=st.one_of(st.text(), st.none(), st.integers(), st.binary(), st.just("[" * 50_000)))
def test_garbage_only_raises_crypto_error(garbage: Any) -> None:
    with pytest.raises(CryptoError):
        backup.unlock_backup(garbage, "u_alice", "pass phrase")
    with pytest.raises(CryptoError):
        backup.open_entry(BK, "u_alice", EID, garbage)
    with pytest.raises(CryptoError):
        backup.entry_id(BK, "r_1", "d_a", garbage)

"""Attachments (docs/crypto.md §7): the stored blobs of tests/vectors/attachments.json decrypt to
their plaintexts, and any cut or changed byte of a blob is refused; streaming encryption produces
the same layout as the one-shot call."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import attachments
from crypto.attachments import CHUNK, FileEncryptor, FileKey, decrypt_file, encrypt_file
from crypto.encoding import b64d, h
from crypto.errors import CryptoError
from tests.vectors import load

CASES = load("attachments.json")
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pattern(n: int) -> bytes:
    return bytes((31 * k + 7) & 0xFF for k in range(n))


def file_key(inp: dict[str, Any]) -> FileKey:
    return FileKey(b64d(inp["key"], 32), b64d(inp["hash"], 32), inp["size"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any]) -> None:
    blob = b64d(case["input"]["blob"])
    fk = file_key(case["input"])
    if "error" in case:
        with pytest.raises(CryptoError) as err:
            decrypt_file(blob, fk)
        assert err.value.code == case["error"]
        return
    plain = decrypt_file(blob, fk)
    assert plain == pattern(fk.size)
    assert h(32, plain) == b64d(case["output"]["plaintext_hash"], 32)
    assert len(blob) == attachments.blob_size(fk.size)


def test_vectors_cover_the_brief() -> None:
    sizes = {c["input"]["size"] for c in CASES if "output" in c}
    assert sizes >= {0, 1, 65536, 65537}
    assert {c["error"] for c in CASES if "error" in c} >= {"truncated", "bad_ciphertext"}


# Sizes around the chunk boundaries are where layouts differ.
sizes = st.one_of(
    st.integers(min_value=0, max_value=300),
    st.sampled_from([CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 5]),
    st.integers(min_value=0, max_value=3 * CHUNK),
)


@PROPS
@given(sizes, st.randoms(use_true_random=False))
def test_round_trip_and_layout(n: int, rnd: Any) -> None:
    data = rnd.randbytes(n)
    blob, fk = encrypt_file(data)
    assert fk.size == n and fk.hash == h(32, blob) and len(blob) == attachments.blob_size(n)
    assert decrypt_file(blob, fk) == data
    # Every full chunk is a MESSAGE and the remainder, possibly empty, is FINAL.
    assert (len(blob) - attachments.HEADER_BYTES) // (CHUNK + attachments.A_BYTES) == n // CHUNK


@PROPS
@given(sizes, st.lists(st.integers(min_value=0, max_value=CHUNK + 10), max_size=8), st.binary())
def test_streaming_matches_one_shot_layout(n: int, cuts: list[int], extra: bytes) -> None:
    data = pattern(n)
    key = h(32, b"stream key" + extra)
    enc = FileEncryptor(key)
    parts = [enc.header]
    pos = 0
    for c in cuts:
        parts.append(enc.push(data[pos : pos + c], final=False))
        pos = min(n, pos + c)
    parts.append(enc.push(data[pos:], final=True))
    fk = enc.finish(n)
    blob = b"".join(parts)
    assert len(blob) == attachments.blob_size(n) and fk.hash == h(32, blob)
    assert decrypt_file(blob, fk) == data
    with pytest.raises(CryptoError):
        enc.push(b"x", final=True)


@PROPS
@given(st.integers(min_value=0, max_value=2 * CHUNK + 100), st.data())
def test_truncation_anywhere_fails(n: int, data: st.DataObject) -> None:
    blob, fk = encrypt_file(pattern(n))
    cut = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    with pytest.raises(CryptoError) as err:
        decrypt_file(blob[:cut], fk)
    assert err.value.code == "bad_ciphertext"  # the hash no longer matches
    # Even a sender that hashes the cut blob on purpose gets it refused.
    with pytest.raises(CryptoError) as err:
        decrypt_file(blob[:cut], FileKey(fk.key, h(32, blob[:cut]), fk.size))
    assert err.value.code in ("truncated", "bad_ciphertext")


@PROPS
@given(st.integers(min_value=0, max_value=2 * CHUNK + 100), st.data(), st.integers(0, 7))
def test_flipping_any_byte_fails(n: int, data: st.DataObject, bit: int) -> None:
    blob, fk = encrypt_file(pattern(n))
    pos = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    bad = bytearray(blob)
    bad[pos] ^= 1 << bit
    with pytest.raises(CryptoError) as err:
        decrypt_file(bytes(bad), fk)
    assert err.value.code == "bad_ciphertext"
    with pytest.raises(CryptoError) as err:
        decrypt_file(bytes(bad), FileKey(fk.key, h(32, bytes(bad)), fk.size))
    assert err.value.code == "bad_ciphertext"


@PROPS
@given(st.binary(max_size=64), st.integers(min_value=0, max_value=1000))
def test_appended_data_fails(extra: bytes, n: int) -> None:
    blob, fk = encrypt_file(pattern(n))
    longer = blob + (extra or b"\x00")
    with pytest.raises(CryptoError):
        decrypt_file(longer, fk)
    with pytest.raises(CryptoError) as err:
        decrypt_file(longer, FileKey(fk.key, h(32, longer), fk.size))
    assert err.value.code == "bad_ciphertext"


def test_wrong_size_or_key_fails() -> None:
    blob, fk = encrypt_file(b"hello")
    for bad in (
        FileKey(fk.key, fk.hash, 4),
        FileKey(fk.key, fk.hash, 6),
        FileKey(bytes(32), fk.hash, 5),
    ):
        with pytest.raises(CryptoError) as err:
            decrypt_file(blob, bad)
        assert err.value.code == "bad_ciphertext"
    for malformed in (
        FileKey(fk.key[:31], fk.hash, 5),
        FileKey(fk.key, fk.hash[:16], 5),
        FileKey(fk.key, fk.hash, -1),
        FileKey(fk.key, fk.hash, True),
    ):
        with pytest.raises(CryptoError) as err:
            decrypt_file(blob, malformed)
        assert err.value.code == "bad_encoding"


def test_encryptor_misuse_is_refused() -> None:
    with pytest.raises(CryptoError):
        FileEncryptor(b"short")
    enc = FileEncryptor()
    enc.push(b"abc", final=False)
    with pytest.raises(CryptoError):
        enc.finish(3)  # never finalised
    enc.push(b"", final=True)
    with pytest.raises(CryptoError):
        enc.finish(4)  # the uploader lost a byte somewhere
    fk = enc.finish(3)
    assert fk.size == 3

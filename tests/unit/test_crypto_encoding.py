"""The shared strict helpers of crypto/encoding.py and crypto/keys.py (docs/crypto.md §0).

Every other module parses peer input through these, so the properties checked here are the
protocol's: hostile text or bytes only ever raise `CryptoError` (no `ValueError`,
`RecursionError`, `UnicodeEncodeError` or libsodium exception escapes), the cases the spec names
(NaN/Infinity, duplicate keys, non-canonical base64, lone surrogates) are `bad_encoding`, and what
we write for valid input is byte for byte what the test vectors were made with.
"""

from __future__ import annotations

import json
from typing import Any

import nacl.bindings as sodium
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto import encoding
from crypto.encoding import (
    aead_open,
    aead_seal,
    b64d,
    b64e,
    check_bytes,
    check_id,
    check_int,
    dumps,
    loads_object,
    lp,
    make_signed,
    open_signed,
    sign_detached,
    split_signed,
    u32,
    verify_detached,
)
from crypto.errors import CODES, CryptoError
from crypto.keys import DhKey, SigningKey, dh
from tests.vectors import flip_bit

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEY = SigningKey.from_seed(bytes(range(32)))
OTHER = SigningKey.from_seed(bytes(range(1, 33)))
LABEL = "relais/v1/test"
WIRE = make_signed(KEY.secret, LABEL, {"t": "x", "n": 1, "s": "é"})


def _code(fn: Any, *args: Any) -> str:
    with pytest.raises(CryptoError) as err:
        fn(*args)
    assert err.value.code in CODES
    return err.value.code


def _only_crypto_errors(fn: Any, *args: Any) -> Any:
    """The call's result, or None after a CryptoError; any other exception fails the test."""
    try:
        return fn(*args)
    except CryptoError as err:
        assert err.code in CODES
        return None


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
# What the protocol's JSON can hold: numbers are integers within +-2^53 (docs/crypto.md §0).
exact_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
# Text that is close to what the parsers expect, so the properties reach past the first check.
near_json = st.one_of(
    st.text(),
    st.text(alphabet='{}[]":,0123456789.eE+-tfnruaslNIy\\ ud8', max_size=60),
    json_values.map(json.dumps),
    st.builds(
        lambda s, sig: json.dumps({"signed": s, "sig": sig}),
        st.one_of(st.text(), json_values.map(json.dumps)),
        st.one_of(st.text(), st.binary(min_size=64, max_size=64).map(b64e), json_values),
    ),
)
anything = st.one_of(near_json, st.binary(), json_values)


# -- b64 -------------------------------------------------------------------------------------


@PROPS
@given(st.binary())
def test_b64_round_trip(data: bytes) -> None:
    text = b64e(data)
    assert "=" not in text and b64d(text) == data and b64d(text, len(data)) == data


@PROPS
@given(anything)
def test_b64d_only_raises_crypto_error(value: Any) -> None:
    out = _only_crypto_errors(b64d, value)
    if out is not None:
        assert b64e(out) == value


def test_b64d_refuses_every_other_spelling() -> None:
    good = b64e(b"\xfb\xff")  # "-_8": uses both url-safe characters
    assert good == "-_8"
    for bad in ("-_8=", "+/8", "-_9", " -_8", "-_8\n", "A", "AAAAA", None, b"-_8", 3):
        assert _code(b64d, bad) == "bad_encoding", bad
    assert _code(b64d, good, 3) == "bad_encoding"


# -- lp, u32 ---------------------------------------------------------------------------------


def test_lp_layout_and_refusals() -> None:
    assert (
        lp("ab", b"\x00", "é", bytearray(b"z"))
        == b"\x00\x02ab\x00\x01\x00\x00\x02\xc3\xa9\x00\x01z"
    )
    assert lp("a" * 0xFFFF)[:2] == b"\xff\xff"
    assert _code(lp, "a" * 0x10000) == "bad_encoding"
    assert _code(lp, "\ud800") == "bad_encoding"  # a lone surrogate has no UTF-8 form
    assert _code(lp, 5) == "bad_encoding"
    assert _code(lp, None) == "bad_encoding"


def test_u32_range() -> None:
    assert u32(0) == bytes(4) and u32(0xFFFFFFFF) == b"\xff" * 4
    for bad in (-1, 2**32, True, "1", 1.0, None):
        assert _code(u32, bad) == "bad_encoding", bad


# -- strict JSON -----------------------------------------------------------------------------


@PROPS
@given(anything)
def test_loads_object_only_raises_crypto_error(value: Any) -> None:
    out = _only_crypto_errors(loads_object, value)
    assert out is None or isinstance(out, dict)


@PROPS
@given(st.dictionaries(st.text(max_size=8), exact_json_values, max_size=6))
def test_dumps_is_the_vector_format_and_round_trips(obj: dict[str, Any]) -> None:
    """Byte for byte the compact sorted form the vectors were generated with, and parsed back to
    an equal object by the strict parser."""
    text = dumps(obj)
    assert text == json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert loads_object(text) == obj
    assert loads_object(text.encode("utf-8")) == obj


@pytest.mark.parametrize(
    "text",
    [
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        '{"a": 1e400}',
        '{"a": -1e400}',
        '{"a": 1, "a": 1}',
        '{"a": 1, "a": 2}',
        '{"x": [{"b": 0, "b": 1}]}',
        '{"x": {"y": {"b": 0, "b": 0}}}',
        "[" * 50_000,
        '{"a":' * 50_000,
        '{"a": [' + "[" * 100_000 + "]" * 100_000 + "]}",
        '{"a": ' + "9" * 5000 + "}",
        "\ufeff{}",
        "[]",
        '"x"',
        "1",
        "",
        "{",
        "{} {}",
        '{"a": "\x01"}',
        '{"a": 1.5}',
        '{"a": 1.0}',
        '{"a": 1e2}',
        '{"a": 1E2}',
        '{"a": -0.0}',
        '{"a": 9007199254740993}',
        '{"a": -9007199254740993}',
        '{"a": 12345678901234567890}',
    ],
)
def test_loads_object_refusals(text: str) -> None:
    assert _code(loads_object, text) == "bad_encoding"
    assert _code(loads_object, text.encode("utf-8")) == "bad_encoding"


def test_loads_object_takes_only_utf8() -> None:
    assert loads_object(b'{"a": "\xc3\xa9"}') == {"a": "é"}
    for raw in (
        b'{"a": "\xff"}',
        b'{"a": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate (CESU-8)
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-32-le"),
        b"\xef\xbb\xbf{}",
    ):
        assert _code(loads_object, raw) == "bad_encoding", raw
    not_text: Any
    for not_text in (None, 1, [], {}, memoryview(b"{}")):
        assert _code(loads_object, not_text) == "bad_encoding"


def test_loads_object_keeps_escaped_surrogates_for_the_encoder_to_refuse() -> None:
    """A `\\ud800` escape is valid JSON: parsed as is, refused wherever it would be encoded."""
    obj = loads_object('{"a": "\\ud800", "b": "\\ud83d\\ude00"}')
    assert obj == {"a": "\ud800", "b": "😀"}
    assert _code(lp, obj["a"]) == "bad_encoding"
    assert _code(dumps, obj) == "bad_encoding"


def test_dumps_refuses_what_would_not_come_back_identical() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    bad: Any
    for bad in (
        {"a": float("nan")},
        {"a": float("inf")},
        {"a": 1.5},
        {"a": 1.0},
        {"a": [0.1]},
        {"a": 2**53 + 1},
        {"a": -(2**53) - 1},
        {"a": (1, 2)},
        {1: "a"},
        {None: "a"},
        {"a": "\ud800"},
        {"\udfff": 1},
        {"a": b"x"},
        {"a": {1, 2}},
        {"a": object()},
        cyclic,
        deep,
    ):
        assert _code(dumps, bad) == "bad_encoding"


# -- signed objects --------------------------------------------------------------------------


def test_signed_round_trip() -> None:
    s, sig = split_signed(WIRE)
    assert s == '{"n":1,"s":"é","t":"x"}'
    assert sig == sign_detached(KEY.secret, LABEL, lp(s))
    assert open_signed(WIRE, KEY.public, LABEL) == {"t": "x", "n": 1, "s": "é"}
    assert _code(open_signed, WIRE, OTHER.public, LABEL) == "bad_signature"
    assert _code(open_signed, WIRE, KEY.public, "relais/v1/other") == "bad_signature"


def test_split_signed_refusals() -> None:
    s, sig = split_signed(WIRE)
    good = {"signed": s, "sig": b64e(sig)}
    for bad in (
        {**good, "extra": 1},
        {"signed": s},
        {"sig": good["sig"]},
        {**good, "signed": {"t": "x"}},
        {**good, "sig": good["sig"] + "="},
        {**good, "sig": b64e(sig[:63])},
        {**good, "signed": "\ud800"},  # json.dumps escapes it: valid JSON, not encodable text
    ):
        assert _code(split_signed, json.dumps(bad)) == "bad_encoding", bad
    assert _code(split_signed, WIRE.encode()) == "bad_encoding"
    assert _code(open_signed, json.dumps({**good, "signed": "\ud800"}), KEY.public, LABEL) == (
        "bad_encoding"
    )
    dup = f'{{"signed": {json.dumps(s)}, "signed": {json.dumps(s)}, "sig": "{good["sig"]}"}}'
    assert _code(split_signed, dup) == "bad_encoding"


def test_signed_text_with_nan_or_duplicates_is_refused_after_the_signature() -> None:
    """A validly signed S must still be strict JSON: the signer cannot smuggle in a text that
    two parsers read differently."""
    for s in ('{"a": NaN}', '{"a": 1, "a": 2}', '{"a": 1e400}', "[" * 50_000):
        wire = json.dumps({"signed": s, "sig": b64e(sign_detached(KEY.secret, LABEL, lp(s)))})
        assert _code(open_signed, wire, KEY.public, LABEL) == "bad_encoding"


@PROPS
@given(anything)
def test_split_and_open_signed_only_raise_crypto_error(value: Any) -> None:
    _only_crypto_errors(split_signed, value)
    assert _only_crypto_errors(open_signed, value, KEY.public, LABEL) is None


@PROPS
@given(st.integers(min_value=0))
def test_any_flipped_bit_of_a_signed_object_is_refused(bit: int) -> None:
    mutated = flip_bit(WIRE, bit % (len(WIRE.encode()) * 8))
    with pytest.raises(CryptoError):
        open_signed(mutated, KEY.public, LABEL)


def test_verify_detached_refuses_wrong_types_cleanly() -> None:
    sig = sign_detached(KEY.secret, LABEL, b"data")
    verify_detached(KEY.public, LABEL, b"data", sig)
    assert _code(verify_detached, KEY.public, LABEL, b"data", b64e(sig)) == "bad_signature"
    assert _code(verify_detached, KEY.public[:31], LABEL, b"data", sig) == "bad_signature"
    assert _code(verify_detached, None, LABEL, b"data", sig) == "bad_signature"
    assert _code(verify_detached, KEY.public, LABEL, "data", sig) == "bad_encoding"
    assert _code(sign_detached, KEY.secret[:32], LABEL, b"data") == "bad_encoding"


# -- field checks ----------------------------------------------------------------------------


def test_check_id_is_visible_ascii() -> None:
    for good in ("!", "~", "u_" + "a" * 253, "d_Ab-9.x"):
        assert check_id(good, "id") == good
    for bad in ("", " ", "u a", "u\t", "u\x7f", "é", "u_" + "a" * 254, None, 1, b"u_a"):
        assert _code(check_id, bad, "id") == "bad_encoding", bad


def test_check_int_and_bytes() -> None:
    assert check_int(0, "n") == 0 and check_int(2**53, "n") == 2**53
    assert check_int(7, "n", 7) == 7
    for bad in (-1, 2**53 + 1, True, False, 1.0, "1", None):
        assert _code(check_int, bad, "n") == "bad_encoding", bad
    assert _code(check_int, 8, "n", 7) == "bad_encoding"
    assert check_bytes(b"ab", 2, "x") == b"ab"
    for bad_b in (b"a", b"abc", "ab", bytearray(b"ab"), None):
        assert _code(check_bytes, bad_b, 2, "x") == "bad_encoding", bad_b


def test_field_readers() -> None:
    obj = {"v": 1, "b": True, "s": "x", "id": "u_a", "big": 2**32}
    assert encoding.req_int(obj, "v") == 1 and encoding.req_u32(obj, "v") == 1
    assert encoding.req_id(obj, "id") == "u_a" and encoding.req_str(obj, "s") == "x"
    assert encoding.req_str(obj, "missing", nullable=True) is None
    encoding.req_version(obj, "v", 1)
    encoding.check_fields(obj, {"v", "b", "s", "id", "big"}, "obj")
    assert _code(encoding.req_int, obj, "b") == "bad_encoding"
    assert _code(encoding.req_u32, obj, "big") == "bad_encoding"
    assert _code(encoding.req_id, obj, "missing") == "bad_encoding"
    assert _code(encoding.req_version, {"v": True}, "v", 1) == "bad_encoding"
    assert _code(encoding.req_version, {"v": 1.0}, "v", 1) == "bad_encoding"
    assert _code(encoding.check_fields, obj, {"v"}, "obj") == "bad_encoding"


# -- AEAD and keys ---------------------------------------------------------------------------


def test_aead_wrappers() -> None:
    key, nonce = bytes(range(32)), bytes(24)
    ct = aead_seal(key, nonce, b"hello", b"ad")
    assert ct == bytes(
        sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(b"hello", b"ad", nonce, key)
    )
    assert aead_open(key, nonce, ct, b"ad") == b"hello"
    assert _code(aead_open, key, nonce, ct, b"other ad") == "bad_ciphertext"
    assert _code(aead_open, key, nonce, ct[:15], b"ad") == "bad_ciphertext"
    assert _code(aead_open, key[:31], nonce, ct, b"ad") == "bad_ciphertext"
    assert _code(aead_open, key, nonce[:23], ct, b"ad") == "bad_ciphertext"
    assert _code(aead_open, key, nonce, "not bytes", b"ad") == "bad_ciphertext"
    assert _code(aead_seal, key, nonce[:23], b"x", b"ad") == "bad_encoding"
    assert _code(aead_seal, key[:31], nonce, b"x", b"ad") == "bad_encoding"
    assert _code(aead_seal, key, nonce, "x", b"ad") == "bad_encoding"


def test_dh_checks_lengths_and_low_order_points() -> None:
    a, b = DhKey.from_private(bytes([1]) * 32), DhKey.from_private(bytes([2]) * 32)
    assert dh(a.private, b.public) == dh(b.private, a.public)
    assert dh(a.private, b.public) == bytes(sodium.crypto_scalarmult(a.private, b.public))
    for priv, pub in (
        (a.private[:31], b.public),
        (a.private, b.public[:31]),
        (a.private + b"\x00", b.public),
        (a.private, b.public + b"\x00"),
        ("k" * 32, b.public),
        (a.private, None),
        (a.private, bytes(32)),  # low order: all-zero shared secret
        (a.private, b"\x01" + bytes(31)),  # low order
    ):
        assert _code(dh, priv, pub) == "bad_encoding"
    assert _code(DhKey.from_private, bytes(31)) == "bad_encoding"
    assert _code(SigningKey.from_seed, bytes(33)) == "bad_encoding"
    assert _code(SigningKey.from_seed, "s" * 32) == "bad_encoding"


def test_the_exact_serialisation_of_section_0() -> None:
    """docs/crypto.md §0 byte for byte: sorted keys (code point order), no whitespace, raw
    non-ASCII, the short escapes and lowercase \\u00XX for other control characters, `/` and
    U+007F / U+2028 unescaped, integers in plain decimal up to +-2^53."""
    obj = {
        "b": [1, -2, 0, 2**53, -(2**53), True, False, None],
        "a": 'é ✓ 😀 "q" \\ / \b\f\n\r\t \x00\x1f \x7f \u2028',
        "B": {"z": {}, "y": []},
        "é": "",
    }
    text = dumps(obj)
    assert text == (
        '{"B":{"y":[],"z":{}},'
        '"a":"é ✓ 😀 \\"q\\" \\\\ / \\b\\f\\n\\r\\t \\u0000\\u001f \x7f \u2028",'
        '"b":[1,-2,0,9007199254740992,-9007199254740992,true,false,null],"é":""}'
    )
    assert loads_object(text) == obj
    assert loads_object('{"a": -0}') == {"a": 0}

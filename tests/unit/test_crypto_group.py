"""Group messages (docs/crypto.md §4): the vectors of tests/vectors/group.json recomputed byte for
byte, and properties of the sender-key sessions: any change to an envelope is refused, an index is
never accepted under two message ids, keys before a share stay out of reach, and a forwarder
cannot substitute another chain."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto import group
from crypto.encoding import b64d, b64e, lp, u32
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from tests.vectors import flip_bit, gen_group, load

CASES = load("group.json")
ROOM, SU, SD = "r_room", "u_sender", "d_sender"
DSK = SigningKey.from_seed(bytes(range(32)))
MH = bytes(range(100, 132))
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def by_op(op: str) -> list[dict[str, Any]]:
    return [c for c in CASES if c["op"] == op]


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


# -- vectors ---------------------------------------------------------------------------------


def test_vector_files_are_current() -> None:
    """group.json, membership.json and attachments.json are exactly what the generator writes
    from the current code (attachment blobs are the stored ones, re-checked)."""
    for name, doc in gen_group.build().items():
        on_disk = (gen_group.HERE / name).read_text(encoding="utf-8")
        assert on_disk == gen_group.render(doc), f"{name} is stale: rerun the generator"


@pytest.mark.parametrize("case", by_op("group_ratchet"), ids=ids(by_op("group_ratchet")))
def test_ratchet_vector(case: dict[str, Any]) -> None:
    ck = b64d(case["input"]["ck0"], 32)
    for want_ck, want_m in zip(case["output"]["ck"], case["output"]["m"], strict=True):
        assert b64e(ck) == want_ck
        mk, nonce = group.message_keys(ck)
        assert b64e(mk + nonce) == want_m
        # Independently of crypto.encoding: keyed BLAKE2b from the standard library.
        assert hashlib.blake2b(lp("relais/v1/msg"), key=ck, digest_size=56).digest() == mk + nonce
        nxt = group.next_ck(ck)
        assert nxt == hashlib.blake2b(lp("relais/v1/chain"), key=ck, digest_size=32).digest()
        ck = nxt


@pytest.mark.parametrize("case", by_op("group_pad"), ids=ids(by_op("group_pad")))
def test_pad_vector(case: dict[str, Any]) -> None:
    n = case["input"]["len"]
    raw = bytes((7 * k + 1) & 0xFF for k in range(n))
    if "error" in case:
        with pytest.raises(CryptoError) as err:
            group.pad(raw)
        assert err.value.code == case["error"]
        return
    padded = group.pad(raw)
    assert len(padded) == case["output"]["padded_len"]
    if "padded" in case["output"]:
        assert b64e(padded) == case["output"]["padded"]
    assert group.unpad(padded) == raw


@pytest.mark.parametrize("case", by_op("group_unpad"), ids=ids(by_op("group_unpad")))
def test_unpad_vector(case: dict[str, Any]) -> None:
    with pytest.raises(CryptoError) as err:
        group.unpad(b64d(case["input"]["padded"]))
    assert err.value.code == case["error"]


@pytest.mark.parametrize("case", by_op("group_share"), ids=ids(by_op("group_share")))
def test_share_vector(case: dict[str, Any]) -> None:
    i = case["input"]
    out = group.OutboundSession.new(
        i["room"], created_ms=0, me=i["me"], sid=b64d(i["sid"], 16), ck=b64d(i["ck"], 32)
    )
    body = case["output"]["body"]
    assert out.share_body(i["su"], body["sd"]) == body


@pytest.mark.parametrize("case", by_op("group_encrypt"), ids=ids(by_op("group_encrypt")))
def test_encrypt_vector(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    content = json.loads(i["content_json"])
    assert (
        json.dumps(content, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        == i["content_json"]
    )
    sid, mh = b64d(i["sid"], 16), b64d(i["mh"], 32)
    out = group.OutboundSession(i["room"], sid, b64d(i["ck"], 32), i["i"], 0, i["me"])
    mk, nonce = group.message_keys(out.ck)
    assert (b64e(mk), b64e(nonce)) == (o["mk"], o["nonce"])
    ad = group.group_ad(i["room"], sid, i["i"], i["su"], i["sd"], i["me"], mh)
    assert b64e(ad) == o["ad"]
    # The AD written out field by field from the spec text.
    fields = ("relais/v1/group", i["room"], sid, u32(i["i"]), i["su"], i["sd"], u32(i["me"]), mh)
    assert ad == b"".join(lp(f) for f in fields)
    dsk = SigningKey.from_seed(b64d(i["sign_seed"], 32))
    env = out.encrypt(content, su=i["su"], sd=i["sd"], dsk=dsk, me=i["me"], mh=mh)
    assert env == o["envelope"]
    assert (env["ct"], env["sig"]) == (o["ct"], o["sig"])
    assert len(b64d(env["ct"])) - 16 == o["padded_len"]
    assert b64e(out.ck) == o["next_ck"] and out.index == i["i"] + 1


def run_decrypt(inp: dict[str, Any]) -> tuple[list[dict[str, Any]], group.InboundSession]:
    s = group.InboundSession.from_share(inp["share"])
    for body in inp["merges"]:
        s.merge(body)
    contents = []
    for m in inp["messages"]:
        hdr = group.parse_envelope(m["envelope"])
        group.verify_envelope(hdr, inp["room"], b64d(inp["sign_pub"], 32))
        contents.append(s.decrypt(hdr, inp["room"], m["message_id"]))
    return contents, s


@pytest.mark.parametrize("case", by_op("group_decrypt"), ids=ids(by_op("group_decrypt")))
def test_decrypt_vector(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(CryptoError) as err:
            run_decrypt(case["input"])
        assert err.value.code == case["error"]
    else:
        contents, s = run_decrypt(case["input"])
        assert contents == case["output"]["contents"]
        assert s.first_index == case["output"]["first_index"]


def test_vectors_cover_the_brief() -> None:
    names = set(ids(CASES))
    assert "decrypt index 2 from a share at index 0" in names
    assert {c["error"] for c in CASES if "error" in c} >= {
        "bad_encoding",
        "bad_signature",
        "bad_ciphertext",
        "missing_key",
        "replay",
        "too_far",
        "not_entitled",
    }


# -- helpers for the properties --------------------------------------------------------------


def advance(ck: bytes, steps: int) -> bytes:
    for _ in range(steps):
        ck = group.next_ck(ck)
    return ck


def session(sid: bytes = bytes(16), ck: bytes = bytes(32)) -> group.OutboundSession:
    return group.OutboundSession.new(ROOM, created_ms=1, me=2, sid=sid, ck=ck)


def send(out: group.OutboundSession, content: dict[str, Any]) -> dict[str, Any]:
    return out.encrypt(content, su=SU, sd=SD, dsk=DSK, me=2, mh=MH)


def receive(s: group.InboundSession, env: Any, mid: str, room: str = ROOM) -> dict[str, Any]:
    hdr = group.parse_envelope(env)
    group.verify_envelope(hdr, room, DSK.public)
    return s.decrypt(hdr, room, mid)


def text(k: int) -> dict[str, Any]:
    return {"type": "text", "body": f"message {k}"}


def make_stream(n: int) -> tuple[group.OutboundSession, dict[str, Any], list[dict[str, Any]]]:
    out = session(sid=bytes(range(16)), ck=bytes(range(32)))
    share = out.share_body(SU, SD)
    return out, share, [send(out, text(k)) for k in range(n)]


STREAM_OUT, SHARE0, ENVS = make_stream(12)
SHARE_AT = [{**SHARE0, "i": k, "ck": b64e(advance(b64d(SHARE0["ck"]), k))} for k in range(12)]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    # Protocol JSON has no non-integer numbers (docs/crypto.md §0).
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
contents = st.builds(
    lambda t, extra: {**extra, "type": t},
    st.text(min_size=1, max_size=12),
    st.dictionaries(st.text(max_size=8), json_values, max_size=5),
)


# -- properties ------------------------------------------------------------------------------


@PROPS
@given(contents, st.text(max_size=3000))
def test_round_trip(content: dict[str, Any], body: str) -> None:
    content = {**content, "body": body}
    out = session()
    s = group.InboundSession.from_share(out.share_body(SU, SD))
    env = send(out, content)
    got = receive(s, json.loads(json.dumps(env)), "m_1")
    assert got == json.loads(json.dumps(content))
    # Only the bucket shows.
    assert len(b64d(env["ct"])) - 16 in group.BUCKETS


def test_largest_bucket_refused_at_encrypt() -> None:
    out = session()
    s = group.InboundSession.from_share(out.share_body(SU, SD))
    overhead = len(json.dumps({"type": "text", "body": ""}, separators=(",", ":")))
    big = {"type": "text", "body": "x" * (group.MAX_CONTENT - overhead)}
    assert len(json.dumps(big, separators=(",", ":"))) == group.MAX_CONTENT
    assert receive(s, send(out, big), "m_0") == big
    with pytest.raises(CryptoError) as err:
        send(out, {"type": "text", "body": "x" * group.MAX_CONTENT})
    assert err.value.code == "bad_encoding"
    assert out.index == 1  # a refused message does not consume an index


HEADER_FIELDS = ("ct", "sid", "i", "sd", "su", "me", "mh", "sig")


@PROPS
@given(st.sampled_from(HEADER_FIELDS), st.integers(min_value=0, max_value=10**6), st.data())
def test_any_flipped_field_is_refused(field: str, bit: int, data: st.DataObject) -> None:
    env = dict(ENVS[3])
    value = env[field]
    if isinstance(value, int):
        env[field] = value ^ (1 << (bit % 33)) if bit % 34 != 33 else str(value)
    else:
        raw = value.encode()
        env[field] = flip_bit(value, bit % (len(raw) * 8))
    s = group.InboundSession.from_share(SHARE0)
    with pytest.raises(CryptoError):
        receive(s, env, "m_3")


@PROPS
@given(st.integers(min_value=0), st.sampled_from(ENVS))
def test_any_flipped_bit_of_the_envelope_text_is_refused(bit: int, env: dict[str, Any]) -> None:
    text = json.dumps(env, separators=(",", ":"))
    mutated = flip_bit(text, bit % (len(text.encode()) * 8))
    try:
        obj = json.loads(mutated)
    except ValueError:
        return  # not JSON: refused before it reaches the crypto layer
    s = group.InboundSession.from_share(SHARE0)
    with pytest.raises(CryptoError):
        receive(s, obj, "m")


@PROPS
@given(st.text(min_size=1, max_size=20), st.integers(min_value=0, max_value=11))
def test_other_room_is_refused(room: str, k: int) -> None:
    assume(room != ROOM)
    s = group.InboundSession.from_share(SHARE0)
    with pytest.raises(CryptoError):
        receive(s, ENVS[k], "m", room=room)
    # The AD alone binds the room: decrypting without the signature check fails too.
    hdr = group.parse_envelope(ENVS[k])
    with pytest.raises(CryptoError):
        s.decrypt(hdr, room, "m")


def test_decrypt_authenticates_every_ad_field_without_the_signature() -> None:
    """The AEAD binds the AD on its own (a receiver that skipped verify would still refuse)."""
    changes: list[dict[str, Any]] = [{"me": 3}, {"mh": b"\x00" * 32}, {"i": 4}]
    for change in changes:
        s = group.InboundSession.from_share(SHARE0)
        hdr = group.parse_envelope(ENVS[3])
        bad = group.Header(**{**hdr.__dict__, **change})
        with pytest.raises(CryptoError) as err:
            s.decrypt(bad, ROOM, "m")
        assert err.value.code == "bad_ciphertext"


@PROPS
@given(st.permutations(list(range(12))))
def test_out_of_order_decryption(order: list[int]) -> None:
    s = group.InboundSession.from_share(SHARE0)
    for k in order:
        assert receive(s, ENVS[k], f"m_{k}") == text(k)
    assert s.cur_index == 12 and len(s.used) == 12


@PROPS
@given(st.lists(st.integers(min_value=0, max_value=11), min_size=2, max_size=30), st.data())
def test_replay_under_a_new_id(seq: list[int], data: st.DataObject) -> None:
    s = group.InboundSession.from_share(SHARE0)
    for k in seq:
        assert receive(s, ENVS[k], f"m_{k}") == text(k)  # the same id again is fine
    old = data.draw(st.sampled_from(seq))
    with pytest.raises(CryptoError) as err:
        receive(s, ENVS[old], f"other_{old}")
    assert err.value.code == "replay"
    # Persisting the session keeps the replay protection.
    s2 = group.InboundSession.from_json(json.loads(json.dumps(s.to_json())))
    with pytest.raises(CryptoError) as err:
        receive(s2, ENVS[old], f"other_{old}")
    assert err.value.code == "replay"


@PROPS
@given(st.integers(min_value=1, max_value=11), st.data())
def test_index_before_the_share_is_missing_key(start: int, data: st.DataObject) -> None:
    s = group.InboundSession.from_share(SHARE_AT[start])
    k = data.draw(st.integers(min_value=0, max_value=start - 1))
    with pytest.raises(CryptoError) as err:
        receive(s, ENVS[k], f"m_{k}")
    assert err.value.code == "missing_key"
    later = data.draw(st.integers(min_value=start, max_value=11))
    assert receive(s, ENVS[later], "m") == text(later)


@PROPS
@given(
    st.integers(min_value=1, max_value=11),
    st.data(),
    st.binary(min_size=32, max_size=32),
)
def test_merge(start: int, data: st.DataObject, bogus: bytes) -> None:
    s = group.InboundSession.from_share(SHARE_AT[start])
    earlier = data.draw(st.integers(min_value=0, max_value=start - 1))
    fake = {**SHARE_AT[earlier], "ck": b64e(bogus), "fwd": True}
    assume(bogus != b64d(SHARE_AT[earlier]["ck"]))
    before = s.to_json()
    with pytest.raises(CryptoError) as err:
        s.merge(fake)
    assert err.value.code == "not_entitled"
    assert s.to_json() == before
    # A share at or after the start adds nothing; one that contradicts the chain is refused.
    later = data.draw(st.integers(min_value=start, max_value=11))
    assert s.merge({**SHARE_AT[later], "fwd": True}) is False
    with pytest.raises(CryptoError):
        s.merge({**SHARE_AT[later], "ck": b64e(bogus)})
    # The genuine earlier share extends the session back.
    assert s.merge({**SHARE_AT[earlier], "fwd": True}) is True
    assert s.first_index == earlier
    assert receive(s, ENVS[earlier], "m") == text(earlier)
    assert s.export_body() == {**SHARE_AT[earlier], "fwd": True}


def test_merge_refuses_a_different_sender_user_or_head() -> None:
    s = group.InboundSession.from_share(SHARE_AT[3])
    for change in ({"su": "u_other"}, {"me": 99}):
        with pytest.raises(CryptoError) as err:
            s.merge({**SHARE_AT[1], **change})
        assert err.value.code == "not_entitled"
    with pytest.raises(CryptoError) as err:
        s.merge({**SHARE_AT[1], "sid": b64e(bytes(range(1, 17)))})
    assert err.value.code == "bad_encoding"


def test_too_far_and_cursor_cost() -> None:
    far = group.OutboundSession(
        ROOM, bytes(range(16)), advance(bytes(range(32)), 10_005), 10_005, 0, 2
    )
    env_far = send(far, text(10_005))
    s = group.InboundSession.from_share(SHARE0)
    with pytest.raises(CryptoError) as err:
        receive(s, env_far, "far")
    assert err.value.code == "too_far"
    assert receive(s, ENVS[11], "m_11") == text(11)  # cursor moves to 12
    assert receive(s, env_far, "far") == text(10_005)  # now within MAX_SKIP of the cursor
    assert s.cur_index == 10_006


def test_the_same_message_again_returns_its_content() -> None:
    s = group.InboundSession.from_share(SHARE0)
    assert receive(s, ENVS[5], "m_5") == receive(s, ENVS[5], "m_5") == text(5)


def test_session_json_round_trips() -> None:
    out = session(sid=bytes(range(16)), ck=bytes(range(32)))
    out.shared_with["d_x"] = 0
    send(out, text(0))
    again = group.OutboundSession.from_json(json.loads(json.dumps(out.to_json())))
    assert again == out
    assert send(again, text(1)) == send(out, text(1))
    s = group.InboundSession.from_share(SHARE0)
    receive(s, ENVS[4], "m_4")
    s2 = group.InboundSession.from_json(json.loads(json.dumps(s.to_json())))
    assert s2 == s


def test_sender_erases_used_chain_keys() -> None:
    out = session(sid=bytes(range(16)), ck=bytes(range(32)))
    send(out, text(0))
    assert out.ck == group.next_ck(bytes(range(32))) and out.index == 1 and out.sent == 1
    assert bytes(range(32)) not in json.dumps(out.to_json()).encode()
    assert b64e(bytes(range(32))) not in json.dumps(out.to_json())


# -- malformed input never escapes as anything but CryptoError -------------------------------


def only_crypto_errors(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except CryptoError:
        pass


@PROPS
@given(st.sampled_from(sorted(ENVS[0])), json_values)
def test_envelope_field_replaced_by_any_json(field: str, value: Any) -> None:
    env = {**ENVS[0], field: value}
    s = group.InboundSession.from_share(SHARE0)
    if value == ENVS[0][field] and type(value) is type(ENVS[0][field]):
        assert receive(s, env, "m_0") == text(0)
        return
    with pytest.raises(CryptoError):
        receive(s, env, "m_0")


@PROPS
@given(json_values)
def test_random_json_is_refused_cleanly(value: Any) -> None:
    only_crypto_errors(group.parse_envelope, value)
    only_crypto_errors(group.InboundSession.from_share, value)
    only_crypto_errors(group.InboundSession.from_json, value)
    only_crypto_errors(group.OutboundSession.from_json, value)
    only_crypto_errors(group.unpad, json.dumps(value).encode())


@PROPS
@given(st.sampled_from(sorted(SHARE0)), json_values)
def test_share_field_replaced_by_any_json(field: str, value: Any) -> None:
    body = {**SHARE0, field: value}
    try:
        s = group.InboundSession.from_share(body)
    except CryptoError:
        return
    # Accepted only with well-typed fields; a wrong key then fails at decryption, cleanly.
    try:
        receive(s, ENVS[0], "m_0")
    except CryptoError:
        assert field in ("ck", "room", "sid", "sd", "su", "i")


@PROPS
@given(json_values, st.sampled_from(["room", "su", "sd", "me", "mh", "content"]))
def test_encrypt_refuses_bad_arguments_cleanly(value: Any, arg: str) -> None:
    out = session()
    kw: dict[str, Any] = {"su": SU, "sd": SD, "dsk": DSK, "me": 2, "mh": MH}
    content: Any = text(0)
    if arg == "content":
        content = value
    elif arg == "room":
        out.room = value
    else:
        kw[arg] = value
    try:
        out.encrypt(content, **kw)
    except CryptoError:
        assert out.index == 0


def test_content_with_a_non_integer_number_is_refused_at_encrypt() -> None:
    out = session()
    for bad in (1.5, 1.0, 2**53 + 1):
        with pytest.raises(CryptoError) as err:
            send(out, {"type": "reading", "value": bad})
        assert err.value.code == "bad_encoding"
    assert out.index == 0

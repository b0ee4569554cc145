"""Generate the test vectors of docs/crypto.md §2, §3 and §6.3.

    .venv/bin/python -m tests.vectors.gen_identity

Writes identity.json, pairwise.json and backup.json next to this file. Every secret comes from
`seed(name)` (BLAKE2b of a fixed label and the name) and is written out as an input, so a second
implementation never needs this derivation. Intermediate values are computed here from the
primitives, following the spec text, and the module under test must reproduce the final output
from the same inputs (checked below before anything is written), so the files cannot record a
value the implementation disagrees with.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from crypto import backup, identity, pairwise
from crypto.encoding import b64d, b64e, h, lp, make_signed, u32
from crypto.errors import CryptoError
from crypto.keys import DhKey, SigningKey

HERE = Path(__file__).parent
TS = 1_700_000_000_000
ALICE, BOB = "u_alice", "u_bob"


def seed(name: str) -> bytes:
    return h(32, lp("relais/test-vector", name))


def sk(name: str) -> SigningKey:
    return SigningKey.from_seed(seed(name))


def dk(name: str) -> DhKey:
    return DhKey.from_private(seed(name))


def error_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    try:
        fn(*args, **kwargs)
    except CryptoError as err:
        return err.code
    raise AssertionError(f"{fn.__name__} accepted a negative vector")


def flip_b64(text: str, byte: int = 0, bit: int = 0) -> str:
    raw = bytearray(b64d(text))
    raw[byte] ^= 1 << bit
    return b64e(bytes(raw))


# ------------------------------------------------------------------------------------------
# identity.json (§2)
# ------------------------------------------------------------------------------------------

DEVICE_NAMES = ("d_phone", "d_laptop")


def device_entry(user: str, dev: str) -> identity.DeviceEntry:
    return identity.DeviceEntry(dev, sk(f"{user}/{dev}/dsk").public, dk(f"{user}/{dev}/dx").public)


def device_list_case(
    name: str,
    user: str,
    ver: int,
    devs: tuple[str, ...],
    prev: bytes | None = None,
    retired: tuple[str, ...] = (),
) -> dict[str, Any]:
    ik = sk(f"{user}/ik")
    entries = [device_entry(user, d) for d in devs]
    gone = [identity.RetiredDevice(d, device_entry(user, d).sign) for d in retired]
    wire = identity.make_device_list(ik, user, ver, entries, TS + ver, prev=prev, retired=gone)
    signed = json.loads(wire)["signed"]
    sig_input = lp(identity.DEVICES_LABEL) + lp(signed)
    sig = bytes(sodium.crypto_sign(sig_input, ik.secret)[:64])
    assert json.loads(wire)["sig"] == b64e(sig)
    hash_input = lp(identity.DEVICES_HASH_LABEL, signed, sig)
    assert h(32, hash_input) == identity.list_hash(wire)
    return {
        "name": name,
        "op": "make_device_list",
        "input": {
            "ik_seed": b64e(ik.seed),
            "user": user,
            "ver": ver,
            "prev": b64e(prev or b""),
            "ts": TS + ver,
            "retired": [{"id": r.id, "sign": b64e(r.sign)} for r in gone],
            "devices": [
                {
                    "id": e.id,
                    "sign_seed": b64e(seed(f"{user}/{e.id}/dsk")),
                    "dh_private": b64e(seed(f"{user}/{e.id}/dx")),
                    "sign": b64e(e.sign),
                    "dh": b64e(e.dh),
                }
                for e in entries
            ],
        },
        "output": {
            "ik": b64e(ik.public),
            "signed": signed,
            "sig_input": b64e(sig_input),
            "sig": b64e(sig),
            "wire": wire,
            "hash_input": b64e(hash_input),
            "hash": b64e(h(32, hash_input)),
        },
    }


def verify_case(
    name: str, wire: str, user: str, pinned: bytes, previous: str | None = None
) -> dict[str, Any]:
    inp = {"wire": wire, "user": user, "pinned_ik": b64e(pinned), "previous": previous}
    prev = None
    if previous is not None:
        prev = identity.verify_device_list(previous, user, pinned)
    try:
        dl = identity.verify_device_list(wire, user, pinned, previous=prev)
    except CryptoError as err:
        return {"name": name, "op": "verify_device_list", "input": inp, "error": err.code}
    out = {
        "user": dl.user,
        "ver": dl.ver,
        "ik": b64e(dl.ik),
        "ts": dl.ts,
        "prev": b64e(dl.prev),
        "hash": b64e(dl.hash),
        "devices": [{"id": d.id, "sign": b64e(d.sign), "dh": b64e(d.dh)} for d in dl.devices],
    }
    if dl.retired:
        out["retired"] = [{"id": d.id, "sign": b64e(d.sign)} for d in dl.retired]
    return {"name": name, "op": "verify_device_list", "input": inp, "output": out}


def log_case(
    name: str, wires: list[str], user: str, pinned: bytes, previous: str | None = None
) -> dict[str, Any]:
    inp = {"wires": wires, "user": user, "pinned_ik": b64e(pinned), "previous": previous}
    prev = None if previous is None else identity.verify_device_list(previous, user, pinned)
    try:
        chain = identity.verify_device_log(wires, user, pinned, previous=prev)
    except CryptoError as err:
        return {"name": name, "op": "verify_device_log", "input": inp, "error": err.code}
    out = {"heads": [{"ver": dl.ver, "hash": b64e(dl.hash)} for dl in chain]}
    return {"name": name, "op": "verify_device_log", "input": inp, "output": out}


def hand_signed(key: SigningKey, label: str, obj: dict[str, Any]) -> str:
    return make_signed(key.secret, label, obj)


def raw_list(
    user: str, ik: bytes, ver: int, devices: list[dict[str, str]], prev: bytes = b""
) -> dict[str, Any]:
    return {
        "t": identity.DEVICES_T,
        "user": user,
        "ver": ver,
        "prev": b64e(prev),
        "ik": b64e(ik),
        "ts": TS,
        "devices": devices,
    }


def identity_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    # Alice's log: v1 phone; v2 phone + laptop; v3 laptop revoked (retired); v4 tablet added.
    v1 = device_list_case("alice device list v1, one device", ALICE, 1, ("d_phone",))
    h1 = b64d(v1["output"]["hash"])
    v2 = device_list_case("alice device list v2, laptop added", ALICE, 2, DEVICE_NAMES, h1)
    h2 = b64d(v2["output"]["hash"])
    v3 = device_list_case(
        "alice device list v3, laptop revoked", ALICE, 3, ("d_phone",), h2, ("d_laptop",)
    )
    h3 = b64d(v3["output"]["hash"])
    v4 = device_list_case(
        "alice device list v4, tablet added", ALICE, 4, ("d_phone", "d_tablet"), h3, ("d_laptop",)
    )
    bob = device_list_case("bob device list v1, one device", BOB, 1, ("d_tablet",))
    cases += [v1, v2, v3, v4, bob]
    ik = sk(f"{ALICE}/ik")
    mallory = sk("u_mallory/ik")
    w1, w2, w3 = v1["output"]["wire"], v2["output"]["wire"], v3["output"]["wire"]
    w4 = v4["output"]["wire"]
    cases.append(verify_case("verify v3, first sight", w3, ALICE, ik.public))
    cases.append(verify_case("verify v3 after v2 (links by hash)", w3, ALICE, ik.public, w2))
    cases.append(verify_case("verify v3 again after v3 (same bytes)", w3, ALICE, ik.public, w3))
    cases.append(verify_case("rollback: v2 after v3", w2, ALICE, ik.public, previous=w3))
    cases.append(verify_case("withheld: v4 after v2 (v3 missing)", w4, ALICE, ik.public, w2))
    fork3 = identity.make_device_list(
        ik,
        ALICE,
        3,
        [device_entry(ALICE, "d_phone")],
        TS + 99,
        prev=h2,
        retired=[identity.RetiredDevice("d_laptop", device_entry(ALICE, "d_laptop").sign)],
    )
    cases.append(verify_case("fork: v3 re-signed with other bytes", fork3, ALICE, ik.public, w3))
    cases.append(verify_case("fork: v4 linked to another v3", w4, ALICE, ik.public, fork3))
    phone, laptop = device_entry(ALICE, "d_phone"), device_entry(ALICE, "d_laptop")
    gone = identity.RetiredDevice(laptop.id, laptop.sign)
    back = identity.make_device_list(ik, ALICE, 4, [phone, laptop], TS + 4, prev=h3)
    cases.append(verify_case("v4 brings the retired laptop back", back, ALICE, ik.public, w3))
    dropped = identity.make_device_list(ik, ALICE, 4, [phone], TS + 4, prev=h3)
    cases.append(verify_case("v4 drops the retired laptop", dropped, ALICE, ik.public, w3))
    silent = identity.make_device_list(ik, ALICE, 3, [phone], TS + 3, prev=h2)
    cases.append(
        verify_case("v3 drops the laptop without retiring it", silent, ALICE, ik.public, w2)
    )
    rekey = identity.DeviceEntry("d_laptop", sk("other").public, laptop.dh)
    rekeyed = identity.make_device_list(ik, ALICE, 3, [phone, rekey], TS + 3, prev=h2)
    cases.append(verify_case("v3 changes the laptop's keys", rekeyed, ALICE, ik.public, w2))
    ghost = identity.RetiredDevice("d_ghost", sk("ghost").public)
    ghosted = identity.make_device_list(
        ik, ALICE, 3, [phone, laptop], TS + 3, prev=h2, retired=[ghost]
    )
    cases.append(verify_case("v3 retires a device never listed", ghosted, ALICE, ik.public, w2))
    dev = {"id": "d_phone", "sign": b64e(sk("x").public), "dh": b64e(dk("y").public)}
    cases.append(
        verify_case(
            "v1 naming a previous list",
            hand_signed(ik, identity.DEVICES_LABEL, raw_list(ALICE, ik.public, 1, [dev], h1)),
            ALICE,
            ik.public,
        )
    )
    cases.append(
        verify_case(
            "v2 without a previous list",
            hand_signed(ik, identity.DEVICES_LABEL, raw_list(ALICE, ik.public, 2, [dev])),
            ALICE,
            ik.public,
        )
    )
    cases.append(log_case("log v2..v4 after v1", [w2, w3, w4], ALICE, ik.public, w1))
    cases.append(log_case("log v1..v4 from scratch", [w1, w2, w3, w4], ALICE, ik.public))
    cases.append(log_case("log with v3 missing", [w2, w4], ALICE, ik.public, w1))
    cases.append(log_case("log repeating v2", [w2, w2, w3], ALICE, ik.public, w1))
    cases.append(log_case("log forked at v3", [w2, fork3, w4], ALICE, ik.public, w1))
    outer = json.loads(w3)
    bad_sig = json.dumps({"signed": outer["signed"], "sig": flip_b64(outer["sig"], 5, 3)})
    cases.append(verify_case("tampered signature", bad_sig, ALICE, ik.public))
    bad_text = json.dumps(
        {"signed": outer["signed"].replace('"ver":3', '"ver":9'), "sig": outer["sig"]}
    )
    cases.append(verify_case("tampered signed text", bad_text, ALICE, ik.public))
    other = identity.make_device_list(mallory, ALICE, 1, [device_entry(ALICE, "d_phone")], TS)
    cases.append(verify_case("signed by another identity key", other, ALICE, ik.public))
    cases.append(verify_case("pinned key differs, list self-signed", w3, ALICE, mallory.public))
    cases.append(verify_case("pinned key differs, bad signature", bad_sig, ALICE, mallory.public))
    cases.append(
        verify_case(
            "ik field names another key",
            hand_signed(ik, identity.DEVICES_LABEL, raw_list(ALICE, mallory.public, 1, [dev])),
            ALICE,
            ik.public,
        )
    )
    cases.append(
        verify_case(
            "duplicate device ids",
            hand_signed(ik, identity.DEVICES_LABEL, raw_list(ALICE, ik.public, 1, [dev, dev])),
            ALICE,
            ik.public,
        )
    )
    cases.append(verify_case("list of another user", w3, BOB, ik.public))
    live_and_retired = raw_list(
        ALICE, ik.public, 1, [{"id": laptop.id, "sign": b64e(laptop.sign), "dh": b64e(laptop.dh)}]
    ) | {"retired": [{"id": gone.id, "sign": b64e(gone.sign)}]}
    cases.append(
        verify_case(
            "a device both live and retired",
            hand_signed(ik, identity.DEVICES_LABEL, live_and_retired),
            ALICE,
            ik.public,
        )
    )
    dup_key = (
        '{"t":"relais.devices.v2","user":"u_alice","user":"u_alice","ver":1,"prev":"",'
        f'"ik":"{b64e(ik.public)}","ts":1,"devices":[]}}'
    )
    dup_wire = json.dumps(
        {
            "signed": dup_key,
            "sig": b64e(
                bytes(sodium.crypto_sign(lp(identity.DEVICES_LABEL, dup_key), ik.secret)[:64])
            ),
        }
    )
    cases.append(verify_case("duplicate JSON key in signed text", dup_wire, ALICE, ik.public))
    non_canonical = json.dumps({"signed": outer["signed"], "sig": outer["sig"] + "="})
    cases.append(verify_case("padded base64 signature", non_canonical, ALICE, ik.public))

    # §2.2 pre-keys
    dsk = sk(f"{ALICE}/d_phone/dsk")
    spk = dk(f"{ALICE}/d_phone/spk/7")
    wire = identity.make_prekey(dsk, ALICE, "d_phone", 7, spk.public, TS)
    signed = json.loads(wire)["signed"]
    sig_input = lp(identity.PREKEY_LABEL) + lp(signed)
    cases.append(
        {
            "name": "pre-key 7 of alice d_phone",
            "op": "make_prekey",
            "input": {
                "dsk_seed": b64e(dsk.seed),
                "user": ALICE,
                "device": "d_phone",
                "id": 7,
                "private": b64e(spk.private),
                "pub": b64e(spk.public),
                "ts": TS,
            },
            "output": {
                "sign_pub": b64e(dsk.public),
                "signed": signed,
                "sig_input": b64e(sig_input),
                "sig": b64e(bytes(sodium.crypto_sign(sig_input, dsk.secret)[:64])),
                "wire": wire,
            },
        }
    )

    def prekey_verify(name: str, w: str, user: str, device: str, pub: bytes) -> dict[str, Any]:
        inp = {"wire": w, "user": user, "device": device, "sign_pub": b64e(pub)}
        try:
            pk = identity.verify_prekey(w, user, device, pub)
        except CryptoError as err:
            return {"name": name, "op": "verify_prekey", "input": inp, "error": err.code}
        out = {"id": pk.id, "pub": b64e(pk.pub), "ts": pk.ts}
        return {"name": name, "op": "verify_prekey", "input": inp, "output": out}

    po = json.loads(wire)
    cases.append(prekey_verify("verify pre-key 7", wire, ALICE, "d_phone", dsk.public))
    cases.append(
        prekey_verify(
            "pre-key under another device's key",
            wire,
            ALICE,
            "d_phone",
            sk(f"{ALICE}/d_laptop/dsk").public,
        )
    )
    cases.append(prekey_verify("pre-key of another device", wire, ALICE, "d_laptop", dsk.public))
    tampered = json.dumps({"signed": po["signed"].replace('"id":7', '"id":8'), "sig": po["sig"]})
    cases.append(prekey_verify("pre-key with tampered id", tampered, ALICE, "d_phone", dsk.public))

    # §2.3 fingerprints, safety numbers, QR
    for user in (ALICE, BOB):
        key = sk(f"{user}/ik")
        fp_input = lp(identity.FINGERPRINT_LABEL, user, key.public)
        fp = h(32, fp_input)
        cases.append(
            {
                "name": f"fingerprint of {user}",
                "op": "fingerprint",
                "input": {"user": user, "ik_seed": b64e(key.seed), "ik": b64e(key.public)},
                "output": {
                    "fp_input": b64e(fp_input),
                    "fp": b64e(fp),
                    "groups": [int.from_bytes(fp[i : i + 5], "big") for i in range(0, 30, 5)],
                    "digits": identity.fingerprint_digits(user, key.public),
                },
            }
        )
    ika, ikb = sk(f"{ALICE}/ik").public, sk(f"{BOB}/ik").public
    for (ua, ka), (ub, kb) in (((ALICE, ika), (BOB, ikb)), ((BOB, ikb), (ALICE, ika))):
        qr = identity.qr_bytes(ua, ka, ub, kb)
        expect = bytes([1]) + lp(ALICE, identity.fingerprint(ALICE, ika))
        expect += lp(BOB, identity.fingerprint(BOB, ikb))
        assert qr == expect
        cases.append(
            {
                "name": f"safety number, called by {ua}",
                "op": "safety_number",
                "input": {"user_a": ua, "ik_a": b64e(ka), "user_b": ub, "ik_b": b64e(kb)},
                "output": {
                    "safety_number": identity.safety_number(ua, ka, ub, kb),
                    "qr_bytes": b64e(qr),
                    "qr_payload": identity.qr_payload(ua, ka, ub, kb),
                },
            }
        )
    good = identity.qr_payload(ALICE, ika, BOB, ikb)
    changed = identity.qr_payload(ALICE, ika, BOB, sk("u_bob/ik2").public)
    for name, payload in (("QR from bob's side", good), ("QR made with another key", changed)):
        cases.append(
            {
                "name": name,
                "op": "verify_qr",
                "input": {
                    "payload": payload,
                    "me": BOB,
                    "my_ik": b64e(ikb),
                    "other": ALICE,
                    "other_ik": b64e(ika),
                },
                "output": {"valid": identity.verify_qr(payload, BOB, ikb, ALICE, ika)},
            }
        )
    not_ours = b64e(b"\x02" + lp(ALICE, bytes(32), BOB, bytes(32)))
    cases.append(
        {
            "name": "QR of another format version",
            "op": "verify_qr",
            "input": {
                "payload": not_ours,
                "me": BOB,
                "my_ik": b64e(ikb),
                "other": ALICE,
                "other_ik": b64e(ika),
            },
            "error": error_of(identity.verify_qr, not_ours, BOB, ikb, ALICE, ika),
        }
    )
    return cases


# ------------------------------------------------------------------------------------------
# pairwise.json (§3)
# ------------------------------------------------------------------------------------------


def pairwise_encrypt_case(
    name: str,
    t: str,
    body: dict[str, Any],
    spk_id: int,
    tag: str,
    head: tuple[int, bytes] | None = None,
) -> dict[str, Any]:
    s_dsk = sk(f"{ALICE}/d_phone/dsk")
    r_dx = dk(f"{BOB}/d_tablet/dx")
    r_spk = dk(f"{BOB}/d_tablet/spk/{spk_id}")
    eph = dk(f"pairwise/{tag}/e")
    nonce = seed(f"pairwise/{tag}/n")[:24]
    msg_id = seed(f"pairwise/{tag}/id")[:16]
    ts = TS + 5
    dh1 = bytes(sodium.crypto_scalarmult(eph.private, r_spk.public))
    dh2 = bytes(sodium.crypto_scalarmult(eph.private, r_dx.public))
    key_input = lp("relais/v1/pairwise-key", dh1, dh2, eph.public, r_spk.public, r_dx.public)
    key = h(32, key_input)
    inner_obj = {
        "t": t,
        "body": body,
        "su": ALICE,
        "sd": "d_phone",
        "ru": BOB,
        "rd": "d_tablet",
        "ts": ts,
        "id": b64e(msg_id),
    }
    if head is not None:
        inner_obj["dl"] = {"v": head[0], "h": b64e(head[1])}
    inner = json.dumps(inner_obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    p = inner.encode("utf-8")
    sig_input = lp("relais/v1/pairwise-sig") + lp(p)
    sig = bytes(sodium.crypto_sign(sig_input, s_dsk.secret)[:64])
    ad = lp("relais/v1/pairwise", "d_phone", "d_tablet", u32(spk_id), eph.public)
    ct = bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(sig + p, ad, nonce, key))
    payload = pairwise.encrypt(
        sender_user=ALICE,
        sender_device="d_phone",
        sender_key=s_dsk,
        recipient=pairwise.RecipientKeys(BOB, "d_tablet", r_dx.public, spk_id, r_spk.public),
        type=t,
        body=body,
        ts=ts,
        msg_id=msg_id,
        eph=eph,
        nonce=nonce,
        head=head,
    )
    assert json.loads(payload)["ct"] == b64e(ct), "module and spec text disagree"
    extra = {} if head is None else {"head": {"v": head[0], "h": b64e(head[1])}}
    return {
        "name": name,
        "op": "pairwise_encrypt",
        "input": {
            **extra,
            "sender_user": ALICE,
            "sender_device": "d_phone",
            "sender_sign_seed": b64e(s_dsk.seed),
            "recipient_user": BOB,
            "recipient_device": "d_tablet",
            "recipient_dh_private": b64e(r_dx.private),
            "prekey_id": spk_id,
            "prekey_private": b64e(r_spk.private),
            "eph_private": b64e(eph.private),
            "nonce": b64e(nonce),
            "msg_id": b64e(msg_id),
            "type": t,
            "body": body,
            "ts": ts,
        },
        "output": {
            "sender_sign_pub": b64e(s_dsk.public),
            "recipient_dh": b64e(r_dx.public),
            "prekey": b64e(r_spk.public),
            "e": b64e(eph.public),
            "dh1": b64e(dh1),
            "dh2": b64e(dh2),
            "key_input": b64e(key_input),
            "key": b64e(key),
            "inner": inner,
            "sig_input": b64e(sig_input),
            "sig": b64e(sig),
            "plaintext": b64e(sig + p),
            "ad": b64e(ad),
            "ct": b64e(ct),
            "payload": payload,
        },
    }


def open_case(
    name: str,
    payload: str,
    *,
    device: str = "d_tablet",
    prekeys: tuple[int, ...] = (7,),
    sign_pub: bytes | None = None,
    seen: tuple[str, ...] = (),
    server_sd: str | None = "d_phone",
) -> dict[str, Any]:
    dx = dk(f"{BOB}/{device}/dx")
    held = {k: dk(f"{BOB}/{device}/spk/{k}") for k in prekeys}
    sign_pub = sign_pub or sk(f"{ALICE}/d_phone/dsk").public
    inp = {
        "payload": payload,
        "my_user": BOB,
        "my_device": device,
        "my_dh_private": b64e(dx.private),
        "prekeys": {str(k): b64e(v.private) for k, v in held.items()},
        "server_sender_device": server_sd,
        "sender_sign_pub": b64e(sign_pub),
        "seen_ids": list(seen),
    }
    try:
        opened = pairwise.open_payload(
            payload,
            my_user=BOB,
            my_device=device,
            my_dh=dx,
            prekeys=held,
            server_sender_device=server_sd,
        ).verify(sign_pub, set(seen))
    except CryptoError as err:
        return {"name": name, "op": "pairwise_open", "input": inp, "error": err.code}
    out = {
        "su": opened.su,
        "sd": opened.sd,
        "ru": opened.ru,
        "rd": opened.rd,
        "type": opened.type,
        "body": opened.body,
        "ts": opened.ts,
        "id": opened.id,
    }
    if opened.head is not None:
        out["head"] = {"v": opened.head[0], "h": b64e(opened.head[1])}
    return {"name": name, "op": "pairwise_open", "input": inp, "output": out}


def with_header(payload: str, **changes: Any) -> str:
    obj = json.loads(payload)
    obj.update(changes)
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def pairwise_cases() -> list[dict[str, Any]]:
    room_key = {
        "room": "r_ward3",
        "sid": b64e(seed("sid")[:16]),
        "i": 0,
        "ck": b64e(seed("ck0")),
        "sd": "d_phone",
        "su": ALICE,
        "me": 4,
        "fwd": False,
    }
    enc = pairwise_encrypt_case("room_key to bob's tablet, pre-key 7", "room_key", room_key, 7, "a")
    req = pairwise_encrypt_case(
        "key_request with non-ASCII text, pre-key 8",
        "key_request",
        {
            "room": "r_ward3",
            "sd": "d_laptop",
            "sid": room_key["sid"],
            "i": 3,
            "req": "AAECAwQFBgc",
            "note": "Chambre 12 — épaule",
        },
        8,
        "b",
    )
    gossip = pairwise_encrypt_case(
        "room_key carrying alice's device-list head v4, pre-key 7",
        "room_key",
        room_key,
        7,
        "c",
        head=(4, seed("head/v4")),
    )
    p, p8 = enc["output"]["payload"], req["output"]["payload"]
    hdr = json.loads(p)
    cases = [enc, req, gossip]
    cases.append(open_case("open room_key with a device-list head", gossip["output"]["payload"]))
    cases.append(open_case("open room_key", p))
    cases.append(open_case("open key_request (pre-keys 7 and 8 held)", p8, prekeys=(7, 8)))
    cases.append(open_case("pre-key 7 erased", p, prekeys=(8,)))
    cases.append(open_case("replayed id", p, seen=(b64e(seed("pairwise/a/id")[:16]),)))
    cases.append(open_case("one bit of ct flipped", with_header(p, ct=flip_b64(hdr["ct"], 70, 1))))
    cases.append(open_case("one bit of e flipped", with_header(p, e=flip_b64(hdr["e"], 0, 0))))
    cases.append(open_case("one bit of n flipped", with_header(p, n=flip_b64(hdr["n"], 23, 7))))
    cases.append(open_case("header sd rewritten", with_header(p, sd="d_laptop"), server_sd=None))
    cases.append(open_case("header spk rewritten", with_header(p, spk=8), prekeys=(7, 8)))
    cases.append(open_case("for another device of the same user", p, device="d_phone2"))
    cases.append(open_case("server reports another sender device", p, server_sd="d_laptop"))
    cases.append(
        open_case(
            "signature checked under another device key",
            p,
            sign_pub=sk(f"{ALICE}/d_laptop/dsk").public,
        )
    )
    return cases


# ------------------------------------------------------------------------------------------
# backup.json (§6.3)
# ------------------------------------------------------------------------------------------

OPS, MEM = 1, 8192 * 1024


def backup_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    bk, ik_seed = seed("backup/bk"), seed(f"{ALICE}/ik")
    salt, nonce = seed("backup/salt")[:16], seed("backup/n")[:24]
    passphrase = "Dr Café soigne l'épaule"  # precomposed é
    nfd = unicodedata.normalize("NFD", passphrase)
    pw = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    wk = bytes(
        sodium.crypto_pwhash_alg(32, pw, salt, OPS, MEM, sodium.crypto_pwhash_ALG_ARGON2ID13)
    )
    ad = lp("relais/v1/backup-key", ALICE)
    ct = bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(bk + ik_seed, ad, nonce, wk))
    info = backup.make_backup_info(
        ALICE, passphrase, bk, ik_seed, ops=OPS, mem=MEM, salt=salt, nonce=nonce
    )
    assert json.loads(info)["ct"] == b64e(ct)
    cases.append(
        {
            "name": "backup info, ops=1, mem=8 MiB",
            "op": "make_backup_info",
            "input": {
                "user": ALICE,
                "passphrase": passphrase,
                "bk": b64e(bk),
                "ik_seed": b64e(ik_seed),
                "ops": OPS,
                "mem": MEM,
                "salt": b64e(salt),
                "nonce": b64e(nonce),
            },
            "output": {
                "passphrase_bytes": b64e(pw),
                "wk": b64e(wk),
                "ad": b64e(ad),
                "ct": b64e(ct),
                "info": info,
            },
        }
    )

    def unlock(name: str, text: str, user: str, phrase: str) -> dict[str, Any]:
        inp = {"info": text, "user": user, "passphrase": phrase}
        try:
            got_bk, got_seed = backup.unlock_backup(text, user, phrase)
        except CryptoError as err:
            return {"name": name, "op": "unlock_backup", "input": inp, "error": err.code}
        out = {"bk": b64e(got_bk), "ik_seed": b64e(got_seed)}
        return {"name": name, "op": "unlock_backup", "input": inp, "output": out}

    obj = json.loads(info)

    def edited(**changes: Any) -> str:
        return json.dumps({**obj, **changes}, separators=(",", ":"), sort_keys=True)

    cases.append(unlock("unlock", info, ALICE, passphrase))
    cases.append(unlock("unlock with the NFD spelling", info, ALICE, nfd))
    cases.append(unlock("wrong passphrase", info, ALICE, passphrase + "!"))
    cases.append(unlock("info of another user", info, BOB, passphrase))
    cases.append(unlock("user field rewritten", edited(user=BOB), BOB, passphrase))
    cases.append(unlock("ops raised to 2", edited(ops=2), ALICE, passphrase))
    cases.append(unlock("ops above the maximum", edited(ops=11), ALICE, passphrase))
    cases.append(unlock("ops zero", edited(ops=0), ALICE, passphrase))
    cases.append(unlock("mem not whole KiB", edited(mem=MEM + 1), ALICE, passphrase))
    cases.append(unlock("mem above 1 GiB", edited(mem=2**30 + 1024), ALICE, passphrase))
    cases.append(unlock("mem below the minimum", edited(mem=4096), ALICE, passphrase))
    cases.append(unlock("salt flipped", edited(salt=flip_b64(obj["salt"])), ALICE, passphrase))

    # entries
    room, sd, sid = "r_ward3", "d_phone", b64e(seed("sid")[:16])
    id_input = lp("relais/v1/backup-id", room, sd, seed("sid")[:16])
    eid = b64e(h(16, id_input, key=bk))
    assert eid == backup.entry_id(bk, room, sd, sid)
    ek = h(32, lp("relais/v1/backup-entry-key"), key=bk)
    export = {
        "room": room,
        "sid": sid,
        "i": 0,
        "ck": b64e(seed("ck0")),
        "sd": sd,
        "su": ALICE,
        "me": 4,
        "fwd": True,
    }
    plain = json.dumps(export, separators=(",", ":"), sort_keys=True).encode()
    en = seed("backup/entry-n")[:24]
    ead = lp("relais/v1/backup-entry", ALICE, eid)
    data = b64e(en + bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plain, ead, en, ek)))
    assert data == backup.seal_entry(bk, ALICE, eid, export, nonce=en)
    cases.append(
        {
            "name": "entry of one session",
            "op": "seal_entry",
            "input": {
                "bk": b64e(bk),
                "user": ALICE,
                "room": room,
                "sd": sd,
                "sid": sid,
                "export": export,
                "nonce": b64e(en),
            },
            "output": {
                "id_input": b64e(id_input),
                "id": eid,
                "ek": b64e(ek),
                "ad": b64e(ead),
                "plaintext": b64e(plain),
                "data": data,
            },
        }
    )

    def open_e(name: str, key: bytes, user: str, ident: str, d: str) -> dict[str, Any]:
        inp = {"bk": b64e(key), "user": user, "id": ident, "data": d}
        try:
            out = backup.open_entry(key, user, ident, d)
        except CryptoError as err:
            return {"name": name, "op": "open_entry", "input": inp, "error": err.code}
        return {"name": name, "op": "open_entry", "input": inp, "output": {"export": out}}

    head_id = b64e(h(16, lp("relais/v1/backup-devices-head"), key=bk))
    assert head_id == backup.head_entry_id(bk)
    head_export = {
        "t": "relais.devices-head.v1",
        "user": ALICE,
        "ver": 4,
        "h": b64e(seed("head/v4")),
    }
    hn = seed("backup/head-n")[:24]
    head_plain = json.dumps(head_export, separators=(",", ":"), sort_keys=True).encode()
    head_ad = lp("relais/v1/backup-entry", ALICE, head_id)
    head_data = b64e(
        hn + bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(head_plain, head_ad, hn, ek))
    )
    assert head_data == backup.seal_head(bk, ALICE, 4, seed("head/v4"), nonce=hn)
    cases.append(
        {
            "name": "device-list head entry, v4",
            "op": "seal_head",
            "input": {
                "bk": b64e(bk),
                "user": ALICE,
                "ver": 4,
                "hash": b64e(seed("head/v4")),
                "nonce": b64e(hn),
            },
            "output": {
                "id": head_id,
                "ad": b64e(head_ad),
                "plaintext": b64e(head_plain),
                "data": head_data,
            },
        }
    )

    def open_h(name: str, user: str, d: str) -> dict[str, Any]:
        inp = {"bk": b64e(bk), "user": user, "data": d}
        try:
            ver, got = backup.open_head(bk, user, d)
        except CryptoError as err:
            return {"name": name, "op": "open_head", "input": inp, "error": err.code}
        return {
            "name": name,
            "op": "open_head",
            "input": inp,
            "output": {"ver": ver, "hash": b64e(got)},
        }

    cases.append(open_h("open the head entry", ALICE, head_data))
    cases.append(open_h("head entry of another user", BOB, head_data))
    cases.append(open_h("a session entry is not a head", ALICE, data))

    other_id = backup.entry_id(bk, room, "d_laptop", sid)
    cases.append(open_e("open entry", bk, ALICE, eid, data))
    cases.append(open_e("entry under another id", bk, ALICE, other_id, data))
    cases.append(open_e("entry of another user", bk, BOB, eid, data))
    cases.append(open_e("entry with another backup key", seed("backup/bk2"), ALICE, eid, data))
    cases.append(open_e("entry with one bit flipped", bk, ALICE, eid, flip_b64(data, 40, 2)))
    cases.append(open_e("entry shorter than nonce and tag", bk, ALICE, eid, data[:40]))
    return cases


def build() -> dict[str, dict[str, Any]]:
    return {
        "identity.json": {"spec": "docs/crypto.md §2", "cases": identity_cases()},
        "pairwise.json": {"spec": "docs/crypto.md §3", "cases": pairwise_cases()},
        "backup.json": {"spec": "docs/crypto.md §6.3", "cases": backup_cases()},
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def main() -> None:
    for name, doc in build().items():
        (HERE / name).write_text(render(doc), encoding="utf-8")
        print(f"wrote tests/vectors/{name}: {len(doc['cases'])} cases")


if __name__ == "__main__":
    main()

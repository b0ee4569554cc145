"""What end-to-end encryption costs a client, measured in this process (docs/crypto.md §4-§6).

    python -m bench.crypto_costs [--quick] [--no-doc]

The issue's goal is a per-message cost that does not grow with the room and stays under 100 µs
in Python here. Room size can only enter through key sharing, so each room is built for real in
memory: N devices with their own keys, the sender's session shared to the N-1 others through
pairwise `room_key` messages they open and verify, and every receiver reading the first message.
Then the sender's encrypt and one receiver's verify+decrypt are timed, sharing is timed on its own
and amortised over a session's life, and both paths are taken apart (each part timed alone, plus
a cProfile run of verify+decrypt) to show where their time goes. Rotation, adding a member and
the key backup are timed the same way.

Only crypto/ is exercised, never the network or the client's bookkeeping. Each figure is the
median of several repeats of many operations, with the collector off while timing (as `timeit`
does); the machine is shared, so the CPU others used during the run is reported with it.
`make bench` runs it first (`bench.run_all`, section `crypto`); run alone, it rewrites only its
own part of docs/performance.md and bench/results.json.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from crypto import backup, group, membership, pairwise
from crypto.encoding import b64d, b64e, loads_object, lp
from crypto.keys import DhKey, SigningKey

from . import doc_sections, results_doc

ROOM = "r_bench"
ROOM_SIZES = (2, 20, 200)
ROTATE_AFTER_MESSAGES = 100  # docs/crypto.md §6.1: a session is replaced after 100 messages
TS = 1_800_000_000_000
# A 200-byte text content (its JSON is exactly 200 bytes), padded to the 256-byte bucket.
CONTENT = {"type": "text", "body": ("Relais bench text, " * 10)[:175]}
ME, MH = 3, bytes(range(32))  # the sender's chain head (count, hash) named in every envelope
ADD_USERS, ADD_DEVICES_PER_USER, ADD_SESSIONS = 25, 2, 10
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Plan:
    number: int  # operations per repeat for the per-message figures
    repeats: int
    backup_repeats: int  # argon2id at 64 MiB takes ~100 ms per unlock: fewer repeats


FULL = Plan(number=1000, repeats=5, backup_repeats=3)
QUICK = Plan(number=200, repeats=3, backup_repeats=1)


# -- timing ----------------------------------------------------------------------------------


def _runs(batch: Callable[[int], int], repeats: int) -> list[float]:
    """µs per operation of each repeat; `batch(r)` does repeat r and returns how many operations
    it did, so inputs prepared per repeat (envelopes, state copies) are never reused."""
    return _interleaved([batch], repeats)[0]


def _interleaved(batches: list[Callable[[int], int]], repeats: int) -> list[list[float]]:
    """`_runs` for several batches taken in turns, so a burst of load hits them all alike."""
    out: list[list[float]] = [[] for _ in batches]
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(repeats):
            for runs, batch in zip(out, batches, strict=True):
                t0 = time.perf_counter()
                ops = batch(r)
                runs.append((time.perf_counter() - t0) / ops * 1e6)
    finally:
        if enabled:
            gc.enable()
    return out


def _stat(runs_us: list[float]) -> dict[str, Any]:
    return {
        "us": statistics.median(runs_us),
        "min_us": min(runs_us),
        "max_us": max(runs_us),
        "runs_us": [round(x, 2) for x in runs_us],
    }


def _loop(fn: Callable[[], object], number: int) -> Callable[[int], int]:
    def batch(_r: int) -> int:
        for _ in range(number):
            fn()
        return number

    return batch


def _each(fn: Callable[[], object], number: int, repeats: int) -> dict[str, Any]:
    """For operations whose inputs can be reused as they are."""
    return _stat(_runs(_loop(fn, number), repeats))


# -- devices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    """A device's own keys, as a client holds them (signing key, X25519 key, one pre-key)."""

    user: str
    id: str
    dsk: SigningKey
    dx: DhKey
    prekey: DhKey
    prekey_id: int = 1

    @classmethod
    def make(cls, user: str, device: str) -> Device:
        return cls(user, device, SigningKey.generate(), DhKey.generate(), DhKey.generate())

    def keys(self) -> pairwise.RecipientKeys:
        """What a sender takes from this device's verified device list and pre-key."""
        return pairwise.RecipientKeys(
            self.user, self.id, self.dx.public, self.prekey_id, self.prekey.public
        )

    def send(self, to: pairwise.RecipientKeys, body: dict[str, Any]) -> str:
        return pairwise.encrypt(
            sender_user=self.user,
            sender_device=self.id,
            sender_key=self.dsk,
            recipient=to,
            type="room_key",
            body=body,
            ts=TS,
        )

    def receive_share(self, payload: str, sender: Device, seen: set[str]) -> group.InboundSession:
        """Open, verify under the sender's signing key, store: what a device does per share."""
        opened = pairwise.open_payload(
            payload,
            my_user=self.user,
            my_device=self.id,
            my_dh=self.dx,
            prekeys={self.prekey_id: self.prekey},
        ).verify(sender.dsk.public, seen)
        return group.InboundSession.from_share(opened.body)


def _devices(n: int, tag: str, per_user: int = 1) -> list[Device]:
    return [Device.make(f"u_{tag}{k // per_user:03d}", f"d_{tag}{k:03d}") for k in range(n)]


def _read(sess: group.InboundSession, env: dict[str, Any], sign_pub: bytes, msg_id: str) -> Any:
    """A receiver's path for one message, in the order of docs/crypto.md §4.2."""
    hdr = group.parse_envelope(env)
    group.verify_envelope(hdr, ROOM, sign_pub)
    return sess.decrypt(hdr, ROOM, msg_id)


def _check(ok: bool, what: str) -> None:
    # A bench that measures a broken setup measures nothing: stop rather than print figures.
    if not ok:
        raise RuntimeError(f"bench setup is wrong: {what}")


# -- 1 and 4: per message, sharing, rotation --------------------------------------------------


def _rotation(sender: Device, receivers: list[Device], plan: Plan) -> dict[str, Any]:
    """A new session and one pairwise `room_key` to every other device of the room."""
    keys = [r.keys() for r in receivers]
    number = max(1, 200 // len(keys))

    def batch(_r: int) -> int:
        for _ in range(number):
            sess = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
            body = sess.share_body(sender.user, sender.id)
            for k in keys:
                sender.send(k, body)
        return number

    return _stat(_runs(batch, plan.repeats))


def _share_receive(sender: Device, receiver: Device, plan: Plan) -> dict[str, Any]:
    """One receiver's cost per share: open the pairwise message, verify it, store the session."""
    number = max(1, plan.number // 5)
    body = group.OutboundSession.new(ROOM, created_ms=TS, me=ME).share_body(sender.user, sender.id)
    to = receiver.keys()
    payloads = [sender.send(to, body) for _ in range(number * plan.repeats)]
    seen: set[str] = set()

    def batch(r: int) -> int:
        for p in payloads[r * number : (r + 1) * number]:
            receiver.receive_share(p, sender, seen)
        return number

    return _stat(_runs(batch, plan.repeats))


def per_message(n_devices: int, plan: Plan) -> dict[str, Any]:
    devices = _devices(n_devices, f"n{n_devices}_")
    sender, receivers = devices[0], devices[1:]
    out = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
    body = out.share_body(sender.user, sender.id)
    inbound = [r.receive_share(sender.send(r.keys(), body), sender, set()) for r in receivers]
    first = out.encrypt(CONTENT, su=sender.user, sd=sender.id, dsk=sender.dsk, me=ME, mh=MH)
    _check(
        all(_read(s, first, sender.dsk.public, "m_first") == CONTENT for s in inbound),
        "a receiver could not read the first message",
    )

    envs: list[dict[str, Any]] = []

    def encrypt(_r: int) -> int:
        for _ in range(plan.number):
            envs.append(
                out.encrypt(CONTENT, su=sender.user, sd=sender.id, dsk=sender.dsk, me=ME, mh=MH)
            )
        return plan.number

    enc = _stat(_runs(encrypt, plan.repeats))

    reader, pub = inbound[-1], sender.dsk.public
    ids = [f"m_{k}" for k in range(len(envs))]
    last: list[Any] = [None]

    def decrypt(r: int) -> int:
        for k in range(r * plan.number, (r + 1) * plan.number):
            last[0] = _read(reader, envs[k], pub, ids[k])
        return plan.number

    dec = _stat(_runs(decrypt, plan.repeats))
    _check(last[0] == CONTENT, "the timed decrypts did not give the content back")

    rot = _rotation(sender, receivers, plan)
    return {
        "devices": n_devices,
        "receivers_holding_session": len(inbound),
        "encrypt": enc,
        "decrypt": dec,
        "rotation": rot,
        "share_amortised_us": rot["us"] / ROTATE_AFTER_MESSAGES,
        "share_receive": _share_receive(sender, receivers[-1], plan),
    }


# -- where verify+decrypt time goes ----------------------------------------------------------


def _category(filename: str, func: str) -> str:
    if "_sodium." in func:
        return "libsodium (C calls through cffi)"
    if "/nacl/" in filename:
        return "PyNaCl argument checks and buffers (Python)"
    if f"{os.sep}crypto{os.sep}" in filename:
        return "crypto/ (group.py, encoding.py: checks, lp, b64)"
    if "json" in filename or "base64" in filename or "binascii" in func or "json" in func:
        return "stdlib json and base64"
    return "Python built-ins (isinstance, len, bytes, dict, ...)"


def _profile(
    reader: group.InboundSession, envs: list[dict[str, Any]], pub: bytes
) -> dict[str, Any]:
    prof = cProfile.Profile()
    prof.enable()
    for k, env in enumerate(envs):
        _read(reader, env, pub, f"p_{k}")
    prof.disable()
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows = [
        (fn, func, nc, tt)
        for (fn, _line, func), (_cc, nc, tt, _ct, _callers) in raw.items()
        if not fn.endswith("crypto_costs.py") and "disable" not in func
    ]
    total = sum(tt for *_, tt in rows)
    cats: dict[str, float] = {}
    for fn, func, _nc, tt in rows:
        cats[_category(fn, func)] = cats.get(_category(fn, func), 0.0) + tt
    top = sorted(rows, key=lambda r: -r[3])[:10]
    n = len(envs)
    return {
        "messages": n,
        "profiled_us_per_message": total / n * 1e6,
        "categories": sorted(
            ({"category": c, "pct": 100 * t / total} for c, t in cats.items()),
            key=lambda c: -float(c["pct"]),
        ),
        "top": [
            {
                "function": f"{func} ({Path(fn).name})" if fn != "~" else func,
                "pct": 100 * tt / total,
                "calls_per_message": nc / n,
            }
            for fn, func, nc, tt in top
        ],
    }


Part = tuple[str, str, Callable[[], object]]  # (label, kind, one operation)


def _split(whole: Callable[[int], int], parts: list[Part], plan: Plan) -> dict[str, Any]:
    """The whole path and each part in turns within each repeat, fastest repeat of each kept:
    on a shared machine that is the closest to each part's own cost, and the parts stay
    comparable with the whole. What the parts do not cover is the Python around them."""
    runs = _interleaved([whole] + [_loop(fn, plan.number) for *_, fn in parts], plan.repeats * 2)
    total, stats = _stat(runs[0]), [_stat(r) for r in runs[1:]]
    summed = sum(
        st["min_us"] for (_n, kind, _f), st in zip(parts, stats, strict=True) if kind != "reference"
    )
    return {
        "total": total,
        "parts": [
            {"part": name, "kind": kind, **st}
            for (name, kind, _fn), st in zip(parts, stats, strict=True)
        ],
        "rest_us": total["min_us"] - summed,
    }


def breakdown(plan: Plan) -> dict[str, Any]:
    """Each part of one encrypt and of one verify+decrypt timed alone on the same 256-byte
    message, its libsodium calls made through PyNaCl with prebuilt inputs, plus a cProfile run
    of verify+decrypt."""
    sender, receiver = _devices(2, "b")
    out = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
    body = out.share_body(sender.user, sender.id)
    reader = receiver.receive_share(sender.send(receiver.keys(), body), sender, set())
    number = max(1, plan.number // 2)
    count = number * plan.repeats * 2
    envs: list[dict[str, Any]] = []

    def encrypt(_r: int) -> int:
        for _ in range(number):
            envs.append(
                out.encrypt(CONTENT, su=sender.user, sd=sender.id, dsk=sender.dsk, me=ME, mh=MH)
            )
        return number

    pub = sender.dsk.public

    def decrypt(r: int) -> int:
        for k in range(r * number, (r + 1) * number):
            _read(reader, envs[k], pub, f"m_{k}")
        return number

    env = out.encrypt(CONTENT, su=sender.user, sd=sender.id, dsk=sender.dsk, me=ME, mh=MH)
    hdr = group.parse_envelope(env)
    ad = hdr.ad(ROOM)
    signed_part = lp(group.L_SIG) + ad + lp(hdr.ct)
    signed = hdr.sig + signed_part
    ck = bytes(range(32, 64))
    mk, nonce = group.message_keys(ck)
    text = group._encode_content(CONTENT)
    padded = group.pad(text)
    ct = bytes(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, nonce, mk))
    raw_sid = b64d(hdr.sid, group.SID_BYTES)
    label_msg, label_chain = lp(group.L_MSG), lp(group.L_CHAIN)

    def ratchet_stdlib() -> None:
        hashlib.blake2b(label_msg, key=ck, digest_size=56).digest()
        hashlib.blake2b(label_chain, key=ck, digest_size=32).digest()

    def ratchet_pynacl() -> None:
        group.message_keys(ck)
        group.next_ck(ck)

    ratchet: list[Part] = [
        ("ratchet: 2 BLAKE2b (`message_keys`, `next_ck`) through PyNaCl", "mixed", ratchet_pynacl),
        (
            "&nbsp;&nbsp;the same 2 BLAKE2b in C alone (stdlib `hashlib.blake2b`, reference)",
            "reference",
            ratchet_stdlib,
        ),
    ]
    enc_parts: list[Part] = [
        (
            "Ed25519 sign (libsodium `crypto_sign`)",
            "libsodium",
            lambda: sodium.crypto_sign(signed_part, sender.dsk.secret),
        ),
        (
            "content to canonical JSON (`group._encode_content`)",
            "python",
            lambda: group._encode_content(CONTENT),
        ),
        ("`pad` (libsodium pad)", "mixed", lambda: group.pad(text)),
        *ratchet,
        (
            "XChaCha20-Poly1305 encrypt (libsodium via PyNaCl)",
            "libsodium",
            lambda: sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, nonce, mk),
        ),
        (
            "associated data (`group_ad`)",
            "python",
            lambda: group.group_ad(ROOM, raw_sid, hdr.i, hdr.su, hdr.sd, ME, MH),
        ),
        (
            "4 base64url encodings (ciphertext, sid, head, signature)",
            "python",
            lambda: (b64e(ct), b64e(raw_sid), b64e(MH), b64e(hdr.sig)),
        ),
    ]
    dec_parts: list[Part] = [
        (
            "Ed25519 verify (libsodium `crypto_sign_open`)",
            "libsodium",
            lambda: sodium.crypto_sign_open(signed, pub),
        ),
        (
            "`parse_envelope`: field checks, 4 strict base64url decodes",
            "python",
            lambda: group.parse_envelope(env),
        ),
        (
            "associated data, built twice (verify and decrypt): `Header.ad`",
            "python",
            lambda: (hdr.ad(ROOM), hdr.ad(ROOM)),
        ),
        *ratchet,
        (
            "XChaCha20-Poly1305 decrypt (libsodium via PyNaCl)",
            "libsodium",
            lambda: sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, ad, nonce, mk),
        ),
        ("`unpad` (libsodium unpad + bucket check)", "mixed", lambda: group.unpad(padded)),
        (
            "content from strict JSON (`encoding.loads_object`, as `decrypt` does)",
            "python",
            lambda: loads_object(text),
        ),
    ]
    enc = _split(encrypt, enc_parts, plan)
    envs.extend(
        out.encrypt(CONTENT, su=sender.user, sd=sender.id, dsk=sender.dsk, me=ME, mh=MH)
        for _ in range(count + plan.number - len(envs))
    )
    dec = _split(decrypt, dec_parts, plan)
    dec["profile"] = _profile(reader, envs[count:], pub)
    return {"encrypt": enc, "decrypt": dec}


# -- 5: adding a member ----------------------------------------------------------------------


def add_member(plan: Plan) -> dict[str, Any]:
    """A 50-device room (25 users x 2 devices, chain of 25 events) gets a user with 2 devices."""
    devices = _devices(ADD_USERS * ADD_DEVICES_PER_USER, "a", ADD_DEVICES_PER_USER)
    users = sorted({d.user for d in devices})
    iks = {u: SigningKey.generate() for u in [*users, "u_new"]}
    owner, adder = users[0], devices[0]
    wires = [
        membership.make_event(
            iks[owner],
            room=ROOM,
            n=1,
            prev=b"",
            action="create",
            actor=owner,
            target=owner,
            role="owner",
            consent=None,
            history="shared",
            ts=TS,
        )
    ]
    for n, user in enumerate(users[1:], start=2):
        wires.append(
            membership.make_event(
                iks[owner],
                room=ROOM,
                n=n,
                prev=membership.event_hash(wires[-1]),
                action="add",
                actor=owner,
                target=user,
                role="member",
                consent=None,
                history="shared",
                ts=TS,
            )
        )

    def ik_of(user: str) -> bytes | None:
        key = iks.get(user)
        return key.public if key is not None else None

    state = membership.verify_chain(ROOM, wires, ik_of)
    _check(len(state.members) == ADD_USERS, "the chain does not list every member")

    def sign() -> str:
        return membership.make_event(
            iks[owner],
            room=ROOM,
            n=state.head_n + 1,
            prev=state.head_hash,
            action="add",
            actor=owner,
            target="u_new",
            role="member",
            consent=None,
            history="shared",
            ts=TS,
        )

    number = max(1, plan.number // 10)
    signed = _each(sign, number, plan.repeats)
    add_wire = sign()
    extended = [*wires, add_wire]

    copies = [state.copy() for _ in range(number * plan.repeats)]

    def apply(r: int) -> int:
        for st in copies[r * number : (r + 1) * number]:
            st.apply(add_wire, iks[owner].public)
        return number

    applied = _stat(_runs(apply, plan.repeats))
    _check("u_new" in copies[0].members, "the add event was not applied")

    # The adder's sessions of the room: its own and those of 9 other senders, from index 0.
    held = []
    for sender in devices[: ADD_SESSIONS * 2 : 2]:
        sess = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
        held.append(group.InboundSession.from_share(sess.share_body(sender.user, sender.id)))
    new_devices = [Device.make("u_new", f"d_new{k}") for k in range(ADD_DEVICES_PER_USER)]
    to = [d.keys() for d in new_devices]
    fwd_number = max(1, number // 10)

    def forward(_r: int) -> int:
        for _ in range(fwd_number):
            for k in to:
                for sess in held:
                    adder.send(k, sess.export_body())
        return fwd_number

    forwarded = _stat(_runs(forward, plan.repeats))

    def others() -> None:
        membership.verify_chain(ROOM, extended, ik_of, known=state)

    def scratch() -> None:
        membership.verify_chain(ROOM, extended, ik_of)

    other = _each(others, number, plan.repeats)
    fresh = _each(scratch, max(1, number // 10), plan.repeats)

    newcomer = new_devices[0]
    body = held[0].export_body()
    payloads = [adder.send(to[0], body) for _ in range(number * plan.repeats)]
    seen: set[str] = set()

    def receive(r: int) -> int:
        for p in payloads[r * number : (r + 1) * number]:
            newcomer.receive_share(p, adder, seen)
        return number

    received = _stat(_runs(receive, plan.repeats))
    return {
        "room_devices": len(devices),
        "room_users": ADD_USERS,
        "chain_events": len(wires),
        "sessions_forwarded": len(held),
        "new_devices": len(new_devices),
        "sign": signed,
        "apply": applied,
        "forward": forwarded,
        "other_device_verify": other,
        "new_device_chain": fresh,
        "new_device_receive_share": received,
    }


# -- 6: key backup ---------------------------------------------------------------------------


def key_backup(plan: Plan) -> dict[str, Any]:
    user, bk, seed = "u_backup", bytes(range(32)), bytes(range(32, 64))
    res: dict[str, Any] = {}
    for name, ops, mem, number, repeats in (
        ("default", backup.DEFAULT_OPS, backup.DEFAULT_MEM, 1, plan.backup_repeats),
        ("minimum", backup.MIN_OPS, backup.MIN_MEM, 20, plan.repeats),
    ):
        info = backup.make_backup_info(user, PASSPHRASE, bk, seed, ops=ops, mem=mem)
        _check(backup.unlock_backup(info, user, PASSPHRASE) == (bk, seed), "backup round trip")

        def unlock(info: str = info) -> None:
            backup.unlock_backup(info, user, PASSPHRASE)

        res[name] = {"ops": ops, "mem": mem, **_each(unlock, number, repeats)}

    sess = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
    inbound = group.InboundSession.from_share(sess.share_body("u_s", "d_s"))
    export = inbound.export_body()
    eid = backup.entry_id(bk, inbound.room, inbound.sd, inbound.sid)
    _check(
        backup.open_entry(bk, user, eid, backup.seal_entry(bk, user, eid, export)) == export,
        "backup entry round trip",
    )

    def with_id() -> None:
        backup.seal_entry(bk, user, backup.entry_id(bk, ROOM, "d_s", inbound.sid), export)

    res["seal_entry"] = _each(
        lambda: backup.seal_entry(bk, user, eid, export), plan.number, plan.repeats
    )
    res["entry_id_and_seal"] = _each(with_id, plan.number, plan.repeats)
    return res


# -- the run ---------------------------------------------------------------------------------


def _cpu() -> tuple[float, float, float]:
    """(CPU-seconds the whole machine was busy, CPU-seconds of this process, monotonic time)."""
    try:
        vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        busy = (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        busy = float("nan")
    t = os.times()
    return busy, t.user + t.system, time.monotonic()


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
        load = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        load = ["?"] * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pynacl": version("pynacl"),
        "loadavg": load,
    }


def run(*, quick: bool = False, command: str = "python -m bench.crypto_costs") -> dict[str, Any]:
    plan = QUICK if quick else FULL
    machine = _machine()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    busy0, own0, wall0 = _cpu()
    res: dict[str, Any] = {
        "date": date.stdout.strip(),
        "command": command,
        "machine": machine,
        "plan": {"number": plan.number, "repeats": plan.repeats},
        "rotate_after_messages": ROTATE_AFTER_MESSAGES,
        "content_bytes": len(json.dumps(CONTENT, separators=(",", ":"))),
    }
    res["per_message"] = [per_message(n, plan) for n in ROOM_SIZES]
    res["breakdown"] = breakdown(plan)
    res["add_member"] = add_member(plan)
    res["backup"] = key_backup(plan)
    busy1, own1, wall1 = _cpu()
    res["wall_s"] = wall1 - wall0
    res["others_cpu_pct"] = 100 * ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0)
    return res


def main(argv: list[str] | None = None) -> int:
    """Replaces only the E2EE figures in bench/results.json and the doc: the server benches'
    header (their command, machine and load) stays theirs, since this section carries its own."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.crypto_costs", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="fewer operations and repeats")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    args = parser.parse_args(argv)
    section = run(quick=args.quick, command=" ".join(["python -m bench.crypto_costs", *argv]))
    if args.no_doc:
        print("\n".join(results_doc.crypto_lines(section)))
        return 0
    res: dict[str, Any] = {}
    if results_doc.RESULTS.exists():
        res = json.loads(results_doc.RESULTS.read_text())
    res["crypto"] = section
    res.setdefault("dates", {})["crypto"] = section["date"]
    results_doc.RESULTS.write_text(json.dumps(res, indent=1, default=str) + "\n")
    if "machine" in res and "config" in res:
        results_doc.write_doc(results_doc.render(res, res.get("argv", [])))
    else:
        results_doc.write_doc("\n".join(results_doc.crypto_lines(section)) + "\n")
    print(
        f"rewrote the E2EE figures of {doc_sections.DOC} and {results_doc.RESULTS}", file=sys.stderr
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

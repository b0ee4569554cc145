"""What end-to-end encryption costs in the browser, next to the Python client (docs/crypto.md).

    python -m bench.web_crypto [--quick] [--no-doc | --render-only]

The browser side is the app's own JavaScript twin of the protocol (web_client/src/crypto, on the
noble libraries), bundled by esbuild with the app build's settings from
web_client/bench/crypto_bench.js into a scratch directory, served from 127.0.0.1 (cross-origin
isolated, so `performance.now()` has its fine resolution) and run in headless Chromium. The
Python side is crypto/ on PyNaCl (libsodium), in this process. Both time the same operations on
the same inputs, taken in turns (the Python twin of an operation, then the browser's):

- group messages (§4) of 200 and 4,000 bytes: encrypt+sign, parse+verify+decrypt;
- a 3-device list's verification (§2.1) and a signed pre-key's (§2.2);
- the pairwise channel (§3): the sender's set-up with a new device (verify its user's device
  list and its pre-key, then the first message: ephemeral X25519, two X25519, Ed25519, AEAD), a
  message with keys already verified, and the receiver's side of both;
- attachments (§7): a 4 MiB file encrypted and decrypted, reported per MiB;
- the key backup (§6.3): unlocking at the default argon2id cost (ops 3, 64 MiB);
- a 500-message room history read by a device that just opened the room: 5 pairwise `room_key`
  shares opened and verified, then 500 messages parsed, verified and decrypted in server order
  (5 senders, one session of 100 messages each, the rotation limit of §6.1); in the browser also
  the first such read in a fresh page, before the JIT has seen any of it;
- the primitives under them, to show what dominates; in the browser also WebCrypto's native
  Ed25519 and X25519, as a reference for what a native path would cost.

The shared inputs (device lists, pre-keys, the history, the backup) are made here by crypto/ and
handed to the page, so the browser also proves it reads what Python wrote. Each operation is
calibrated first (one run to estimate its cost, enough operations per repeat to fill the target
time, one untimed warm-up batch, the JIT's); then every operation's repeats are taken in rounds,
one repeat of each per round, so a burst of load from the shared machine spreads over all of
them instead of landing on one (median, fastest, slowest). Results: bench/web_crypto.json
and "## 9. E2EE costs in the browser" in docs/performance.md. `make bench` runs it
(`bench.run_all --only webcrypto`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from bench import doc_sections
from bench.crypto_costs import CONTENT, ME, MH, PASSPHRASE, ROOM, TS, Device, _read
from bench.procs import free_port
from crypto import attachments, backup, group, identity, pairwise
from crypto.encoding import b64d, b64e, dumps, h
from crypto.keys import DhKey, SigningKey

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web_client"
RESULTS = ROOT / "bench" / "web_crypto.json"
HEADING = "## 9. E2EE costs in the browser"
# The app build's browser targets (web_client/build.mjs, TARGET).
TARGETS = "chrome100,firefox100,safari15.4"
ATTACHMENT_MIB = 4
HISTORY_SENDERS, HISTORY_PER_SESSION = 5, 100  # 500 messages; a session lasts 100 (§6.1)
LIST_DEVICES = 3
MIB = 1024 * 1024
LONG_TASK_MS = 50.0  # a main-thread task longer than this is a "long task" (delays input)


@dataclass(frozen=True)
class Plan:
    target_ms: float  # each repeat runs enough operations to take about this long
    repeats: int
    slow_repeats: int  # for operations of a second or more (argon2id, the history in JS)


FULL = Plan(target_ms=300, repeats=7, slow_repeats=5)
QUICK = Plan(target_ms=60, repeats=2, slow_repeats=1)


def log(msg: str) -> None:
    print(f"[web_crypto {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def content(size: int) -> dict[str, Any]:
    """A text content whose canonical JSON is exactly `size` bytes (200: bench.crypto_costs')."""
    return {"type": "text", "body": ("Relais bench text, " * (size // 19 + 1))[: size - 25]}


# -- the shared inputs -----------------------------------------------------------------------


def _device_fixture(dev: Device, others: int) -> dict[str, Any]:
    """A device with its private keys, its user's signed device list (`others` more devices)
    and its signed pre-key: what the server serves about it, plus what only it holds."""
    ik = SigningKey.generate()
    extra = [Device.make(dev.user, f"{dev.id}_other{k}") for k in range(others)]
    entries = [identity.DeviceEntry(d.id, d.dsk.public, d.dx.public) for d in [dev, *extra]]
    return {
        "user": dev.user,
        "device": dev.id,
        "dsk_seed": b64e(dev.dsk.seed),
        "dx": b64e(dev.dx.private),
        "prekey": b64e(dev.prekey.private),
        "prekey_id": dev.prekey_id,
        "ik": b64e(ik.public),
        "list": identity.make_device_list(ik, dev.user, 1, entries, TS),
        "prekey_wire": identity.make_prekey(
            dev.dsk, dev.user, dev.id, dev.prekey_id, dev.prekey.public, TS
        ),
    }


def _device(d: dict[str, Any]) -> Device:
    return Device(
        d["user"],
        d["device"],
        SigningKey.from_seed(b64d(d["dsk_seed"], 32)),
        DhKey.from_private(b64d(d["dx"], 32)),
        DhKey.from_private(b64d(d["prekey"], 32)),
        d["prekey_id"],
    )


def fixture() -> dict[str, Any]:
    alice = _device_fixture(Device.make("u_alice", "d_alice"), LIST_DEVICES - 1)
    bob = _device_fixture(Device.make("u_bob", "d_bob"), LIST_DEVICES - 1)

    reader = Device.make("u_reader", "d_reader")
    senders = [Device.make(f"u_s{k}", f"d_s{k}") for k in range(HISTORY_SENDERS)]
    outs = [group.OutboundSession.new(ROOM, created_ms=TS, me=ME) for _ in senders]
    shares = [
        {"sender": k, "payload": s.send(reader.keys(), out.share_body(s.user, s.id))}
        for k, (s, out) in enumerate(zip(senders, outs, strict=True))
    ]
    order = [k for k in range(HISTORY_SENDERS) for _ in range(HISTORY_PER_SESSION)]
    random.Random(7).shuffle(order)  # a conversation: the senders' messages interleave
    messages = []
    for n, k in enumerate(order):
        s = senders[k]
        env = outs[k].encrypt(CONTENT, su=s.user, sd=s.id, dsk=s.dsk, me=ME, mh=MH)
        messages.append({"sender": k, "id": f"m_{n}", "env": env})

    bk, seed = os.urandom(32), os.urandom(32)
    info = backup.make_backup_info("u_backup", PASSPHRASE, bk, seed)
    return {
        "pairwise": {"alice": alice, "bob": bob},
        "history": {
            "receiver": {
                "user": reader.user,
                "device": reader.id,
                "dsk_seed": b64e(reader.dsk.seed),
                "dx": b64e(reader.dx.private),
                "prekey": b64e(reader.prekey.private),
                "prekey_id": reader.prekey_id,
            },
            "senders": [
                {"user": s.user, "device": s.id, "sign": b64e(s.dsk.public)} for s in senders
            ],
            "shares": shares,
            "messages": messages,
            "content": CONTENT,
        },
        "backup": {"user": "u_backup", "passphrase": PASSPHRASE, "info": info, "bk": b64e(bk)},
        "attachment_mib": ATTACHMENT_MIB,
    }


# -- the Python twin of web_client/bench/crypto_bench.js --------------------------------------

Op = Callable[[], object]
Prepare = Callable[[int], list[Op]]


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"bench setup is wrong: {what}")


def _recipient_keys(bob: Device, d: dict[str, Any]) -> pairwise.RecipientKeys:
    lst = identity.verify_device_list(d["list"], bob.user, b64d(d["ik"], 32))
    entry = lst.get(bob.id)
    assert entry is not None
    pk = identity.verify_prekey(d["prekey_wire"], bob.user, bob.id, entry.sign)
    return pairwise.RecipientKeys(bob.user, bob.id, entry.dh, pk.id, pk.pub)


def _open(bob: Device, payload: str, sign_pub: bytes, seen: set[str]) -> pairwise.Opened:
    return pairwise.open_payload(
        payload,
        my_user=bob.user,
        my_device=bob.id,
        my_dh=bob.dx,
        prekeys={bob.prekey_id: bob.prekey},
    ).verify(sign_pub, seen)


def decrypt_history(fx: dict[str, Any], me: Device) -> Any:
    hist = fx["history"]
    pubs = [b64d(s["sign"], 32) for s in hist["senders"]]
    seen: set[str] = set()
    sessions: dict[tuple[str, str], group.InboundSession] = {}
    for share in hist["shares"]:
        opened = _open(me, share["payload"], pubs[share["sender"]], seen)
        sess = group.InboundSession.from_share(opened.body)
        sessions[(sess.sd, sess.sid)] = sess
    last = None
    for m in hist["messages"]:
        env = m["env"]
        last = _read(sessions[(env["sd"], env["sid"])], env, pubs[m["sender"]], m["id"])
    return last


def python_operations(fx: dict[str, Any]) -> dict[str, Prepare]:
    ad, bd = fx["pairwise"]["alice"], fx["pairwise"]["bob"]
    alice, bob = _device(ad), _device(bd)
    alice_ik, bob_ik = b64d(ad["ik"], 32), b64d(bd["ik"], 32)
    bob_keys = _recipient_keys(bob, bd)
    share_body = group.OutboundSession.new(ROOM, created_ms=TS, me=ME).share_body(
        alice.user, alice.id
    )

    def group_ops(size: int) -> tuple[Prepare, Prepare]:
        c = content(size)
        _check(len(dumps(c).encode()) == size, f"content of {size} bytes")

        def pair() -> tuple[group.OutboundSession, group.InboundSession]:
            out = group.OutboundSession.new(ROOM, created_ms=TS, me=ME)
            body = out.share_body(alice.user, alice.id)
            opened = _open(bob, alice.send(bob_keys, body), alice.dsk.public, set())
            return out, group.InboundSession.from_share(opened.body)

        def enc(out: group.OutboundSession) -> dict[str, Any]:
            return out.encrypt(c, su=alice.user, sd=alice.id, dsk=alice.dsk, me=ME, mh=MH)

        def encrypt(count: int) -> list[Op]:
            out, _ = pair()
            return [lambda: enc(out)] * count

        def decrypt(count: int) -> list[Op]:
            out, inb = pair()
            envs = [enc(out) for _ in range(count)]

            def one(k: int, env: dict[str, Any]) -> Op:
                def op() -> None:
                    got = _read(inb, env, alice.dsk.public, f"m_{k}")
                    if k == count - 1:
                        _check(got == c, "decrypted content differs")

                return op

            return [one(k, env) for k, env in enumerate(envs)]

        return encrypt, decrypt

    e200, d200 = group_ops(200)
    e4000, d4000 = group_ops(4000)

    data = os.urandom(fx["attachment_mib"] * MIB)
    blob, file_key = attachments.encrypt_file(data)
    _check(attachments.decrypt_file(blob, file_key) == data, "attachment round trip")

    msg300 = os.urandom(300)
    signed300 = sodium.crypto_sign(msg300, alice.dsk.secret)
    x_priv, x_pub = os.urandom(32), bob.dx.public
    ck, key, nonce, ad_bytes = os.urandom(32), os.urandom(32), os.urandom(24), os.urandom(100)
    plain256, one_mib = os.urandom(256), os.urandom(MIB)
    me = _device(fx["history"]["receiver"])
    bkp = fx["backup"]

    def each(fn: Op) -> Prepare:
        return lambda count: [fn] * count

    def pairwise_open(count: int) -> list[Op]:
        seen: set[str] = set()
        payloads = [alice.send(bob_keys, share_body) for _ in range(count)]
        return [lambda p=p: _open(bob, p, alice.dsk.public, seen) for p in payloads]  # type: ignore[misc]

    def pairwise_setup_receive(count: int) -> list[Op]:
        seen: set[str] = set()
        payloads = [alice.send(bob_keys, share_body) for _ in range(count)]

        def one(p: str) -> Op:
            def op() -> None:
                lst = identity.verify_device_list(ad["list"], alice.user, alice_ik)
                entry = lst.get(alice.id)
                assert entry is not None
                _open(bob, p, entry.sign, seen)

            return op

        return [one(p) for p in payloads]

    def prekey_verify(count: int) -> list[Op]:
        entry = identity.verify_device_list(bd["list"], bob.user, bob_ik).get(bob.id)
        assert entry is not None
        sign = entry.sign
        return [lambda: identity.verify_prekey(bd["prekey_wire"], bob.user, bob.id, sign)] * count

    def unlock() -> None:
        bk, _seed = backup.unlock_backup(bkp["info"], bkp["user"], bkp["passphrase"])
        _check(b64e(bk) == bkp["bk"], "backup unlocks to another key")

    def ratchet() -> None:
        group.message_keys(ck)
        group.next_ck(ck)

    return {
        "group_encrypt_200": e200,
        "group_decrypt_200": d200,
        "group_encrypt_4000": e4000,
        "group_decrypt_4000": d4000,
        "device_list_verify": each(
            lambda: identity.verify_device_list(bd["list"], bob.user, bob_ik)
        ),
        "prekey_verify": prekey_verify,
        "pairwise_setup_send": each(lambda: alice.send(_recipient_keys(bob, bd), share_body)),
        "pairwise_encrypt": each(lambda: alice.send(bob_keys, share_body)),
        "pairwise_open": pairwise_open,
        "pairwise_setup_receive": pairwise_setup_receive,
        "attachment_encrypt": each(lambda: attachments.encrypt_file(data)),
        "attachment_decrypt": each(lambda: attachments.decrypt_file(blob, file_key)),
        "backup_unlock_default": each(unlock),
        "history_500": each(
            lambda: _check(decrypt_history(fx, me) == fx["history"]["content"], "history")
        ),
        "ed25519_sign": each(lambda: sodium.crypto_sign(msg300, alice.dsk.secret)),
        "ed25519_verify": each(lambda: sodium.crypto_sign_open(signed300, alice.dsk.public)),
        "x25519": each(lambda: sodium.crypto_scalarmult(x_priv, x_pub)),
        "x25519_public": each(lambda: sodium.crypto_scalarmult_base(x_priv)),
        "ratchet_blake2b": each(ratchet),
        "aead_encrypt_256": each(
            lambda: sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
                plain256, ad_bytes, nonce, key
            )
        ),
        "blake2b_mib": each(lambda: h(32, one_mib)),
    }


def calibrate(prepare: Prepare, target_ms: float) -> int:
    """The same protocol as crypto_bench.js's `calibrateOp`: one operation to estimate, then
    operations per repeat for about `target_ms`, then one untimed batch of that many."""
    one = prepare(1)
    t0 = time.perf_counter()
    for op in one:
        op()
    estimate = max((time.perf_counter() - t0) * 1000, 0.001)
    number = max(1, min(100_000, round(target_ms / estimate)))
    if estimate < target_ms:
        for op in prepare(number):
            op()
    return number


def repeat(prepare: Prepare, number: int) -> float:
    """One timed repeat, µs per operation; the collector is off while timing (as `timeit`)."""
    ops = prepare(number)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        for op in ops:
            op()
        return (time.perf_counter() - t0) / number * 1e6
    finally:
        gc.enable()


def _stat(m: dict[str, Any]) -> dict[str, Any]:
    if "unsupported" in m:
        return m
    runs = m["runs_us"]
    return {
        "us": statistics.median(runs),
        "min_us": min(runs),
        "max_us": max(runs),
        "number": m["number"],
        "runs_us": [round(x, 2) for x in runs],
    }


# -- the operations, in the order they run and appear ----------------------------------------

SLOW = {"backup_unlock_default", "history_500"}
BROWSER_ONLY = {"webcrypto_ed25519_verify", "webcrypto_x25519"}
OPS = [
    "group_encrypt_200",
    "group_decrypt_200",
    "group_encrypt_4000",
    "group_decrypt_4000",
    "device_list_verify",
    "prekey_verify",
    "pairwise_setup_send",
    "pairwise_encrypt",
    "pairwise_open",
    "pairwise_setup_receive",
    "attachment_encrypt",
    "attachment_decrypt",
    "backup_unlock_default",
    "history_500",
    "ed25519_sign",
    "ed25519_verify",
    "x25519",
    "x25519_public",
    "ratchet_blake2b",
    "aead_encrypt_256",
    "blake2b_mib",
    "webcrypto_ed25519_verify",
    "webcrypto_x25519",
]


# -- the browser -----------------------------------------------------------------------------


def build_bundle(out: Path) -> None:
    """crypto_bench.js and the modules it imports, bundled as build.mjs bundles the app."""
    esbuild = WEB / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise SystemExit("web_client/node_modules is missing: run `make web-deps` (npm ci)")
    subprocess.run(
        [
            str(esbuild),
            "bench/crypto_bench.js",
            "--bundle",
            "--format=esm",
            "--minify",
            f"--target={TARGETS}",
            "--legal-comments=none",
            "--charset=utf8",
            "--log-level=warning",
            f"--outfile={out / 'crypto_bench.js'}",
        ],
        cwd=WEB,
        check=True,
    )
    (out / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>loading</title>\n"
        '<script type="module">\n'
        "import * as bench from './crypto_bench.js';\n"
        "window.relaisBench = bench;\n"
        "document.title = 'ready';\n"
        "</script>\n"
    )


class _Static:
    """The bundle from 127.0.0.1, cross-origin isolated (COOP + COEP) so that the page's
    `performance.now()` has its 5 µs resolution instead of 100 µs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.runner: Any = None

    async def __aenter__(self) -> str:
        from aiohttp import web

        @web.middleware
        async def isolate(request: web.Request, handler: Any) -> web.StreamResponse:
            resp: web.StreamResponse = await handler(request)
            resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
            resp.headers["Cross-Origin-Embedder-Policy"] = "require-corp"
            resp.headers["Cache-Control"] = "no-store"
            return resp

        app = web.Application(middlewares=[isolate])
        app.router.add_static("/", self.root)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return f"http://127.0.0.1:{self.port}/index.html"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


# -- CPU accounting --------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    vals = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(vals) - vals[3] - vals[4]) / TICKS


def _tree_cpu(root: int) -> float:
    """CPU seconds of `root` and every live process below it (the Playwright driver, Chromium)."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(d.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    total = 0.0
    for pid, secs in cpu.items():
        p = pid
        while p > 1:
            if p == root:
                total += secs
                break
            p = parent.get(p, 0)
    return total


# -- the run ---------------------------------------------------------------------------------


async def _run(plan: Plan, fx: dict[str, Any], work: Path) -> dict[str, Any]:
    from tests.browser import launch_chromium

    py_ops = python_operations(fx)
    target = plan.target_ms
    async with _Static(work) as url, launch_chromium() as context:
        page = context.pages[0] if context.pages else await context.new_page()
        await page.goto(url)
        await page.wait_for_function("document.title === 'ready'", timeout=60_000)
        await page.evaluate("fx => { window.fx = fx; }", fx)
        env = await page.evaluate("window.relaisBench.environment()")
        # First: the history read while nothing of the protocol has run in this page.
        cold = await page.evaluate("window.relaisBench.historyCold(window.fx)")
        log(f"history, cold page: {cold:.0f} ms")
        raw: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in OPS}
        for name in OPS:
            if name not in BROWSER_ONLY:
                raw[name]["python"] = {"number": calibrate(py_ops[name], target), "runs_us": []}
            raw[name]["browser"] = {
                **await page.evaluate(
                    "([name, t]) => window.relaisBench.calibrate(name, window.fx, t)",
                    [name, target],
                ),
                "runs_us": [],
            }
        log("calibrated; timing every operation in turns")
        for r in range(plan.repeats):
            for name in OPS:
                if name in SLOW and r >= plan.slow_repeats:
                    continue
                if "python" in raw[name]:
                    py = raw[name]["python"]
                    py["runs_us"].append(repeat(py_ops[name], py["number"]))
                if "unsupported" not in raw[name]["browser"]:
                    raw[name]["browser"]["runs_us"].append(
                        await page.evaluate(
                            "name => window.relaisBench.repeat(name, window.fx)", name
                        )
                    )
            log(f"round {r + 1} of {plan.repeats} done")
        tree = _tree_cpu(os.getpid())
    ops = {name: {side: _stat(m) for side, m in sides.items()} for name, sides in raw.items()}
    for name, row in ops.items():
        b, p = row["browser"], row.get("python")
        log(
            f"{name}: browser "
            + (f"{b['us']:,.1f} µs" if "us" in b else b.get("unsupported", "?"))
            + (f", python {p['us']:,.1f} µs" if p else "")
        )
    return {"environment": env, "history_cold_ms": cold, "ops": ops, "tree_cpu_s": tree}


def run(*, quick: bool = False, command: str = "python -m bench.web_crypto") -> dict[str, Any]:
    plan = QUICK if quick else FULL
    chromium = subprocess.run(
        ["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True, check=False)
    load = Path("/proc/loadavg").read_text().split()[:3]
    log("making the shared inputs with crypto/ (argon2id at the default cost once)")
    fx = fixture()
    with tempfile.TemporaryDirectory(prefix="relais-webcrypto-") as tmp:
        work = Path(tmp)
        build_bundle(work)
        bundle_kb = (work / "crypto_bench.js").stat().st_size / 1000
        busy0, wall0 = _machine_busy(), time.monotonic()
        own0 = _tree_cpu(os.getpid())
        res = asyncio.run(_run(plan, fx, work))
        busy1, wall1 = _machine_busy(), time.monotonic()
    ours = res.pop("tree_cpu_s") - own0
    wall = wall1 - wall0
    cpu = "?"
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        if ln.startswith("model name"):
            cpu = ln.split(":", 1)[1].strip()
            break
    return {
        "date": date.stdout.strip(),
        "command": command,
        "machine": {
            "cpu": cpu,
            "cores": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "pynacl": version("pynacl"),
            "chromium": chromium,
            "loadavg": load,
        },
        "plan": {
            "target_ms": plan.target_ms,
            "repeats": plan.repeats,
            "slow_repeats": plan.slow_repeats,
        },
        "bundle_kb": bundle_kb,
        "attachment_mib": ATTACHMENT_MIB,
        "history": {
            "senders": HISTORY_SENDERS,
            "messages": HISTORY_SENDERS * HISTORY_PER_SESSION,
        },
        "list_devices": LIST_DEVICES,
        "backup": {"ops": backup.DEFAULT_OPS, "mem": backup.DEFAULT_MEM},
        "wall_s": wall,
        "ours_cpu_pct": 100 * ours / wall,
        "others_cpu_pct": 100 * max(0.0, (busy1 - busy0) - ours) / wall,
        **res,
    }


# -- the doc's section -----------------------------------------------------------------------


def _ms(us: float) -> str:
    ms = us / 1000
    if ms >= 1000:
        return f"{ms / 1000:,.2f} s"
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 10:
        return f"{ms:,.1f} ms"
    if ms >= 1:
        return f"{ms:,.2f} ms"
    return f"{ms:,.3f} ms"


def _ratio(b: float, p: float) -> str:
    r = b / p
    return f"{r:,.0f}x" if r >= 10 else f"{r:,.1f}x"


ROWS: list[tuple[str, str, int]] = [
    # (op, label, divide by: per MiB for attachments)
    (
        "group_encrypt_200",
        "group message, 200 bytes: encrypt + sign (`OutboundSession.encrypt`)",
        1,
    ),
    ("group_decrypt_200", "group message, 200 bytes: parse + verify + decrypt", 1),
    ("group_encrypt_4000", "group message, 4,000 bytes (4,096 bucket): encrypt + sign", 1),
    ("group_decrypt_4000", "group message, 4,000 bytes: parse + verify + decrypt", 1),
    ("device_list_verify", "device list of 3 devices: verify (`verifyDeviceList`)", 1),
    ("prekey_verify", "signed pre-key: verify", 1),
    (
        "pairwise_setup_send",
        "pairwise set-up, sender: verify the new device's list and pre-key, then the first "
        "`room_key` message (ephemeral key, 2 X25519, sign, AEAD)",
        1,
    ),
    ("pairwise_encrypt", "pairwise message, sender, keys already verified", 1),
    ("pairwise_open", "pairwise message, receiver: open + verify", 1),
    (
        "pairwise_setup_receive",
        "pairwise set-up, receiver: verify the sender's device list, open + verify",
        1,
    ),
    ("attachment_encrypt", "attachment encrypt (secretstream + BLAKE2b), per MiB", ATTACHMENT_MIB),
    ("attachment_decrypt", "attachment decrypt (BLAKE2b + secretstream), per MiB", ATTACHMENT_MIB),
    ("backup_unlock_default", "key backup unlock, argon2id ops 3, 64 MiB", 1),
    (
        "history_500",
        "room history: 5 `room_key` shares + 500 messages (200 bytes) verified and decrypted",
        1,
    ),
]
PRIMITIVES: list[tuple[str, str]] = [
    ("ed25519_sign", "Ed25519 sign, 300 bytes"),
    ("ed25519_verify", "Ed25519 verify, 300 bytes"),
    ("x25519", "X25519 shared secret"),
    ("x25519_public", "X25519 public key from a private key"),
    ("ratchet_blake2b", "ratchet step: 2 keyed BLAKE2b (`messageKeys`, `nextCk`)"),
    ("aead_encrypt_256", "XChaCha20-Poly1305 encrypt, 256 bytes"),
    ("blake2b_mib", "BLAKE2b of 1 MiB"),
    ("webcrypto_ed25519_verify", "WebCrypto Ed25519 verify, 300 bytes (native; reference)"),
    ("webcrypto_x25519", "WebCrypto X25519 `deriveBits` (native; reference)"),
]


def _us(res: dict[str, Any], op: str, side: str = "browser") -> float:
    v = res["ops"].get(op, {}).get(side, {})
    return float(v.get("us", float("nan")))


def interpret(res: dict[str, Any]) -> list[str]:
    """The reading of the figures, computed from them so that it follows a re-run."""

    def b(op: str) -> float:
        return _us(res, op)

    def p(op: str) -> float:
        return _us(res, op, "python")

    def share(part: str, whole: str, div: float = 1.0) -> str:
        """Of the fastest repeats: the least disturbed by the machine's other work."""
        v = res["ops"][part]["browser"]["min_us"] / (res["ops"][whole]["browser"]["min_us"] / div)
        return "nearly all" if v >= 0.95 else f"{100 * v:.0f}%"

    dec, enc = b("group_decrypt_200"), b("group_encrypt_200")
    ver, sig = b("ed25519_verify"), b("ed25519_sign")
    x = b("x25519")
    hist, cold = b("history_500"), res["history_cold_ms"] * 1000
    n_hist = res["history"]["messages"]
    per_msg_ms = hist / 1000 / n_hist
    per_slice = int(LONG_TASK_MS // per_msg_ms) if per_msg_ms > 0 else 0
    argon, argon_py = b("backup_unlock_default"), p("backup_unlock_default")
    mib = res["attachment_mib"]
    att_e, att_d = b("attachment_encrypt") / mib, b("attachment_decrypt") / mib
    hash_mib = b("blake2b_mib")
    pw = b("pairwise_encrypt")
    wc_ver, wc_x = b("webcrypto_ed25519_verify"), b("webcrypto_x25519")
    out = [
        "Reading:",
        "",
        f"- **Per message** the browser spends {_ms(enc)} to encrypt and sign and {_ms(dec)} "
        f"to verify and decrypt a 200-byte message: {_ratio(enc, p('group_encrypt_200'))} "
        f"and {_ratio(dec, p('group_decrypt_200'))} the Python client's time. Elliptic-curve "
        f"arithmetic dominates: the Ed25519 verification alone is {_ms(ver)} "
        f"({share('ed25519_verify', 'group_decrypt_200')} of the receive path, comparing "
        f"fastest repeats), signing {_ms(sig)} "
        f"({share('ed25519_sign', 'group_encrypt_200')} of the send path). noble computes "
        "on JavaScript BigInts "
        f"({_ratio(ver, p('ed25519_verify'))} libsodium's verification, "
        f"{_ratio(sig, p('ed25519_sign'))} its signing: noble's `sign` also recomputes the "
        "public key from the seed, a second base-point multiplication, each time). The "
        f"symmetric part is small (a ratchet step {_ms(b('ratchet_blake2b'))}, the AEAD of 256 "
        f"bytes {_ms(b('aead_encrypt_256'))}), but the per-byte work (AEAD, the SHA-512 inside "
        "Ed25519, base64, strict JSON) shows with size: a 4,000-byte message costs "
        f"{b('group_encrypt_4000') / enc:.1f}x a 200-byte one to send "
        f"({_ms(b('group_encrypt_4000'))}) and {b('group_decrypt_4000') / dec:.1f}x to read "
        f"({_ms(b('group_decrypt_4000'))}); Python "
        f"{p('group_encrypt_4000') / p('group_encrypt_200'):.1f}x and "
        f"{p('group_decrypt_4000') / p('group_decrypt_200'):.1f}x. For "
        f"live traffic, a message every few seconds, all of this is far below a "
        f"{LONG_TASK_MS:.0f} ms long task: nothing to fix.",
        f"- **A 500-message history** takes {_ms(hist)} with a warm JIT and {_ms(cold)} when it "
        f"is the first thing a fresh page does (Python: {_ms(p('history_500'))}), crypto only. "
        "The app's E2EE worker (`E2EEClient._pump`) reads the messages one after another on "
        "the main thread and nothing in it yields on purpose, so opening a room with that "
        f"backlog stalls the page for at least that long; to stay under {LONG_TASK_MS:.0f} ms "
        f"per task it would read about {per_slice} messages per slice.",
        "- **Pairwise**: the sender's set-up with a new device costs "
        f"{_ms(b('pairwise_setup_send'))} (the device list and the pre-key verified, then "
        "an ephemeral key, two X25519 at "
        f"{_ms(x)} each and a signature), the receiver's {_ms(b('pairwise_setup_receive'))}; "
        f"each later message {_ms(pw)} to send and {_ms(b('pairwise_open'))} to open. A new "
        f"session shared from the browser thus costs {_ms(19 * pw)} in a 20-device room and "
        f"{_ms(199 * pw)} in a 200-device one, before the session's first message leaves. A "
        f"device list verifies in {_ms(b('device_list_verify'))}, a pre-key in "
        f"{_ms(b('prekey_verify'))}.",
        f"- **Attachments**: {_ms(att_e)} per MiB to encrypt and {_ms(att_d)} to decrypt "
        f"({MIB / att_e:.0f} and {MIB / att_d:.0f} MB/s; Python "
        f"{_ms(p('attachment_encrypt') / mib)} and {_ms(p('attachment_decrypt') / mib)}). "
        f"BLAKE2b of the blob is {_ms(hash_mib)} of each MiB "
        f"({share('blake2b_mib', 'attachment_encrypt', mib)} of encrypting; noble's BLAKE2b "
        f"is {_ratio(hash_mib, p('blake2b_mib'))} libsodium's on "
        "large inputs), the rest is secretstream's ChaCha20-Poly1305. A 10 MiB scan is "
        f"{_ms(10 * att_e)} of main-thread work before its upload starts.",
        f"- **The key backup**'s argon2id at the default cost (ops 3, 64 MiB) takes "
        f"{_ms(argon)} in the browser, {_ratio(argon, argon_py)} libsodium's {_ms(argon_py)}. "
        "It runs once per device set-up or restore, behind a progress bar, and noble's async "
        "variant yields to the event loop as it goes, so the page stays responsive; a slow "
        "phone will take several times longer.",
        "",
        "WEB.md sets no budget for the crypto itself. Judged against the "
        f"{LONG_TASK_MS:.0f} ms long task, the per-message costs are fine and the bulk "
        "operations are not: a room's backlog, sharing a session to a large room, big "
        "attachments, and argon2id (which at least yields). What would bring them down, in "
        "order of payoff:",
        "",
        "1. Read a history in slices that yield to the event loop (or in a Worker), newest "
        "page first, so the room shows before its backlog is read.",
    ]
    if wc_ver == wc_ver and wc_x == wc_x:
        out.append(
            "2. Use the browser's native Ed25519 and X25519 (WebCrypto) where it has them: "
            f"here {_ms(wc_ver)} per verification ({ver / wc_ver:,.0f}x less than noble) and "
            f"{_ms(wc_x)} per X25519 ({x / wc_x:,.0f}x less). They are async, and libsodium's "
            "stricter acceptance rules (S below the group order, no small-order R or key, "
            "canonical key encoding) must stay as the checks `verifyDetached` makes before the "
            "curve equation, or the two clients could disagree on a signature; the vectors of "
            "tests/vectors would have to pass on both paths, with noble as the fallback."
        )
    else:
        out.append(
            "2. Use the browser's native Ed25519 and X25519 (WebCrypto) where it has them "
            "(this Chromium has not got them), with noble as the fallback."
        )
    out += [
        "3. Move argon2id and attachment encryption to a Worker, and consider WebAssembly "
        "builds of argon2id and BLAKE2b, several times faster than pure JavaScript; large "
        "files would then also be encrypted chunk by chunk as they are read.",
    ]
    return out


def render(res: dict[str, Any]) -> list[str]:
    m = res["machine"]
    env = res.get("environment", {})
    plan = res["plan"]
    lines = [
        HEADING,
        "",
        f"_`{res['command']}` on {res['date']}: {m['cpu']}, {m['cores']} cores, Linux "
        f"{m['kernel']}; {m['chromium']} (headless, cross-origin isolated: "
        f"{'yes' if env.get('cross_origin_isolated') else 'no'}); Python {m['python']}, PyNaCl "
        f"{m['pynacl']}. Load average at start {' '.join(m['loadavg'])}; the run took "
        f"{res['wall_s']:.0f} s, the bench and its browser used {res['ours_cpu_pct']:.0f}% of "
        f"one core and others {res['others_cpu_pct']:.0f}%. Median of {plan['repeats']} "
        f"repeats of about {plan['target_ms']:.0f} ms each ({plan['slow_repeats']} for the "
        "operations of a second or more), after a warm-up batch; [fastest - slowest]._",
        "",
        "The browser runs the app's own modules (web_client/src/crypto on the noble libraries), "
        "bundled by esbuild with the app build's settings from "
        f"`web_client/bench/crypto_bench.js` ({res['bundle_kb']:.0f} KB minified); Python runs "
        "crypto/ on PyNaCl in the bench process. Each operation is timed on both sides in "
        "turns, on the same inputs where they can be shared (device lists, pre-keys, the "
        "history, the backup are made by crypto/ and read by the browser). Method: "
        "`bench/web_crypto.py`.",
        "",
        "| operation | browser (JS) | Python (PyNaCl) | browser / Python | browser spread |",
        "|---|---:|---:|---:|---|",
    ]
    for op, label, div in ROWS:
        row = res["ops"].get(op)
        if row is None:
            continue
        b, p = row["browser"], row["python"]
        lines.append(
            f"| {label} | {_ms(b['us'] / div)} | {_ms(p['us'] / div)} | "
            f"{_ratio(b['us'], p['us'])} | [{_ms(b['min_us'] / div)} - {_ms(b['max_us'] / div)}] |"
        )
    lines.append(
        f"| the same history, first read in a fresh page (cold JIT) | "
        f"{_ms(res['history_cold_ms'] * 1000)} | | | one run |"
    )
    lines += [
        "",
        "Primitives under them (browser: noble through `src/crypto/sodium.js`; Python: "
        "`nacl.bindings`, i.e. libsodium):",
        "",
        "| primitive | browser (JS) | Python (PyNaCl) | browser / Python |",
        "|---|---:|---:|---:|",
    ]
    for op, label in PRIMITIVES:
        row = res["ops"].get(op)
        if row is None:
            continue
        b = row["browser"]
        if "us" not in b:
            lines.append(f"| {label} | not available ({b.get('unsupported', '?')}) | | |")
            continue
        p = row.get("python")
        lines.append(
            f"| {label} | {_ms(b['us'])} | {_ms(p['us']) if p else ''} | "
            f"{_ratio(b['us'], p['us']) if p else ''} |"
        )
    return [*lines, "", *interpret(res)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="python -m bench.web_crypto", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="shorter repeats, fewer of them")
    parser.add_argument("--no-doc", action="store_true", help="print, do not rewrite the doc")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help=f"rewrite the doc's section from {RESULTS.name} without measuring",
    )
    args = parser.parse_args(argv)
    if args.render_only:
        doc_sections.write_section(HEADING, render(json.loads(RESULTS.read_text())))
        return 0
    res = run(quick=args.quick, command=" ".join(["python -m bench.web_crypto", *argv]))
    lines = render(res)
    if args.no_doc:
        print("\n".join(lines))
        return 0
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    doc_sections.write_section(HEADING, lines)
    log(f"wrote {RESULTS.relative_to(ROOT)} and {HEADING!r} of docs/performance.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

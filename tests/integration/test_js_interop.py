"""The JavaScript client (web_client/src/net, web_client/src/e2ee) against a real `relais serve`.

First the SDK's own Node tests (web_client/test/net) run against the server; then the JS E2EE
client, driven over stdin/stdout by web_client/test/interop/peer.mjs, and the Python E2EE client
(client/e2ee) talk to each other in one room: text and files both ways, room keys shared both
ways after membership changes, and a JS restart from its saved state that still decrypts the
history. Needs `node` and web_client/node_modules (`npm ci`): skipped without them, failed under
RELAIS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from client.e2ee import DECRYPTED, E2EEClient, MessageRecord
from client.sdk import RelaisClient
from server.auth import accounts
from tests.conftest import PASSWORD, free_port, service_unavailable, wait_for
from tests.integration.e2ee_world import BACKUP_COST, FAST
from tests.procs import ServerProcess, prepare_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web_client"
UNLIMITED = {
    "RELAIS_RATE_USER_PER_S": "1000000",
    "RELAIS_RATE_USER_BURST": "1000000",
    "RELAIS_RATE_IP_PER_S": "1000000",
    "RELAIS_RATE_IP_BURST": "1000000",
}


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        service_unavailable("node", "not on PATH")
    if not (WEB / "node_modules" / "socket.io-client").is_dir():
        service_unavailable("web_client/node_modules", "run `npm ci` in web_client/")
    return node


@dataclass
class Served:
    proc: ServerProcess
    database_url: str
    users: dict[str, str] = field(default_factory=dict)  # username -> user_id

    @property
    def url(self) -> str:
        return self.proc.url

    async def add_users(self, *names: str, role: str = "clinician") -> None:
        db = await prepare_database(self.database_url)
        try:
            pw_hash = await accounts.prepare_password(PASSWORD)
            async with db.write() as conn:
                for name in names:
                    self.users[name] = await accounts.create_user(
                        conn, username=name, role=role, password_hash=pw_hash
                    )
        finally:
            await db.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    node_binary()
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    await prepare_database(url)
    proc = ServerProcess(free_port(), tmp_path / "data", url, extra_env=UNLIMITED)
    await proc.start()
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


async def test_js_sdk_node_tests(served: Served) -> None:
    """web_client/test/net: login, rooms, idempotent sends, sync after a reconnect, to-device
    (live and through sync until acked), attachments."""
    await served.add_users("ann", "ben")
    env = {
        **os.environ,
        "RELAIS_URL": served.url,
        "RELAIS_USERS": json.dumps(["ann", "ben"]),
        "RELAIS_PASSWORD": PASSWORD,
    }
    proc = await asyncio.create_subprocess_exec(
        node_binary(),
        "--test",
        "test/net/",
        cwd=WEB,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-4000:]
    assert "# fail 0" in text and "# skipped 0" in text, text[-2000:]


class JsPeer:
    """web_client/test/interop/peer.mjs: one command per line in, one answer per line out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._next = 0

    @classmethod
    async def spawn(cls) -> JsPeer:
        if not (WEB / "src" / "crypto" / "index.js").is_file():
            service_unavailable("web_client/src/crypto", "the JS crypto twin is not merged")
        proc = await asyncio.create_subprocess_exec(
            node_binary(),
            "test/interop/peer.mjs",
            cwd=WEB,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        return cls(proc)

    async def __call__(self, cmd: str, timeout: float = 30, **args: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._next += 1
        self.proc.stdin.write((json.dumps({"id": self._next, "cmd": cmd, **args}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise AssertionError(f"JS peer exited during {cmd}")
        answer = json.loads(line)
        assert answer["id"] == self._next, answer
        if not answer["ok"]:
            raise AssertionError(f"JS peer {cmd} failed: {answer['error']}")
        return answer["result"]

    async def close(self) -> None:
        if self.proc.returncode is None:
            try:
                await self("close", timeout=15)
            except (AssertionError, TimeoutError, ConnectionError):
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def peers() -> AsyncIterator[list[JsPeer]]:
    made: list[JsPeer] = []
    yield made
    for peer in made:
        await peer.close()


def texts_of(records: list[dict[str, Any]]) -> list[str]:
    return [
        r["content"]["body"]
        for r in records
        if r["state"] == "decrypted" and (r["content"] or {}).get("type") == "text"
    ]


async def python_device(served: Served, username: str) -> E2EEClient:
    api = RelaisClient(served.url)
    await api.login(username, PASSWORD)
    e = E2EEClient(api, policy=FAST)
    await e.bootstrap(None)
    await e.connect()
    return e


async def py_decrypted(e: E2EEClient, room: str, pred: Any, timeout: float = 15) -> MessageRecord:
    """The first decrypted record of `room` that `pred` accepts (a sync halfway, in case a live
    event was missed)."""

    def find() -> MessageRecord | None:
        return next(
            (r for r in e.messages(room) if r.state == DECRYPTED and r.content and pred(r)), None
        )

    try:
        await wait_for(lambda: find() is not None, timeout=timeout / 2)
    except AssertionError:
        await e.api.sync()
        await wait_for(lambda: find() is not None, timeout=timeout / 2)
    rec = find()
    assert rec is not None
    return rec


def is_text(body: str) -> Any:
    return lambda r: r.content.get("type") == "text" and r.content.get("body") == body


async def test_js_and_python_e2ee_clients_interoperate(
    served: Served, peers: list[JsPeer], tmp_path: Path
) -> None:
    """Two clinicians, one on each client, in one room: every message, file and room key made by
    one side is used by the other, and the JS device restarted from its saved state still
    decrypts the whole history."""
    await served.add_users("jsdoc", "pydoc", "carol", "dave")
    state_file = str(tmp_path / "js-state.json")
    js = await JsPeer.spawn()
    peers.append(js)
    me = await js(
        "start", url=served.url, username="jsdoc", password=PASSWORD, state_file=state_file
    )
    assert me["restored"] is False
    await js("bootstrap")
    await js("connect")
    py = await python_device(served, "pydoc")
    try:
        # The JS device makes the room and its signed chain; the Python device joins as an owner.
        room = (await js("create_room"))["room_id"]
        await js("add_member", room=room, user=served.users["pydoc"], role="owner")

        # Text, both ways.
        await js("send_text", room=room, text="hello from js")
        first_js = await py_decrypted(py, room, is_text("hello from js"))
        await py.send_text(room, "hello from python")
        first_py = await js("wait_message", room=room, text="hello from python")
        assert first_py["sender_user"] == served.users["pydoc"]

        # Safety numbers agree (same identity keys, same formula on both sides).
        js_number = (await js("safety_number", user=served.users["pydoc"]))["number"]
        assert js_number == py.safety_number(served.users["jsdoc"])

        # Files, both ways: encrypted per docs/crypto.md §7, decrypted equal.
        js_bytes = bytes(range(256)) * 300 + b"tail"  # more than one secretstream chunk
        await js(
            "send_file",
            room=room,
            data=base64.b64encode(js_bytes).decode(),
            name="scan.bin",
            mime="application/octet-stream",
        )
        file_rec = await py_decrypted(py, room, lambda r: r.content.get("name") == "scan.bin")
        assert await py.download_file(file_rec.content) == js_bytes
        py_bytes = os.urandom(70_000)
        await py.send_file(room, py_bytes, name="report.pdf", mime="application/pdf")
        got = await js("wait_message", room=room, type="file", **{"from": served.users["pydoc"]})
        assert got["content"]["name"] == "report.pdf"
        data = (await js("download", content=got["content"]))["data"]
        assert base64.b64decode(data) == py_bytes

        # Room keys both ways after a membership change: a removal rotates the remover's session
        # (§6.1) and the new session reaches the other side before the message does.
        await py.add_member(room, served.users["carol"])
        await py.remove_member(room, served.users["carol"])
        await py.send_text(room, "python after rotation")
        rotated_py = await js("wait_message", room=room, text="python after rotation")
        assert rotated_py["sid"] != first_py["sid"]
        await js("add_member", room=room, user=served.users["dave"])
        await js("remove_member", room=room, user=served.users["dave"])
        await js("send_text", room=room, text="js after rotation")
        rotated_js = await py_decrypted(py, room, is_text("js after rotation"))
        assert rotated_js.envelope["sid"] != first_js.envelope["sid"]
        assert py.counts()["failed"] == 0

        history = [
            "hello from js",
            "hello from python",
            "python after rotation",
            "js after rotation",
        ]
        assert texts_of(await js("messages", room=room)) == history

        # Restart the JS device from its saved state, forgetting what it received (not its
        # keys): the sync from zero brings the whole history back, and every message decrypts.
        await js.close()
        js2 = await JsPeer.spawn()
        peers.append(js2)
        again = await js2(
            "start",
            url=served.url,
            username="jsdoc",
            password=PASSWORD,
            state_file=state_file,
            fresh_inbox=True,
        )
        assert again["restored"] is True and again["has_identity"] is True
        assert again["device_id"] == me["device_id"]
        await js2("connect")
        await js2("idle")
        records = await js2("messages", room=room)
        assert texts_of(records) == history
        assert all(r["state"] == "decrypted" for r in records), records
        # ... and the restarted device goes on talking with the Python one, both ways.
        await js2("send_text", room=room, text="js after restart")
        await py_decrypted(py, room, is_text("js after restart"))
        await py.send_text(room, "python after restart")
        await js2("wait_message", room=room, text="python after restart")
    finally:
        await py.close()


async def python_new_device(served: Served, username: str) -> E2EEClient:
    api = RelaisClient(served.url)
    await api.login(username, PASSWORD)
    return E2EEClient(api, policy=FAST)


async def test_js_and_python_share_backups_and_approve_devices(
    served: Served, peers: list[JsPeer]
) -> None:
    """The key backup and the new-device approval work across the two clients: a backup made by
    one is restored by a new device on the other (argon2id reports its progress in JS), and a
    device approved from the other client reads the room's history."""
    await served.add_users("jsdoc", "pydoc")
    cost = {"ops": BACKUP_COST["backup_ops"], "mem": BACKUP_COST["backup_mem"]}
    js = await JsPeer.spawn()
    peers.append(js)
    await js("start", url=served.url, username="jsdoc", password=PASSWORD)
    made = await js("bootstrap", passphrase="js recovery words", **cost)
    assert made["progress_calls"] > 0
    await js("connect")
    py = await python_new_device(served, "pydoc")
    await py.bootstrap("py recovery words", **BACKUP_COST)
    await py.connect()
    others: list[E2EEClient] = [py]
    try:
        room = (await js("create_room"))["room_id"]
        await js("add_member", room=room, user=served.users["pydoc"], role="owner")
        await js("send_text", room=room, text="a1")
        await py_decrypted(py, room, is_text("a1"))
        await py.send_text(room, "b1")
        await js("wait_message", room=room, text="b1")
        history = ["a1", "b1"]

        # A new Python device of the JS user restores the JS-made backup.
        py_of_js = await python_new_device(served, "jsdoc")
        others.append(py_of_js)
        assert await py_of_js.restore_from_backup("js recovery words") >= 2
        await py_of_js.connect()
        for text in history:
            await py_decrypted(py_of_js, room, is_text(text))

        # A new JS device of the Python user restores the Python-made backup.
        js_of_py = await JsPeer.spawn()
        peers.append(js_of_py)
        await js_of_py("start", url=served.url, username="pydoc", password=PASSWORD)
        restored = await js_of_py("restore_from_backup", passphrase="py recovery words")
        assert restored["imported"] >= 2 and restored["progress_calls"] > 0
        await js_of_py("connect")
        for text in history:
            await js_of_py("wait_message", room=room, text=text)

        # Approval code, JS device approved by a Python device of the same user...
        js_new = await JsPeer.spawn()
        peers.append(js_new)
        await js_new("start", url=served.url, username="jsdoc", password=PASSWORD)
        code = (await js_new("start_new_device"))["code"]
        await py_of_js.approve_device(code)
        await js_new("connect")
        for text in history:
            await js_new("wait_message", room=room, text=text)
        await js_new("send_text", room=room, text="from the approved js device")
        await py_decrypted(py, room, is_text("from the approved js device"))

        # ... and a Python device approved by a JS device.
        py_new = await python_new_device(served, "pydoc")
        others.append(py_new)
        code = await py_new.start_new_device()
        await js_of_py("approve_device", code=code)
        await py_new.connect()
        for text in [*history, "from the approved js device"]:
            await py_decrypted(py_new, room, is_text(text))
        await py_new.send_text(room, "from the approved python device")
        for peer in (js, js_new):
            await peer("wait_message", room=room, text="from the approved python device")
    finally:
        for e in others:
            await e.close()


async def test_a_missing_key_is_asked_for_and_answered_across_clients(
    served: Served, peers: list[JsPeer]
) -> None:
    """A member added before having any device gets no key with the add: their new device shows
    the old message as waiting for its key, asks the room's devices, and the other client's
    device answers (docs/crypto.md §6.2) — both ways."""
    await served.add_users("jsdoc", "pydoc", "jslate", "pylate")
    js = await JsPeer.spawn()
    peers.append(js)
    await js("start", url=served.url, username="jsdoc", password=PASSWORD)
    await js("bootstrap")
    await js("connect")
    py = await python_device(served, "pydoc")
    others = [py]
    try:
        # Python's room; the JS latecomer's first device asks Python for the key.
        py_room = await py.create_room()
        await py.send_text(py_room, "said before the js latecomer came")
        await py.add_member(py_room, served.users["jslate"])
        late_js = await JsPeer.spawn()
        peers.append(late_js)
        await late_js("start", url=served.url, username="jslate", password=PASSWORD)
        await late_js("bootstrap")
        await late_js("connect")
        got = await late_js("wait_message", room=py_room, text="said before the js latecomer came")
        assert got["states"] == ["waiting_for_key", "decrypted"], got
        # Counted once the answer is sent, which the JS peer may decrypt before that happens.
        await wait_for(lambda: py.metrics["key_requests_answered"] >= 1, timeout=10)

        # The JS room; the Python latecomer's first device asks JS for the key.
        js_room = (await js("create_room"))["room_id"]
        await js("send_text", room=js_room, text="said before the python latecomer came")
        await js("add_member", room=js_room, user=served.users["pylate"])
        late_py = await python_device(served, "pylate")
        others.append(late_py)
        await py_decrypted(late_py, js_room, is_text("said before the python latecomer came"))
        assert late_py.metrics["waited"] >= 1 and late_py.metrics["key_requests"] >= 1
        # As above: counted once the answer is sent, which Python may decrypt before that.
        answered = 0
        for _ in range(100):
            answered = (await js("state"))["metrics"].get("key_requests_answered", 0)
            if answered >= 1:
                break
            await asyncio.sleep(0.1)
        assert answered >= 1
    finally:
        for e in others:
            await e.close()

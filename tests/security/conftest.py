"""The attacker's vantage point: a real `relais serve` process reached only over its sockets.

Tests here never use the SDK nor the server's objects to act; they speak raw HTTP, raw
engine.io/socket.io frames over WebSocket and long-polling, or plain TCP. Accounts are made
beforehand through the database, as an operator would with the CLI.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.auth import accounts
from tests.conftest import PASSWORD, free_port
from tests.procs import ServerProcess, prepare_database

pytestmark = pytest.mark.slow


@dataclass
class Served:
    """A running server process and what an operator set up on it."""

    proc: ServerProcess
    database_url: str
    users: dict[str, str] = field(default_factory=dict)  # username -> user_id

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def port(self) -> int:
        return self.proc.port

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket.io/?EIO=4&transport=websocket"

    async def add_user(self, username: str, role: str = "clinician") -> str:
        db = await prepare_database(self.database_url)
        try:
            pw_hash = await accounts.prepare_password(PASSWORD)
            async with db.write() as conn:
                uid = await accounts.create_user(
                    conn, username=username, role=role, password_hash=pw_hash
                )
        finally:
            await db.close()
        self.users[username] = uid
        return uid

    async def login(self, http: aiohttp.ClientSession, username: str) -> dict[str, Any]:
        async with http.post(
            self.url + "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        ) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            return dict(body)

    def log_text(self) -> str:
        return self.proc.log.read_text(errors="replace") if self.proc.log.exists() else ""


async def serve(tmp_path: Path, database_url: str, **env: str) -> ServerProcess:
    await prepare_database(database_url)
    proc = ServerProcess(
        free_port(),
        tmp_path / "data",
        database_url,
        node_id=f"sec{secrets.token_hex(2)}",
        # A developer chasing a media trail runs with RELAIS_LOG_LEVEL=DEBUG.
        extra_env={"RELAIS_LOG_LEVEL": os.environ.get("RELAIS_LOG_LEVEL", "INFO"), **env},
    )
    await proc.start()
    return proc


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """One server on its own SQLite file, with its log (stdout and stderr) kept for inspection."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url)
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


class RawSocket:
    """A socket.io v5 client written by hand: every frame is what the test says, nothing more."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.handshake: dict[str, Any] = {}

    async def open(self) -> None:
        first = await self.ws.receive_str(timeout=5)
        assert first.startswith("0"), first
        self.handshake = json.loads(first[1:])

    async def send(self, frame: str) -> None:
        await self.ws.send_str(frame)

    async def connect(self, token: str | None) -> str:
        """Namespace CONNECT with the token; returns the frame the server answered."""
        await self.send("40" + json.dumps({"token": token} if token is not None else {}))
        return await self.recv_until(lambda f: f.startswith(("40", "44")))

    async def emit(self, ack_id: int, event: str, data: Any = None) -> Any:
        await self.send(f"42{ack_id}" + json.dumps([event] if data is None else [event, data]))
        frame = await self.recv_until(lambda f: f.startswith(f"43{ack_id}["))
        return json.loads(frame[len(f"43{ack_id}") :])[0]

    async def recv(self, timeout: float = 5) -> str:
        """The next engine.io frame, answering pings on the way."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"<{msg.type.name}>"
            if msg.data == "2":
                await self.ws.send_str("3")
                continue
            return str(msg.data)

    async def recv_until(self, pred: Any, timeout: float = 5) -> str:
        while True:
            frame = await self.recv(timeout)
            if pred(frame) or frame.startswith("<"):
                return frame

    async def events(self, window: float) -> list[str]:
        """Every frame that arrives within `window` seconds (closed sockets end the list)."""
        out: list[str] = []
        try:
            while True:
                frame = await self.recv(timeout=window)
                out.append(frame)
                if frame.startswith("<"):
                    return out
        except TimeoutError:
            return out


async def raw_socket(http: aiohttp.ClientSession, served: Served) -> RawSocket:
    ws = await http.ws_connect(served.ws_url, autoping=False)
    sock = RawSocket(ws)
    await sock.open()
    return sock

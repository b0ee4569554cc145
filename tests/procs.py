"""Real `relais serve` processes for tests that kill, restart or multiply nodes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from server.db.engine import Database
from server.db.migrate import upgrade


class ServerProcess:
    def __init__(
        self,
        port: int,
        data_dir: Path,
        database_url: str,
        *,
        redis_url: str = "",
        redis_prefix: str = "relais",
        node_id: str = "node",
        log: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "RELAIS_PORT": str(port),
            "RELAIS_DATA_DIR": str(data_dir),
            "RELAIS_DATABASE_URL": database_url,
            "RELAIS_REDIS_URL": redis_url,
            "RELAIS_REDIS_PREFIX": redis_prefix,
            "RELAIS_NODE_ID": node_id,
            "RELAIS_LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.log = log or data_dir / f"{node_id}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 20) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve"],
            env=self.env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        logf.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited early: {self.log.read_text()[-2000:]}")
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if loop.time() > deadline:
                    raise RuntimeError("server did not become ready")
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    async def terminate(self, timeout: float = 20) -> int | None:
        """SIGTERM and wait without blocking the loop: clients in this process must be able to
        answer the server's close handshakes while it drains."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.proc.wait, timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


async def prepare_database(url: str) -> Database:
    db = Database(url)
    await upgrade(db)
    return db

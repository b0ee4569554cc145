"""Shared fixtures: real databases (SQLite file, PostgreSQL database per test), real Redis, and
an in-process Relais server driven by the real Python client.

Services come from RELAIS_TEST_DATABASE_URL / RELAIS_TEST_REDIS_URL (defaults: the local
PostgreSQL `test` database and Redis on 6379). When one is unreachable its tests skip — unless
RELAIS_REQUIRE_SERVICES=1 (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import settings

from client import RelaisClient
from server.app import create_app
from server.auth import passwords
from server.settings import Settings
from tests.pg_pool import PgPool

PG_URL = os.environ.get(
    "RELAIS_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RELAIS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE = os.environ.get("RELAIS_REQUIRE_SERVICES") == "1"
PASSWORD = "correct horse battery"

# CI replays the same generated cases every run (a red CI must be reproducible); local runs
# explore new ones each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# argon2id at a test-sized cost (same algorithm and code path; production defaults are 3 passes
# and 64 MiB). Exported for the server processes the tests start, too.
ARGON2: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 8 * 1024}
os.environ["RELAIS_ARGON2_TIME_COST"] = str(ARGON2["argon2_time_cost"])
os.environ["RELAIS_ARGON2_MEMORY_KIB"] = str(ARGON2["argon2_memory_kib"])
passwords.configure(ARGON2["argon2_time_cost"], ARGON2["argon2_memory_kib"])


def _unavailable(what: str, why: object) -> None:
    if REQUIRE:
        pytest.fail(f"{what} is required (RELAIS_REQUIRE_SERVICES=1) but unreachable: {why}")
    pytest.skip(f"{what} unreachable: {why}")


def service_unavailable(what: str, why: object) -> NoReturn:
    """Skip, or fail under RELAIS_REQUIRE_SERVICES=1: for fixtures outside this file (network
    lab, browser) that need something from the machine rather than a service."""
    _unavailable(what, why)
    raise AssertionError("unreachable")  # pytest.skip/fail raise


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_admin_dsn() -> str:
    return PG_URL.replace("postgresql+asyncpg://", "postgresql://")


async def create_pg_database() -> str:
    """A fresh, empty database for one test; returns its SQLAlchemy URL."""
    import asyncpg

    name = f"relais_t_{secrets.token_hex(6)}"
    try:
        conn = await asyncpg.connect(_pg_admin_dsn(), timeout=5)
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(_pg_admin_dsn(), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


PG_POOL = PgPool(_pg_admin_dsn(), PG_URL.rpartition("/")[0])


async def redis_url_for_test() -> str:
    """Redis is shared: isolate each test by a unique key/channel prefix (see redis_prefix)."""
    import redis.asyncio as aioredis

    r = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(r.ping(), 3)
    except Exception as exc:
        _unavailable("Redis", exc)
    finally:
        await r.aclose()
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
        return
    try:
        url = await asyncio.to_thread(PG_POOL.take)
    except Exception as exc:
        _unavailable("PostgreSQL", exc)
    try:
        yield url
    finally:
        PG_POOL.give_back(url)


@pytest.fixture(scope="session", autouse=True)
def _pg_pool_cleanup() -> Iterator[None]:
    yield
    PG_POOL.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"


def test_settings(tmp_path: Path, database_url: str, **over: Any) -> Settings:
    base = Settings(
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        redis_prefix=f"t{secrets.token_hex(4)}",
        **ARGON2,
    )
    return base.replace(**over)


TEARDOWN_S = 45.0


async def bounded_teardown(step: Awaitable[Any], what: str) -> None:
    """A teardown that hangs would only show up as pytest-timeout's bare "Timeout" with no hint
    of who waits on what; here it fails at once with every pending task's stack."""
    try:
        async with asyncio.timeout(TEARDOWN_S):
            await step
    except TimeoutError:
        import io

        out = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(limit=12, file=out)
        stacks = out.getvalue()
        raise AssertionError(f"{what} hung for {TEARDOWN_S:.0f} s; tasks:\n{stacks}") from None


@dataclass
class Running:
    app: web.Application
    server: TestServer
    url: str

    @property
    def services(self) -> Any:
        from server.api.context import SERVICES_KEY

        return self.app[SERVICES_KEY]


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[[Settings], Awaitable[Running]]]:
    servers: list[TestServer] = []

    async def _start(settings: Settings) -> Running:
        app = create_app(settings)
        srv = TestServer(app, host="127.0.0.1", port=free_port())
        await srv.start_server()
        servers.append(srv)
        return Running(app, srv, f"http://127.0.0.1:{srv.port}")

    yield _start
    for srv in reversed(servers):
        await bounded_teardown(srv.close(), "stopping the test server")


@pytest.fixture
async def relais(
    start_server: Callable[[Settings], Awaitable[Running]], tmp_path: Path, database_url: str
) -> Running:
    """A running server on the parametrised database (SQLite and PostgreSQL)."""
    return await start_server(test_settings(tmp_path, database_url))


@dataclass
class UserHandle:
    user_id: str
    username: str
    password: str
    role: str


async def make_user(running: Running, role: str, username: str | None = None) -> UserHandle:
    from server.auth import accounts

    username = username or f"{role}-{secrets.token_hex(4)}"
    svc = running.services
    pw_hash = None if role == "patient" else await accounts.prepare_password(PASSWORD)
    async with svc.db.write() as conn:
        uid = await accounts.create_user(conn, username=username, role=role, password_hash=pw_hash)
    return UserHandle(uid, username, PASSWORD, role)


async def patient_session(running: Running, user_id: str) -> tuple[str, str]:
    """A session for a password-less patient, as an invitation redemption would create."""
    svc = running.services
    async with svc.db.write() as conn:
        issued = await svc.sessions.issue(conn, user_id, device_name="test-patient-device")
    return issued.token, issued.device_id


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Awaitable[RelaisClient]]]:
    made: list[RelaisClient] = []

    async def _client(
        running: Running,
        user: UserHandle,
        *,
        connect: bool = True,
        transports: list[str] | None = None,
    ) -> RelaisClient:
        c = RelaisClient(running.url, transports=transports)
        made.append(c)
        if user.role == "patient":
            token, device = await patient_session(running, user.user_id)
            c.use_session(token, user.user_id, device)
        else:
            await c.login(user.username, user.password)
        if connect:
            await c.connect()
        return c

    yield _client
    for c in made:
        try:
            await bounded_teardown(c.close(), "closing a client")
        except AssertionError:
            raise
        except Exception:
            pass


def envelope(text: str = "x") -> dict[str, Any]:
    """A stand-in ciphertext envelope (the server never looks inside)."""
    return {"v": 1, "alg": "test.v1", "ct": text.encode().hex()}


async def wait_for(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition driven by real I/O; fails the test on timeout (never a bare sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# Machine-backed fixtures (shaped network lab, headless Chromium) for the media tests; both skip
# or fail like the services above. Imported last: they import service_unavailable from here.
from tests.browser import chromium_browser, chromium_launcher  # noqa: E402, F401
from tests.netlab import netlab  # noqa: E402, F401

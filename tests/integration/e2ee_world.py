"""Encrypted devices for the integration tests: real RelaisClient + E2EEClient on a real server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from client.e2ee import E2EEClient, Policy
from client.sdk import RelaisClient
from tests.conftest import (
    Running,
    UserHandle,
    bounded_teardown,
    patient_session,
    test_settings,
    wait_for,
)

# Tiny argon2id cost: the tests exercise the backup format, bench/ measures the real cost.
BACKUP_COST: dict[str, int] = {"backup_ops": 1, "backup_mem": 8192 * 1024}
FAST = Policy(retry_interval_s=0.5)

Device = Callable[..., Awaitable[E2EEClient]]

# Many devices share one address and one test: the per-IP and per-user limits (tested in their
# own suite) would only add retries here.
UNLIMITED: dict[str, Any] = {
    "rate_ip_per_s": 1e6,
    "rate_ip_burst": 10**6,
    "rate_user_per_s": 1e6,
    "rate_user_burst": 10**6,
}


@pytest.fixture(name="relais")
async def unlimited_relais(start_server: Any, tmp_path: Any, database_url: str) -> Running:
    """`relais` (SQLite and PostgreSQL) without rate limits; import it into a test module."""
    running: Running = await start_server(test_settings(tmp_path, database_url, **UNLIMITED))
    return running


@pytest.fixture
async def device() -> AsyncIterator[Device]:
    made: list[E2EEClient] = []

    async def _device(
        running: Running,
        user: UserHandle,
        *,
        bootstrap: bool = True,
        passphrase: str | None = None,
        connect: bool = True,
        policy: Policy | None = None,
    ) -> E2EEClient:
        api = RelaisClient(running.url)
        if user.role == "patient":
            token, device_id = await patient_session(running, user.user_id)
            api.use_session(token, user.user_id, device_id)
        else:
            await api.login(user.username, user.password)
        e = E2EEClient(api, policy=policy or FAST)
        made.append(e)
        if bootstrap:
            await e.bootstrap(
                passphrase,
                backup_ops=BACKUP_COST["backup_ops"],
                backup_mem=BACKUP_COST["backup_mem"],
            )
        if connect:
            await e.connect()
        return e

    yield _device
    for e in made:
        try:
            await bounded_teardown(e.close(), "closing an E2EE device")
        except AssertionError:
            raise
        except Exception:
            pass


def texts(e: E2EEClient, room: str) -> list[str]:
    return [
        str(r.content["body"])
        for r in e.messages(room)
        if r.content is not None and r.content.get("type") == "text"
    ]


async def until_texts(e: E2EEClient, room: str, expected: list[str], timeout: float = 15) -> None:
    async def _sync() -> None:
        await e.api.sync()

    try:
        await wait_for(lambda: texts(e, room) == expected, timeout=timeout / 2)
    except AssertionError:
        await _sync()
        await wait_for(lambda: texts(e, room) == expected, timeout=timeout / 2)


def states(e: E2EEClient) -> dict[str, Any]:
    return {r.id: r.state for r in e.records.values()}

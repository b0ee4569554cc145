"""Fixtures shared by the security suites (authorisation matrix, fuzzing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import test_settings as make_settings
from tests.integration.e2ee_world import device  # noqa: F401  (fixture)
from tests.integration.security_world import build_world


@pytest.fixture
async def world(start_server: Any, tmp_path: Path, database_url: str) -> Any:
    """A populated server (see security_world) with rate limits out of the way: these suites
    make hundreds of calls from one address on purpose."""
    running = await start_server(
        make_settings(
            tmp_path,
            database_url,
            rate_ip_per_s=1e6,
            rate_ip_burst=10**6,
            rate_user_per_s=1e6,
            rate_user_burst=10**6,
        )
    )
    w = await build_world(running)
    try:
        yield w
    finally:
        await w.close()

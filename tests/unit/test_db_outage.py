"""A database outage is `unavailable` on every event and route; a bug stays `internal`."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import exc as sa_exc

from server.db.outage import is_outage
from server.realtime import registry


class _Orig(Exception):
    pass


@pytest.mark.parametrize(
    ("err", "outage"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, _Orig("connection refused")), True),
        (sa_exc.InterfaceError("SELECT 1", {}, _Orig("connection is closed")), True),
        (sa_exc.DBAPIError("SELECT 1", {}, _Orig("x"), connection_invalidated=True), True),
        (sa_exc.TimeoutError("QueuePool limit reached"), True),
        (sa_exc.InvalidatePoolError("ping failed"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (sa_exc.IntegrityError("INSERT", {}, _Orig("duplicate key")), False),
        (sa_exc.DataError("INSERT", {}, _Orig("value too long")), False),
        (KeyError("room"), False),
        (ValueError("bad"), False),
    ],
)
def test_outages_are_told_from_bugs(err: BaseException, outage: bool) -> None:
    assert is_outage(err) is outage


class _Principal:
    user_id = "u1"
    device_id = "d1"
    ip = "127.0.0.1"


class _Conn:
    principal = _Principal()


class _Limits:
    def check_user(self, *_: Any) -> None:
        return None


class _Svc:
    limits = _Limits()


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (sa_exc.InterfaceError("SELECT", {}, _Orig("connection is closed")), "unavailable"),
        (RuntimeError("a bug"), "internal"),
    ],
)
async def test_dispatch_answers_unavailable_for_an_outage(
    monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: str
) -> None:
    async def handler(*_: Any) -> Any:
        raise raised

    monkeypatch.setitem(
        registry.EVENTS, "t.outage", registry.EventSpec("t.outage", None, handler, "test")
    )
    ack = await registry.dispatch(_Svc(), _Conn(), "t.outage", None)  # type: ignore[arg-type]
    assert ack["error"]["code"] == code

"""The SDK's to-device receive side never drops an entry silently (issue 12): an entry whose
`type` is not `relais.pairwise.v1` is counted (`todevice_unknown_type`) and logged with its id,
type and sender only, never its payload."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any, cast

import pytest

from client.e2ee.keyshare import KeyShare
from client.e2ee.outbox import TODEVICE_TYPE
from client.e2ee.records import Metrics

SECRET = "SECRETPAYLOADMARKER"


def _keyshare() -> tuple[KeyShare, Metrics]:
    metrics = Metrics()
    # Only `metrics` is reached before an unknown type is dropped.
    state = cast(Any, SimpleNamespace(metrics=metrics))
    return KeyShare(state, cast(Any, None), cast(Any, None), cast(Any, None)), metrics


def _entry(entry_id: int, type_: Any) -> dict[str, Any]:
    return {
        "id": entry_id,
        "sender": {"user_id": "u_sender", "device_id": "d_sender"},
        "type": type_,
        "payload": SECRET,
        "ts": 1,
    }


async def test_unknown_type_is_counted_and_logged_without_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ks, metrics = _keyshare()
    with caplog.at_level(logging.WARNING, logger="relais.e2ee"):
        await ks.handle(_entry(7, "m.room_key"))
        await ks.handle(_entry(8, "evil\ntype"))
        await ks.handle(_entry(7, "m.room_key"))  # the same entry again (live, then sync)
    assert metrics["todevice_unknown_type"] == 2
    drops = [r for r in caplog.records if r.getMessage().startswith("to-device entry")]
    assert len(drops) == 2
    first = drops[0].__dict__
    assert first["entry_id"] == 7 and first["todevice_type"] == "'m.room_key'"
    assert first["sender_user"] == "'u_sender'" and first["sender_device"] == "'d_sender'"
    assert "\n" not in drops[1].__dict__["todevice_type"]  # repr'd: one log line
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.__dict__)


def test_the_sdk_sends_the_type_the_server_accepts() -> None:
    from server.messaging.todevice import TODEVICE_TYPES

    assert TODEVICE_TYPES == (TODEVICE_TYPE,)

"""The lean inbound path (server/realtime/websocket.py, packet_guard.py's `take_ws_message`):
it decodes the common socket.io EVENT itself and drives engine.io's socket from its own read
loop, so these pin what it relies on. A python-engineio / python-socketio upgrade that changes
the decoding, the ACK encoding or the socket's fields fails here, not in production."""

from __future__ import annotations

import asyncio
import inspect
import json
import random
from typing import Any

import engineio
import pytest
from engineio.async_socket import AsyncSocket
from socketio import packet as sio_packet

from server.realtime import websocket
from server.realtime.packet_guard import _decode_event

# Shapes clients send: the fast path must take them.
_TAKEN = [
    '2["message.send",{"room_id":"r","envelope":{"v":1}}]',
    '20["a"]',
    '27["a",1,2,3]',
    '2123456789012345["a",null]',
    '2["a","\\u0000é"]',
    "2[]",
    "2[1]",
    '2["x"] ',
    "2[[[1]]]",
]
# Everything else is left to python-socketio's decoder (and the gate's typed refusals).
_LEFT = [
    '2{"a":1}',  # not a list: the general decoder's
    '2/admin,["a"]',  # a namespace
    '21-["a",{"_placeholder":true,"num":0}]',  # attachments
    '21234567890123456["a"]',  # a longer id than the fast path takes
    '2["a"',  # malformed
    "2",
    "",
    '3["a"]',
    '0{"token":"t"}',
    '2٣["a"]',  # a non-ASCII digit
    "2" + "[" * 5000 + "]" * 5000,  # deeper than json's recursion limit
]


def _stock(payload: str) -> Any:
    try:
        pkt = sio_packet.Packet(encoded_packet=payload)
    except (ValueError, RecursionError):
        return "refused"
    return pkt


@pytest.mark.parametrize("payload", _TAKEN + _LEFT)
def test_fast_event_decoding_agrees_with_python_socketio(payload: str) -> None:
    got = _decode_event(payload)
    assert (got is not None) == (payload in _TAKEN)
    if got is None:
        return
    stock = _stock(payload)
    assert stock != "refused"
    assert stock.packet_type == sio_packet.EVENT
    assert stock.namespace is None
    assert stock.attachment_count == 0
    assert (stock.id, stock.data) == got


def test_fast_event_decoding_agrees_on_random_payloads() -> None:
    rng = random.Random(16)
    alphabet = '2[]{}",:0123456789-/ab\\'
    for _ in range(20_000):
        payload = "2" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        got = _decode_event(payload)
        if got is None:
            continue
        stock = _stock(payload)
        assert stock != "refused", payload
        assert (stock.packet_type, stock.namespace, stock.id, stock.data) == (
            sio_packet.EVENT,
            None,
            *got,
        ), payload


@pytest.mark.parametrize(
    "result", [None, {"ok": True}, ("a", 1), [1, 2], "é\u2028", {"error": {"code": "x"}}]
)
def test_ack_text_is_what_python_socketio_encodes(result: Any) -> None:
    """packet_guard._run_event writes `3<id><json>`; it must be python-socketio's ACK."""
    args = [] if result is None else list(result) if isinstance(result, tuple) else [result]
    ours = f"37{json.dumps(args, separators=(',', ':'))}"
    stock = sio_packet.Packet(sio_packet.ACK, namespace="/", id=7, data=args).encode()
    assert ours == stock


def test_engineio_socket_fields_the_session_loop_drives() -> None:
    srv = engineio.AsyncServer(async_mode="aiohttp")
    sock = AsyncSocket(srv, "sid1")
    for name in ("connected", "upgraded", "upgrading", "closed", "closing", "sid", "last_ping"):
        assert hasattr(sock, name), name
    assert isinstance(sock.queue, asyncio.Queue)
    for name in ("poll", "close", "send"):
        assert inspect.iscoroutinefunction(getattr(AsyncSocket, name)), name
    assert not inspect.iscoroutinefunction(AsyncSocket.schedule_ping)
    assert set(inspect.signature(AsyncSocket.close).parameters) >= {"wait", "abort", "reason"}
    for name in ("ping_interval", "ping_timeout", "max_http_buffer_size"):
        assert isinstance(getattr(srv, name), int | float), name
    assert srv.reason.TRANSPORT_CLOSE and srv.reason.CLIENT_DISCONNECT


def test_engineio_hands_the_driver_its_sockets_handler() -> None:
    """TrackedWebSocket finds the session as `handler.__self__`: engine.io must still build the
    driver with the socket's bound `_websocket_handler`, and its handler must still implement
    the upgrade as probe -> NOOP -> UPGRADE (what `_upgrade` repeats)."""
    src = inspect.getsource(AsyncSocket._upgrade_websocket)
    assert "_async['websocket'](" in src.replace('"', "'")
    assert "self._websocket_handler" in src
    handler = inspect.getsource(AsyncSocket._websocket_handler)
    for step in ("'probe'", "packet.NOOP", "packet.UPGRADE", "self.upgraded = True"):
        assert step in handler.replace('"', "'"), step


async def test_idle_bound_closes_a_silent_socket_and_spares_a_talking_one() -> None:
    class _WS:
        def __init__(self) -> None:
            self.closed = 0

        async def close(self) -> None:
            self.closed += 1

    silent, talking = _WS(), _WS()
    quiet = websocket._IdleBound(silent, 0.05)  # type: ignore[arg-type]
    busy = websocket._IdleBound(talking, 0.05)  # type: ignore[arg-type]
    for _ in range(8):  # 160 ms: the timers fire at 50, 100 and 150 ms
        busy.seen = True
        await asyncio.sleep(0.02)
    assert silent.closed == 1
    assert talking.closed == 0
    quiet.cancel()
    busy.cancel()

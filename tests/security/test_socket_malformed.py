"""Class (d): one error path for every malformed input on the socket transports (issue 11,
finding 6, and what else python-engineio/python-socketio let a client drive).

Each bad frame gets an answer (an ack with `{"error": ...}` when it had an ack id, else an
`error` event, or a CONNECT_ERROR for a namespace that is not connected), the server log stays
JSON lines only (no traceback, none of the bytes sent), and the socket keeps working.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.security.conftest import RawSocket, Served, raw_socket, serve

MARK = "ZQXJMARKER"  # in every bad frame: must never show up in the log
NS = "/admin"


@pytest.fixture
async def lenient(tmp_path: Path) -> AsyncIterator[Served]:
    """A server that does not close a socket for its many bad packets (tested separately)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url, RELAIS_SOCKET_MAX_BAD_PACKETS="10000")
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


def _error_of(frame: str, ack_prefix: str) -> dict[str, Any]:
    if frame.startswith(ack_prefix):
        body = json.loads("[" + frame[len(ack_prefix) :])[0]
    elif frame.startswith('42["error",'):
        body = json.loads(frame[2:])[1]
    elif frame.startswith("44"):
        text = frame[2:]
        if text.startswith("/"):
            text = text[text.index(",") + 1 :]
        body = json.loads(text)["data"]
    else:
        raise AssertionError(frame)
    assert set(body) == {"error"}, body
    assert set(body["error"]) >= {"code", "message"}, body
    return dict(body["error"])


async def _answer(sock: RawSocket, frame: str | bytes, ack_prefix: str = "43\0") -> dict[str, Any]:
    if isinstance(frame, bytes):
        await sock.ws.send_bytes(frame)
    else:
        await sock.send(frame)
    got = await sock.recv_until(
        lambda f: f.startswith((ack_prefix, '42["error",', "44")), timeout=5
    )
    assert not got.startswith("<"), (frame, got)
    return _error_of(got, ack_prefix)


def _assert_clean_log(served: Served) -> None:
    text = served.log_text()
    assert "Traceback" not in text
    assert MARK not in text
    for line in text.splitlines():
        if line.startswith("Relais listening on "):
            continue
        json.loads(line)  # every other line is a JSON log record


BAD_FRAMES: list[tuple[str, str | bytes, str, str]] = [
    # (case, frame, ack prefix the answer may use, expected code)
    ("bad json with ack id", f'425["room.list",{{"{MARK}"', "43\0", "bad_request"),
    ("bad json", f'42["{MARK}"', "43\0", "bad_request"),
    ("deep nesting", "426" + "[" * 1000 + f'"{MARK}"' + "]" * 1000, "436[", "bad_request"),
    ("very deep nesting", "42" + "[" * 100_000 + "]" * 100_000, "43\0", "bad_request"),
    (
        "deep payload",
        '4216["room.list",' + "[" * 900 + "]" * 900 + "]",
        "4316[",
        "bad_request",
    ),
    ("100-digit integer", f'427["room.list",{{"{MARK}":{"9" * 100}}}]', "437[", ""),
    ("101-digit ack id", "42" + "9" * 101 + f'["room.list","{MARK}"]', "43\0", "bad_request"),
    ("no event name", "428[]", "438[", "bad_request"),
    ("no event name, no ack", f'42{{"{MARK}":1}}', "43\0", "bad_request"),
    ("non-string name", f'429[123,"{MARK}"]', "439[", "bad_request"),
    ("null name", "4210[null]", "4310[", "bad_request"),
    ("binary event", f'451-["room.list",{{"_placeholder":true,"num":0}},"{MARK}"]', "43\0", ""),
    ("binary event with id", '451-11["room.list",{"_placeholder":true,"num":0}]', "4311[", ""),
    ("binary attachment", b"\x04" + MARK.encode(), "43\0", "bad_request"),
    ("unknown namespace connect", NS + ",", "43\0", "not_found"),
    ("event on unknown namespace", f'42{NS},13["room.list","{MARK}"]', f"43{NS},13[", ""),
    ("stray ack", f'43999["{MARK}"]', "43\0", "bad_request"),
    ("huge stray ack id", "43" + "9" * 100 + "[]", "43\0", "bad_request"),
    ("binary ack", '461-99[{"_placeholder":true,"num":0}]', "43\0", "bad_request"),
    ("client connect_error packet", f'44{{"{MARK}":1}}', "43\0", "bad_request"),
    ("unknown packet type", f"47{MARK}", "43\0", "bad_request"),
    ("non-digit packet type", f"4x{MARK}", "43\0", "bad_request"),
    ("empty socket.io packet", "4", "43\0", "bad_request"),
    ("lifecycle name", '4214["disconnect"]', "4314[", "bad_request"),
    ("second namespace connect", '40{"token":"x"}', "43\0", "conflict"),
]


async def test_every_malformed_packet_gets_a_typed_answer_and_a_clean_log(
    lenient: Served,
) -> None:
    await lenient.add_user("mallory")
    async with aiohttp.ClientSession() as http:
        login = await lenient.login(http, "mallory")
        sock = await raw_socket(http, lenient)
        assert (await sock.connect(login["token"])).startswith("40")
        for case, frame, ack_prefix, code in BAD_FRAMES:
            if case == "unknown namespace connect":
                frame = "40" + NS + "," + json.dumps({"token": login["token"]})
            try:
                err = await _answer(sock, frame, ack_prefix)
            except TimeoutError:
                raise AssertionError(f"no answer to: {case}") from None
            if code:
                assert err["code"] == code, (case, err)
            # The socket is still an authenticated, working socket.
            assert "rooms" in await sock.emit(1, "room.list", {}), case
        await sock.ws.close()
    _assert_clean_log(lenient)


async def test_packets_before_the_namespace_connect_are_answered(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        sock = await raw_socket(http, served)
        err = await _answer(sock, '4215["room.list",{}]', "4315[")
        assert err["code"] == "unauthorized"
        err = await _answer(sock, f'42["{MARK}"')  # undecodable: a CONNECT_ERROR answers it
        assert err["code"] == "bad_request"
        await sock.ws.close()
    _assert_clean_log(served)


async def test_a_socket_that_keeps_sending_bad_packets_is_closed(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        sock = await raw_socket(http, served)
        for _ in range(20):
            await sock.send(f"4x{MARK}")
        frames = await sock.events(5)
        assert frames and frames[-1].startswith("<"), frames
        assert sum(f.startswith("44") for f in frames) == 20, frames
    _assert_clean_log(served)


async def _handshake(http: aiohttp.ClientSession, served: Served, ip: str) -> str:
    async with http.get(
        served.url + "/socket.io/?EIO=4&transport=polling", headers={"X-Forwarded-For": ip}
    ) as resp:
        assert resp.status == 200
        return str(json.loads((await resp.text())[1:])["sid"])


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Served]:
    """Behind a proxy: clients are told apart by X-Forwarded-For."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url, RELAIS_TRUST_FORWARDED_FOR="1")
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


async def _typed(resp: aiohttp.ClientResponse, status: int, code: str) -> None:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    assert (await resp.json())["error"]["code"] == code


async def test_a_session_id_is_useless_to_another_client(proxied: Served) -> None:
    base = proxied.url + "/socket.io/?EIO=4&transport="
    async with aiohttp.ClientSession() as http:
        sid = await _handshake(http, proxied, "10.0.0.1")
        thief = {"X-Forwarded-For": "10.0.0.2"}
        async with http.get(f"{base}polling&sid={sid}", headers=thief) as resp:
            await _typed(resp, 400, "bad_request")
        async with http.post(f"{base}polling&sid={sid}", data="41", headers=thief) as resp:
            await _typed(resp, 400, "bad_request")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{base}websocket&sid={sid}", headers=thief)
        assert refused.value.status == 400
        # Its owner still has it.
        async with http.post(
            f"{base}polling&sid={sid}", data="40{}", headers={"X-Forwarded-For": "10.0.0.1"}
        ) as resp:
            assert resp.status == 200
    _assert_clean_log(proxied)


async def test_closed_sessions_jsonp_and_old_protocols_get_typed_refusals(served: Served) -> None:
    base = served.url + "/socket.io/?transport=polling&EIO="
    async with aiohttp.ClientSession() as http:
        sid = await _handshake(http, served, "ignored")
        async with http.post(f"{base}4&sid={sid}", data="1") as resp:  # client closes it
            assert resp.status == 200
        async with http.get(f"{base}4&sid={sid}") as resp:
            await _typed(resp, 400, "bad_request")
        async with http.get(f"{base}4&sid={MARK}") as resp:
            await _typed(resp, 400, "bad_request")
        async with http.get(f"{base}4&j=0") as resp:
            await _typed(resp, 400, "bad_request")
        async with http.get(f"{base}3") as resp:
            await _typed(resp, 400, "bad_request")
        async with http.post(f"{base}4&sid={sid}", data=b"x", chunked=True) as resp:
            await _typed(resp, 400, "bad_request")
    _assert_clean_log(served)


@pytest.mark.parametrize(
    "body",
    [b"6", b"9", b"0", b"4\xff\xfe", b"\x1e\x1e", b"4x\x1e" * 20, b""],
    ids=[
        "noop",
        "unknown-type",
        "open",
        "not-utf8",
        "empty-packets",
        "too-many",
        "empty",
    ],
)
async def test_malformed_polling_payloads_get_a_typed_400(served: Served, body: bytes) -> None:
    """Stock engine.io answered some of these 200 after logging a traceback, and a NOOP or an
    unknown packet type left the POST unanswered while it waited for the client to poll."""
    base = served.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        sid = await _handshake(http, served, "ignored")
        async with (
            asyncio.timeout(10),
            http.post(
                f"{base}&sid={sid}", data=body, headers={"Content-Length": str(len(body))}
            ) as resp,
        ):
            await _typed(resp, 400, "bad_request")
    text = served.log_text()
    assert '"level":"error"' not in text
    _assert_clean_log(served)


@pytest.mark.parametrize("frame", ["6", "9", "0" + MARK, "7"])
async def test_engineio_packets_a_client_may_not_send_close_the_websocket(
    served: Served, frame: str
) -> None:
    async with aiohttp.ClientSession() as http:
        sock = await raw_socket(http, served)
        await sock.send(frame)
        frames = await sock.events(5)
        assert frames and frames[-1].startswith("<"), frames
    _assert_clean_log(served)


async def test_connects_from_one_ipv6_64_share_one_budget(tmp_path: Path) -> None:
    """An IPv6 client gets a /64 and may use any address in it: socket CONNECTs from rotating
    addresses of one /64 spend one per-address budget (as REST requests do), while another /64
    keeps its own. Over the raw wire, behind a trusted proxy's X-Forwarded-For."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(
        tmp_path,
        url,
        RELAIS_TRUST_FORWARDED_FOR="1",
        RELAIS_RATE_IP_BURST="3",
        RELAIS_RATE_IP_PER_S="0.01",
    )
    served = Served(proc, url)
    try:
        answers = []
        async with aiohttp.ClientSession() as http:
            for n in range(1, 7):
                ip = f"2001:db8:7:42::{n:x}"
                ws = await http.ws_connect(
                    served.ws_url, autoping=False, headers={"X-Forwarded-For": ip}
                )
                sock = RawSocket(ws)
                await sock.open()
                frame = await sock.connect(None)
                answers.append(json.loads(frame[2:])["data"]["error"]["code"])
                await ws.close()
            ws = await http.ws_connect(
                served.ws_url, autoping=False, headers={"X-Forwarded-For": "2001:db8:7:43::1"}
            )
            other = RawSocket(ws)
            await other.open()
            elsewhere = json.loads((await other.connect(None))[2:])["data"]["error"]["code"]
            await ws.close()
        # The engine.io handshake spends nothing here: the budget is the CONNECTs'.
        assert answers[:3] == ["unauthorized"] * 3, answers
        assert answers[3:] == ["rate_limited"] * 3, answers
        assert elsewhere == "unauthorized"
    finally:
        await proc.terminate()
    _assert_clean_log(served)


async def test_websocket_refuses_permessage_deflate(served: Served) -> None:
    """A browser offers permessage-deflate on every WebSocket; the server must not take it: it
    would compress each frame once per recipient (fan-out at half the rate, docs/performance.md
    §2) and inflate whatever a client sends compressed (a small frame that inflates to the size
    cap). Offered here as Chromium does, over the raw wire."""
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(served.ws_url, autoping=False, compress=15)
        try:
            assert ws.compress == 0
            assert "Sec-WebSocket-Extensions" not in ws._response.headers
            sock = RawSocket(ws)
            await sock.open()  # and the engine.io session works as ever
        finally:
            await ws.close()
    _assert_clean_log(served)

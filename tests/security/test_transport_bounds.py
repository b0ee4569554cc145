"""Class (c): every transport has a time and a size bound (issue 11, findings 3 and 4).

The server runs with short bounds so the test waits seconds, not minutes; each check waits on
"the server closed it" with a deadline of the bound plus a margin, and asserts nothing faster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.security.conftest import RawSocket, Served, raw_socket, serve

KEEPALIVE_S = 2.0
BODY_IDLE_S = 2.0
BODY_TOTAL_S = 4.0
PING_S = 1.0
AUTH_S = 2.0
MARGIN_S = 4.0  # reaper tick (1 s), ceil of aiohttp timers, a loaded 2-core CI box


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[Served]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(
        tmp_path,
        url,
        RELAIS_HTTP_KEEPALIVE_S=str(KEEPALIVE_S),
        RELAIS_HTTP_BODY_IDLE_S=str(BODY_IDLE_S),
        RELAIS_HTTP_BODY_TIMEOUT_S=str(BODY_TOTAL_S),
        RELAIS_SOCKET_PING_INTERVAL_S=str(PING_S),
        RELAIS_SOCKET_PING_TIMEOUT_S=str(PING_S),
        RELAIS_SOCKET_AUTH_TIMEOUT_S=str(AUTH_S),
    )
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


async def _closed_by_server(reader: asyncio.StreamReader, deadline: float) -> float:
    """Seconds until the server closed the connection (EOF or reset); fails past `deadline`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(deadline):
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
    return loop.time() - start


async def _open(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


async def test_idle_and_half_sent_requests_are_closed_within_the_header_bound(
    bounded: Served,
) -> None:
    conns = [await _open(bounded) for _ in range(150)]
    for i, (_, writer) in enumerate(conns):
        if i % 3 == 1:  # a request line and half the headers, never finished
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: relais\r\nX-Slow: ")
        elif i % 3 == 2:  # slowloris: a header byte now and then, never the blank line
            writer.write(b"GET /healthz HTTP/1.1\r\n")
        await writer.drain()

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.5)
            for i, (_, writer) in enumerate(conns):
                if i % 3 == 2 and not writer.is_closing():
                    try:
                        writer.write(b"X-A: b\r\n")
                    except (ConnectionResetError, RuntimeError):
                        pass

    dripper = asyncio.create_task(trickle())
    try:
        waits = await asyncio.gather(
            *(_closed_by_server(r, KEEPALIVE_S + MARGIN_S) for r, _ in conns)
        )
    finally:
        dripper.cancel()
        for _, writer in conns:
            writer.close()
    assert max(waits) < KEEPALIVE_S + MARGIN_S
    # The server is still serving.
    async with aiohttp.ClientSession() as http, http.get(bounded.url + "/healthz") as resp:
        assert resp.status == 200


async def test_stalled_and_dripped_bodies_are_closed(bounded: Served) -> None:
    head = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: relais\r\n"
        b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    )
    async with aiohttp.ClientSession() as http:
        sids = [await _polling_handshake(http, bounded) for _ in range(31)]
    stalled = [await _open(bounded) for _ in range(60)]
    for i, (_, writer) in enumerate(stalled):
        if i % 2:  # a REST route that answers early: aiohttp lingers on the unread rest
            writer.write(head + b'{"username": "a')
        else:  # engine.io reads the whole declared body before it answers
            writer.write(
                f"POST /socket.io/?EIO=4&transport=polling&sid={sids[i // 2]} HTTP/1.1\r\n"
                "Host: relais\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n"
                "42[".encode()
            )
        await writer.drain()
    dripped_reader, dripped = await _open(bounded)
    dripped.write(
        f"POST /socket.io/?EIO=4&transport=polling&sid={sids[30]} HTTP/1.1\r\n"
        "Host: relais\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n".encode()
    )
    await dripped.drain()

    async def drip() -> None:
        while not dripped.is_closing():
            await asyncio.sleep(0.3)
            try:
                dripped.write(b" ")
            except (ConnectionResetError, RuntimeError):
                return

    dripper = asyncio.create_task(drip())
    try:
        waits = await asyncio.gather(
            *(_closed_by_server(r, BODY_IDLE_S + MARGIN_S) for r, _ in stalled)
        )
        drip_wait = await _closed_by_server(dripped_reader, BODY_TOTAL_S + MARGIN_S)
    finally:
        dripper.cancel()
        dripped.close()
        for _, writer in stalled:
            writer.close()
    assert max(waits) < BODY_IDLE_S + MARGIN_S
    assert drip_wait < BODY_TOTAL_S + MARGIN_S
    log = bounded.log_text()
    assert '"reason":"body_idle"' in log and '"reason":"body_timeout"' in log
    assert "Traceback" not in bounded.log_text()


async def _polling_handshake(http: aiohttp.ClientSession, served: Served) -> str:
    async with http.get(served.url + "/socket.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 200
        text = await resp.text()
    return str(json.loads(text[1:])["sid"])


async def test_polling_post_over_the_cap_is_answered_413(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        sid = await _polling_handshake(http, served)
        body = "4" + "x" * (256 * 1024 + 10)
        async with (
            asyncio.timeout(10),
            http.post(
                served.url + f"/socket.io/?EIO=4&transport=polling&sid={sid}", data=body
            ) as resp,
        ):
            assert resp.status == 413
            answer = await resp.json()
        assert answer["error"]["code"] == "payload_too_large", answer
        # The session is over: the next poll is refused, with a typed error too.
        async with (
            asyncio.timeout(10),
            http.get(served.url + f"/socket.io/?EIO=4&transport=polling&sid={sid}") as resp,
        ):
            if resp.status == 200:  # the pending CLOSE packet is delivered first
                assert (await resp.text()).startswith("1")
            else:
                assert (await resp.json())["error"]["code"] == "bad_request"


async def test_websocket_frame_over_the_cap_closes_the_socket(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        sock = await raw_socket(http, served)
        await sock.send("4" + "x" * (256 * 1024 + 10))
        frames = await sock.events(10)
        assert frames and frames[-1].startswith("<"), frames


async def _silent_ws(http: aiohttp.ClientSession, served: Served) -> RawSocket:
    ws = await http.ws_connect(served.ws_url, autoping=False)
    sock = RawSocket(ws)
    await sock.open()
    return sock


async def test_sockets_that_stop_answering_or_never_authenticate_are_closed(
    bounded: Served,
) -> None:
    async with aiohttp.ClientSession() as http:
        # Answers nothing, not even pings.
        mute = await _silent_ws(http, bounded)
        # Answers pings (RawSocket.recv does) but never sends its namespace CONNECT.
        lurker = await raw_socket(http, bounded)
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with asyncio.timeout(2 * PING_S + MARGIN_S):
            msg = await mute.ws.receive()
            while msg.type == aiohttp.WSMsgType.TEXT:  # the pings it does not answer
                msg = await mute.ws.receive()
        assert loop.time() - start < 2 * PING_S + MARGIN_S
        frames = await lurker.events(AUTH_S + MARGIN_S)
        assert frames and frames[-1].startswith("<"), frames


async def test_shutdown_does_not_wait_on_a_polling_client_that_stopped_polling(
    tmp_path: Path,
) -> None:
    """engine.io's disconnect-all waited for every long-polling client to fetch its CLOSE
    packet: one client that stopped polling held a graceful stop until the process was killed."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    proc = await serve(tmp_path, url, RELAIS_SHUTDOWN_GRACE_S="5")
    served = Served(proc, url)
    async with aiohttp.ClientSession() as http:
        await _polling_handshake(http, served)
        # and then never polls again
        code = await proc.terminate(timeout=5 + MARGIN_S)
    assert code == 0, served.log_text()[-2000:]

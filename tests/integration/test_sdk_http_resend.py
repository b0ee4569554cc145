"""The SDK's REST calls survive a kept-alive connection that the server closes under them.

A raw TCP server plays the race: it answers a request and keeps the connection, then resets it
when the next request arrives on it (as a server whose keep-alive timer fired while the request
was on its way; on a starved link its FIN is late). An idempotent request, or a read the SDK
marks as safe, is sent again on a fresh connection and succeeds; a POST that may have changed
something is not sent twice."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest

from client.sdk import RelaisClient

pytestmark = pytest.mark.timeout(30)
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": true}'


class ResettingServer:
    """Each connection: the first request is answered, the next one is met by a reset."""

    def __init__(self) -> None:
        self.requests = 0
        self.resets = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                if answered:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.resets += 1
                    writer.transport.abort()
                    return
                writer.write(OK)
                await writer.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"


@pytest.fixture
async def resetting() -> AsyncIterator[tuple[ResettingServer, RelaisClient]]:
    server = ResettingServer()
    client = RelaisClient(await server.start())
    try:
        yield server, client
    finally:
        await client.close()
        assert server.server is not None
        server.server.close()
        await server.server.wait_closed()


async def test_idempotent_requests_are_sent_again_on_a_fresh_connection(
    resetting: tuple[ResettingServer, RelaisClient],
) -> None:
    server, client = resetting
    for _ in range(3):
        assert await client.request("GET", "/api/v1/x") == {"ok": True}
    assert await client.request("POST", "/api/v1/keys/query", json={}, resend=True) == {"ok": True}
    assert server.resets >= 3, server.resets


async def test_a_post_is_not_sent_twice(
    resetting: tuple[ResettingServer, RelaisClient],
) -> None:
    server, client = resetting
    assert await client.request("GET", "/api/v1/x") == {"ok": True}
    with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        await client.request("POST", "/api/v1/rooms", json={})
    assert server.requests == 2 and server.resets == 1

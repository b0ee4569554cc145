"""The harness itself: a raw socket.io client authenticates and gets typed answers."""

from __future__ import annotations

import aiohttp

from tests.security.conftest import Served, raw_socket


async def test_raw_socket_connects_and_gets_typed_errors(served: Served) -> None:
    await served.add_user("eve")
    async with aiohttp.ClientSession() as http:
        login = await served.login(http, "eve")
        sock = await raw_socket(http, served)
        answer = await sock.connect(login["token"])
        assert answer.startswith("40"), answer
        ack = await sock.emit(1, "no.such.event", {})
        assert ack["error"]["code"] == "bad_request"
        await sock.ws.close()

"""The SDK's sends wait out a socket that is down instead of spending their tries on it.

A starved rural link keeps the socket down for tens of seconds; each try against a socket that is
down fails at once ("/ is not a connected namespace"), so twenty of them used to be gone in about
fifteen seconds and the message was dropped with `send_failed`. A relay the test cuts plays the
link: while it is cut, open connections are reset and new ones closed at once."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from client import RelaisClient, RelaisError
from tests.conftest import envelope, make_user

pytestmark = pytest.mark.timeout(60)


class CuttableLink:
    """A TCP relay to the server on a loopback port of its own."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = False
        self._open: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._open |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._open -= {writer, up_writer}

    def go_down(self) -> None:
        self.cut = True
        for w in list(self._open):
            w.transport.abort()

    def come_back(self) -> None:
        self.cut = False

    async def close(self) -> None:
        self.go_down()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def dropped(client: RelaisClient) -> None:
    """The client has seen its socket go (the relay reset it): what a starved link ends in."""
    for _ in range(100):
        if client.sio is not None and not client.sio.connected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the client never saw its socket drop")


async def through_link(relais: Any) -> tuple[CuttableLink, RelaisClient, str]:
    doc = await make_user(relais, "clinician")
    link = CuttableLink(int(relais.url.rsplit(":", 1)[1]))
    client = RelaisClient(await link.start(), transports=["websocket"])
    await client.login(doc.username, doc.password)
    await client.connect()
    room = await client.create_room()
    return link, client, room


async def test_a_send_waits_for_the_socket_to_come_back_and_is_stored_once(relais: Any) -> None:
    link, client, room = await through_link(relais)
    try:
        link.go_down()
        await dropped(client)
        # Three tries: gone in well under a second before, when each failed at once.
        sending = asyncio.ensure_future(client.send(room, envelope("while down"), retries=3))
        await asyncio.sleep(4)
        assert not sending.done(), sending.exception() if sending.done() else None
        link.come_back()
        ack = await asyncio.wait_for(sending, 30)
        assert ack["seq"] == 1 and not ack["duplicate"]
        assert (await client.send(room, envelope("after")))["seq"] == 2
    finally:
        await client.close()
        await link.close()


async def test_a_send_gives_up_with_a_typed_error_when_the_socket_stays_down(
    relais: Any,
) -> None:
    link, client, room = await through_link(relais)
    try:
        link.go_down()
        await dropped(client)
        with pytest.raises(RelaisError) as err:
            await asyncio.wait_for(client.send(room, envelope("lost"), offline_s=1.5), 20)
        assert err.value.code == "send_failed"
    finally:
        eio = client.sio.eio if client.sio is not None else None
        await client.close()
        await link.close()
    # Closed while its reconnection attempts kept failing: nothing of the socket stays open.
    assert eio is not None and (eio.http is None or eio.http.closed)


async def test_a_send_waiting_for_a_revoked_session_fails_with_the_servers_refusal(
    relais: Any,
) -> None:
    """The session was revoked while the link was down: the server refuses every reconnection,
    so the waiting send fails with that refusal at once rather than after `offline_s`."""
    from sqlalchemy import update

    from server.db.models import Session, now_ms

    link, client, room = await through_link(relais)
    try:
        link.go_down()
        await dropped(client)
        sending = asyncio.ensure_future(client.send(room, envelope("revoked")))
        async with relais.services.db.write() as conn:
            await conn.execute(
                update(Session).where(Session.user_id == client.user_id).values(revoked_at=now_ms())
            )
        link.come_back()
        with pytest.raises(RelaisError) as err:
            await asyncio.wait_for(sending, 20)
        assert err.value.code == "unauthorized"
    finally:
        await client.close()
        await link.close()

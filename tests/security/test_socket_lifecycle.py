"""Class (a): no client frame reaches a lifecycle or internal handler, and a revoked socket is
really gone (issue 11, finding 1).

A client that sent `42["disconnect"]` used to run the server's own disconnect handler: the
socket left the connection table (so logout/disable closed "0 sockets") but stayed in its
user and device rooms, and kept receiving every `message.new` after its session ended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.api.context import SERVICES_KEY
from server.app import create_app
from server.settings import Settings
from tests.security.conftest import RawSocket, Served, raw_socket

ENVELOPE = {"v": 1, "alg": "test", "ct": "Y2lwaGVydGV4dA"}


async def _rest(
    http: aiohttp.ClientSession, served: Served, method: str, path: str, token: str, body: Any
) -> tuple[int, Any]:
    async with http.request(
        method, served.url + path, json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


async def _room_with(
    http: aiohttp.ClientSession, served: Served, owner_token: str, member_id: str
) -> str:
    status, room = await _rest(http, served, "POST", "/api/v1/rooms", owner_token, {})
    assert status == 201, room
    status, body = await _rest(
        http,
        served,
        "POST",
        f"/api/v1/rooms/{room['room_id']}/members",
        owner_token,
        {"user_id": member_id},
    )
    assert status == 201, body
    return str(room["room_id"])


async def _frames_until_closed(sock: RawSocket, window: float = 5.0) -> list[str]:
    """Frames until the transport closes; a socket still open after `window` ends the list
    without a close marker (`<CLOSE>`, `<CLOSED>`...)."""
    return await sock.events(window)


def _closed(frames: list[str]) -> bool:
    return bool(frames) and frames[-1].startswith("<")


def _message_news(frames: list[str]) -> list[str]:
    return [f for f in frames if f.startswith('42["message.new"')]


@pytest.mark.parametrize("ending", ["logout", "disable", "revoke"])
async def test_client_sent_disconnect_cannot_keep_a_revoked_socket_in_its_rooms(
    served: Served, ending: str
) -> None:
    await served.add_user("alice")
    bob_id = await served.add_user("bob")
    await served.add_user("root", role="admin")
    async with aiohttp.ClientSession() as http:
        alice = await served.login(http, "alice")
        bob = await served.login(http, "bob")
        root = await served.login(http, "root")
        room = await _room_with(http, served, alice["token"], bob_id)

        victim = await raw_socket(http, served)
        assert (await victim.connect(bob["token"])).startswith("40")
        # The attack: fire the server's own lifecycle handlers from the client.
        for frame in ('421["disconnect"]', '422["disconnect","client namespace disconnect"]'):
            await victim.send(frame)
        await victim.send("423" + json.dumps(["connect", {"token": bob["token"]}]))
        answers = [
            await victim.recv_until(lambda f, i=i: f.startswith(f"43{i}[")) for i in (1, 2, 3)
        ]
        for answer in answers:
            assert json.loads(answer[3:])[0]["error"]["code"] == "bad_request", answer
        # Still an ordinary authenticated socket: its events are served.
        assert "rooms" in await victim.emit(4, "room.list", {})

        if ending == "logout":
            status, body = await _rest(
                http, served, "POST", "/api/v1/auth/logout", bob["token"], None
            )
            assert status == 200, body
        elif ending == "disable":
            status, body = await _rest(
                http, served, "POST", f"/api/v1/admin/users/{bob_id}/disable", root["token"], None
            )
            assert status == 200, body
            assert body["sockets_closed"] == 1, body
        else:
            status, body = await _rest(
                http,
                served,
                "DELETE",
                f"/api/v1/auth/sessions/{bob['session_id']}",
                bob["token"],
                None,
            )
            assert status == 200, body

        sender = await raw_socket(http, served)
        assert (await sender.connect(alice["token"])).startswith("40")
        ack = await sender.emit(
            1, "message.send", {"room_id": room, "client_msg_id": "m1", "envelope": ENVELOPE}
        )
        assert ack.get("seq") == 1, ack

        frames = await _frames_until_closed(victim)
        assert not _message_news(frames), frames
        assert _closed(frames), frames
        await sender.ws.close()


async def test_no_registered_handler_is_reachable_by_a_client_event_name(
    served: Served, tmp_path: Path
) -> None:
    """Every handler the socket.io and engine.io servers hold, plus the reserved names, is
    tried as a client event name: each is refused by the allow-list, and the socket stays a
    working authenticated socket (the disconnect handler did not run)."""
    app = create_app(Settings(data_dir=str(tmp_path / "probe")))
    sio = app[SERVICES_KEY].sio
    names: set[str] = {"connect", "disconnect", "connect_error", "*", "message", "error"}
    for handlers in sio.handlers.values():
        names.update(handlers)
    names.update(sio.eio.handlers)
    assert {"connect", "disconnect", "*"} <= names

    await served.add_user("mallory")
    async with aiohttp.ClientSession() as http:
        login = await served.login(http, "mallory")
        sock = await raw_socket(http, served)
        assert (await sock.connect(login["token"])).startswith("40")
        for i, name in enumerate(sorted(names), start=10):
            await sock.send(f"42{i}" + json.dumps([name, {"token": login["token"]}]))
            answer = await sock.recv_until(lambda f, i=i: f.startswith(f"43{i}["))
            assert json.loads(answer[len(f"43{i}") :])[0]["error"]["code"] == "bad_request", (
                name,
                answer,
            )
            assert "rooms" in await sock.emit(1, "room.list", {}), name
        await sock.ws.close()

"""Packets to one socket take the direct write path (server/realtime/fanout.py `DirectSendServer`)
where the WebSocket is idle, and every one arrives once, on both transports, over the raw wire.
(Acks of concurrent calls have no order: each handler runs as its own task.)"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import socketio

from server.ops import metrics
from tests.integration.security_world import World


def _count(counter: Any) -> float:
    return float(counter._value.get())


async def test_acks_are_written_directly_each_once(world: World) -> None:
    url = world.running.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    token = world.actors["member"].token
    before = _count(metrics.DIRECT_SENDS)
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(url)
        opened = await ws.receive_str(timeout=10)
        assert opened.startswith("0")
        await ws.send_str("40" + json.dumps({"token": token}))
        assert (await ws.receive_str(timeout=10)).startswith("40")
        # Twenty acked calls at once: every ack comes back, once.
        for i in range(1, 21):
            await ws.send_str(f"42{i}" + json.dumps(["sync", {"since": {}}]))
        ids: list[int] = []
        while len(ids) < 20:
            frame = await ws.receive_str(timeout=10)
            if frame.startswith("43"):
                digits = frame[2:].split("[", 1)[0]
                ids.append(int(digits))
                assert "error" not in frame[2 + len(digits) :][:20], frame[:200]
        await ws.close()
    assert sorted(ids) == list(range(1, 21))
    # The connect answer and at least some acks went straight to the socket (the writer was
    # idle between them); the others were queued behind what the writer had in hand.
    assert _count(metrics.DIRECT_SENDS) - before >= 2


async def test_acks_over_long_polling_still_arrive(world: World) -> None:
    """Long-polling has no WebSocket to write to: its packets stay on the queue."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(
        world.running.url,
        auth={"token": world.actors["member"].token},
        transports=["polling"],
        wait_timeout=10,
    )
    try:
        before = _count(metrics.DIRECT_SENDS)
        ack = await sio.call("sync", {"since": {}}, timeout=10)
        assert "error" not in ack, ack
        assert _count(metrics.DIRECT_SENDS) == before
    finally:
        await sio.disconnect()

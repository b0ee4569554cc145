"""A lean engine.io v4 / socket.io v5 WebSocket client, so the load generator is not the bottleneck.

python-socketio's client parses every packet into objects and runs handlers as tasks; here a
frame is classified by its first bytes, acks are matched by id, and events are only counted
(their JSON is never parsed). Only the default namespace and the WebSocket transport are spoken.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

OPEN, PING, PONG, MESSAGE = "0", "2", "3", "4"


class RefusedError(Exception):
    """The server refused the socket.io connection (bad token, rate limit)."""


class EioClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.session = session
        self.url = base_url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.token = token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.events = 0  # socket.io EVENT packets received (e.g. message.new deliveries)
        self.on_event: Callable[[str], None] | None = None
        self._acks: dict[int, asyncio.Future[str]] = {}
        self._next_id = 0
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 30) -> None:
        # compress=0: no permessage-deflate, as a browser client behind a TLS proxy would be.
        self.ws = await self.session.ws_connect(
            self.url,
            compress=0,
            autoping=True,
            max_msg_size=0,
            timeout=aiohttp.ClientWSTimeout(ws_receive=timeout, ws_close=5),
        )
        first = await asyncio.wait_for(self.ws.receive(), timeout)
        if first.type != aiohttp.WSMsgType.TEXT or not first.data.startswith(OPEN):
            raise RefusedError(f"no engine.io open packet: {first.type} {first.data!r:.80}")
        await self.ws.send_str("40" + json.dumps({"token": self.token}))
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), timeout)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise RefusedError(f"closed during connect: {msg.type}")
            data: str = msg.data
            if data == PING:
                await self.ws.send_str(PONG)
            elif data.startswith("40"):
                break
            elif data.startswith("44"):
                raise RefusedError(data[2:200])
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data: str = msg.data
            if data[0] == MESSAGE:
                kind = data[1]
                if kind == "2":
                    self.events += 1
                    if self.on_event is not None:
                        self.on_event(data)
                elif kind == "3":
                    i = 2
                    while data[i].isdigit():
                        i += 1
                    fut = self._acks.pop(int(data[2:i]), None)
                    if fut is not None and not fut.done():
                        fut.set_result(data[i:])
            elif data == PING:
                await ws.send_str(PONG)
        for fut in self._acks.values():
            if not fut.done():
                fut.set_exception(ConnectionError("socket closed"))
        self._acks.clear()

    async def call_raw(self, event: str, payload_json: str) -> asyncio.Future[str]:
        """Send `42<id>["event",payload]`; the future gets the raw ack text (`[...]`)."""
        assert self.ws is not None
        self._next_id += 1
        ack_id = self._next_id
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = fut
        # send_str only writes into the transport unless its buffer is over the high-water mark.
        await self.ws.send_str(f'42{ack_id}["{event}",{payload_json}]')
        return fut

    async def call(self, event: str, payload: Any) -> Any:
        fut = await self.call_raw(event, json.dumps(payload))
        return json.loads(await fut)[0]

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 5)
            except (TimeoutError, aiohttp.ClientError, OSError):
                pass
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # teardown
                pass

"""Baseline: a bare aiohttp WebSocket broadcast server speaking just enough engine.io/socket.io.

It answers the same load generator as Relais (open packet, `40{token}` -> `40{sid}`,
`42<id>["bench.broadcast",{room_id, envelope}]` -> acked, `message.new` written to every other
socket of the room). No validation, no database, no auth beyond a token->room map: the floor that
aiohttp plus JSON cost on this machine.

    python -m bench.bare_server PORT TOKENS.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from aiohttp import WSMsgType, web

OPEN = '0{"sid":"bare","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


def make_app(tokens: dict[str, str]) -> web.Application:
    rooms: dict[str, set[web.WebSocketResponse]] = defaultdict(set)

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        await ws.send_str(OPEN)
        room: str | None = None
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                data: str = msg.data
                if data.startswith("40"):
                    room = tokens.get(json.loads(data[2:] or "{}").get("token", ""))
                    if room is None:
                        await ws.send_str('44{"message":"unauthorized"}')
                        break
                    rooms[room].add(ws)
                    await ws.send_str(f'40{{"sid":"{id(ws)}"}}')
                elif data.startswith("42") and room is not None:
                    i = 2
                    while data[i].isdigit():
                        i += 1
                    _event, payload = json.loads(data[i:])
                    out = "42" + json.dumps(
                        [
                            "message.new",
                            {"room_id": payload["room_id"], "envelope": payload["envelope"]},
                        ]
                    )
                    n = 0
                    for peer in rooms[room]:
                        if peer is not ws and not peer.closed:
                            await peer.send_str(out)
                            n += 1
                    await ws.send_str("43" + data[2:i] + json.dumps([{"n": n}]))
                elif data == "3":
                    continue
        finally:
            if room is not None:
                rooms[room].discard(ws)
        return ws

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/socket.io/", socket)
    app.router.add_get("/readyz", ready)
    return app


def main() -> int:
    port, token_file = int(sys.argv[1]), sys.argv[2]
    with open(token_file) as f:
        tokens = json.load(f)
    web.run_app(make_app(tokens), host="127.0.0.1", port=port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())

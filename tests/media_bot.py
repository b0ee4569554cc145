"""A consultation participant in its own process (e.g. inside a network namespace).

Run: `python -m tests.media_bot URL TOKEN USER_ID CONSULTATION_ID [DEVICE_ID]`. It joins the
consultation (already admitted), opens its media, prints one JSON line per second on stdout (frame
counters, the send plan it follows, the modes it was told about) and obeys commands on stdin:
`reconnect` (fresh peer connection, as after a network change) and `quit`.

With `RELAIS_BOT_TEXT=1` (and the session's real DEVICE_ID) it also publishes its own E2EE keys
and opens the consultation's encrypted text channel: `say <text>` sends a message, and the status
lines carry the texts it could decrypt.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from typing import Any

from client.consult import ConsultationMedia
from client.consult_text import ConsultationText
from client.e2ee import E2EEClient
from client.sdk import RelaisClient


async def _commands(queue: asyncio.Queue[str]) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            await queue.put("quit")
            return
        await queue.put(line.decode().strip())


async def main(
    url: str, token: str, user_id: str, consultation_id: str, device_id: str = "bot"
) -> None:
    client = RelaisClient(url)
    client.use_session(token, user_id, device_id)
    e2ee: E2EEClient | None = None
    text: ConsultationText | None = None
    if os.environ.get("RELAIS_BOT_TEXT") == "1":
        e2ee = E2EEClient(client)
        await e2ee.bootstrap()
        await e2ee.connect()
    else:
        await client.connect()
    await client.call("consult.join", {"consultation_id": consultation_id})
    if e2ee is not None:
        text = ConsultationText(e2ee, consultation_id)
        await text.open()
    width, height, fps = (
        int(x) for x in os.environ.get("RELAIS_BOT_VIDEO", "640x480x30").split("x")
    )
    media = ConsultationMedia(client, consultation_id, (width, height, fps))
    await media.start()
    # Every server event that reaches the SDK's handlers, by name (for failure messages).
    events_seen: collections.Counter[str] = collections.Counter()
    handler = client.on_event

    def counting(event: str, data: Any) -> Any:
        events_seen[event] += 1
        return handler(event, data) if handler is not None else None

    client.on_event = counting
    commands: asyncio.Queue[str] = asyncio.Queue()
    reader = asyncio.ensure_future(_commands(commands))
    sends: set[asyncio.Task[Any]] = set()
    try:
        while True:
            try:
                command = await asyncio.wait_for(commands.get(), timeout=1.0)
            except TimeoutError:
                command = ""
            if command == "quit":
                break
            if command == "reconnect":
                await media.reconnect()
            if command.startswith("say ") and text is not None:
                # Not awaited here: on a starved link the send may take a while, and the
                # status lines must keep coming.
                sends.add(asyncio.create_task(text.send(command[4:])))
            peer = media.peer
            stats = await peer.stats() if peer is not None else {}
            status: dict[str, Any] = {
                "t": time.monotonic(),
                "participant_id": media.participant_id,
                "frames": dict(peer.counters.frames) if peer else {},
                # Packets that reached the peer (decoded or not), per kind.
                "packets": {k: v.get("packets_received", 0) for k, v in stats.items()},
                "plan": peer.plan if peer else {},
                "video_kbps_cap": peer.video_encoder.effective_bps // 1000 if peer else 0,
                "audio_kbps": peer.audio_encoder.bitrate // 1000 if peer else 0,
                "modes": [(m["participant_id"], m["mode"], m["reason"]) for m in media.modes],
                "legs": media.leg_states,
                "texts": text.texts() if text is not None else [],
                "sent": sum(
                    1 for t in sends if t.done() and not t.cancelled() and not t.exception()
                ),
                "send_errors": [
                    repr(t.exception())
                    for t in sends
                    if t.done() and not t.cancelled() and t.exception()
                ],
                # Where a send still pending waits (innermost frames), for failure messages.
                "send_waits": [
                    [f"{f.f_code.co_name}:{f.f_lineno}" for f in t.get_stack(limit=12)][-4:]
                    for t in sends
                    if not t.done()
                ],
                "events": dict(events_seen),
                "eio_sid": client.sio.eio.sid if client.sio is not None else None,
                "socket": bool(client.sio is not None and client.sio.connected),
            }
            print(json.dumps(status), flush=True)
    finally:
        reader.cancel()
        for task in sends:
            task.cancel()
        await media.close()
        if text is not None:
            await text.close()
        await (e2ee.close() if e2ee is not None else client.close())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))

"""A care-team member on the Python SDK who answers in the rooms they are added to: run it, add
its user to a room from the browser, write, and it replies, end-to-end encrypted both ways. It
answers every text from someone else that it decrypts, a room's earlier messages included when
it is added to a room that has some.

    .venv/bin/relais admin create-user labo --role clinician --display-name 'Labo' \
        --password 'change-me-labo-1'
    .venv/bin/python docs/python_peer.py

Set RELAIS_URL if the server is not at http://127.0.0.1:8080. The first run makes the user's
identity key and a key backup under PEER_RECOVERY; later runs restore from it. Stop with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os

from client.e2ee import E2EEClient, MessageRecord
from client.sdk import RelaisClient

URL = os.environ.get("RELAIS_URL", "http://127.0.0.1:8080")
USER = (os.environ.get("PEER_USER", "labo"), os.environ.get("PEER_PASSWORD", "change-me-labo-1"))
PEER_RECOVERY = os.environ.get("PEER_RECOVERY", "labo's long recovery passphrase")


async def main() -> None:
    api = RelaisClient(URL)
    await api.login(*USER, device_name="python-peer")
    me = E2EEClient(api)
    found = await api.request("POST", "/api/v1/keys/query", json={"user_ids": [me.user_id]})
    if found["users"][me.user_id]["identity_key"] is None:
        await me.bootstrap(PEER_RECOVERY)
    else:
        await me.restore_from_backup(PEER_RECOVERY)
    replies: asyncio.Queue[MessageRecord] = asyncio.Queue()

    def on_decrypted(rec: MessageRecord) -> None:
        if rec.sender_user == me.user_id or (rec.content or {}).get("type") != "text":
            return
        print(f"{rec.room_id} seq={rec.seq}: {rec.content['body']!r}", flush=True)
        replies.put_nowait(rec)

    me.on_decrypted = on_decrypted
    await me.connect()
    print(f"{USER[0]} is listening; add them to a room and write", flush=True)
    try:
        while True:
            rec = await replies.get()
            body = rec.content["body"] if rec.content else ""
            ack = await me.send_text(rec.room_id, f"Bien reçu : {body}")
            print(f"replied seq={ack['seq']}", flush=True)
    finally:
        await me.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass

"""Relais quickstart: two clinicians exchange messages in a care room.

Run it against a server started with `make run`, after creating the accounts as the README says:

    .venv/bin/relais admin create-user admin --role admin --password 'change-me-admin-1'
    .venv/bin/relais admin create-user alice --role clinician --password 'change-me-alice-1'
    .venv/bin/python docs/quickstart.py

Set RELAIS_URL if the server is not at http://127.0.0.1:8080. The envelopes below are NOT
encrypted: end-to-end encryption (crypto/) arrives with its own issue. The server never looks
inside an envelope, so the flow is the same once clients encrypt.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

from client.sdk import RelaisClient, RelaisError

URL = os.environ.get("RELAIS_URL", "http://127.0.0.1:8080")
ADMIN = ("admin", "change-me-admin-1")
ALICE = ("alice", "change-me-alice-1")
BOB = ("bob", "change-me-bob-1")


def envelope(text: str) -> dict[str, Any]:
    """A stand-in envelope: `v`, `alg` and `ct` are the fields the server requires."""
    return {"v": 1, "alg": "demo.plaintext", "ct": base64.b64encode(text.encode()).decode()}


def text_of(msg: dict[str, Any]) -> str:
    return base64.b64decode(msg["envelope"]["ct"]).decode()


async def main() -> None:
    admin, alice, bob = RelaisClient(URL), RelaisClient(URL), RelaisClient(URL)
    try:
        # 1. The admin logs in and creates a second clinician over REST (idempotent on rerun).
        await admin.login(*ADMIN)
        try:
            await admin.request(
                "POST",
                "/api/v1/admin/users",
                json={
                    "username": BOB[0],
                    "role": "clinician",
                    "password": BOB[1],
                    "display_name": "Dr Bob",
                },
            )
            print("created clinician bob")
        except RelaisError as err:
            if err.code != "conflict":
                raise
            print("clinician bob already exists")

        # 2. Both clinicians log in (each login registers a new device).
        await alice.login(*ALICE, device_name="alice-laptop")
        await bob.login(*BOB, device_name="bob-phone")

        # 3. Alice opens a care room (she becomes its owner) and adds Bob.
        room_id = await alice.create_room()
        await alice.add_member(room_id, bob.user_id or "")
        print(f"room {room_id}: alice (owner) + bob")

        # 4. Both connect over socket.io; each waits for the other's message.
        got = {"alice": asyncio.Event(), "bob": asyncio.Event()}

        def on_message(name: str, me: RelaisClient) -> Any:
            def handler(msg: dict[str, Any]) -> None:
                if msg["room_id"] == room_id and msg["sender"]["user_id"] != me.user_id:
                    print(f"{name} received seq={msg['seq']}: {text_of(msg)!r}")
                    got[name].set()

            return handler

        alice.on_message = on_message("alice", alice)
        bob.on_message = on_message("bob", bob)
        await alice.connect()
        await bob.connect()

        ack = await alice.send(room_id, envelope("Patient seen this morning, BP 130/85."))
        print(f"alice's message acked: seq={ack['seq']} id={ack['id']}")
        await asyncio.wait_for(got["bob"].wait(), 10)

        ack = await bob.send(room_id, envelope("Thanks, I will adjust the dose tonight."))
        print(f"bob's message acked: seq={ack['seq']}")
        await asyncio.wait_for(got["alice"].wait(), 10)

        # 5. A client that was away catches up with `sync` (here: a fresh client for Bob).
        late = RelaisClient(URL)
        try:
            await late.login(*BOB, device_name="bob-tablet")
            await late.connect()
            await late.sync()
            history = [text_of(m) for m in late.inbox.messages.get(room_id, [])]
            print(f"bob's new device synced {len(history)} messages: {history}")
        finally:
            await late.close()
        print("quickstart OK")
    finally:
        for c in (admin, alice, bob):
            await c.close()


if __name__ == "__main__":
    asyncio.run(main())

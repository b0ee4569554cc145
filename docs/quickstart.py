"""Relais quickstart: two clinicians exchange end-to-end encrypted messages in a care room.

Run it against a server started with `make run`, after creating the accounts as the README says:

    .venv/bin/relais admin create-user admin --role admin --password 'change-me-admin-1'
    .venv/bin/relais admin create-user alice --role clinician --password 'change-me-alice-1'
    .venv/bin/python docs/quickstart.py

Set RELAIS_URL if the server is not at http://127.0.0.1:8080. Every message is encrypted on the
sending device (docs/crypto.md); the server stores and relays ciphertext only. The first run makes
alice's and bob's identity keys and key backups; a later run restores each from its backup, so
the users keep their identities (and whoever verified them keeps trusting them).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from client.e2ee import E2EEClient, MessageRecord
from client.sdk import RelaisClient, RelaisError

URL = os.environ.get("RELAIS_URL", "http://127.0.0.1:8080")
ADMIN = ("admin", "change-me-admin-1")
ALICE = ("alice", "change-me-alice-1")
BOB = ("bob", "change-me-bob-1")
ALICE_RECOVERY = "alice's long recovery passphrase"
BOB_RECOVERY = "bob's long recovery passphrase"


async def device(user: tuple[str, str], name: str) -> E2EEClient:
    """Log in (each login registers a device) and wrap the session in the E2EE layer."""
    api = RelaisClient(URL)
    await api.login(*user, device_name=name)
    return E2EEClient(api)


async def set_up(dev: E2EEClient, passphrase: str) -> None:
    """A user's first device makes the identity key, the signed device list and an encrypted key
    backup under the recovery passphrase; on a later run the backup restores them instead."""
    found = await dev.api.request("POST", "/api/v1/keys/query", json={"user_ids": [dev.user_id]})
    if found["users"][dev.user_id]["identity_key"] is None:
        await dev.bootstrap(passphrase)
    else:
        await dev.restore_from_backup(passphrase)


async def main() -> None:
    admin = RelaisClient(URL)
    devices: list[E2EEClient] = []
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

        # 2. Both clinicians set up their device: identity key, signed device list, and an
        #    encrypted key backup protected by their recovery passphrase.
        alice = await device(ALICE, "alice-laptop")
        bob = await device(BOB, "bob-phone")
        devices += [alice, bob]
        await set_up(alice, ALICE_RECOVERY)
        await set_up(bob, BOB_RECOVERY)

        # 3. Alice opens a care room (she signs its first membership event) and adds Bob.
        room_id = await alice.create_room()
        await alice.add_member(room_id, bob.user_id)
        print(f"room {room_id}: alice (owner) + bob")
        print(f"safety number alice/bob: {alice.safety_number(bob.user_id)}")

        # 4. Both connect; each waits for the other's message, decrypted on arrival.
        got = {"alice": asyncio.Event(), "bob": asyncio.Event()}

        def on_decrypted(name: str, me: E2EEClient) -> Any:
            def handler(rec: MessageRecord) -> None:
                if rec.room_id == room_id and rec.sender_user != me.user_id and rec.content:
                    print(f"{name} decrypted seq={rec.seq}: {rec.content['body']!r}")
                    got[name].set()

            return handler

        alice.on_decrypted = on_decrypted("alice", alice)
        bob.on_decrypted = on_decrypted("bob", bob)
        await alice.connect()
        await bob.connect()

        ack = await alice.send_text(room_id, "Patient seen this morning, BP 130/85.")
        print(f"alice's message acked: seq={ack['seq']} id={ack['id']}")
        await asyncio.wait_for(got["bob"].wait(), 10)

        ack = await bob.send_text(room_id, "Thanks, I will adjust the dose tonight.")
        print(f"bob's message acked: seq={ack['seq']}")
        await asyncio.wait_for(got["alice"].wait(), 10)

        # 5. Bob's new tablet: the recovery passphrase unlocks his keys from the encrypted
        #    backup, and `sync` brings the history, which it can now decrypt.
        tablet = await device(BOB, "bob-tablet")
        devices.append(tablet)
        restored = await tablet.restore_from_backup(BOB_RECOVERY)
        await tablet.connect()
        await tablet.idle()
        history = [r.content["body"] for r in tablet.messages(room_id) if r.content]
        print(f"bob's tablet restored {restored} sessions, decrypted {history}")
        print("quickstart OK")
    finally:
        for d in devices:
            await d.close()
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())

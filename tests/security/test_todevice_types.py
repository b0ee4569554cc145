"""To-device entry types on the wire (issue 12): the queue carries only `relais.pairwise.v1`
(docs/protocol.md §4.4). A client that sends any other type, such as the `m.room_key` older docs
showed, gets a typed `validation_failed` naming the field in its ack and nothing is queued,
instead of an entry every receiving SDK would drop.
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.security.conftest import Served, raw_socket

pytestmark = pytest.mark.slow

PAIRWISE = "relais.pairwise.v1"


async def test_unknown_to_device_type_gets_a_typed_error(served: Served) -> None:
    await served.add_user("tdsender")
    async with aiohttp.ClientSession() as http:
        sender = await served.login(http, "tdsender")
        other = await served.login(http, "tdsender")  # a second device of the same user
        sock = await raw_socket(http, served)
        assert (await sock.connect(sender["token"])).startswith("40")
        target = other["device_id"]

        for n, bad in enumerate(("m.room_key", "room_key", "relais.pairwise.v2", "RELAIS")):
            ack = await sock.emit(
                n,
                "todevice.send",
                {
                    "client_msg_id": f"bad-{n}",
                    "messages": [
                        {"device_id": target, "type": PAIRWISE, "payload": "fine"},
                        {"device_id": sender["device_id"], "type": bad, "payload": "lost"},
                    ],
                },
            )
            assert set(ack) == {"error"}, ack
            assert ack["error"]["code"] == "validation_failed", ack
            problems = ack["error"]["details"]["problems"]
            assert {"loc": "messages.1.type", "type": "literal_error"} in problems, problems
            assert bad not in str(ack)  # the refusal names the field, never echoes the value

        ack = await sock.emit(
            10,
            "todevice.send",
            {
                "client_msg_id": "good",
                "messages": [{"device_id": target, "type": PAIRWISE, "payload": "kept"}],
            },
        )
        assert ack == {"stored": 1, "duplicates": 0, "not_found": []}

        # Only the valid entry was queued: the refused requests stored nothing at all.
        rcpt = await raw_socket(http, served)
        assert (await rcpt.connect(other["token"])).startswith("40")
        page = await rcpt.emit(1, "sync", {"since": {}})
        assert [(e["type"], e["payload"]) for e in page["to_device"]] == [(PAIRWISE, "kept")]
        await sock.ws.close()
        await rcpt.ws.close()

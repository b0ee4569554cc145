"""To-device queue over a real server and the real client: live, queued, synced, acked."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from client import RelaisError
from server.db.models import AuditEvent, Device, ToDevice, now_ms
from tests.conftest import make_user, wait_for


def _ids(entries):
    return sorted({e["id"] for e in entries})


async def _queued(relais, device_id: str) -> list:
    async with relais.services.db.read() as c:
        return (
            await c.execute(
                select(ToDevice.__table__)
                .where(ToDevice.recipient_device_id == device_id)
                .order_by(ToDevice.id)
            )
        ).all()


async def _care_pair(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    return doc, nurse, c_doc, room


async def test_live_queued_sync_and_ack(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    online = await clients(relais, nurse)
    offline = await clients(relais, nurse, connect=False)  # a second device, not connected
    assert online.device_id != offline.device_id

    ack = await c_doc.send_to_device(
        [
            {
                "device_id": online.device_id,
                "type": "relais.pairwise.v1",
                "payload": "ct-for-online",
            },
            {
                "device_id": offline.device_id,
                "type": "relais.pairwise.v1",
                "payload": "ct-for-offline",
            },
        ],
        client_msg_id="keys-1",
    )
    assert ack == {"stored": 2, "duplicates": 0, "not_found": []}

    # Live delivery to the connected device, with the sender's identity.
    await wait_for(lambda: len(online.to_device) == 1)
    live = online.to_device[0]
    assert live["payload"] == "ct-for-online" and live["type"] == "relais.pairwise.v1"
    assert live["sender"] == {"user_id": c_doc.user_id, "device_id": c_doc.device_id}
    assert isinstance(live["id"], int) and isinstance(live["ts"], int)

    # Queued for the offline device until it syncs and acks.
    assert [r.payload for r in await _queued(relais, offline.device_id)] == ["ct-for-offline"]
    await offline.connect()
    first = await offline.call("sync", {"since": {}})
    assert [e["payload"] for e in first["to_device"]] == ["ct-for-offline"]
    assert first["to_device"][0]["sender"]["device_id"] == c_doc.device_id
    await offline.sync()  # the SDK acks what it received
    again = await offline.call("sync", {"since": {}})
    assert again["to_device"] == []
    assert await _queued(relais, offline.device_id) == []

    # The online device also has it on sync until it acks, then never again.
    res = await online.call("sync", {"since": {}})
    assert _ids(res["to_device"]) == [live["id"]]
    assert await online.call("todevice.ack", {"up_to": live["id"]}) == {"deleted": 1}
    assert (await online.call("sync", {"since": {}}))["to_device"] == []


async def test_retry_is_idempotent(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    target = await clients(relais, nurse, connect=False)
    msg = [{"device_id": target.device_id, "type": "relais.pairwise.v1", "payload": "abc"}]
    a1 = await c_doc.send_to_device(msg, client_msg_id="same")
    a2 = await c_doc.send_to_device(msg, client_msg_id="same")
    assert a1 == {"stored": 1, "duplicates": 0, "not_found": []}
    assert a2 == {"stored": 1, "duplicates": 1, "not_found": []}
    assert len(await _queued(relais, target.device_id)) == 1
    await c_doc.send_to_device(msg, client_msg_id="other")
    assert len(await _queued(relais, target.device_id)) == 2


async def test_strangers_and_unknown_devices_get_the_same_answer(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    c_nurse = await clients(relais, nurse)
    stranger = await make_user(relais, "clinician")
    c_str = await clients(relais, stranger)
    ack = await c_str.send_to_device(
        [
            {"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": "x"},
            {"device_id": "dev_does_not_exist", "type": "relais.pairwise.v1", "payload": "x"},
        ]
    )
    assert ack == {
        "stored": 0,
        "duplicates": 0,
        "not_found": [c_nurse.device_id, "dev_does_not_exist"],
    }
    assert await _queued(relais, c_nurse.device_id) == []

    # A stranger's ack cannot delete anybody else's queue.
    await c_doc.send_to_device(
        [{"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": "p"}]
    )
    assert await c_str.call("todevice.ack", {"up_to": 10**12}) == {"deleted": 0}
    assert len(await _queued(relais, c_nurse.device_id)) == 1

    # A user's own other devices are reachable without sharing a room with anyone.
    own_other = await clients(relais, stranger, connect=False)
    ack = await c_str.send_to_device(
        [{"device_id": own_other.device_id, "type": "relais.pairwise.v1", "payload": "self"}]
    )
    assert ack["stored"] == 1


async def test_mixed_request_is_partial(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    c_nurse = await clients(relais, nurse, connect=False)
    ack = await c_doc.send_to_device(
        [
            {"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": "ok"},
            {"device_id": "dev_unknown", "type": "relais.pairwise.v1", "payload": "no"},
        ]
    )
    assert ack == {"stored": 1, "duplicates": 0, "not_found": ["dev_unknown"]}


async def test_revoked_devices_get_nothing(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    gone = await clients(relais, nurse, connect=False)
    async with relais.services.db.write() as c:
        await c.execute(
            update(Device).where(Device.id == gone.device_id).values(revoked_at=now_ms())
        )
    ack = await c_doc.send_to_device(
        [{"device_id": gone.device_id, "type": "relais.pairwise.v1", "payload": "p"}]
    )
    assert ack["not_found"] == [gone.device_id] and ack["stored"] == 0
    assert await _queued(relais, gone.device_id) == []


async def test_validation_and_limits(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    c_nurse = await clients(relais, nurse, connect=False)
    big = "x" * (relais.services.settings.max_todevice_bytes + 1)
    with pytest.raises(RelaisError) as err:
        await c_doc.send_to_device(
            [{"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": big}]
        )
    assert err.value.code == "payload_too_large"
    with pytest.raises(RelaisError) as err:
        await c_doc.send_to_device([])
    assert err.value.code == "validation_failed"
    with pytest.raises(RelaisError) as err:
        await c_doc.send_to_device(
            [{"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": "p"}] * 2
        )
    assert err.value.code == "validation_failed"
    with pytest.raises(RelaisError) as err:
        await c_doc.send_to_device(
            [
                {
                    "device_id": c_nurse.device_id,
                    "type": "relais.pairwise.v1",
                    "payload": "p",
                    "extra": 1,
                }
            ]
        )
    assert err.value.code == "validation_failed"
    # Only the pairwise channel's type is queued (docs/protocol.md §4.4): anything else is a
    # typed refusal naming the field, and nothing of the request is stored.
    for bad in ("m.room_key", "t", "relais.pairwise.v2"):
        with pytest.raises(RelaisError) as err:
            await c_doc.send_to_device(
                [
                    {"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": "p"},
                    {"device_id": c_nurse.device_id + "x", "type": bad, "payload": "p"},
                ]
            )
        assert err.value.code == "validation_failed"
        assert {"loc": "messages.1.type", "type": "literal_error"} in err.value.details["problems"]
    too_many = [
        {"device_id": f"d{i}", "type": "relais.pairwise.v1", "payload": "p"} for i in range(101)
    ]
    with pytest.raises(RelaisError) as err:
        await c_doc.send_to_device(too_many)
    assert err.value.code == "validation_failed"
    assert await _queued(relais, c_nurse.device_id) == []


async def test_audit_counts_without_payload(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    c_nurse = await clients(relais, nurse, connect=False)
    await c_doc.send_to_device(
        [
            {
                "device_id": c_nurse.device_id,
                "type": "relais.pairwise.v1",
                "payload": "secret-key-material",
            },
            {
                "device_id": "dev_nobody",
                "type": "relais.pairwise.v1",
                "payload": "secret-key-material",
            },
        ]
    )
    async with relais.services.db.read() as c:
        rows = (
            await c.execute(
                select(AuditEvent.__table__).where(AuditEvent.action == "todevice.write")
            )
        ).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.actor_user_id == c_doc.user_id and row.actor_device_id == c_doc.device_id
    assert json.loads(row.detail) == {"stored": 1, "duplicates": 0, "refused": 1}
    assert "secret" not in json.dumps(row._asdict())
    assert c_nurse.device_id not in json.dumps(row._asdict())
    ok, _n, reason = await relais.services.audit.verify()
    assert ok, reason


async def test_sync_pages_to_device(relais, clients):
    _doc, nurse, c_doc, _room = await _care_pair(relais, clients)
    c_nurse = await clients(relais, nurse, connect=False)
    for i in range(5):
        await c_doc.send_to_device(
            [{"device_id": c_nurse.device_id, "type": "relais.pairwise.v1", "payload": f"p{i}"}]
        )
    await c_nurse.connect()
    page = await c_nurse.call("sync", {"since": {}, "limit": 2})
    assert [e["payload"] for e in page["to_device"]] == ["p0", "p1"] and page["more"] is True
    await c_nurse.sync()
    assert [e["payload"] for e in c_nurse.to_device] == [f"p{i}" for i in range(5)]
    assert await _queued(relais, c_nurse.device_id) == []

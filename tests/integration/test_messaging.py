"""Send, fan-out, idempotent retry and sync over a real server and the real client."""

from __future__ import annotations

import asyncio

import pytest

from client import RelaisError
from tests.conftest import envelope, make_user, wait_for


async def test_send_fanout_and_sync(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    patient = await make_user(relais, "patient")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room(patient_user_id=patient.user_id)
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(relais, nurse)
    c_pat = await clients(relais, patient)

    acks = [await c_doc.send(room, envelope(f"m{i}")) for i in range(5)]
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
    assert all(not a["duplicate"] for a in acks)
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 5)
    await wait_for(lambda: len(c_pat.inbox.messages.get(room, [])) == 5)
    got = c_nurse.inbox.messages[room]
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    assert got[0]["envelope"] == envelope("m0")
    assert got[0]["sender"] == {"user_id": doc.user_id, "device_id": c_doc.device_id}

    # A late device syncs everything, in order, from zero.
    late = await clients(relais, nurse)
    assert await late.sync() == 5
    assert [m["seq"] for m in late.inbox.messages[room]] == [1, 2, 3, 4, 5]


async def test_retry_is_idempotent(relais, clients):
    doc = await make_user(relais, "clinician")
    c = await clients(relais, doc)
    room = await c.create_room()
    a1 = await c.send(room, envelope("a"), client_msg_id="same-id")
    a2 = await c.send(room, envelope("a"), client_msg_id="same-id")
    assert a2["duplicate"] is True
    assert (a1["id"], a1["seq"], a1["ts"]) == (a2["id"], a2["seq"], a2["ts"])
    other = await c.send(room, envelope("b"))
    assert other["seq"] == 2


async def test_non_member_gets_not_found(relais, clients):
    doc = await make_user(relais, "clinician")
    intruder = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    c_in = await clients(relais, intruder)
    with pytest.raises(RelaisError) as err:
        await c_in.send(room, envelope())
    assert err.value.code == "not_found"
    with pytest.raises(RelaisError) as err:
        await c_in.send("r_doesnotexist", envelope())
    assert err.value.code == "not_found"
    res = await c_in.call("sync", {"since": {}})
    assert res["rooms"] == []


async def test_sync_pages(relais, clients):
    doc = await make_user(relais, "clinician")
    c = await clients(relais, doc)
    room = await c.create_room()
    for i in range(7):
        await c.send(room, envelope(str(i)))
    res = await c.call("sync", {"since": {room: 2}, "limit": 3})
    msgs = res["rooms"][0]["messages"]
    assert [m["seq"] for m in msgs] == [3, 4, 5] and res["more"] is True
    fresh = await clients(relais, doc)
    assert await fresh.sync() == 7


async def test_burst_arrives_complete_and_in_order_through_both_fanout_paths(relais, clients):
    """Sequential sends take the direct-write path; a concurrent burst mixes in queued
    deliveries. Either way every member sees every message once, in seq order."""
    import asyncio

    from server.ops import metrics

    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(relais, nurse)
    direct_before = metrics.FANOUT_DIRECT._value.get()
    for i in range(20):
        await c_doc.send(room, envelope(f"s{i}"))
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 20)
    assert metrics.FANOUT_DIRECT._value.get() > direct_before
    await asyncio.gather(*(c_doc.send(room, envelope(f"b{i}")) for i in range(120)))
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 140)
    seqs = [m["seq"] for m in c_nurse.inbox.messages[room]]
    assert seqs == list(range(1, 141))


async def test_refused_room_access_is_audited(relais, clients):
    from sqlalchemy import select

    from server.db.models import AuditEvent

    doc = await make_user(relais, "clinician")
    intruder = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    c_in = await clients(relais, intruder)
    with pytest.raises(RelaisError):
        await c_in.send(room, envelope())
    with pytest.raises(RelaisError):
        await c_in.request("GET", f"/api/v1/rooms/{room}")
    async with relais.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(AuditEvent.target, AuditEvent.outcome, AuditEvent.room_id).where(
                    AuditEvent.action == "access.denied",
                    AuditEvent.actor_user_id == intruder.user_id,
                )
            )
        ).all()
    assert {(r.target, r.outcome, r.room_id) for r in rows} == {
        ("message.send", "not_found", room),
        ("GET /api/v1/rooms/{room_id}", "not_found", room),
    }
    ok, _, reason = await relais.services.audit.verify()
    assert ok, reason


async def test_a_dropped_socket_catches_up_by_itself(relais, clients):
    """A socket that drops (a starved 2G link) misses live emits; the SDK syncs when it is back
    (and runs the application's reconnect hooks), without the application asking."""
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(relais, nurse)
    hooked: list[int] = []

    async def hook() -> None:
        hooked.append(1)

    c_nurse.reconnect_hooks.append(hook)
    await c_doc.send(room, envelope("before"))
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 1)
    # The transport dies under the client (not a disconnect it asked for): it reconnects
    # after a pause long enough for messages to be sent meanwhile.
    c_nurse.sio.reconnection_delay = c_nurse.sio.reconnection_delay_max = 1.5
    c_nurse.sio.randomization_factor = 0
    await c_nurse.sio.eio.ws.close()
    await wait_for(lambda: not c_nurse.sio.connected)
    for i in range(3):
        await c_doc.send(room, envelope(f"while away {i}"))
    assert len(c_nurse.inbox.messages.get(room, [])) == 1
    # What the nurse sends meanwhile waits for the connection instead of failing.
    to_device = asyncio.create_task(
        c_nurse.send_to_device(
            [{"device_id": c_doc.device_id, "type": "relais.pairwise.v1", "payload": "p"}]
        )
    )
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 4, timeout=15)
    assert [m["seq"] for m in c_nurse.inbox.messages[room]] == [1, 2, 3, 4]
    await wait_for(lambda: hooked == [1])
    assert (await to_device)["stored"] == 1
    await wait_for(lambda: [e["payload"] for e in c_doc.to_device] == ["p"])

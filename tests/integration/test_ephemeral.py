"""Typing, read receipts and presence over a real server and the real client.

"Did not receive" is checked with a barrier, not a sleep: a socket's packets arrive in the order
the server queued them, so once a client has the ack of a call made after the event in question
was emitted, anything that event sent it has already been received.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from client import RelaisError
from server.db.models import AuditEvent
from tests.conftest import envelope, make_user, redis_url_for_test, wait_for
from tests.conftest import test_settings as settings_for


def drain(client) -> list[tuple[str, Any]]:
    out = []
    while not client.events.empty():
        out.append(client.events.get_nowait())
    return out


async def next_event(client, name: str, pred=lambda d: True, timeout: float = 10.0) -> Any:
    """The next `name` event matching `pred` (others are dropped)."""

    async def _get() -> Any:
        while True:
            event, data = await client.events.get()
            if event == name and pred(data):
                return data

    return await asyncio.wait_for(_get(), timeout)


async def barrier(client) -> None:
    await client.call("presence.get", {"user_ids": []})


async def _team(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(relais, nurse)
    return doc, nurse, c_doc, c_nurse, room


async def test_typing_reaches_other_members_only(relais, clients):
    doc, _nurse, c_doc, c_nurse, room = await _team(relais, clients)
    stranger = await make_user(relais, "clinician")
    c_str = await clients(relais, stranger)

    assert await c_doc.call("typing", {"room_id": room, "typing": True}) == {}
    got = await next_event(c_nurse, "typing")
    assert got == {"room_id": room, "user_id": doc.user_id, "typing": True}
    await barrier(c_doc)
    await barrier(c_str)
    assert [e for e in drain(c_doc) if e[0] == "typing"] == []
    assert [e for e in drain(c_str) if e[0] == "typing"] == []

    with pytest.raises(RelaisError) as err:
        await c_str.call("typing", {"room_id": room, "typing": True})
    assert err.value.code == "not_found"
    with pytest.raises(RelaisError) as err:
        await c_str.call("typing", {"room_id": "r_nope", "typing": True})
    assert err.value.code == "not_found"
    await barrier(c_nurse)
    assert [e for e in drain(c_nurse) if e[0] == "typing"] == []

    # A typist who drops off stops typing for the others.
    await c_doc.call("typing", {"room_id": room, "typing": True})
    await next_event(c_nurse, "typing", lambda d: d["typing"] is True)
    await c_doc.close()
    stopped = await next_event(c_nurse, "typing", lambda d: d["typing"] is False)
    assert stopped == {"room_id": room, "user_id": doc.user_id, "typing": False}


async def test_typing_writes_nothing(relais, clients):
    _doc, _nurse, c_doc, c_nurse, room = await _team(relais, clients)
    cache = relais.services.parts.membership_cache
    await c_doc.call("typing", {"room_id": room, "typing": True})
    misses = cache.misses
    for flag in (False, True, False):
        await c_doc.call("typing", {"room_id": room, "typing": flag})
    assert cache.misses == misses  # served from the per-node cache
    await next_event(c_nurse, "typing", lambda d: d["typing"] is False)


async def test_receipts_are_monotonic(relais, clients):
    doc, nurse, c_doc, c_nurse, room = await _team(relais, clients)
    for i in range(3):
        await c_doc.send(room, envelope(str(i)))

    assert await c_nurse.call("receipt.read", {"room_id": room, "seq": 2}) == {
        "room_id": room,
        "seq": 2,
        "moved": True,
    }
    seen = await next_event(c_doc, "receipt")
    assert seen == {"room_id": room, "user_id": nurse.user_id, "seq": 2}
    back = await c_nurse.call("receipt.read", {"room_id": room, "seq": 1})
    assert back == {"room_id": room, "seq": 2, "moved": False}
    assert (await c_nurse.call("receipt.read", {"room_id": room, "seq": 3}))["seq"] == 3
    assert (await next_event(c_doc, "receipt"))["seq"] == 3
    with pytest.raises(RelaisError) as err:
        await c_nurse.call("receipt.read", {"room_id": room, "seq": 4})
    assert err.value.code == "validation_failed"

    got = await c_doc.call("receipts.get", {"room_id": room})
    assert got == {"room_id": room, "receipts": {doc.user_id: 0, nurse.user_id: 3}}

    stranger = await make_user(relais, "clinician")
    c_str = await clients(relais, stranger)
    for event, payload in (
        ("receipts.get", {"room_id": room}),
        ("receipt.read", {"room_id": room, "seq": 1}),
        ("receipts.get", {"room_id": "r_nope"}),
    ):
        with pytest.raises(RelaisError) as err:
            await c_str.call(event, payload)
        assert err.value.code == "not_found"

    async with relais.services.db.read() as c:
        actions = (
            (await c.execute(select(AuditEvent.action).where(AuditEvent.room_id == room)))
            .scalars()
            .all()
        )
    assert actions.count("receipt.write") == 2  # the no-op one wrote nothing
    assert "room.receipts_read" in actions


async def test_presence_transitions(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    stranger = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_str = await clients(relais, stranger)

    res = await c_doc.call(
        "presence.get", {"user_ids": [nurse.user_id, stranger.user_id, doc.user_id]}
    )
    assert res == {"presence": {nurse.user_id: False, doc.user_id: True}}

    phone = await clients(relais, nurse)
    assert await next_event(c_doc, "presence", lambda d: d["user_id"] == nurse.user_id) == {
        "user_id": nurse.user_id,
        "online": True,
    }
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: True}}
    # A stranger neither learns the nurse's state nor is told about it.
    res = await c_str.call("presence.get", {"user_ids": [nurse.user_id, doc.user_id]})
    assert res == {"presence": {}}
    await barrier(c_str)
    assert [e for e in drain(c_str) if e[0] == "presence"] == []

    # A second device: still online when one of the two goes.
    laptop = await clients(relais, nurse)
    await phone.close()
    await wait_for(
        lambda: (
            nurse.user_id in relais.services.connections.per_user
            and relais.services.connections.per_user[nurse.user_id] == 1
        )
    )
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: True}}
    await laptop.close()
    assert await next_event(c_doc, "presence", lambda d: d["user_id"] == nurse.user_id) == {
        "user_id": nurse.user_id,
        "online": False,
    }
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: False}}

    with pytest.raises(RelaisError) as err:
        await c_doc.call("presence.get", {"user_ids": [f"u{i}" for i in range(201)]})
    assert err.value.code == "validation_failed"


@pytest.mark.redis
async def test_presence_is_shared_across_nodes_over_redis(
    start_server, tmp_path, database_url, clients
):
    settings = settings_for(tmp_path, database_url, redis_url=await redis_url_for_test())
    node_a = await start_server(settings)
    node_b = await start_server(settings.replace(node_id="b"))
    doc = await make_user(node_a, "clinician")
    nurse = await make_user(node_a, "clinician")
    c_doc = await clients(node_a, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: False}}

    c_nurse = await clients(node_b, nurse)  # connected to the other node only
    assert await next_event(c_doc, "presence", lambda d: d["user_id"] == nurse.user_id) == {
        "user_id": nurse.user_id,
        "online": True,
    }
    assert nurse.user_id not in node_a.services.connections.per_user
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: True}}

    await c_nurse.close()
    assert await next_event(c_doc, "presence", lambda d: d["user_id"] == nurse.user_id) == {
        "user_id": nurse.user_id,
        "online": False,
    }
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: False}}


@pytest.mark.redis
async def test_a_dead_nodes_users_go_offline(start_server, tmp_path, database_url, clients):
    """Node B stops heart-beating without saying goodbye (as if killed): once its deadline
    passes, node A's reaper announces B's users offline and stops counting them."""
    settings = settings_for(tmp_path, database_url, redis_url=await redis_url_for_test())
    node_a = await start_server(settings)
    node_b = await start_server(settings.replace(node_id="b"))
    doc = await make_user(node_a, "clinician")
    nurse = await make_user(node_a, "clinician")
    c_doc = await clients(node_a, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    await clients(node_b, nurse)
    await next_event(c_doc, "presence", lambda d: d["online"] is True)

    pres_a = node_a.services.parts.presence
    pres_b = node_b.services.parts.presence
    # B "dies": its heartbeat stops and its deadline is in the past, its hash left behind.
    pres_b._task.cancel()
    await pres_b.redis.zadd(pres_b.nodes_key, {pres_b.node: 1})
    res = await c_doc.call("presence.get", {"user_ids": [nurse.user_id]})
    assert res == {"presence": {nurse.user_id: False}}  # expired nodes never count
    await pres_a.beat()  # what A's heartbeat task does every few seconds
    assert await next_event(c_doc, "presence", lambda d: d["user_id"] == nurse.user_id) == {
        "user_id": nurse.user_id,
        "online": False,
    }
    assert not await pres_a.redis.exists(pres_b.node_key)


async def test_room_list_gives_unread_and_last_activity(relais, clients):
    """One `room.list` is enough for a room list: unread = last_seq - read_seq, ordered by
    last_activity_at (the last message's time, or the room's creation before any message)."""
    _doc, _nurse, c_doc, c_nurse, room = await _team(relais, clients)
    (before,) = (await c_nurse.call("room.list", {}))["rooms"]
    assert before["read_seq"] == 0 and before["last_seq"] == 0
    created = before["last_activity_at"]
    for i in range(3):
        sent = await c_doc.send(room, envelope(str(i)))
    await c_nurse.call("receipt.read", {"room_id": room, "seq": 1})
    (after,) = (await c_nurse.call("room.list", {}))["rooms"]
    assert after["last_seq"] - after["read_seq"] == 2
    assert after["last_activity_at"] == sent["ts"] >= created
    (mine,) = (await c_doc.call("room.list", {}))["rooms"]
    assert mine["read_seq"] == 0, "read receipts are per user"

"""Property test of message sequencing on the real MessageStore and a real database.

Hypothesis draws schedules: waves of sends, each wave fired concurrently (so the group-commit
writer sees mixed batches), from several devices (two of one user) into several rooms, with
client_msg_ids drawn from a small pool so that retries — within one batch and across batches —
are frequent, and with senders who are not members of the room they write to. Whatever the
schedule:
- each room's stored seqs are exactly 1..n, n being the number of distinct (device,
  client_msg_id) sent into it by members, and rooms.last_seq is n;
- each (device, client_msg_id) is stored once, and every ack for it (first try and retries)
  carries the stored id, seq and ts, with exactly one ack not flagged `duplicate`;
- a non-member's send is refused with `not_found` and stores nothing;
- reusing a client_msg_id for another room is refused with `conflict`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from server.auth.principal import Principal
from server.db.models import AuditEvent, Message, Room
from server.errors import ApiError
from server.messaging import store as message_store
from server.messaging.store import StoredMessage
from server.rooms import service as rooms
from server.rooms import store as room_store
from tests.conftest import envelope
from tests.conftest import test_settings as make_settings
from tests.integration.security_world import World, build_world

N_ROOMS = 3
# device index -> user index; users 0..2 are members of some rooms, user 3 of none
DEVICE_USER = [0, 0, 1, 2, 3]
ROOM_MEMBERS = [{0, 1}, {0, 2}, {0, 1, 2}]

ops = st.tuples(
    st.integers(0, len(DEVICE_USER) - 1), st.integers(0, N_ROOMS - 1), st.integers(0, 4)
)
schedules = st.lists(st.lists(ops, min_size=1, max_size=12), min_size=1, max_size=4)


async def _devices(w: World) -> list[Principal]:
    """Five devices of four clinicians (user 0 has two)."""
    users = [await w.user("clinician", f"seq{i}") for i in range(4)]
    principals = []
    for u in DEVICE_USER:
        uid = users[u][0]
        _, device, session = await w.session(uid)
        principals.append(Principal(uid, device, "clinician", session, "127.0.0.1"))
    return principals


async def _rooms(w: World, devices: list[Principal]) -> list[str]:
    svc = w.svc
    owner = devices[0]
    made = []
    for members in ROOM_MEMBERS:
        room = (await rooms.create_room(svc, owner, None, None, None))["room_id"]
        for u in sorted(members - {0}):
            uid = devices[DEVICE_USER.index(u)].user_id
            await rooms.add_member(svc, owner, room, uid, "member", None, None)
        made.append(room)
    return made


async def run_schedule(
    w: World, devices: list[Principal], schedule: list[list[tuple[int, int, int]]]
) -> None:
    svc = w.svc
    room_ids = await _rooms(w, devices)
    tag = secrets.token_hex(3)  # client_msg_ids are per device: keep examples apart
    acks: dict[tuple[str, str], list[StoredMessage]] = defaultdict(list)
    expected_keys: dict[str, set[tuple[str, str]]] = defaultdict(set)

    async def send(dev: int, room: int, k: int) -> tuple[int, int, str, Any]:
        p = devices[dev]
        cmid = f"{tag}-r{room}-k{k}"
        try:
            res: Any = await svc.messages.send(p, room_ids[room], cmid, '{"ct":"x"}')
        except ApiError as err:
            res = err
        return dev, room, cmid, res

    for wave in schedule:
        for dev, room, cmid, res in await asyncio.gather(*(send(*op) for op in wave)):
            member = DEVICE_USER[dev] in ROOM_MEMBERS[room]
            if not member:
                assert isinstance(res, ApiError) and res.code == "not_found", res
                continue
            assert isinstance(res, StoredMessage), res
            key = (devices[dev].device_id, cmid)
            acks[key].append(res)
            expected_keys[room_ids[room]].add(key)

    async with svc.db.read() as conn:
        for room_id in room_ids:
            rows = (
                await conn.execute(
                    select(Message.__table__)
                    .where(Message.room_id == room_id)
                    .order_by(Message.seq)
                )
            ).all()
            last_seq = (
                await conn.execute(select(Room.last_seq).where(Room.id == room_id))
            ).scalar_one()
            want = expected_keys[room_id]
            assert [r.seq for r in rows] == list(range(1, len(want) + 1)), "gap or duplicate"
            assert last_seq == len(want)
            stored = {(r.sender_device_id, r.client_msg_id): r for r in rows}
            assert len(stored) == len(rows) and set(stored) == want
            for key, row in stored.items():
                got = acks[key]
                assert {(a.id, a.seq, a.ts) for a in got} == {(row.id, row.seq, row.created_at)}
                assert sum(not a.duplicate for a in got) == 1, "one original ack per message"
        strangers = {d.device_id for d, u in zip(devices, DEVICE_USER, strict=True) if u == 3}
        leaked = (
            await conn.execute(select(Message.id).where(Message.sender_device_id.in_(strangers)))
        ).all()
        assert leaked == [], "a non-member's message was stored"


async def test_sequencing_properties(start_server: Any, tmp_path: Path, database_url: str) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    loop = asyncio.get_running_loop()
    try:
        devices = await _devices(w)
        examples: list[int] = []

        @settings(
            max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(schedule=schedules)
        def check(schedule: list[list[tuple[int, int, int]]]) -> None:
            examples.append(1)
            asyncio.run_coroutine_threadsafe(run_schedule(w, devices, schedule), loop).result(60)

        await asyncio.to_thread(check)
        assert len(examples) >= 20
    finally:
        await w.close()


async def test_client_msg_id_reused_for_another_room_is_refused(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    try:
        devices = await _devices(w)
        room_a, _, room_c = await _rooms(w, devices)
        p = devices[0]
        first = await w.svc.messages.send(p, room_a, "reused", '{"ct":"x"}')
        try:
            await w.svc.messages.send(p, room_c, "reused", '{"ct":"y"}')
        except ApiError as err:
            assert err.code == "conflict"
        else:
            raise AssertionError("a client_msg_id was accepted for a second room")
        again = await w.svc.messages.send(p, room_a, "reused", '{"ct":"x"}')
        assert (again.id, again.seq, again.duplicate) == (first.id, first.seq, True)
        # Over the socket too, with an envelope: the ack is the typed error.
        sio = await w.socket("owner")
        ok = await sio.call(
            "message.send",
            {"room_id": w.room, "client_msg_id": "sock-reused", "envelope": envelope("a")},
            timeout=10,
        )
        assert "error" not in ok
    finally:
        await w.close()


async def test_same_batch_reuse_for_another_room_is_refused(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    try:
        devices = await _devices(w)
        room_a, _, room_c = await _rooms(w, devices)
        p = devices[0]
        results = await asyncio.gather(
            w.svc.messages.send(p, room_a, "twice", '{"ct":"x"}'),
            w.svc.messages.send(p, room_c, "twice", '{"ct":"y"}'),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, ApiError)]
        assert len(refused) == 1 and refused[0].code == "conflict", results
    finally:
        await w.close()


async def test_one_senders_messages_keep_their_order_across_overlapping_batches(
    start_server: Any, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the writer prepares a batch while the one before commits: a sender's later
    message must still get the later seq. Small batches, many at once, two rooms shared."""
    running = await start_server(make_settings(tmp_path, database_url, write_batch_max=3))
    w = await build_world(running)
    try:
        devices = await _devices(w)
        room_ids = await _rooms(w, devices)
        shared = [room_ids[0], room_ids[2]]  # devices 0 and 2 are members of both
        sends = [
            w.svc.messages.send(devices[d], shared[i % 2], f"order-{d}-{i}", '{"ct":"x"}')
            for i in range(60)
            for d in (0, 2)
        ]
        acks = await asyncio.gather(*sends)
        for d in (0, 2):
            for room in shared:
                mine = [
                    a.seq
                    for a in acks
                    if a.sender_device_id == devices[d].device_id and a.room_id == room
                ]
                assert mine == sorted(mine) and len(mine) == 30, (d, room, mine)
        if not w.svc.db.is_sqlite:
            assert w.svc.messages._writer.overlap == 2
        # Each message has its audit row, on one unbroken chain (on PostgreSQL both are written
        # by the batch's one statement, server/messaging/pg_batch_write.py).
        ok, _checked, reason = await w.svc.audit.verify()
        assert ok, reason
        async with w.svc.db.read() as conn:
            audited = (
                await conn.execute(
                    select(AuditEvent.target, AuditEvent.room_id, AuditEvent.actor_device_id)
                    .where(AuditEvent.action == "message.write")
                    .where(AuditEvent.target.in_([a.id for a in acks]))
                )
            ).all()
        assert sorted(audited) == sorted((a.id, a.room_id, a.sender_device_id) for a in acks)

        # What makes it hold: the next batch is let go only once this one's rooms are locked
        # and its rows and audit written (a later batch then waits on those locks for the
        # COMMIT), not before.
        seen: list[str] = []
        lock_heads, append = room_store.lock_heads, message_store.append
        write_batch, lock_batch = message_store.write_batch, message_store.lock_batch

        async def locking(conn: Any, rooms: Any) -> Any:  # SQLite's room locks
            seen.append("locked")
            return await lock_heads(conn, rooms)

        async def locking_all(conn: Any, rooms: Any) -> Any:  # PostgreSQL's, audit tip included
            seen.append("locked")
            return await lock_batch(conn, rooms)

        async def auditing(conn: Any, records: Any) -> None:  # SQLite's last write
            seen.append("audited")
            await append(conn, records)

        async def writing(*args: Any) -> None:  # PostgreSQL's one statement, audit included
            seen.append("audited")
            await write_batch(*args)

        monkeypatch.setattr(room_store, "lock_heads", locking)
        monkeypatch.setattr(message_store, "lock_batch", locking_all)
        monkeypatch.setattr(message_store, "append", auditing)
        monkeypatch.setattr(message_store, "write_batch", writing)
        pending = message_store._Pending(devices[0], shared[0], "handed-off", '{"ct":"x"}')
        (stored,) = await w.svc.messages._commit_batch([pending], lambda: seen.append("next"))
        assert isinstance(stored, StoredMessage)
        assert seen == ["locked", "audited", "next"]
    finally:
        await w.close()


async def test_sends_beside_membership_changes_never_deadlock(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    """Every writer of the database locks rooms before the audit chain's tip (a member added:
    the room's row, then its audit row). The message writer takes both in one statement on
    PostgreSQL (server/messaging/pg_batch_write.py, `lock_batch`), rooms first: many batches
    beside many additions to the same rooms must all go through, none refused by a deadlock."""
    running = await start_server(make_settings(tmp_path, database_url, write_batch_max=4))
    w = await build_world(running)
    try:
        devices = await _devices(w)
        room_ids = await _rooms(w, devices)
        newcomers = [(await w.user("clinician", f"late{i}"))[0] for i in range(6)]
        owner = devices[0]

        async def send(i: int) -> Any:
            p = devices[(0, 2)[i % 2]]
            return await w.svc.messages.send(p, room_ids[i % 2 * 2], f"dl-{i}", '{"ct":"x"}')

        async def admit(i: int) -> Any:
            room = room_ids[i % len(room_ids)]
            return await rooms.add_member(w.svc, owner, room, newcomers[i], "member", None, None)

        results = await asyncio.gather(
            *(send(i) for i in range(120)), *(admit(i) for i in range(len(newcomers)))
        )
        sent = results[:120]
        assert all(isinstance(r, StoredMessage) for r in sent), [
            r for r in sent if not isinstance(r, StoredMessage)
        ]
        ok, _checked, reason = await w.svc.audit.verify()
        assert ok, reason
    finally:
        await w.close()

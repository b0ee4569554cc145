"""A server that misbehaves: direct edits of a real server's database stand for a compromised
operator. Each attack of the E2EE issue is detected by the clients, and no key ever reaches the
intruder (checked on the to-device queue itself, which is where keys would have to travel)."""

from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy import delete, insert, select, update

from client.e2ee import FAILED, WAITING, E2EEClient, E2EEError
from client.sdk import RelaisClient
from crypto import group, pairwise
from crypto.encoding import b64e, make_signed
from crypto.identity import DeviceEntry, make_device_list, make_prekey, verify_device_list
from crypto.keys import DhKey, SigningKey
from crypto.membership import make_event
from server.db.models import Device as DeviceRow
from server.db.models import (
    DeviceListLog,
    Membership,
    MembershipEvent,
    Message,
    Room,
    ToDevice,
    User,
    now_ms,
)
from tests.conftest import Running, UserHandle, make_user, wait_for
from tests.integration.e2ee_world import Device, texts, unlimited_relais, until_texts  # noqa: F401


async def _queued_for(relais: Running, device_ids: set[str]) -> int:
    async with relais.services.db.read() as conn:
        rows = (await conn.execute(select(ToDevice.recipient_device_id))).scalars().all()
    return sum(1 for r in rows if r in device_ids)


async def _pair(relais: Running, device: Device) -> tuple[object, object, str, object]:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    return doc, nurse, room, nurse_u


async def test_injected_device_never_gets_a_key(relais: Running, device: Device) -> None:
    doc, nurse, room, nurse_u = await _pair(relais, device)
    evil = SigningKey.generate()
    evil_dh = DhKey.generate()
    evil_id = "d_" + secrets.token_urlsafe(12)
    async with relais.services.db.write() as conn:
        await conn.execute(
            insert(DeviceRow).values(
                id=evil_id,
                user_id=nurse_u.user_id,
                name="injected",
                public_keys=make_prekey(evil, nurse_u.user_id, evil_id, 1, evil_dh.public, 1),
                created_at=now_ms(),
            )
        )
    doc.directory.mark_dirty(nurse_u.user_id)
    await doc.send_text(room, "dose change")
    await until_texts(nurse, room, ["dose change"])
    assert doc.metrics["unsigned_device"] >= 1
    assert await _queued_for(relais, {evil_id}) == 0


async def test_forged_device_list_is_refused(relais: Running, device: Device) -> None:
    doc, nurse, room, nurse_u = await _pair(relais, device)
    await doc.send_text(room, "first")
    await until_texts(nurse, room, ["first"])
    evil_ik = SigningKey.generate()
    evil = SigningKey.generate()
    evil_id = "d_" + secrets.token_urlsafe(12)
    forged = make_device_list(
        evil_ik,
        nurse_u.user_id,
        99,
        [DeviceEntry(evil_id, evil.public, DhKey.generate().public)],
        now_ms(),
        prev=bytes(32),
    )
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User)
            .where(User.id == nurse_u.user_id)
            .values(identity_key=evil_ik.public_b64(), signed_device_list=forged)
        )
    doc.directory.mark_dirty(nurse_u.user_id)
    await doc.send_text(room, "second")
    assert doc.metrics["identity_changed"] == 1
    assert any(w["code"] == "identity_changed" for w in doc.directory.warnings)
    assert doc.trust.pin_state(nurse_u.user_id) == "changed"
    assert await _queued_for(relais, {evil_id}) == 0
    # The real identity key named in a list it did not sign is a bad signature, not a change.
    real_ik = nurse.ik
    assert real_ik is not None
    forged_same_ik = make_signed(
        evil_ik.secret,
        "relais/v1/devices",
        {
            "t": "relais.devices.v2",
            "user": nurse_u.user_id,
            "ver": 99,
            "prev": b64e(bytes(32)),
            "ik": real_ik.public_b64(),
            "ts": now_ms(),
            "devices": [{"id": evil_id, "sign": evil.public_b64(), "dh": evil.public_b64()}],
        },
    )
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User)
            .where(User.id == nurse_u.user_id)
            .values(identity_key=real_ik.public_b64(), signed_device_list=forged_same_ik)
        )
    fresh = await device(relais, await make_user(relais, "clinician"))
    await fresh.directory.ensure([nurse_u.user_id])
    assert fresh.metrics["bad_signature"] == 1
    assert nurse_u.user_id not in fresh.directory.lists


async def test_injected_member_freezes_the_room(relais: Running, device: Device) -> None:
    doc, _nurse, room, _nurse_u = await _pair(relais, device)
    intruder_u = await make_user(relais, "clinician")
    intruder = await device(relais, intruder_u)
    chain = await doc.chains.get(room)
    assert chain is not None
    assert intruder.ik is not None
    forged = make_event(
        intruder.ik,
        room=room,
        n=chain.head_n + 1,
        prev=chain.head_hash,
        action="add",
        actor=intruder_u.user_id,
        target=intruder_u.user_id,
        role="owner",
        consent=None,
        history="shared",
        ts=now_ms(),
    )
    async with relais.services.db.write() as conn:
        seq = (
            await conn.execute(
                update(Room)
                .where(Room.id == room)
                .values(last_event_seq=Room.last_event_seq + 1)
                .returning(Room.last_event_seq)
            )
        ).scalar_one()
        await conn.execute(
            insert(Membership).values(
                room_id=room, user_id=intruder_u.user_id, room_role="owner", added_by="x"
            )
        )
        await conn.execute(
            insert(MembershipEvent).values(
                room_id=room,
                event_seq=seq,
                action="add",
                actor_user_id=intruder_u.user_id,
                target_user_id=intruder_u.user_id,
                room_role="owner",
                signed_event=forged,
            )
        )
    doc.chains.mark_dirty(room)
    with pytest.raises(E2EEError) as err:
        await doc.send_text(room, "must not be shared with the intruder")
    assert err.value.code == "room_frozen"
    assert doc.chains.frozen[room] in ("chain_invalid", "bad_signature")
    assert await _queued_for(relais, {intruder.device_id}) == 0


async def test_unsigned_member_gets_ciphertext_but_no_key(relais: Running, device: Device) -> None:
    doc, nurse, room, _nurse_u = await _pair(relais, device)
    intruder_u = await make_user(relais, "clinician")
    intruder = await device(relais, intruder_u)
    async with relais.services.db.write() as conn:
        await conn.execute(
            insert(Membership).values(
                room_id=room, user_id=intruder_u.user_id, room_role="member", added_by="x"
            )
        )
    await doc.send_text(room, "for the care team only")
    await intruder.api.sync()
    await wait_for(lambda: len(intruder.records) == 1)
    await intruder.idle()
    await wait_for(
        lambda: doc.metrics["key_requests_refused"] + nurse.metrics["key_requests_refused"] >= 1
    )
    assert [r.state for r in intruder.records.values()] == [WAITING]
    assert texts(intruder, room) == []
    # Its client opened everything queued for it: refusals, never a room key.
    await intruder.api.sync()
    await intruder.idle()
    assert intruder.metrics["todevice_room_key"] == 0
    assert intruder.metrics["todevice_key_withheld"] >= 1


async def test_dropped_membership_event_is_detected(relais: Running, device: Device) -> None:
    doc, nurse, room, nurse_u = await _pair(relais, device)
    third_u = await make_user(relais, "clinician")
    await device(relais, third_u)
    await doc.add_member(room, third_u.user_id)
    chain = await doc.chains.get(room, force=True)
    assert chain is not None and chain.head_n == 3
    async with relais.services.db.write() as conn:
        await conn.execute(
            delete(MembershipEvent).where(
                MembershipEvent.room_id == room, MembershipEvent.event_seq == 2
            )
        )
    doc.chains.mark_dirty(room)
    with pytest.raises(E2EEError):
        await doc.send_text(room, "x")
    assert doc.chains.frozen[room] in ("chain_forked", "chain_invalid")
    # Another member's device detects the gap from the prev links alone.
    assert await nurse.chains.get(room, force=True) is None
    assert nurse.chains.frozen[room] in ("chain_forked", "chain_invalid")
    del nurse_u


async def test_reordered_messages_are_reported(relais: Running, device: Device) -> None:
    doc, nurse, room, nurse_u = await _pair(relais, device)
    await doc.send_text(room, "first")
    await doc.send_text(room, "second")
    async with relais.services.db.write() as conn:
        rows = (
            await conn.execute(select(Message.id, Message.seq).where(Message.room_id == room))
        ).all()
        (a_id, a_seq), (b_id, b_seq) = sorted(rows, key=lambda r: r.seq)
        await conn.execute(update(Message).where(Message.id == a_id).values(seq=-1))
        await conn.execute(update(Message).where(Message.id == b_id).values(seq=a_seq))
        await conn.execute(update(Message).where(Message.id == a_id).values(seq=b_seq))
    late = await device(relais, nurse_u, bootstrap=False, connect=False)
    code = await late.start_new_device()
    await nurse.approve_device(code)
    await late.connect()
    await wait_for(lambda: sorted(texts(late, room)) == ["first", "second"])
    assert texts(late, room) == ["second", "first"]
    assert late.metrics["reordered"] == 1


async def test_replayed_to_device_message_is_ignored(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u, connect=False)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "keyed")
    async with relais.services.db.read() as conn:
        queued = (
            await conn.execute(
                select(ToDevice.__table__).where(ToDevice.recipient_device_id == nurse.device_id)
            )
        ).all()
    assert len(queued) == 1
    await nurse.connect()
    await until_texts(nurse, room, ["keyed"])
    sessions_before = dict(nurse.inbound)
    row = queued[0]._mapping
    async with relais.services.db.write() as conn:
        await conn.execute(
            insert(ToDevice).values(
                {k: v for k, v in row.items() if k != "id"} | {"client_msg_id": "replayed"}
            )
        )
    await nurse.api.sync()
    await nurse.idle()
    assert nurse.metrics["todevice_replay"] == 1
    assert nurse.inbound == sessions_before


async def test_replayed_group_message_is_refused(relais: Running, device: Device) -> None:
    doc, nurse, room, _nurse_u = await _pair(relais, device)
    await doc.send_text(room, "give 1 g paracetamol")
    await until_texts(nurse, room, ["give 1 g paracetamol"])
    async with relais.services.db.write() as conn:
        orig = (await conn.execute(select(Message.__table__).where(Message.room_id == room))).one()
        seq = (
            await conn.execute(
                update(Room)
                .where(Room.id == room)
                .values(last_seq=Room.last_seq + 1)
                .returning(Room.last_seq)
            )
        ).scalar_one()
        values = dict(orig._mapping) | {
            "id": "m_" + secrets.token_urlsafe(12),
            "seq": seq,
            "client_msg_id": "replay",
        }
        await conn.execute(insert(Message).values(values))
    await nurse.api.sync()
    await nurse.idle()
    replayed = next(r for r in nurse.records.values() if r.id == values["id"])
    assert replayed.state == FAILED and replayed.error == "replay"
    assert texts(nurse, room) == ["give 1 g paracetamol"]
    assert json.loads(values["envelope"])["alg"] == "relais.group.v1"


async def test_unsigned_member_cannot_speak_in_the_room(relais: Running, device: Device) -> None:
    """Someone the server lets into a room, but whom no owner signed in, runs a modified client:
    it sends its own session key and a message. Members refuse both; nothing is displayed."""
    doc, _nurse, room, _nurse_u = await _pair(relais, device)
    await doc.send_text(room, "hello team")
    evil_u = await make_user(relais, "clinician")
    async with relais.services.db.write() as conn:
        await conn.execute(
            insert(Membership).values(
                room_id=room, user_id=evil_u.user_id, room_role="member", added_by="x"
            )
        )
    api = RelaisClient(relais.url)
    try:
        await api.login(evil_u.username, evil_u.password)
        assert api.device_id is not None
        ik, dsk, dx, spk = (
            SigningKey.generate(),
            SigningKey.generate(),
            DhKey.generate(),
            DhKey.generate(),
        )
        await api.publish_device_keys(
            make_prekey(dsk, evil_u.user_id, api.device_id, 1, spk.public, now_ms())
        )
        await api.publish_device_list(
            ik.public_b64(),
            make_device_list(
                ik, evil_u.user_id, 1, [DeviceEntry(api.device_id, dsk.public, dx.public)], now_ms()
            ),
        )
        await doc.directory.ensure([doc.user_id])
        dev = doc.directory.device(doc.user_id, doc.device_id)
        pk = doc.directory.prekeys[(doc.user_id, doc.device_id)]
        assert dev is not None
        chain = await doc.chains.get(room)
        assert chain is not None and evil_u.user_id not in chain.members
        sess = group.OutboundSession.new(room, created_ms=now_ms(), me=chain.head_n)
        payload = pairwise.encrypt(
            sender_user=evil_u.user_id,
            sender_device=api.device_id,
            sender_key=dsk,
            recipient=pairwise.RecipientKeys(doc.user_id, doc.device_id, dev.dh, pk.id, pk.pub),
            type="room_key",
            body=sess.share_body(evil_u.user_id, api.device_id),
            ts=now_ms(),
        )
        await api.connect()
        ack = await api.send_to_device(
            [{"device_id": doc.device_id, "type": "relais.pairwise.v1", "payload": payload}]
        )
        assert not ack.get("not_found")
        env = sess.encrypt(
            {"type": "text", "body": "INJECTED"},
            su=evil_u.user_id,
            sd=api.device_id,
            dsk=dsk,
            me=chain.head_n,
            mh=chain.head_hash,
        )
        await api.send(room, env)
        await wait_for(lambda: any(r.sender_user == evil_u.user_id for r in doc.records.values()))
        await doc.idle()
        rec = next(r for r in doc.records.values() if r.sender_user == evil_u.user_id)
        assert rec.state == FAILED and rec.error == "not_entitled"
        assert texts(doc, room) == ["hello team"]
        assert doc.metrics["todevice_not_entitled"] == 1
        assert (room, api.device_id, b64e(sess.sid)) not in doc.inbound
    finally:
        await api.close()


# --------------------------------------------------------------------------------------------
# Device lists are a hash-chained log (docs/crypto.md §2.5): rollbacks, forks, a revoked device
# brought back.
# --------------------------------------------------------------------------------------------

PASSPHRASE = "correct horse battery staple"


async def _bob_revoked_a_device(
    relais: Running, device: Device
) -> tuple[E2EEClient, E2EEClient, UserHandle, str]:
    """Bob approves a second device (list v2), then revokes it (v3). Returns his first device,
    the revoked one, his user and the wire form of v2."""
    bob_u = await make_user(relais, "clinician")
    bob = await device(relais, bob_u, passphrase=PASSPHRASE)
    lost = await device(relais, bob_u, bootstrap=False)
    await bob.approve_device(await lost.start_new_device())
    await wait_for(lambda: lost.ik is not None)
    async with relais.services.db.read() as conn:
        v2 = (
            await conn.execute(select(User.signed_device_list).where(User.id == bob_u.user_id))
        ).scalar_one()
    await bob.revoke_device(lost.device_id)
    assert bob.directory.lists[bob_u.user_id].ver == 3
    await bob.idle()
    return bob, lost, bob_u, v2


async def _serve_v2(relais: Running, bob_u: UserHandle, v2: str, lost: E2EEClient) -> None:
    """The server rolls Bob back to v2 everywhere it can (the head, the log) and brings the
    revoked device back to life on its side, with an empty queue."""
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.id == bob_u.user_id).values(signed_device_list=v2)
        )
        await conn.execute(
            delete(DeviceListLog).where(
                DeviceListLog.user_id == bob_u.user_id, DeviceListLog.version > 2
            )
        )
        await conn.execute(
            update(DeviceRow).where(DeviceRow.id == lost.device_id).values(revoked_at=None)
        )
        await conn.execute(delete(ToDevice).where(ToDevice.recipient_device_id == lost.device_id))


async def test_restore_refuses_a_rolled_back_device_list(relais: Running, device: Device) -> None:
    """The finding: restoring from the backup on top of a served v2 brought the revoked device
    back. The backup names v3, so the restore is refused and nothing is published."""
    bob, lost, bob_u, v2 = await _bob_revoked_a_device(relais, device)
    alice_u = await make_user(relais, "clinician")
    alice = await device(relais, alice_u)
    room = await bob.create_room()
    await bob.add_member(room, alice_u.user_id)
    await alice.directory.ensure([bob_u.user_id])
    assert alice.directory.lists[bob_u.user_id].ver == 3
    await _serve_v2(relais, bob_u, v2, lost)

    fresh = await device(relais, bob_u, bootstrap=False, connect=False)
    with pytest.raises(E2EEError) as err:
        await fresh.restore_from_backup(PASSPHRASE)
    assert err.value.code == "devices_withheld"
    assert "version 2" in str(err.value) and "version 3" in str(err.value)
    assert fresh.ik is None
    async with relais.services.db.read() as conn:
        served = (
            await conn.execute(select(User.signed_device_list).where(User.id == bob_u.user_id))
        ).scalar_one()
    assert served == v2  # nothing was published on top of the rolled-back list

    # Nobody who saw v3 shares a key with the revoked device; Alice keeps v3.
    alice.directory.mark_dirty(bob_u.user_id)
    await bob.send_text(room, "after the rollback")
    await until_texts(alice, room, ["after the rollback"])
    await alice.send_text(room, "reply")
    await until_texts(bob, room, ["after the rollback", "reply"])
    assert alice.metrics["rollback"] >= 1 and bob_u.user_id not in alice.directory.frozen
    assert await _queued_for(relais, {lost.device_id}) == 0


async def test_restore_builds_on_the_newest_logged_list(relais: Running, device: Device) -> None:
    """A server that rolls back only the head it serves still keeps v3 in the log: the restore
    finds it there, builds v4 on it, and the revoked device stays retired."""
    _bob, lost, bob_u, v2 = await _bob_revoked_a_device(relais, device)
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.id == bob_u.user_id).values(signed_device_list=v2)
        )
    fresh = await device(relais, bob_u, bootstrap=False, connect=False)
    await fresh.restore_from_backup(PASSPHRASE)
    head = fresh.directory.lists[bob_u.user_id]
    assert head.ver == 4
    assert head.get(lost.device_id) is None
    assert head.get_retired(lost.device_id) is not None
    assert fresh.directory.metrics["rollback"] >= 1


async def test_gossiped_head_refuses_a_rolled_back_list(relais: Running, device: Device) -> None:
    """Carol never fetched Bob's list before the server rolled it back; Bob's room key share
    carries his head (v3), so Carol refuses the served v2 and shares nothing with Bob's
    devices until the server serves v3."""
    bob, lost, bob_u, v2 = await _bob_revoked_a_device(relais, device)
    await _serve_v2(relais, bob_u, v2, lost)
    carol_u = await make_user(relais, "clinician")
    carol = await device(relais, carol_u)
    room = await bob.create_room()
    await bob.add_member(room, carol_u.user_id)
    await bob.send_text(room, "hello carol")
    await until_texts(carol, room, ["hello carol"])
    await wait_for(lambda: carol.directory.frozen.get(bob_u.user_id) == "devices_withheld")
    assert carol.metrics["devices_withheld"] >= 1
    await carol.send_text(room, "hello bob")
    assert await _queued_for(relais, {lost.device_id, bob.device_id}) == 0

    # The server serves v3 again: Carol verifies it against the gossiped head and thaws.
    assert bob.directory.lists[bob_u.user_id].ver == 3
    v3 = bob.directory.lists[bob_u.user_id].wire
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.id == bob_u.user_id).values(signed_device_list=v3)
        )
        await conn.execute(
            insert(DeviceListLog).values(
                user_id=bob_u.user_id, version=3, signed_device_list=v3, created_at=now_ms()
            )
        )
    carol.directory.mark_dirty(bob_u.user_id)
    await carol.send_text(room, "again")
    assert bob_u.user_id not in carol.directory.frozen
    await until_texts(bob, room, ["hello carol", "hello bob", "again"])
    assert await _queued_for(relais, {lost.device_id}) == 0


async def test_forked_device_list_freezes_the_user(relais: Running, device: Device) -> None:
    """Two different lists at one version (only a holder of Bob's identity key can sign them,
    e.g. an old client restoring on a rolled-back list): whoever saw one refuses the other and
    shares nothing with Bob's devices any more."""
    bob, lost, bob_u, v2 = await _bob_revoked_a_device(relais, device)
    alice_u = await make_user(relais, "clinician")
    alice = await device(relais, alice_u)
    room = await bob.create_room()
    await bob.add_member(room, alice_u.user_id)
    await bob.send_text(room, "first")
    await until_texts(alice, room, ["first"])
    assert alice.directory.lists[bob_u.user_id].ver == 3
    assert bob.ik is not None
    v2_dl = verify_device_list(v2, bob_u.user_id, bob.ik.public)
    evil = SigningKey.generate()
    evil_id = "d_" + secrets.token_urlsafe(12)
    forged_v3 = make_device_list(
        bob.ik,
        bob_u.user_id,
        3,
        [*v2_dl.devices, DeviceEntry(evil_id, evil.public, DhKey.generate().public)],
        now_ms(),
        prev=v2_dl.hash,
    )
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.id == bob_u.user_id).values(signed_device_list=forged_v3)
        )
        await conn.execute(
            update(DeviceListLog)
            .where(DeviceListLog.user_id == bob_u.user_id, DeviceListLog.version == 3)
            .values(signed_device_list=forged_v3)
        )
        await conn.execute(
            update(DeviceRow).where(DeviceRow.id == lost.device_id).values(revoked_at=None)
        )
        await conn.execute(delete(ToDevice).where(ToDevice.recipient_device_id == lost.device_id))
    alice.directory.mark_dirty(bob_u.user_id)
    await alice.send_text(room, "second")
    assert alice.directory.frozen[bob_u.user_id] == "devices_forked"
    assert alice.metrics["devices_forked"] == 1
    assert await _queued_for(relais, {lost.device_id, bob.device_id}) == 0
    # A newcomer who saw neither is told by Bob's own gossip: v3 hashes differently.
    carol_u = await make_user(relais, "clinician")
    carol = await device(relais, carol_u)
    await bob.add_member(room, carol_u.user_id)
    await bob.send_text(room, "third")
    await until_texts(carol, room, ["first", "second", "third"])
    await wait_for(lambda: carol.directory.frozen.get(bob_u.user_id) == "devices_forked")


async def test_list_dropping_a_retired_device_is_refused(relais: Running, device: Device) -> None:
    """A v4 signed by Bob's identity key (a stolen seed, a broken client) that brings the revoked
    device back live breaks the succession rules: refused, Bob's devices frozen."""
    bob, lost, bob_u, _v2 = await _bob_revoked_a_device(relais, device)
    alice_u = await make_user(relais, "clinician")
    alice = await device(relais, alice_u)
    room = await bob.create_room()
    await bob.add_member(room, alice_u.user_id)
    await bob.send_text(room, "first")
    await until_texts(alice, room, ["first"])
    v3 = bob.directory.lists[bob_u.user_id]
    assert bob.ik is not None
    back = DeviceEntry(lost.device_id, lost.dsk.public, lost.dx.public)
    v4 = make_device_list(bob.ik, bob_u.user_id, 4, [*v3.devices, back], now_ms(), prev=v3.hash)
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.id == bob_u.user_id).values(signed_device_list=v4)
        )
        await conn.execute(
            insert(DeviceListLog).values(
                user_id=bob_u.user_id, version=4, signed_device_list=v4, created_at=now_ms()
            )
        )
        await conn.execute(
            update(DeviceRow).where(DeviceRow.id == lost.device_id).values(revoked_at=None)
        )
        await conn.execute(delete(ToDevice).where(ToDevice.recipient_device_id == lost.device_id))
    alice.directory.mark_dirty(bob_u.user_id)
    await alice.send_text(room, "second")
    assert alice.directory.frozen[bob_u.user_id] == "devices_invalid"
    assert alice.directory.lists[bob_u.user_id].ver == 3
    assert await _queued_for(relais, {lost.device_id}) == 0

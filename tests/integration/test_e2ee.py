"""End-to-end encryption through a real server: every message is a `relais.group.v1` envelope,
keys travel only over the pairwise channel, and each flow of docs/crypto.md §6 ends with every
entitled device reading every message (and nobody else)."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from client.e2ee import DECRYPTED, WAITING
from crypto.encoding import b64e
from server.db.models import Message, ToDevice, now_ms
from tests.conftest import Running, make_user, wait_for
from tests.integration.e2ee_world import Device, texts, unlimited_relais, until_texts  # noqa: F401


async def test_care_room_conversation_is_encrypted(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    pat_u = await make_user(relais, "patient")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    patient = await device(relais, pat_u)

    room = await doc.create_room(patient_user_id=pat_u.user_id)
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "Pansement refait, plaie propre")
    await nurse.send_text(room, "Je passe demain à 9h")
    await doc.send_text(room, "Merci")

    expected = ["Pansement refait, plaie propre", "Je passe demain à 9h", "Merci"]
    for e in (doc, nurse, patient):
        await until_texts(e, room, expected)
        assert e.counts()["failed"] == 0

    async with relais.services.db.read() as conn:
        envs = (await conn.execute(select(Message.envelope))).scalars().all()
        payloads = (await conn.execute(select(ToDevice.payload))).scalars().all()
    assert len(envs) == 3
    for text in ("Pansement", "plaie", "demain", "Merci"):
        assert all(text not in e for e in envs)
        assert all(text not in p for p in payloads)
    assert all('"alg":"relais.group.v1"' in e.replace(" ", "") for e in envs)


async def test_removed_member_cannot_read_what_follows(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    gone_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    gone = await device(relais, gone_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.add_member(room, gone_u.user_id)
    await doc.send_text(room, "before")
    await until_texts(gone, room, ["before"])

    await doc.remove_member(room, gone_u.user_id)
    await doc.send_text(room, "after removal")
    await nurse.send_text(room, "nurse after removal")
    await until_texts(nurse, room, ["before", "after removal", "nurse after removal"])
    assert doc.metrics["rotations"] == 1

    # The removed device gets hold of the ciphertexts anyway (say, a copy of the database):
    # it has no key for them and asks for one; nobody gives it one (the server no longer lets
    # it write to the members' devices, and their clients would refuse it anyway).
    keys_before = gone.metrics["todevice_room_key"]
    async with relais.services.db.read() as conn:
        rows = (await conn.execute(select(Message.__table__).order_by(Message.seq))).all()
    for row in rows[1:]:
        await gone._enqueue_message(
            {
                "id": row.id,
                "room_id": row.room_id,
                "seq": row.seq,
                "sender": {"user_id": row.sender_user_id, "device_id": row.sender_device_id},
                "envelope": json.loads(row.envelope),
            }
        )
    await gone.idle()
    assert gone.metrics["key_requests"] >= 1
    await gone.retry_waiting()
    await gone.idle()
    late = [gone.records[r.id].state for r in rows[1:]]
    assert late == [WAITING, WAITING]
    assert texts(gone, room) == ["before"]
    await gone.api.sync()
    await gone.idle()
    assert gone.metrics["todevice_room_key"] == keys_before


async def test_new_member_reads_shared_history(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    late_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    late = await device(relais, late_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "one")
    await nurse.send_text(room, "two")
    await until_texts(doc, room, ["one", "two"])
    await doc.add_member(room, late_u.user_id)
    await late.api.sync()
    await until_texts(late, room, ["one", "two"])
    await nurse.send_text(room, "three")
    await until_texts(late, room, ["one", "two", "three"])


async def test_new_device_restores_keys_from_backup(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u, passphrase="correct horse battery staple")
    nurse = await device(relais, nurse_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await nurse.send_text(room, "handover: bed 4 febrile")
    await doc.send_text(room, "seen")
    await until_texts(doc, room, ["handover: bed 4 febrile", "seen"])
    await doc.idle()

    # The doctor's phone is new: only the passphrase links it to the old keys.
    doc2 = await device(relais, doc_u, bootstrap=False, connect=False)
    imported = await doc2.restore_from_backup("correct horse battery staple")
    assert imported >= 2
    await doc2.connect()
    await until_texts(doc2, room, ["handover: bed 4 febrile", "seen"])
    await doc2.send_text(room, "from the new phone")
    await until_texts(nurse, room, ["handover: bed 4 febrile", "seen", "from the new phone"])


async def test_new_device_approved_by_another_device(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "night orders")
    await until_texts(nurse, room, ["night orders"])

    tablet = await device(relais, nurse_u, bootstrap=False, connect=False)
    code = await tablet.start_new_device()
    await nurse.approve_device(code)  # the nurse scanned the tablet's code
    await tablet.connect()
    await wait_for(lambda: tablet.ik is not None)
    await until_texts(tablet, room, ["night orders"])
    await tablet.send_text(room, "ack from tablet")
    await until_texts(doc, room, ["night orders", "ack from tablet"])


async def test_attachment_is_ciphertext_on_the_server(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    photo = b"WOUND-PHOTO-" * 20_000
    await doc.send_file(room, photo, name="plaie.jpg", mime="image/jpeg")
    await wait_for(
        lambda: any(r.content and r.content.get("type") == "file" for r in nurse.messages(room))
    )
    rec = next(r for r in nurse.messages(room) if r.content and r.content["type"] == "file")
    assert rec.state == DECRYPTED and rec.content is not None
    assert await nurse.download_file(rec.content) == photo
    stored = relais.services.parts.blobs.path_for(rec.content["attachment_id"]).read_bytes()
    assert b"WOUND-PHOTO" not in stored
    assert len(stored) >= len(photo) + 17


async def test_safety_numbers_agree(relais: Running, device: Device) -> None:
    a_u = await make_user(relais, "clinician")
    b_u = await make_user(relais, "clinician")
    a = await device(relais, a_u)
    b = await device(relais, b_u)
    await a.directory.ensure([b_u.user_id])
    await b.directory.ensure([a_u.user_id])
    assert a.safety_number(b_u.user_id) == b.safety_number(a_u.user_id)
    assert len(a.safety_number(b_u.user_id)) == 60


async def test_revoked_device_gets_no_new_keys(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    lost = await device(relais, nurse_u, bootstrap=False)
    await nurse.approve_device(await lost.start_new_device())
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "before the phone was lost")
    await until_texts(lost, room, ["before the phone was lost"])
    sid_before = doc.outbound[room].sid
    async with relais.services.db.read() as conn:
        queue_mark = (await conn.execute(select(func.max(ToDevice.id)))).scalar_one()

    await nurse.revoke_device(lost.device_id)  # signed list without it, sessions revoked
    await doc.send_text(room, "after the phone was lost")
    assert doc.outbound[room].sid != sid_before  # rotated away from the revoked device
    await until_texts(nurse, room, ["before the phone was lost", "after the phone was lost"])
    async with relais.services.db.read() as conn:
        queued = (
            await conn.execute(
                select(ToDevice.id).where(
                    ToDevice.recipient_device_id == lost.device_id, ToDevice.id > queue_mark
                )
            )
        ).all()
    assert queued == []
    assert all(k[2] != b64e(doc.outbound[room].sid) for k in lost.inbound)


async def test_joined_history_policy_hides_earlier_messages(
    relais: Running, device: Device
) -> None:
    doc_u = await make_user(relais, "clinician")
    locum_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    locum = await device(relais, locum_u)
    room = await doc.create_room()
    await doc.send_text(room, "private before the locum")
    await doc.add_member(room, locum_u.user_id, history="joined")
    await doc.send_text(room, "welcome")
    await locum.api.sync()
    await until_texts(locum, room, ["welcome"])
    await wait_for(lambda: doc.metrics["key_requests_refused"] >= 1)
    early = locum.messages(room)[0]
    assert early.state == WAITING and early.content is None
    await wait_for(lambda: locum.metrics["todevice_key_withheld"] >= 1)


async def test_prekey_rotation_erases_old_private_keys(relais: Running, device: Device) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    now = [1_000_000]
    nurse = await device(relais, nurse_u, connect=False)
    nurse.clock = lambda: now[0]
    room = await doc.create_room()
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "queued for the nurse")
    old_ids = set(nurse.prekeys)
    await nurse.rotate_prekey()
    assert old_ids < set(nurse.prekeys)  # grace period: the old private key is still there
    await nurse.connect()
    await until_texts(nurse, room, ["queued for the nurse"])
    now[0] += nurse.policy.prekey_grace_ms + 1
    nurse.erase_expired_prekeys()
    assert not old_ids & set(nurse.prekeys)
    # New shares use the new pre-key.
    doc.directory.mark_dirty(nurse_u.user_id)
    await doc.remove_member(room, nurse_u.user_id)
    await doc.add_member(room, nurse_u.user_id)
    await doc.send_text(room, "after rotation")
    await until_texts(nurse, room, ["queued for the nurse", "after rotation"])


async def test_unsigned_member_is_confirmed_into_the_chain(relais: Running, device: Device) -> None:
    """Some joins carry no signed event (an invitation link, admin tooling): an owner signs the
    member in, after which keys flow to them. Removing an unconfirmed member never freezes
    the room."""
    doc_u = await make_user(relais, "clinician")
    pat_u = await make_user(relais, "clinician")
    other_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    patient = await device(relais, pat_u)
    room = await doc.create_room()
    await doc.api.add_member(room, pat_u.user_id)  # no signed event
    await doc.api.add_member(room, other_u.user_id)
    await doc.send_text(room, "before confirmation")
    chain = await doc.chains.get(room, force=True)
    assert chain is not None and pat_u.user_id not in chain.members
    await doc.remove_member(room, other_u.user_id)  # unsigned member: server-side removal
    assert room not in doc.chains.frozen

    await doc.add_member(room, pat_u.user_id)  # confirms the existing member
    await doc.send_text(room, "after confirmation")
    await patient.api.sync()
    await until_texts(patient, room, ["before confirmation", "after confirmation"])


async def test_prekey_rotates_on_reconnect_when_due(relais: Running, device: Device) -> None:
    nurse_u = await make_user(relais, "clinician")
    now = [now_ms()]
    nurse = await device(relais, nurse_u, connect=False)
    nurse.clock = lambda: now[0]
    await nurse.connect()
    first = max(nurse.prekeys)
    await nurse.disconnect()
    await nurse.connect()
    assert max(nurse.prekeys) == first  # not due yet
    await nurse.disconnect()
    now[0] += nurse.policy.prekey_rotate_ms + 60_000
    await nurse.connect()
    assert max(nurse.prekeys) == first + 1 and first in nurse.prekeys  # grace period
    await nurse.disconnect()
    now[0] += nurse.policy.prekey_grace_ms
    await nurse.connect()
    assert first not in nurse.prekeys


async def test_revoked_device_with_a_forwarded_session_is_rotated_away(
    relais: Running, device: Device
) -> None:
    """The revoked device got the sender's session from another device (not from the sender):
    the sender still rotates when it sees the revocation."""
    ua = await make_user(relais, "clinician")
    ub = await make_user(relais, "clinician")
    a1 = await device(relais, ua)
    b = await device(relais, ub)
    room = await a1.create_room()
    await a1.add_member(room, ub.user_id)
    await b.send_text(room, "m1")
    await wait_for(lambda: any(k[1] == b.device_id for k in a1.inbound))
    a2 = await device(relais, ua, bootstrap=False, connect=False)
    await a1.approve_device(await a2.start_new_device())
    await a2.connect()
    await wait_for(lambda: any(k[1] == b.device_id for k in a2.inbound))
    await a1.revoke_device(a2.device_id)
    await wait_for(lambda: ua.user_id in b.directory.dirty)
    ack = await b.send_text(room, "m2 after revocation")
    sid = b.records[ack["id"]].envelope["sid"]
    assert (room, b.device_id, sid) not in a2.inbound
    assert b.metrics["rotations"] == 1
    await until_texts(a1, room, ["m1", "m2 after revocation"])


async def test_messages_of_a_revoked_device_stay_readable_for_newcomers(
    relais: Running, device: Device
) -> None:
    """The lost phone is revoked, yet what it sent before stays verifiable (retired entry of the
    signed device list) for a member who joins afterwards; it is marked as such."""
    doc_u = await make_user(relais, "clinician")
    late_u = await make_user(relais, "clinician")
    phone = await device(relais, doc_u)
    laptop = await device(relais, doc_u, bootstrap=False)
    await phone.approve_device(await laptop.start_new_device())
    await wait_for(lambda: laptop.ik is not None)
    room = await phone.create_room()
    await phone.send_text(room, "sent from the phone")
    await until_texts(laptop, room, ["sent from the phone"])
    await laptop.revoke_device(phone.device_id)
    late = await device(relais, late_u)
    await laptop.add_member(room, late_u.user_id)
    await late.api.sync()
    await until_texts(late, room, ["sent from the phone"])
    rec = late.messages(room)[0]
    assert rec.note == "sent from a since-revoked device"
    # The revoked phone itself receives nothing new.
    await laptop.send_text(room, "after revocation")
    await until_texts(late, room, ["sent from the phone", "after revocation"])
    assert not any(k[1] == laptop.device_id for k in phone.inbound)

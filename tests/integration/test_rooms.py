"""Care-room membership rules, consent, signed events and live membership notices."""

from __future__ import annotations

import asyncio

import pytest

from client import RelaisError
from crypto.keys import SigningKey
from crypto.membership import event_hash, make_event, parse_event
from tests.conftest import envelope, make_user, wait_for


async def test_membership_rules_and_consent(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    family = await make_user(relais, "caregiver")
    patient = await make_user(relais, "patient")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room(patient_user_id=patient.user_id, encrypted_meta="ct-title")
    c_pat = await clients(relais, patient)

    # The patient cannot add members.
    with pytest.raises(RelaisError) as err:
        await c_pat.add_member(room, nurse.user_id)
    assert err.value.code == "forbidden"
    # A caregiver needs the patient's recorded consent.
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, family.user_id)
    assert err.value.code == "consent_required"
    consent = await c_pat.request(
        "POST",
        f"/api/v1/rooms/{room}/consents",
        json={"subject_user_id": family.user_id, "method": "in_app"},
    )
    added = await c_doc.add_member(room, family.user_id, consent_id=consent["consent_id"])
    assert added["action"] == "add"
    # The consent is single use.
    await c_doc.request("DELETE", f"/api/v1/rooms/{room}/members/{family.user_id}", json={})
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, family.user_id, consent_id=consent["consent_id"])
    assert err.value.code == "consent_required"
    # A signed event must be a membership event describing this change (checked below).
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, nurse.user_id, signed_event="sig-abc")
    assert err.value.code == "validation_failed"
    # A care-team member needs no consent; events are listed in order.
    await c_doc.add_member(room, nurse.user_id)
    events = (await c_doc.call("room.events", {"room_id": room}))["events"]
    assert [e["action"] for e in events] == ["create", "add", "add", "remove", "add"]
    assert events[-1]["signed_event"] is None
    assert [e["event_seq"] for e in events] == [1, 2, 3, 4, 5]
    state = await c_doc.call("room.get", {"room_id": room})
    assert state["encrypted_meta"] == "ct-title"
    assert {m["user_id"] for m in state["members"]} == {doc.user_id, patient.user_id, nurse.user_id}


async def test_removed_member_stops_receiving_and_is_told(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)
    c_nurse = await clients(relais, nurse)
    await c_doc.send(room, envelope("before"))
    await wait_for(lambda: len(c_nurse.inbox.messages.get(room, [])) == 1)
    await c_doc.request("DELETE", f"/api/v1/rooms/{room}/members/{nurse.user_id}", json={})

    async def removal_seen() -> bool:
        while True:
            ev, data = await c_nurse.events.get()
            if ev == "room.member" and data["action"] == "remove":
                return True

    assert await removal_seen()
    await c_doc.send(room, envelope("after"))
    # The nurse's sync no longer includes the room, and reading it is not_found.
    assert await c_nurse.sync() == 0
    with pytest.raises(RelaisError) as err:
        await c_nurse.call("room.get", {"room_id": room})
    assert err.value.code == "not_found"
    assert [m["seq"] for m in c_nurse.inbox.messages[room]] == [1]


async def test_last_owner_cannot_leave(relais, clients):
    doc = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    room = await c_doc.create_room()
    with pytest.raises(RelaisError) as err:
        await c_doc.request("DELETE", f"/api/v1/rooms/{room}/members/{doc.user_id}", json={})
    assert err.value.code == "conflict"


async def test_signed_membership_chain_is_kept_linear(relais, clients):
    """The server cannot sign but refuses what would fork or misdescribe the chain, and refuses
    messages encrypted under an older chain (docs/protocol.md, signed membership events)."""
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    other = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    ik = SigningKey.generate()
    await c_doc.publish_device_list(ik.public_b64(), "opaque-device-list")
    room = "r_" + "A" * 20

    def event(n: int, prev: bytes, action: str, target: str, role: str | None, key=ik) -> str:
        return make_event(
            key,
            room=room,
            n=n,
            prev=prev,
            action=action,
            actor=doc.user_id,
            target=target,
            role=role,
            consent=None,
            history="shared" if action != "remove" else None,
            ts=1,
        )

    create = event(1, b"", "create", doc.user_id, "owner")
    assert await c_doc.create_room(room_id=room, signed_event=create) == room
    with pytest.raises(RelaisError) as err:
        await c_doc.create_room(room_id=room, signed_event=create)
    assert err.value.code == "conflict"

    add_nurse = event(2, event_hash(create), "add", nurse.user_id, "member")
    # Describing another change than the one requested is refused.
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, other.user_id, signed_event=add_nurse)
    assert err.value.code == "validation_failed"
    # So is a signature by another key than the actor's published identity key.
    forged = event(2, event_hash(create), "add", nurse.user_id, "member", SigningKey.generate())
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, nurse.user_id, signed_event=forged)
    assert err.value.code == "validation_failed"
    await c_doc.add_member(room, nurse.user_id, signed_event=add_nurse)
    # A second owner acting on the same head must re-sign on the new one.
    stale = event(2, event_hash(create), "add", other.user_id, "member")
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, other.user_id, signed_event=stale)
    assert err.value.code == "conflict"
    assert err.value.details == {"expected_n": 3}

    events = await c_doc.membership_events(room)
    assert [e["signed_event"] for e in events] == [create, add_nurse]

    # A message encrypted under one signed event when the room has two is refused, unstored.
    env = envelope("x") | {"me": 1}
    with pytest.raises(RelaisError) as err:
        await c_doc.send(room, env)
    assert err.value.code == "stale_membership"
    assert err.value.details == {"membership_events": 2}
    ack = await c_doc.send(room, envelope("x") | {"me": 2})
    assert ack["seq"] == 1


async def test_unsigned_member_is_confirmed_into_the_chain(relais, clients):
    """A patient who joined without a signed event (invitation link) cannot be signed out of a
    chain that never had them; an owner confirms them in instead."""
    doc = await make_user(relais, "clinician")
    patient = await make_user(relais, "patient")
    c_doc = await clients(relais, doc)
    ik = SigningKey.generate()
    await c_doc.publish_device_list(ik.public_b64(), "opaque-device-list")
    room = "r_" + "B" * 20
    create = make_event(
        ik,
        room=room,
        n=1,
        prev=b"",
        action="create",
        actor=doc.user_id,
        target=doc.user_id,
        role="owner",
        consent=None,
        history="shared",
        ts=1,
    )
    await c_doc.create_room(patient_user_id=patient.user_id, room_id=room, signed_event=create)

    def ev(action: str, role: str | None) -> str:
        return make_event(
            ik,
            room=room,
            n=2,
            prev=event_hash(create),
            action=action,
            actor=doc.user_id,
            target=patient.user_id,
            role=role,
            consent=None,
            history="shared" if action == "add" else None,
            ts=2,
        )

    with pytest.raises(RelaisError) as err:
        await c_doc.remove_member(room, patient.user_id, signed_event=ev("remove", None))
    assert err.value.code == "validation_failed"
    confirmed = await c_doc.add_member(room, patient.user_id, signed_event=ev("add", "member"))
    assert confirmed["action"] == "add"
    events = await c_doc.membership_events(room)
    assert [e["signed_event"] is not None for e in events] == [True, False, True]
    state = await c_doc.call("room.get", {"room_id": room})
    assert {m["user_id"] for m in state["members"]} == {doc.user_id, patient.user_id}
    # Confirming twice is refused: the chain already has them.
    again = make_event(
        ik,
        room=room,
        n=3,
        prev=event_hash(events[-1]["signed_event"]),
        action="add",
        actor=doc.user_id,
        target=patient.user_id,
        role="member",
        consent=None,
        history="shared",
        ts=3,
    )
    with pytest.raises(RelaisError) as err:
        await c_doc.add_member(room, patient.user_id, signed_event=again)
    assert err.value.code == "validation_failed"


async def test_chain_member_removal_must_be_signed(relais, clients):
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    ik = SigningKey.generate()
    await c_doc.publish_device_list(ik.public_b64(), "opaque-device-list")
    room = "r_" + "C" * 20
    create = make_event(
        ik,
        room=room,
        n=1,
        prev=b"",
        action="create",
        actor=doc.user_id,
        target=doc.user_id,
        role="owner",
        consent=None,
        history="shared",
        ts=1,
    )
    await c_doc.create_room(room_id=room, signed_event=create)
    add = make_event(
        ik,
        room=room,
        n=2,
        prev=event_hash(create),
        action="add",
        actor=doc.user_id,
        target=nurse.user_id,
        role="member",
        consent=None,
        history="shared",
        ts=2,
    )
    await c_doc.add_member(room, nurse.user_id, signed_event=add)
    # Unsigned, the removal would leave every client sharing keys with the removed nurse.
    with pytest.raises(RelaisError) as err:
        await c_doc.remove_member(room, nurse.user_id)
    assert err.value.code == "conflict"
    remove = make_event(
        ik,
        room=room,
        n=3,
        prev=event_hash(add),
        action="remove",
        actor=doc.user_id,
        target=nurse.user_id,
        role=None,
        consent=None,
        history=None,
        ts=3,
    )
    await c_doc.remove_member(room, nurse.user_id, signed_event=remove)


async def test_concurrent_signed_changes_never_fork_the_chain(relais, clients):
    """Two devices of an owner sign on the same head at the same moment: one wins, the other is
    told to re-sign (`conflict`); the stored chain stays linear."""
    doc = await make_user(relais, "clinician")
    c1, c2 = await clients(relais, doc), await clients(relais, doc)
    ik = SigningKey.generate()
    await c1.publish_device_list(ik.public_b64(), "opaque-device-list")
    room = "r_" + "D" * 20
    create = make_event(
        ik,
        room=room,
        n=1,
        prev=b"",
        action="create",
        actor=doc.user_id,
        target=doc.user_id,
        role="owner",
        consent=None,
        history="shared",
        ts=1,
    )
    await c1.create_room(room_id=room, signed_event=create)
    last = create
    for _round in range(8):
        targets = [await make_user(relais, "clinician") for _ in range(2)]
        n = parse_event(last).n + 1
        events = [
            make_event(
                ik,
                room=room,
                n=n,
                prev=event_hash(last),
                action="add",
                actor=doc.user_id,
                target=t.user_id,
                role="member",
                consent=None,
                history="shared",
                ts=n,
            )
            for t in targets
        ]
        results = await asyncio.gather(
            c1.add_member(room, targets[0].user_id, signed_event=events[0]),
            c2.add_member(room, targets[1].user_id, signed_event=events[1]),
            return_exceptions=True,
        )
        won = [e for e, r in zip(events, results, strict=True) if not isinstance(r, Exception)]
        assert len(won) == 1, results
        assert all(r.code == "conflict" for r in results if isinstance(r, RelaisError))
        last = won[0]
    stored = [e["signed_event"] for e in await c1.membership_events(room) if e["signed_event"]]
    assert [parse_event(w).n for w in stored] == list(range(1, 10))

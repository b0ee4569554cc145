"""Care-room membership rules, consent, signed events and live membership notices."""

from __future__ import annotations

import pytest

from client import RelaisError
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
    # A care-team member needs no consent; signed events are stored opaque and in order.
    await c_doc.request(
        "POST",
        f"/api/v1/rooms/{room}/members",
        json={"user_id": nurse.user_id, "signed_event": "sig-abc"},
    )
    events = (await c_doc.call("room.events", {"room_id": room}))["events"]
    assert [e["action"] for e in events] == ["create", "add", "add", "remove", "add"]
    assert events[-1]["signed_event"] == "sig-abc"
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

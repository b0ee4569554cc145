"""Patient invitations over a real server (SQLite and PostgreSQL) and the real client: single
use (also under concurrent redemption), expiry, code attempts, revocation, and a redeemed patient
who lands in their care room and exchanges messages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from client import RelaisClient, RelaisError
from server.auth.invites import MAX_CODE_ATTEMPTS
from server.db.models import User
from tests.conftest import envelope, make_user, wait_for
from tests.conftest import test_settings as settings_for


@pytest.fixture
async def anon() -> Any:
    made: list[RelaisClient] = []

    def _make(running: Any) -> RelaisClient:
        c = RelaisClient(running.url)
        made.append(c)
        return c

    yield _make
    for c in made:
        await c.close()


async def redeem(c: RelaisClient, token: str, code: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"token": token, "device_name": "patient phone"}
    if code is not None:
        body["code"] = code
    res: dict[str, Any] = await c.request("POST", "/api/v1/invites/redeem", json=body)
    return res


async def audit_rows(running: Any) -> list[dict[str, Any]]:
    return [r async for r in running.services.audit.rows()]


async def patient_count(running: Any) -> int:
    async with running.services.db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).select_from(User).where(User.role == "patient")
                )
            ).scalar_one()
        )


async def test_invite_is_single_use(relais, clients, anon):
    doc = await make_user(relais, "clinician")
    cd = await clients(relais, doc, connect=False)
    inv = await cd.request("POST", "/api/v1/invites", json={"display_name": "Mme Durand"})
    assert inv["url"] == "/join/" + inv["token"] and inv["code"] is None
    assert inv["invite_id"].startswith("i_")

    patient = anon(relais)
    res = await redeem(patient, inv["token"])
    patient.use_session(res["token"], res["user_id"], res["device_id"])
    me = await patient.request("GET", "/api/v1/me")
    assert me["role"] == "patient" and me["display_name"] == "Mme Durand"
    assert me["device_id"] == res["device_id"] and me["session_id"] == res["session_id"]
    sessions = (await patient.request("GET", "/api/v1/auth/sessions"))["sessions"]
    assert [s["device_name"] for s in sessions] == ["patient phone"]

    again, unknown = anon(relais), anon(relais)
    with pytest.raises(RelaisError) as used:
        await redeem(again, inv["token"])
    with pytest.raises(RelaisError) as bogus:
        await redeem(unknown, "inv_" + "A" * 43)
    # Used and unknown look exactly alike.
    assert used.value.code == bogus.value.code == "invite_invalid"
    assert used.value.message == bogus.value.message and used.value.status == 410
    assert (await cd.request("GET", "/api/v1/invites"))["invites"] == []

    rows = await audit_rows(relais)
    text = json.dumps(rows)
    assert inv["token"] not in text and res["token"] not in text and "Durand" not in text
    redeems = [r for r in rows if r["action"] == "invite.redeem"]
    assert [r["outcome"] for r in redeems] == ["ok", "invalid", "invalid"]
    assert next(r["action"] for r in rows if r["target"] == inv["invite_id"]) == "invite.create"


async def test_expired_invite_is_refused(start_server, tmp_path, database_url, clients, anon):
    running = await start_server(settings_for(tmp_path, database_url, invite_ttl_s=1))
    doc = await make_user(running, "clinician")
    cd = await clients(running, doc, connect=False)
    inv = await cd.request("POST", "/api/v1/invites", json={"display_name": "P"})
    listed = (await cd.request("GET", "/api/v1/invites"))["invites"]
    assert [i["invite_id"] for i in listed] == [inv["invite_id"]]
    # The server drops it from the pending list once its own clock passes expires_at.
    pending: list[Any] = listed
    while pending:
        pending = (await cd.request("GET", "/api/v1/invites"))["invites"]
        await asyncio.sleep(0.05)
    with pytest.raises(RelaisError) as err:
        await redeem(anon(running), inv["token"])
    assert err.value.code == "invite_invalid"
    assert await patient_count(running) == 0


async def test_code_attempts_are_capped(relais, clients, anon):
    doc = await make_user(relais, "clinician")
    cd = await clients(relais, doc, connect=False)
    inv = await cd.request("POST", "/api/v1/invites", json={"display_name": "P", "with_code": True})
    code = inv["code"]
    assert len(code) == 6 and code.isdigit()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    c = anon(relais)
    with pytest.raises(RelaisError) as err:
        await redeem(c, inv["token"])
    assert err.value.code == "invalid_credentials" and err.value.details["code_required"]
    for left in (4, 3, 2, 1, 0):
        with pytest.raises(RelaisError) as err:
            await redeem(c, inv["token"], wrong)
        assert err.value.code == "invalid_credentials"
        assert err.value.details["attempts_left"] == left
    # Burned: even the right code no longer works.
    with pytest.raises(RelaisError) as err:
        await redeem(c, inv["token"], code)
    assert err.value.code == "invite_invalid"
    assert await patient_count(relais) == 0

    inv2 = await cd.request(
        "POST", "/api/v1/invites", json={"display_name": "P2", "with_code": True}
    )
    with pytest.raises(RelaisError):
        await redeem(c, inv2["token"], f"{(int(inv2['code']) + 7) % 10**6:06d}")
    listed = (await cd.request("GET", "/api/v1/invites"))["invites"]
    assert listed[0]["code_attempts_left"] == 4 and listed[0]["with_code"] is True
    res = await redeem(c, inv2["token"], inv2["code"])
    assert res["user_id"]
    async with relais.services.db.read() as conn:
        from server.db.models import Invite

        stored = (
            await conn.execute(
                select(Invite.token_hash, Invite.code_hash).where(Invite.id == inv2["invite_id"])
            )
        ).one()
    assert inv2["code"] not in stored.code_hash and inv2["token"] not in stored.token_hash
    outcomes = [r["outcome"] for r in await audit_rows(relais) if r["action"] == "invite.redeem"]
    assert outcomes[:7] == [
        "code_missing",
        "bad_code",
        "bad_code",
        "bad_code",
        "bad_code",
        "burned",
        "invalid",
    ]


async def test_a_right_code_that_cannot_redeem_costs_no_attempt(relais, clients, anon):
    """The right code whose redemption then fails (here the room got its patient through
    another invitation: `conflict`) hands its count back: only wrong codes use a link up."""
    doc = await make_user(relais, "clinician")
    cd = await clients(relais, doc, connect=False)
    room = await cd.create_room()
    coded = await cd.request(
        "POST", "/api/v1/invites", json={"display_name": "P", "room_id": room, "with_code": True}
    )
    plain = await cd.request("POST", "/api/v1/invites", json={"display_name": "Q", "room_id": room})
    await redeem(anon(relais), plain["token"])
    c = anon(relais)
    for _ in range(MAX_CODE_ATTEMPTS + 2):
        with pytest.raises(RelaisError) as err:
            await redeem(c, coded["token"], coded["code"])
        assert err.value.code == "conflict"
    (listed,) = (await cd.request("GET", "/api/v1/invites"))["invites"]
    assert listed["code_attempts_left"] == MAX_CODE_ATTEMPTS
    # Wrong codes still count, from where they were.
    with pytest.raises(RelaisError) as err:
        await redeem(c, coded["token"], f"{(int(coded['code']) + 1) % 10**6:06d}")
    assert err.value.details["attempts_left"] == MAX_CODE_ATTEMPTS - 1
    outcomes = [
        r["outcome"]
        for r in await audit_rows(relais)
        if r["action"] == "invite.redeem" and r["target"] == coded["invite_id"]
    ]
    assert outcomes == ["conflict"] * (MAX_CODE_ATTEMPTS + 2) + ["bad_code"]


async def test_concurrent_redemptions_only_one_wins(relais, clients, anon):
    doc = await make_user(relais, "clinician")
    cd = await clients(relais, doc, connect=False)
    room = await cd.create_room()
    inv = await cd.request("POST", "/api/v1/invites", json={"display_name": "P", "room_id": room})
    racers = [anon(relais) for _ in range(6)]
    results = await asyncio.gather(
        *(redeem(c, inv["token"]) for c in racers), return_exceptions=True
    )
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, RelaisError)]
    assert len(wins) == 1 and len(losses) == 5
    assert all(e.code == "invite_invalid" for e in losses)
    assert await patient_count(relais) == 1
    state = await cd.request("GET", f"/api/v1/rooms/{room}")
    assert state["patient_user_id"] == wins[0]["user_id"]
    assert sorted(m["user_id"] for m in state["members"]) == sorted(
        [doc.user_id, wins[0]["user_id"]]
    )


async def test_patient_lands_in_room_and_chats(relais, clients, anon):
    doc = await make_user(relais, "clinician")
    cd = await clients(relais, doc)
    room = await cd.create_room()
    await cd.send(room, envelope("before the patient joined"))
    inv = await cd.request(
        "POST",
        "/api/v1/invites",
        json={"display_name": "M. Leroy", "room_id": room, "with_code": True},
    )
    assert inv["room_id"] == room

    patient = anon(relais)
    res = await redeem(patient, inv["token"], inv["code"])
    assert res["room_id"] == room
    patient.use_session(res["token"], res["user_id"], res["device_id"])
    seen: list[tuple[str, Any]] = []

    def member_event_arrived() -> bool:
        while not cd.events.empty():
            seen.append(cd.events.get_nowait())
        return any(e == "room.member" and d["user_id"] == res["user_id"] for e, d in seen)

    await wait_for(member_event_arrived)

    state = await patient.request("GET", f"/api/v1/rooms/{room}")
    assert state["patient_user_id"] == res["user_id"]
    me = next(m for m in state["members"] if m["user_id"] == res["user_id"])
    assert me["room_role"] == "member" and me["role"] == "patient"
    evs = (await cd.request("GET", f"/api/v1/rooms/{room}/membership-events"))["events"]
    add = [e for e in evs if e["action"] == "add" and e["target_user_id"] == res["user_id"]]
    assert len(add) == 1 and add[0]["actor_user_id"] == doc.user_id

    await patient.connect()
    assert await patient.sync() == 1
    await patient.send(room, envelope("hello from the patient"))
    await wait_for(lambda: len(cd.inbox.messages.get(room, [])) == 1)
    assert cd.inbox.messages[room][0]["sender"]["user_id"] == res["user_id"]
    await cd.send(room, envelope("welcome"))
    await wait_for(lambda: len(patient.inbox.messages.get(room, [])) == 2)
    assert [m["seq"] for m in patient.inbox.messages[room]] == [1, 3]
    full = await patient.call("sync", {"since": {room: 0}})
    assert [m["seq"] for m in full["rooms"][0]["messages"]] == [1, 2, 3]

    # A patient cannot invite anyone, and the room now has its patient.
    with pytest.raises(RelaisError) as err:
        await patient.request("POST", "/api/v1/invites", json={"display_name": "x"})
    assert err.value.code == "forbidden"
    with pytest.raises(RelaisError) as err:
        await cd.request("POST", "/api/v1/invites", json={"display_name": "x", "room_id": room})
    assert err.value.code == "conflict"
    rows = await audit_rows(relais)
    adds = [r for r in rows if r["action"] == "room.member_add" and r["room_id"] == room]
    assert adds[-1]["target"] == res["user_id"] and adds[-1]["actor_user_id"] == doc.user_id


async def test_room_rules_and_revocation(relais, clients, anon):
    owner = await make_user(relais, "clinician")
    member = await make_user(relais, "clinician")
    outsider = await make_user(relais, "clinician")
    co = await clients(relais, owner, connect=False)
    room = await co.create_room()
    await co.add_member(room, member.user_id)
    cm = await clients(relais, member, connect=False)
    cx = await clients(relais, outsider, connect=False)
    with pytest.raises(RelaisError) as err:
        await cx.request("POST", "/api/v1/invites", json={"display_name": "x", "room_id": room})
    assert err.value.code == "not_found"
    with pytest.raises(RelaisError) as err:
        await cx.request(
            "POST", "/api/v1/invites", json={"display_name": "x", "room_id": "r_nothere"}
        )
    assert err.value.code == "not_found"
    with pytest.raises(RelaisError) as err:
        await cm.request("POST", "/api/v1/invites", json={"display_name": "x", "room_id": room})
    assert err.value.code == "forbidden"
    for role in ("caregiver", "assistant"):
        c = await clients(relais, await make_user(relais, role), connect=False)
        with pytest.raises(RelaisError) as err:
            await c.request("POST", "/api/v1/invites", json={"display_name": "x"})
        assert err.value.code == "forbidden"
    with pytest.raises(RelaisError) as err:
        await co.request("POST", "/api/v1/invites", json={"display_name": "x", "extra": 1})
    assert err.value.code == "validation_failed"

    inv = await co.request("POST", "/api/v1/invites", json={"display_name": "P", "room_id": room})
    assert [i["invite_id"] for i in (await co.request("GET", "/api/v1/invites"))["invites"]] == [
        inv["invite_id"]
    ]
    assert (await cx.request("GET", "/api/v1/invites"))["invites"] == []
    with pytest.raises(RelaisError) as err:
        await cx.request("DELETE", f"/api/v1/invites/{inv['invite_id']}")
    assert err.value.code == "not_found"
    await co.request("DELETE", f"/api/v1/invites/{inv['invite_id']}")
    with pytest.raises(RelaisError) as err:
        await co.request("DELETE", f"/api/v1/invites/{inv['invite_id']}")
    assert err.value.code == "not_found"
    with pytest.raises(RelaisError) as err:
        await redeem(anon(relais), inv["token"])
    assert err.value.code == "invite_invalid"
    actions = [r["action"] for r in await audit_rows(relais) if r["target"] == inv["invite_id"]]
    assert actions == ["invite.create", "invite.revoke", "invite.redeem"]


async def test_invite_dies_with_its_authors_rights(relais, clients, anon):
    owner = await make_user(relais, "clinician")
    successor = await make_user(relais, "clinician")
    co = await clients(relais, owner, connect=False)
    room = await co.create_room()
    await co.add_member(room, successor.user_id, room_role="owner")
    inv = await co.request("POST", "/api/v1/invites", json={"display_name": "P", "room_id": room})
    await co.request("DELETE", f"/api/v1/rooms/{room}/members/{owner.user_id}", json={})
    with pytest.raises(RelaisError) as err:
        await redeem(anon(relais), inv["token"])
    assert err.value.code == "invite_invalid"
    assert await patient_count(relais) == 0
    cs = await clients(relais, successor, connect=False)
    state = await cs.request("GET", f"/api/v1/rooms/{room}")
    assert state["patient_user_id"] is None and len(state["members"]) == 1

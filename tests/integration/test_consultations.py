"""Consultation lifecycle on a real server (SQLite and PostgreSQL): creation, patient links,
the waiting room, leaving and ending, assisted sessions, the record, and guest confinement."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from sqlalchemy import update

from server.auth.invites import MAX_CODE_ATTEMPTS
from server.consultations.service import ConsultationService
from server.consultations.store import ENDED, OPEN
from server.db.models import Consultation
from server.errors import ApiError
from tests.integration.security_world import World
from tests.integration.test_authz_matrix import EVENT_TABLE, REST, A, Req

C = "/api/v1/consultations"


@dataclass
class Listener:
    left: list[tuple[str, str]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def participant_left(self, consultation_id: str, participant_id: str) -> None:
        self.left.append((consultation_id, participant_id))
        self.changed.set()

    async def wait_left(self, item: tuple[str, str]) -> None:
        async def wait() -> None:
            while item not in self.left:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), 10)

    async def consultation_ended(self, consultation_id: str) -> None:
        self.ended.append(consultation_id)


class Sock:
    """A socket.io client that keeps every server event it receives, in order."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()

        @self.sio.on("*")  # type: ignore[untyped-decorator]
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            self._arrived.set()

    async def connect(self, url: str, token: str) -> Sock:
        await self.sio.connect(
            url, auth={"token": token}, transports=["websocket"], wait_timeout=10
        )
        return self

    async def call(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, timeout=10)

    async def next(self, event: str, where: Any = None, **match: Any) -> Any:
        """The first received `event` whose data has the given fields and satisfies `where`
        (waits for it)."""

        def find() -> Any:
            for name, data in self.events:
                if (
                    name == event
                    and all(data.get(k) == v for k, v in match.items())
                    and (where is None or where(data))
                ):
                    return data
            return None

        async def wait() -> Any:
            while (found := find()) is None:
                self._arrived.clear()
                await self._arrived.wait()
            return found

        return await asyncio.wait_for(wait(), 10)

    def clear(self) -> None:
        self.events.clear()

    async def close(self) -> None:
        await self.sio.disconnect()


def consultations(w: World) -> ConsultationService:
    found = w.svc.parts.consultations
    assert isinstance(found, ConsultationService)
    return found


async def sock(w: World, token: str, opened: list[Sock]) -> Sock:
    s = await Sock().connect(w.running.url, token)
    opened.append(s)
    return s


async def create(w: World, actor: str = "owner", **body: Any) -> dict[str, Any]:
    res = await w.rest("POST", C, token=w.actors[actor].token, json_body=body)
    assert res.status == 201, res.body
    return dict(res.body)


async def link(w: World, cid: str, *, with_code: bool = False) -> dict[str, Any]:
    res = await w.rest(
        "POST",
        f"{C}/{cid}/links",
        token=w.actors["owner"].token,
        json_body={"display_name": "Mme Patiente", "with_code": with_code},
    )
    assert res.status == 201, res.body
    return dict(res.body)


async def redeem(w: World, token: str, code: str | None = None) -> Any:
    body: dict[str, Any] = {"token": token}
    if code is not None:
        body["code"] = code
    return await w.rest("POST", f"{C}/redeem", json_body=body)


def err(res: Any) -> str:
    return str(res.body["error"]["code"])


async def audit_since(w: World, before: int, action: str) -> list[dict[str, Any]]:
    return [r for r in await w.audit_tail(before) if r["action"] == action]


async def test_create_from_room_and_standalone(world: World) -> None:
    w = world
    before = await w.audit_last_id()
    made = await create(w, room_id=w.room)
    assert made["room_id"] == w.room and made["chat_room_id"] and made["status"] == "open"
    rec = await w.rest("GET", f"{C}/{made['consultation_id']}/record", token=w.token("owner"))
    assert rec.status == 200 and rec.body["room_id"] == w.room
    assert [p["role"] for p in rec.body["participants"]] == ["host"]
    (row,) = await audit_since(w, before, "consult.create")
    assert row["room_id"] == w.room and row["actor_user_id"] == w.actors["owner"].user_id

    mine = await w.rest("GET", C, token=w.token("owner"))
    item = next(
        c for c in mine.body["consultations"] if c["consultation_id"] == made["consultation_id"]
    )
    assert item["room_id"] == w.room  # the host's queue says which care room each came from

    standalone = await create(w, actor="clinician")
    assert standalone["room_id"] is None
    # a clinician outside the care room cannot open a consultation from it; other roles never
    res = await w.rest("POST", C, token=w.token("clinician"), json_body={"room_id": w.room})
    assert res.status == 404 and err(res) == "not_found"
    res = await w.rest("POST", C, token=w.token("assistant"), json_body={})
    assert res.status == 403 and err(res) == "forbidden"
    # the host owns the chat room; nobody else is in it yet
    chat = await w.rest("GET", f"{A}/rooms/{made['chat_room_id']}", token=w.token("owner"))
    assert [m["user_id"] for m in chat.body["members"]] == [w.actors["owner"].user_id]


async def test_patient_link_single_use_code_and_attempts(world: World) -> None:
    w = world
    cid = (await create(w, room_id=w.room))["consultation_id"]
    inv = await link(w, cid, with_code=True)
    assert inv["url"].endswith(inv["token"]) and len(inv["code"]) == 6
    res = await redeem(w, inv["token"])
    assert res.status == 401 and res.body["error"]["details"]["code_required"] is True
    wrong = "000000" if inv["code"] != "000000" else "111111"
    res = await redeem(w, inv["token"], wrong)
    assert err(res) == "invalid_credentials" and res.body["error"]["details"]["attempts_left"] == 4
    ok = await redeem(w, inv["token"], inv["code"])
    assert ok.status == 200, ok.body
    assert ok.body["consultation_id"] == cid and ok.body["participant_id"].startswith("cp_")
    again = await redeem(w, inv["token"], inv["code"])
    assert again.status == 410 and err(again) == "invite_invalid"
    # the guest session works, for this consultation only
    guest = ok.body["token"]
    state = await w.rest("GET", f"{C}/{cid}", token=guest)
    assert state.status == 200 and state.body["me"]["state"] == "invited"
    assert state.body["room_id"] is None and state.body["chat_room_id"] is None
    other = await create(w)
    res = await w.rest("GET", f"{C}/{other['consultation_id']}", token=guest)
    assert res.status == 404
    # five wrong codes burn a link: the right code no longer works
    burn = await link(w, cid, with_code=True)
    for left in (4, 3, 2, 1, 0):
        res = await redeem(w, burn["token"], wrong if burn["code"] != wrong else "222222")
        assert res.body["error"]["details"]["attempts_left"] == left
    res = await redeem(w, burn["token"], burn["code"])
    assert err(res) == "invite_invalid"
    # a link without a code, after the consultation ended: refused
    late = await link(w, cid)
    s = await Sock().connect(w.running.url, w.actors["owner"].token)
    try:
        assert (await s.call("consult.join", {"consultation_id": cid}))["state"] == "admitted"
        assert "error" not in await s.call("consult.end", {"consultation_id": cid})
    finally:
        await s.close()
    assert err(await redeem(w, late["token"])) == "invite_invalid"


async def test_a_right_code_that_cannot_redeem_costs_no_attempt(world: World) -> None:
    """The right code whose redemption then fails (the consultation is not open when the link
    is redeemed) hands its count back: once open again, the same code still works."""
    w = world
    cid = (await create(w, room_id=w.room))["consultation_id"]
    inv = await link(w, cid, with_code=True)

    async def set_status(status: str) -> None:
        async with w.svc.db.write() as conn:
            await conn.execute(
                update(Consultation).where(Consultation.id == cid).values(status=status)
            )

    await set_status(ENDED)  # as if `consult.end` ran between the link check and the redemption
    for _ in range(MAX_CODE_ATTEMPTS + 2):
        res = await redeem(w, inv["token"], inv["code"])
        assert res.status == 410 and err(res) == "invite_invalid", res.body
    await set_status(OPEN)
    wrong = "000000" if inv["code"] != "000000" else "111111"
    res = await redeem(w, inv["token"], wrong)
    assert res.body["error"]["details"]["attempts_left"] == MAX_CODE_ATTEMPTS - 1
    ok = await redeem(w, inv["token"], inv["code"])
    assert ok.status == 200, ok.body


async def test_waiting_room_admit_deny_leave_and_disconnect(world: World) -> None:
    w = world
    svc = consultations(w)
    listener = Listener()
    svc.listeners.append(listener)
    opened: list[Sock] = []
    try:
        made = await create(w, room_id=w.room)
        cid, chat = made["consultation_id"], made["chat_room_id"]
        host = await sock(w, w.actors["owner"].token, opened)
        joined = await host.call("consult.join", {"consultation_id": cid})
        assert joined["state"] == "admitted" and joined["chat_room_id"] == chat
        # an existing user invited as observer is told, and waits once joined
        member = w.actors["member"]
        obs = await sock(w, member.token, opened)
        inv = await w.rest(
            "POST",
            f"{C}/{cid}/participants",
            token=w.token("owner"),
            json_body={"user_id": member.user_id, "role": "observer"},
        )
        assert inv.status == 201, inv.body
        obs_pid = inv.body["participant_id"]
        await obs.next("consult.invited", consultation_id=cid, participant_id=obs_pid)
        # a colleague joins as a clinician (the remote specialist); only a clinician account may
        specialist = await w.rest(
            "POST",
            f"{C}/{cid}/participants",
            token=w.token("owner"),
            json_body={"user_id": w.actors["clinician"].user_id, "role": "clinician"},
        )
        assert specialist.status == 201 and specialist.body["role"] == "clinician", specialist.body
        not_one = await w.rest(
            "POST",
            f"{C}/{cid}/participants",
            token=w.token("owner"),
            json_body={"user_id": w.actors["patient"].user_id, "role": "clinician"},
        )
        assert not_one.status == 422 and err(not_one) == "validation_failed", not_one.body
        # the patient by link
        ok = await redeem(w, (await link(w, cid))["token"])
        guest_token, guest_pid = ok.body["token"], ok.body["participant_id"]
        guest = await sock(w, guest_token, opened)
        waiting = await guest.call("consult.join", {"consultation_id": cid})
        assert waiting["state"] == "waiting" and waiting["chat_room_id"] is None
        queue = await host.next("consult.waiting", lambda d: d["waiting"], consultation_id=cid)
        assert [p["participant_id"] for p in queue["waiting"]] == [guest_pid]
        # not admitted: the media side refuses, with its own code
        guest_principal = await w.svc.sessions.resolve(guest_token)
        try:
            await svc.require_admitted(guest_principal, cid)
            raise AssertionError("a waiting guest passed require_admitted")
        except ApiError as exc:
            assert exc.code == "not_admitted"
        # only the host admits
        denied = await guest.call(
            "consult.admit", {"consultation_id": cid, "participant_id": guest_pid}
        )
        assert denied["error"]["code"] == "forbidden"
        host.clear()
        assert "error" not in await host.call(
            "consult.admit", {"consultation_id": cid, "participant_id": guest_pid}
        )
        state = await guest.next("consult.state", participant_id=guest_pid, state="admitted")
        assert state["chat_room_id"] == chat
        roster = await host.next(
            "consult.participants",
            lambda d: guest_pid in {p["participant_id"] for p in d["participants"]},
            consultation_id=cid,
        )
        assert roster["participants"][0]["role"] == "host"
        assert (await svc.require_admitted(guest_principal, cid)).role == "patient"
        # the admitted guest is in the chat room, and in no other room
        rooms = await w.rest("GET", f"{A}/rooms", token=guest_token)
        assert [r["room_id"] for r in rooms.body["rooms"]] == [chat]
        present = {p.id for p in await svc.participants(cid)}
        assert guest_pid in present
        # the observer joins, waits, is admitted; then loses its connection: still admitted
        assert (await obs.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
        await host.call("consult.admit", {"consultation_id": cid, "participant_id": obs_pid})
        await obs.next("consult.state", participant_id=obs_pid, state="admitted")
        await obs.close()
        opened.remove(obs)
        for _ in range(200):  # the disconnect is processed asynchronously
            if obs_pid not in {p.id for p in await svc.participants(cid)}:
                break
            await asyncio.sleep(0.05)
        assert obs_pid not in {p.id for p in await svc.participants(cid)}
        # ... but a lost connection is not a departure: media legs are not torn down for it
        # (the dead-link detector and a fresh offer on reconnect handle the media).
        assert (cid, obs_pid) not in listener.left
        obs = await sock(w, member.token, opened)
        back = await obs.call("consult.join", {"consultation_id": cid})
        assert back["state"] == "admitted"  # no second admission
        assert obs_pid in {p.id for p in await svc.participants(cid)}
        # the guest leaves: left, out of the chat room; coming back means waiting again
        assert (await guest.call("consult.leave", {"consultation_id": cid}))["state"] == "left"
        assert (cid, guest_pid) in listener.left
        rooms = await w.rest("GET", f"{A}/rooms", token=guest_token)
        assert rooms.body["rooms"] == []
        assert (await guest.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
        # refused: the guest's access ends with it
        assert "error" not in await host.call(
            "consult.deny", {"consultation_id": cid, "participant_id": guest_pid}
        )
        me = await w.rest("GET", f"{A}/me", token=guest_token)
        assert me.status == 401
        # deny after admit tells the media side
        listener.left.clear()
        await host.call("consult.deny", {"consultation_id": cid, "participant_id": obs_pid})
        assert (cid, obs_pid) in listener.left
        again = await obs.call("consult.join", {"consultation_id": cid})
        assert again["error"]["code"] == "not_admitted"
    finally:
        svc.listeners.remove(listener)
        for s in opened:
            await s.close()


async def test_end_revokes_guests_and_tells_everyone(world: World) -> None:
    w = world
    svc = consultations(w)
    listener = Listener()
    svc.listeners.append(listener)
    opened: list[Sock] = []
    try:
        made = await create(w)
        cid = made["consultation_id"]
        host = await sock(w, w.actors["owner"].token, opened)
        await host.call("consult.join", {"consultation_id": cid})
        ok = await redeem(w, (await link(w, cid))["token"])
        guest = await sock(w, ok.body["token"], opened)
        await guest.call("consult.join", {"consultation_id": cid})
        await host.call(
            "consult.admit", {"consultation_id": cid, "participant_id": ok.body["participant_id"]}
        )
        unused = await link(w, cid)
        ended = await host.call("consult.end", {"consultation_id": cid})
        assert ended["status"] == "ended"
        await guest.next("consult.ended", consultation_id=cid)
        await host.next("consult.ended", consultation_id=cid)
        assert listener.ended == [cid]
        assert (await w.rest("GET", f"{A}/me", token=ok.body["token"])).status == 401
        assert err(await redeem(w, unused["token"])) == "invite_invalid"
        res = await host.call("consult.join", {"consultation_id": cid})
        assert res["error"]["code"] == "consultation_ended"
        try:
            await svc.require_admitted(w.actors["owner"].principal, cid)
            raise AssertionError("an ended consultation passed require_admitted")
        except ApiError as exc:
            assert exc.code == "consultation_ended"
        rec = await w.rest("GET", f"{C}/{cid}/record", token=w.token("owner"))
        kinds = [e["kind"] for e in rec.body["events"]]
        assert kinds[0] == "create" and kinds[-1] == "end"
        assert all(p["state"] in ("left", "denied", "invited") for p in rec.body["participants"])
    finally:
        svc.listeners.remove(listener)
        for s in opened:
            await s.close()


async def test_assisted_consultation(world: World) -> None:
    w = world
    opened: list[Sock] = []
    try:
        host_sock = await sock(w, w.actors["owner"].token, opened)
        body: dict[str, Any] = {
            "host_user_id": w.actors["owner"].user_id,
            "patient": {
                "full_name": "Jeanne Martin",
                "birth_date": "1948-03-02",
                "method": "health_card",
                "detail": "carte Vitale",
            },
            "consent": {"text_version": "teleconsult-fr-v3", "method": "verbal"},
        }
        before = await w.audit_last_id()
        res = await w.rest("POST", f"{C}/assisted", token=w.token("assistant"), json_body=body)
        assert res.status == 201, res.body
        made = res.body
        cid, patient_pid = made["consultation_id"], made["patient_participant_id"]
        queued = await host_sock.next("consult.invited", consultation_id=cid)
        assert queued["assisted_by"]["user_id"] == w.actors["assistant"].user_id
        mine = await w.rest("GET", C, token=w.token("owner"))
        item = next(c for c in mine.body["consultations"] if c["consultation_id"] == cid)
        assert (
            item["assisted"]
            and item["assisted_by"]["participant_id"] == made["assistant_participant_id"]
        )
        # the assistant joins the queue; the patient they represent follows them
        helper = await sock(w, w.actors["assistant"].token, opened)
        await host_sock.call("consult.join", {"consultation_id": cid})
        assert (await helper.call("consult.join", {"consultation_id": cid}))["state"] == "waiting"
        queue = await host_sock.next("consult.waiting", lambda d: d["waiting"], consultation_id=cid)
        assert {p["participant_id"] for p in queue["waiting"]} == {
            made["assistant_participant_id"],
            patient_pid,
        }
        await host_sock.call(
            "consult.admit",
            {"consultation_id": cid, "participant_id": made["assistant_participant_id"]},
        )
        await helper.next("consult.state", state="admitted")
        await helper.call("consult.leave", {"consultation_id": cid})
        # every action of the assistant for the patient is audited on the patient's behalf
        rows = await w.audit_tail(before)
        behalf = {
            r["action"]
            for r in rows
            if r["on_behalf_of"] == patient_pid
            and r["actor_user_id"] == w.actors["assistant"].user_id
        }
        assert behalf == {
            "consult.create",
            "consult.identity_check",
            "consult.consent",
            "consult.join",
            "consult.leave",
        }
        # the identity check is patient data: the host reads it, admins get the record without it
        rec = await w.rest("GET", f"{C}/{cid}/record", token=w.token("owner"))
        (ident,) = rec.body["identity_checks"]
        assert ident["full_name"] == "Jeanne Martin" and ident["birth_date"] == "1948-03-02"
        (consent,) = rec.body["consents"]
        assert consent["text_version"] == "teleconsult-fr-v3"
        assert consent["recorded_by"] == w.actors["assistant"].user_id
        assert consent["consented_at"] > 0
        admin = await w.rest("GET", f"{C}/{cid}/record", token=w.token("admin"))
        assert admin.status == 200 and admin.body["identity_checks"] is None
        assert "Jeanne" not in str(admin.body)
        own = await w.rest("GET", f"{C}/{cid}/record", token=w.token("assistant"))
        assert own.status == 403
        # bad input
        bad = {**body, "patient": {**body["patient"], "birth_date": "2999-01-01"}}
        res = await w.rest("POST", f"{C}/assisted", token=w.token("assistant"), json_body=bad)
        assert res.status == 422
        nohost = {**body, "host_user_id": w.actors["caregiver"].user_id}
        res = await w.rest("POST", f"{C}/assisted", token=w.token("assistant"), json_body=nohost)
        assert res.status == 404
    finally:
        for s in opened:
            await s.close()


async def test_record_contents_and_audited_access(world: World) -> None:
    w = world
    svc = consultations(w)
    made = await create(w, room_id=w.room)
    cid, host_pid = made["consultation_id"], made["host_participant_id"]
    await svc.record_mode_change(
        cid,
        host_pid,
        "audio-only",
        "loss",
        {"loss": 0.12, "bitrate_kbps": 48.0},
        previous="video-high",
    )
    await svc.record_leg_event(cid, host_pid, "ice_restart", {"cause": "network_change"})
    bad_entries: list[Callable[[], Awaitable[None]]] = [
        lambda: svc.record_mode_change(cid, host_pid, "smoke-signals", "x", {}),
        lambda: svc.record_mode_change(cid, host_pid, "video-low", "x", {}, previous="fog"),
        lambda: svc.record_mode_change(cid, host_pid, "video-low", "x", {"a": float("nan")}),
        lambda: svc.record_leg_event(cid, host_pid, "x", {"blob": "y" * 5000}),
    ]
    for bad in bad_entries:
        try:
            await bad()
            raise AssertionError("accepted a bad record entry")
        except ApiError as exc:
            assert exc.code == "validation_failed"
    try:
        await svc.record_mode_change(cid, "cp_unknown", "video-low", "x", {})
        raise AssertionError("recorded for an unknown participant")
    except ApiError as exc:
        assert exc.code == "not_found"
    before = await w.audit_last_id()
    rec = await w.rest("GET", f"{C}/{cid}/record", token=w.token("owner"))
    modes = [e for e in rec.body["events"] if e["kind"] == "mode"]
    assert modes == [
        {
            "ts": modes[0]["ts"],
            "kind": "mode",
            "participant_id": host_pid,
            "actor_user_id": None,
            "detail": {
                "mode": "audio-only",
                "previous": "video-high",
                "reason": "loss",
                "measured": {"loss": 0.12, "bitrate_kbps": 48.0},
            },
        }
    ]
    legs = [e for e in rec.body["events"] if e["kind"] == "leg"]
    assert legs[0]["detail"] == {"kind": "ice_restart", "detail": {"cause": "network_change"}}
    (read,) = await audit_since(w, before, "consult.record_read")
    assert read["room_id"] == w.room and read["actor_user_id"] == w.actors["owner"].user_id
    # a stranger: not found, and the refusal is audited
    before = await w.audit_last_id()
    res = await w.rest("GET", f"{C}/{cid}/record", token=w.token("clinician"))
    assert res.status == 404
    (denied,) = await audit_since(w, before, "access.denied")
    assert cid in (denied["detail"] or "") and denied["outcome"] == "not_found"


async def test_guest_cannot_touch_care_rooms(world: World) -> None:
    """Every room-scoped route and event of the authorisation matrix, called with a guest's
    token, answers exactly as for a room that does not exist; care-team routes refuse."""
    w = world
    made = await create(w, room_id=w.room)
    ok = await redeem(w, (await link(w, made["consultation_id"]))["token"])
    guest = ok.body["token"]
    problems: list[str] = []
    for (method, _, variant), cell in REST.items():
        if not cell.leak_probe or cell.expect["patient"] != "not_found":
            continue
        req: Req = await cell.build(w, "patient")
        res = await w.rest(
            method,
            req.path,
            token=guest,
            json_body=req.json_body,
            data=req.data,
            headers=req.headers,
        )
        if res.status != 404:
            problems.append(f"{method} {req.path} [{variant}]: {res.status} {res.body!r}")
    for path, body in (
        (f"{A}/rooms", {}),
        (f"{A}/invites", {"display_name": "x"}),
        (C, {}),
    ):
        res = await w.rest("POST", path, token=guest, json_body=body)
        if res.status != 403:
            problems.append(f"POST {path}: {res.status}")
    s = await Sock().connect(w.running.url, guest)
    try:
        for name, ecell in EVENT_TABLE.items():
            if not ecell.leak_probe or ecell.expect["patient"] != "not_found":
                continue
            payload = ecell.build(w, "patient")
            if asyncio.iscoroutine(payload):
                payload = await payload
            ack = await s.call(name, payload)
            if (ack.get("error") or {}).get("code") != "not_found":
                problems.append(f"event {name}: {ack!r}")
        synced = await s.call("sync", {"since": {}})
        assert [r["room_id"] for r in synced["rooms"]] == []
    finally:
        await s.close()
    assert not problems, problems


async def test_a_patient_consents_on_their_own_device(world: World) -> None:
    """The join page's consent, over the raw wire: recorded once per text version with method
    `self`, audited, in the record; a stranger, a bad body and an ended consultation are refused."""
    w = world
    opened: list[Sock] = []
    try:
        cid = (await create(w))["consultation_id"]
        guest = (await redeem(w, (await link(w, cid))["token"])).body
        path = f"{C}/{cid}/consent"
        before = await w.audit_last_id()
        first = await w.rest("POST", path, token=guest["token"], json_body={"text_version": "v1"})
        assert first.status == 201, first.body
        again = await w.rest("POST", path, token=guest["token"], json_body={"text_version": "v1"})
        assert again.status == 200 and again.body["consent_id"] == first.body["consent_id"]
        (audited,) = await audit_since(w, before, "consult.consent")
        assert audited["actor_user_id"] == guest["user_id"] and audited["outcome"] == "ok"

        for body in ({}, {"text_version": ""}, {"text_version": "x" * 61}, {"text_version": 3}):
            res = await w.rest("POST", path, token=guest["token"], json_body=body)
            assert res.status == 422 and err(res) == "validation_failed", (body, res.body)
        stranger = await w.rest(
            "POST", path, token=w.token("clinician"), json_body={"text_version": "v1"}
        )
        assert stranger.status == 404 and err(stranger) == "not_found"

        rec = await w.rest("GET", f"{C}/{cid}/record", token=w.token("owner"))
        (consent,) = rec.body["consents"]
        assert consent["method"] == "self" and consent["text_version"] == "v1"
        assert consent["participant_id"] == guest["participant_id"]
        assert [e["kind"] for e in rec.body["events"]].count("consent") == 1

        host = await sock(w, w.actors["owner"].token, opened)
        await host.call("consult.join", {"consultation_id": cid})
        await host.call("consult.end", {"consultation_id": cid})
        other = await w.rest("POST", path, token=w.token("owner"), json_body={"text_version": "v2"})
        assert other.status == 410 and err(other) == "consultation_ended", other.body
    finally:
        for s in opened:
            await s.close()

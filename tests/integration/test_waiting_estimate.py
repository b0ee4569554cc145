"""The waiting room's estimate (`consult.wait`, server/consultations/waiting.py) over the raw
socket.io wire: no figure before the host has come, "any moment" once the host is there and free,
the remainder of the consultation in progress when the host is busy with someone else, one
typical length more per person waiting longer in the host's other consultations, and the
typical length taken from the host's own past consultations. Counts only: a patient learns
nothing about the others. Refusals are audited like every consultation read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from server.consultations.waiting import DEFAULT_TYPICAL_S, MIN_REMAINING_S
from server.db.models import Consultation, ConsultationParticipant
from tests.integration.security_world import World
from tests.integration.test_consultations import Sock, create, link, redeem, sock

FIELDS = {"consultation_id", "state", "host_present", "host_busy", "ahead", "estimate_s"}


async def waiting_patient(w: World, cid: str, opened: list[Sock]) -> tuple[Sock, str]:
    ok = await redeem(w, (await link(w, cid))["token"])
    assert ok.status == 200, ok.body
    s = await sock(w, ok.body["token"], opened)
    joined = await s.call("consult.join", {"consultation_id": cid})
    assert joined["state"] == "waiting", joined
    return s, str(ok.body["participant_id"])


async def wait(s: Sock, cid: str) -> dict[str, Any]:
    found = await s.call("consult.wait", {"consultation_id": cid})
    assert "error" not in found, found
    assert set(found) == FIELDS, found  # nothing about anyone else
    return dict(found)


async def past_consultations(w: World, host: Sock, minutes: list[int]) -> None:
    """Consultations of the host that ended, each `minutes` long from the admission to the end."""
    opened: list[Sock] = []
    try:
        for length in minutes:
            cid = (await create(w))["consultation_id"]
            await host.call("consult.join", {"consultation_id": cid})
            _, pid = await waiting_patient(w, cid, opened)
            admitted = await host.call(
                "consult.admit", {"consultation_id": cid, "participant_id": pid}
            )
            assert "error" not in admitted, admitted
            ended = await host.call("consult.end", {"consultation_id": cid})
            assert "error" not in ended, ended
            async with w.svc.db.write() as conn:
                end_at = ended["ended_at"]
                await conn.execute(
                    update(ConsultationParticipant)
                    .where(ConsultationParticipant.id == pid)
                    .values(admitted_at=end_at - length * 60_000)
                )
    finally:
        for s in opened:
            await s.close()


async def test_the_estimate_follows_the_hosts_queue(world: World) -> None:
    w = world
    opened: list[Sock] = []
    try:
        host = await sock(w, w.actors["owner"].token, opened)
        a = (await create(w, room_id=w.room))["consultation_id"]
        p1, p1_id = await waiting_patient(w, a, opened)

        # The host has not opened the consultation: no figure.
        first = await wait(p1, a)
        assert first == {
            "consultation_id": a,
            "state": "waiting",
            "host_present": False,
            "host_busy": False,
            "ahead": 0,
            "estimate_s": None,
        }, first

        # The host is there and with nobody: any moment now. The page is nudged to ask again.
        await host.call("consult.join", {"consultation_id": a})
        assert await p1.next("consult.wait_changed", consultation_id=a) == {"consultation_id": a}
        assert (await wait(p1, a)) | {"consultation_id": a} == {
            **first,
            "host_present": True,
            "estimate_s": 0,
        }

        # The host takes P1; P2 (consultation b) waits for the rest of it, P3 (c) also for P2.
        admitted = await host.call("consult.admit", {"consultation_id": a, "participant_id": p1_id})
        assert "error" not in admitted, admitted
        b = (await create(w))["consultation_id"]
        p2, _ = await waiting_patient(w, b, opened)
        c = (await create(w))["consultation_id"]
        p3, _ = await waiting_patient(w, c, opened)
        second = await wait(p2, b)
        assert second["host_busy"] and not second["host_present"] and second["ahead"] == 0
        assert DEFAULT_TYPICAL_S - 30 <= second["estimate_s"] <= DEFAULT_TYPICAL_S, second
        third = await wait(p3, c)
        assert third["ahead"] == 1, third
        # (the two asks may fall on either side of a second of the elapsed time)
        assert abs(third["estimate_s"] - second["estimate_s"] - DEFAULT_TYPICAL_S) <= 1, third

        # A consultation in progress longer than typical still counts a minute.
        async with w.svc.db.write() as conn:
            await conn.execute(
                update(ConsultationParticipant)
                .where(ConsultationParticipant.id == p1_id)
                .values(admitted_at=ConsultationParticipant.admitted_at - 3_600_000)
            )
        late = await wait(p2, b)
        assert late["estimate_s"] == MIN_REMAINING_S, late

        # What the host does in one consultation nudges those waiting in the others.
        p3.clear()
        await host.call("consult.join", {"consultation_id": b})
        await p3.next("consult.wait_changed", consultation_id=c)

        # Admitted: no estimate any more.
        assert (await wait(p1, a))["estimate_s"] is None
    finally:
        for s in opened:
            await s.close()


async def test_the_typical_length_is_the_hosts_own(world: World) -> None:
    w = world
    opened: list[Sock] = []
    try:
        host = await sock(w, w.actors["owner"].token, opened)
        await past_consultations(w, host, [12, 20, 15])
        a = (await create(w))["consultation_id"]
        await host.call("consult.join", {"consultation_id": a})
        _, p1_id = await waiting_patient(w, a, opened)
        await host.call("consult.admit", {"consultation_id": a, "participant_id": p1_id})
        b = (await create(w))["consultation_id"]
        p2, _ = await waiting_patient(w, b, opened)
        c = (await create(w))["consultation_id"]
        p3, _ = await waiting_patient(w, c, opened)
        second, third = await wait(p2, b), await wait(p3, c)
        # The median of 12, 15 and 20 minutes.
        assert 15 * 60 - 30 <= second["estimate_s"] <= 15 * 60, second
        assert abs(third["estimate_s"] - second["estimate_s"] - 15 * 60) <= 1, third
        # Another clinician's history does not count for this host.
        async with w.svc.db.read() as conn:
            rows = (
                await conn.execute(
                    Consultation.__table__.select().where(Consultation.ended_at.is_not(None))
                )
            ).all()
        assert len(rows) == 3 and {r.host_user_id for r in rows} == {w.actors["owner"].user_id}
    finally:
        for s in opened:
            await s.close()


async def test_refusals_over_the_wire(world: World) -> None:
    w = world
    opened: list[Sock] = []
    try:
        a = (await create(w, room_id=w.room))["consultation_id"]
        mark = await w.audit_last_id()
        outsider = await sock(w, w.actors["member"].token, opened)
        refused = await outsider.call("consult.wait", {"consultation_id": a})
        assert refused["error"]["code"] == "not_found", refused
        for bad in ({}, {"consultation_id": 5}, {"consultation_id": a, "extra": 1}, "x"):
            answer = await outsider.call("consult.wait", bad)
            assert answer["error"]["code"] == "validation_failed", (bad, answer)
        p1, _ = await waiting_patient(w, a, opened)
        await wait(p1, a)
        actions = [r["action"] for r in await w.audit_tail(mark)]
        assert "consult.wait_read" in actions and "access.denied" in actions, actions
        # The connection survived every refusal.
        assert (await outsider.call("consult.wait", {"consultation_id": a}))["error"]
    finally:
        for s in opened:
            await s.close()

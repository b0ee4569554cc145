"""Key directory and encrypted key backup over a real server (SQLite and PostgreSQL).

Everything here is opaque to the server, so the tests check what it does own: who may read
what, the version discipline of the backup, the notifications, revocation, the limits, and that
the audit log records every call without its content.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from client import RelaisClient, RelaisError
from server.db.models import AuditEvent, Device, KeyBackupEntry, Session
from tests.conftest import Running, UserHandle, make_user, wait_for

A = "/api/v1"
IK1 = "A" * 42 + "E"
IK2 = "B" * 42 + "Q"
GHOST_USER = "u_" + "0" * 16
GHOST_DEVICE = "d_" + "0" * 16


async def _error(coro: Any) -> RelaisError:
    with pytest.raises(RelaisError) as info:
        await coro
    return info.value


async def _publish(c: RelaisClient, ik: str = IK1, device_list: str | None = None) -> Any:
    return await c.request(
        "PUT",
        f"{A}/keys/device-list",
        json={"identity_key": ik, "signed_device_list": device_list or f"list-of-{c.user_id}"},
    )


async def _publish_device(c: RelaisClient, keys: str | None = None) -> Any:
    return await c.request(
        "PUT", f"{A}/keys/device", json={"public_keys": keys or f"bundle-of-{c.device_id}"}
    )


async def _query(c: RelaisClient, *user_ids: str) -> dict[str, Any]:
    res: dict[str, Any] = await c.request(
        "POST", f"{A}/keys/query", json={"user_ids": list(user_ids)}
    )
    return res


async def _audit(relais: Running, user_id: str, prefix: str = "") -> list[dict[str, Any]]:
    async with relais.services.db.read() as conn:
        rows = await conn.execute(
            select(AuditEvent.__table__)
            .where(AuditEvent.actor_user_id == user_id, AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
        return [dict(r._mapping) for r in rows]


async def _next_event(c: RelaisClient, name: str, timeout: float = 10) -> Any:
    """The next event called `name` on this client's socket (other events are skipped)."""
    while True:
        event, data = await asyncio.wait_for(c.events.get(), timeout)
        if event == name:
            return data


async def _care_team(
    relais: Running, clients: Any
) -> tuple[UserHandle, UserHandle, RelaisClient, str]:
    doc = await make_user(relais, "clinician")
    pat = await make_user(relais, "patient")
    c_doc = await clients(relais, doc, connect=False)
    room = await c_doc.create_room(patient_user_id=pat.user_id)
    return doc, pat, c_doc, room


# -- directory ------------------------------------------------------------------------------


async def test_publish_and_query_visibility(relais: Running, clients: Any) -> None:
    doc, pat, c_doc, _room = await _care_team(relais, clients)
    c_doc2 = await clients(relais, doc, connect=False)
    c_doc3 = await clients(relais, doc, connect=False)  # never publishes device keys
    c_pat = await clients(relais, pat, connect=False)
    stranger = await make_user(relais, "patient")
    c_stranger = await clients(relais, stranger, connect=False)
    c_cg = await clients(relais, await make_user(relais, "caregiver"), connect=False)
    c_asst = await clients(relais, await make_user(relais, "assistant"), connect=False)

    assert await _publish(c_doc, IK1, "doc-list") == {
        "user_id": doc.user_id,
        "changed": True,
        "identity_reset": False,
    }
    for c in (c_doc, c_doc2):
        assert await _publish_device(c) == {"device_id": c.device_id, "changed": True}
    await _publish(c_pat, IK2, "pat-list")
    await _publish(c_stranger, IK1, "stranger-list")

    # A patient sees their care team and themselves; the stranger and a ghost are absent.
    seen = await _query(c_pat, doc.user_id, pat.user_id, stranger.user_id, GHOST_USER)
    assert set(seen["users"]) == {doc.user_id, pat.user_id}
    assert seen["users"][doc.user_id] == {
        "user_id": doc.user_id,
        "identity_key": IK1,
        "signed_device_list": "doc-list",
        "devices": [
            {"device_id": c.device_id, "public_keys": f"bundle-of-{c.device_id}"}
            for c in sorted((c_doc, c_doc2), key=lambda c: str(c.device_id).encode())
        ],
    }
    assert c_doc3.device_id not in json.dumps(seen)
    assert seen["users"][pat.user_id]["devices"] == []

    # Someone the caller may not see and someone who does not exist: the very same answer.
    assert await _query(c_pat, stranger.user_id) == {"users": {}}
    assert await _query(c_pat, GHOST_USER) == {"users": {}}
    assert await _query(c_cg, doc.user_id) == {"users": {}}

    # Yourself, before publishing anything: present, with nulls.
    assert await _query(c_cg, str(c_cg.user_id)) == {
        "users": {
            c_cg.user_id: {
                "user_id": c_cg.user_id,
                "identity_key": None,
                "signed_device_list": None,
                "devices": [],
            }
        }
    }

    # Roles that add members see anyone who exists.
    assert set((await _query(c_asst, stranger.user_id, GHOST_USER))["users"]) == {stranger.user_id}
    assert set((await _query(c_doc, stranger.user_id))["users"]) == {stranger.user_id}

    # Audited once per call, with counts and never the ids asked for.
    rows = await _audit(relais, str(c_pat.user_id), "keys.query")
    assert json.loads(rows[0]["detail"]) == {"requested": 4, "returned": 2}
    assert all(stranger.user_id not in (r["detail"] or "") for r in rows)


async def test_identity_reset_is_accepted_and_audited(relais: Running, clients: Any) -> None:
    user = await make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)

    first = await _publish(c, IK1, "list-1")
    again = await _publish(c, IK1, "list-1")
    new_list = await _publish(c, IK1, "list-2")
    reset = await _publish(c, IK2, "list-3")
    assert (first["changed"], first["identity_reset"]) == (True, False)
    assert (again["changed"], again["identity_reset"]) == (False, False)
    assert (new_list["changed"], new_list["identity_reset"]) == (True, False)
    assert (reset["changed"], reset["identity_reset"]) == (True, True)
    assert (await _query(c, user.user_id))["users"][user.user_id]["identity_key"] == IK2

    rows = [r for r in await _audit(relais, user.user_id, "keys.") if r["action"] != "keys.query"]
    assert [r["action"] for r in rows] == [
        "keys.publish",
        "keys.publish",
        "keys.publish",
        "keys.identity_reset",
    ]
    for r in rows:
        assert IK1 not in r["detail"] and IK2 not in r["detail"] and "list-" not in r["detail"]


async def test_device_list_log_in_order_and_served_since(relais: Running, clients: Any) -> None:
    """Versioned lists join the log one at a time; `since` serves the part after a version, so
    a client can verify the hash chain from the list it pinned (docs/crypto.md §2.5)."""
    user = await make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)
    me = user.user_id

    async def put(ver: int, text: str, ik: str = IK1) -> Any:
        return await c.publish_device_list(ik, text, version=ver)

    await put(1, "v1")
    await put(2, "v2")
    assert (await put(2, "v2"))["changed"] is False  # a retry of the head is harmless
    for ver, text in ((2, "v2-fork"), (4, "v4-gap"), (1, "v1")):
        err = await _error(put(ver, text))
        assert (err.code, err.details) == ("conflict", {"current_version": 2})
    await put(3, "v3")
    users = await c.query_keys([me], since={me: 1})
    assert users[me]["device_list_log"] == ["v2", "v3"]
    assert users[me]["signed_device_list"] == "v3"
    assert "device_list_log" not in (await c.query_keys([me]))[me]
    assert (await c.query_keys([me], since={me: 3}))[me]["device_list_log"] == []
    # A new identity key starts a new log at version 1.
    assert (await _error(put(4, "x", IK2))).code == "conflict"
    await put(1, "new-v1", IK2)
    assert (await c.query_keys([me], since={me: 0}))[me]["device_list_log"] == ["new-v1"]
    # `since` may only name users asked for.
    err = await _error(c.query_keys([me], since={GHOST_USER: 0}))
    assert err.code == "validation_failed"


async def test_keys_changed_reaches_co_members_only(relais: Running, clients: Any) -> None:
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    outsider = await make_user(relais, "clinician")
    c_doc = await clients(relais, doc)
    c_doc2 = await clients(relais, doc)
    c_nurse = await clients(relais, nurse)
    c_out = await clients(relais, outsider)
    room = await c_doc.create_room()
    await c_doc.add_member(room, nurse.user_id)

    await _publish(c_doc, IK1)
    for c in (c_doc, c_doc2, c_nurse):
        assert await _next_event(c, "keys.changed") == {"user_id": doc.user_id}

    # Nothing changed, nothing announced: the nurse's next announcement is their own.
    assert (await _publish(c_doc, IK1))["changed"] is False
    assert (await _publish_device(c_nurse))["changed"] is True
    assert await _next_event(c_nurse, "keys.changed") == {"user_id": nurse.user_id}
    assert await _next_event(c_doc, "keys.changed") == {"user_id": nurse.user_id}

    # The outsider shares no room with the doctor: the first announcement it receives is its
    # own, published after the doctor's (one socket delivers in order).
    await _publish_device(c_out)
    assert await _next_event(c_out, "keys.changed") == {"user_id": outsider.user_id}


async def test_device_revoke(relais: Running, clients: Any) -> None:
    doc = await make_user(relais, "clinician")
    nurse = await make_user(relais, "clinician")
    c_a = await clients(relais, doc)
    c_b = await clients(relais, doc)
    c_nurse = await clients(relais, nurse)
    room = await c_a.create_room()
    await c_a.add_member(room, nurse.user_id)
    await _publish(c_a, IK1)
    await _publish_device(c_a)
    await _publish_device(c_b)
    listed = (await _query(c_nurse, doc.user_id))["users"][doc.user_id]["devices"]
    assert c_b.device_id in {d["device_id"] for d in listed}
    while not c_nurse.events.empty():
        c_nurse.events.get_nowait()

    # Someone else's device and a device that does not exist: the same answer.
    other = await _error(c_nurse.request("DELETE", f"{A}/devices/{c_b.device_id}"))
    ghost = await _error(c_nurse.request("DELETE", f"{A}/devices/{GHOST_DEVICE}"))
    assert (other.status, other.code, other.message) == (404, "not_found", "device not found")
    assert (ghost.status, ghost.code, ghost.message) == (other.status, other.code, other.message)

    res = await c_a.request("DELETE", f"{A}/devices/{c_b.device_id}")
    assert res["device_id"] == c_b.device_id
    assert (res["sessions_revoked"], res["sockets_closed"]) == (1, 1)
    assert isinstance(res["revoked_at"], int)

    svc = relais.services
    await wait_for(
        lambda: all(c.principal.device_id != c_b.device_id for c in svc.connections.by_sid.values())
    )
    assert (await _error(c_b.request("GET", f"{A}/me"))).code == "unauthorized"
    async with svc.db.read() as conn:
        device = (await conn.execute(select(Device).where(Device.id == c_b.device_id))).one()
        sessions = (
            await conn.execute(select(Session).where(Session.device_id == c_b.device_id))
        ).all()
    assert device.revoked_at == res["revoked_at"]
    assert sessions and all(s.revoked_at is not None for s in sessions)

    assert await _next_event(c_nurse, "keys.changed") == {"user_id": doc.user_id}
    listed = (await _query(c_nurse, doc.user_id))["users"][doc.user_id]["devices"]
    assert [d["device_id"] for d in listed] == [c_a.device_id]

    again = await _error(c_a.request("DELETE", f"{A}/devices/{c_b.device_id}"))
    assert again.code == "not_found"
    relogin = RelaisClient(relais.url)
    try:
        refused = await _error(relogin.login(doc.username, doc.password, device_id=c_b.device_id))
        assert refused.code == "not_found"
    finally:
        await relogin.close()

    rows = await _audit(relais, doc.user_id, "device.revoke")
    assert [(r["target"], json.loads(r["detail"])) for r in rows] == [
        (c_b.device_id, {"sessions": 1})
    ]

    # The calling device may revoke itself; its token dies with it.
    own = await c_a.request("DELETE", f"{A}/devices/{c_a.device_id}")
    assert own["sessions_revoked"] == 1
    assert (await _error(c_a.request("GET", f"{A}/me"))).code == "unauthorized"


# -- backup ---------------------------------------------------------------------------------


async def _put_backup(c: RelaisClient, version: int, info: str) -> Any:
    return await c.request("PUT", f"{A}/keys/backup", json={"version": version, "info": info})


async def _put_entries(c: RelaisClient, version: int, entries: dict[str, str]) -> Any:
    return await c.request(
        "PUT",
        f"{A}/keys/backup/entries",
        json={"version": version, "entries": [{"id": k, "data": v} for k, v in entries.items()]},
    )


async def _all_entries(c: RelaisClient, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every entry, page by page; returns (entries, pages)."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    pages = 0
    while True:
        path = f"{A}/keys/backup/entries?limit={limit}" + (f"&after={after}" if after else "")
        page = await c.request("GET", path)
        pages += 1
        out.extend(page["entries"])
        after = page["next"]
        if after is None:
            return out, pages


async def test_backup_versions_and_entries(relais: Running, clients: Any) -> None:
    user = await make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)

    assert await c.request("GET", f"{A}/keys/backup") == {"backup": None}
    no_backup = await _error(_put_entries(c, 1, {"e1": "x"}))
    assert no_backup.code == "not_found"
    assert (await _error(c.request("GET", f"{A}/keys/backup/entries"))).code == "not_found"
    early = await _error(_put_backup(c, 2, "wrapped-1"))
    assert (early.code, early.details) == ("conflict", {"current_version": 0})

    made = await _put_backup(c, 1, "wrapped-1")
    assert (made["version"], made["entries_deleted"]) == (1, 0)
    got = (await c.request("GET", f"{A}/keys/backup"))["backup"]
    assert (got["version"], got["info"], got["updated_at"]) == (1, "wrapped-1", made["updated_at"])

    # Ids in byte order: '-' < digits < upper case < '_' < lower case.
    ids = ["b", "A", "_x", "9", "-z", "a_1", "Zz"]
    assert await _put_entries(c, 1, {i: f"data-{i}" for i in ids}) == {"version": 1, "stored": 7}
    assert await _put_entries(c, 1, {"b": "data-b-2", "new": "data-new"}) == {
        "version": 1,
        "stored": 2,
    }
    entries, pages = await _all_entries(c, limit=3)
    expected = sorted([*ids, "new"], key=str.encode)
    assert [e["id"] for e in entries] == expected
    assert pages == 3
    assert {e["id"]: e["data"] for e in entries}["b"] == "data-b-2"
    first = await c.request("GET", f"{A}/keys/backup/entries?limit=3")
    assert first["version"] == 1 and first["next"] == expected[2]
    last = await c.request("GET", f"{A}/keys/backup/entries?after={expected[-1]}")
    assert last == {"version": 1, "entries": [], "next": None}
    whole = await c.request("GET", f"{A}/keys/backup/entries")
    assert len(whole["entries"]) == 8 and whole["next"] is None

    # Same version: info re-wrapped in place, entries kept.
    assert (await _put_backup(c, 1, "wrapped-1b"))["entries_deleted"] == 0
    assert (await c.request("GET", f"{A}/keys/backup"))["backup"]["info"] == "wrapped-1b"
    assert len((await _all_entries(c, 1000))[0]) == 8

    for bad in (3, 5):
        err = await _error(_put_backup(c, bad, "wrapped-x"))
        assert (err.status, err.code, err.details) == (409, "conflict", {"current_version": 1})

    # Version + 1: a new backup; every older entry is gone in the same step.
    replaced = await _put_backup(c, 2, "wrapped-2")
    assert (replaced["version"], replaced["entries_deleted"]) == (2, 8)
    assert await c.request("GET", f"{A}/keys/backup/entries") == {
        "version": 2,
        "entries": [],
        "next": None,
    }
    async with relais.services.db.read() as conn:
        left = (
            await conn.execute(
                select(KeyBackupEntry.entry_id).where(KeyBackupEntry.user_id == user.user_id)
            )
        ).all()
    assert left == []
    stale = await _error(_put_entries(c, 1, {"e1": "old-key-item"}))
    assert (stale.code, stale.details) == ("conflict", {"current_version": 2})
    await _put_entries(c, 2, {"e1": "new-key-item"})
    assert (await c.request("GET", f"{A}/keys/backup/entries"))["entries"] == [
        {"id": "e1", "data": "new-key-item"}
    ]
    lower = await _error(_put_backup(c, 1, "wrapped-old"))
    assert (lower.code, lower.details) == ("conflict", {"current_version": 2})

    # Every call audited, refusals included, and never with the content.
    rows = await _audit(relais, user.user_id, "keys.backup")
    outcomes = [(r["action"], r["outcome"]) for r in rows]
    assert ("keys.backup_write", "conflict") in outcomes
    assert ("keys.backup_entries_write", "not_found") in outcomes
    assert ("keys.backup_entries_read", "not_found") in outcomes
    assert outcomes.count(("keys.backup_write", "ok")) == 3
    replace_row = next(
        r for r in rows if r["detail"] and json.loads(r["detail"]).get("mode") == "replace"
    )
    assert json.loads(replace_row["detail"])["entries_deleted"] == 8
    for r in rows:
        assert "wrapped" not in (r["detail"] or "") and "data-" not in (r["detail"] or "")
        assert "key-item" not in (r["detail"] or "")


async def test_backup_is_private_to_its_user(relais: Running, clients: Any) -> None:
    alice = await make_user(relais, "clinician")
    bob = await make_user(relais, "admin")
    c_alice = await clients(relais, alice, connect=False)
    c_bob = await clients(relais, bob, connect=False)
    await _put_backup(c_alice, 1, "alice-wrapped")
    await _put_entries(c_alice, 1, {"e1": "alice-secret"})

    assert await c_bob.request("GET", f"{A}/keys/backup") == {"backup": None}
    assert (await _error(c_bob.request("GET", f"{A}/keys/backup/entries"))).code == "not_found"
    assert (await _error(_put_entries(c_bob, 1, {"e1": "bob"}))).code == "not_found"

    await _put_backup(c_bob, 1, "bob-wrapped")
    await _put_entries(c_bob, 1, {"e1": "bob-secret"})
    bob_entries = await c_bob.request("GET", f"{A}/keys/backup/entries")
    assert bob_entries["entries"] == [{"id": "e1", "data": "bob-secret"}]
    assert (await c_bob.request("GET", f"{A}/keys/backup"))["backup"]["info"] == "bob-wrapped"
    # Bob's rotation touches only Bob's entries.
    await _put_backup(c_bob, 2, "bob-wrapped-2")
    alice_entries = await c_alice.request("GET", f"{A}/keys/backup/entries")
    assert alice_entries["entries"] == [{"id": "e1", "data": "alice-secret"}]
    assert (await c_alice.request("GET", f"{A}/keys/backup"))["backup"]["info"] == "alice-wrapped"


# -- limits and validation ------------------------------------------------------------------


async def test_limits_and_validation(relais: Running, clients: Any) -> None:
    user = await make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)
    await _put_backup(c, 1, "wrapped")

    async def code_of(method: str, path: str, body: Any = None) -> str:
        return (await _error(c.request(method, path, json=body))).code

    bad_bodies: list[tuple[str, str, Any]] = [
        # identity key: 43 base64url characters, canonical last one
        ("PUT", "keys/device-list", {"identity_key": "A" * 42, "signed_device_list": "l"}),
        ("PUT", "keys/device-list", {"identity_key": "A" * 44, "signed_device_list": "l"}),
        ("PUT", "keys/device-list", {"identity_key": "A" * 42 + "B", "signed_device_list": "l"}),
        ("PUT", "keys/device-list", {"identity_key": "A" * 42 + "=", "signed_device_list": "l"}),
        ("PUT", "keys/device-list", {"identity_key": "+" * 42 + "A", "signed_device_list": "l"}),
        ("PUT", "keys/device-list", {"identity_key": IK1, "signed_device_list": "x" * 65_537}),
        ("PUT", "keys/device-list", {"identity_key": IK1, "signed_device_list": ""}),
        ("PUT", "keys/device-list", {"identity_key": IK1, "signed_device_list": "l", "x": 1}),
        ("PUT", "keys/device", {"public_keys": "x" * 16_385}),
        ("PUT", "keys/device", {"public_keys": 5}),
        ("POST", "keys/query", {"user_ids": []}),
        ("POST", "keys/query", {"user_ids": [f"u_{i}" for i in range(501)]}),
        ("POST", "keys/query", {"user_ids": ["u_1", "u_1"]}),
        ("POST", "keys/query", {"user_ids": ["bad id"]}),
        ("PUT", "keys/backup", {"version": 0, "info": "w"}),
        ("PUT", "keys/backup", {"version": "1", "info": "w"}),
        ("PUT", "keys/backup", {"version": True, "info": "w"}),
        ("PUT", "keys/backup", {"version": 1, "info": "x" * 16_385}),
        ("PUT", "keys/backup/entries", {"version": 1, "entries": []}),
        ("PUT", "keys/backup/entries", {"version": 1, "entries": [{"id": "a" * 65, "data": "d"}]}),
        ("PUT", "keys/backup/entries", {"version": 1, "entries": [{"id": "a.b", "data": "d"}]}),
        ("PUT", "keys/backup/entries", {"version": 1, "entries": [{"id": "a", "data": ""}]}),
        (
            "PUT",
            "keys/backup/entries",
            {"version": 1, "entries": [{"id": "a", "data": "x" * 65_537}]},
        ),
        (
            "PUT",
            "keys/backup/entries",
            {"version": 1, "entries": [{"id": "a", "data": "1"}, {"id": "a", "data": "2"}]},
        ),
        (
            "PUT",
            "keys/backup/entries",
            {"version": 1, "entries": [{"id": f"e{i}", "data": "d"} for i in range(1001)]},
        ),
    ]
    for method, path, body in bad_bodies:
        assert await code_of(method, f"{A}/{path}", body) == "validation_failed", (path, body)

    for query in ("limit=0", "limit=1001", "limit=x", "after=a.b", "other=1", "limit=1&limit=2"):
        got = await code_of("GET", f"{A}/keys/backup/entries?{query}")
        assert got == "validation_failed", query

    # Each item within its limit, the request over the body cap.
    cap = relais.services.settings.max_event_bytes
    n = cap // 60_000 + 1
    big = {f"e{i}": "x" * 60_000 for i in range(n)}
    err = await _error(_put_entries(c, 1, big))
    assert (err.status, err.code) == (413, "payload_too_large")

    # The largest allowed values go through.
    await c.request(
        "PUT",
        f"{A}/keys/device-list",
        json={"identity_key": "_" * 42 + "8", "signed_device_list": "x" * 65_536},
    )
    await _publish_device(c, "k" * 16_384)
    await _put_backup(c, 1, "i" * 16_384)
    await _put_entries(c, 1, {"z" * 64: "d" * 65_536})
    assert (await c.request("GET", f"{A}/keys/backup/entries?limit=1000"))["entries"] == [
        {"id": "z" * 64, "data": "d" * 65_536}
    ]
    # Nothing refused by validation reached the store.
    assert (await c.request("GET", f"{A}/keys/backup"))["backup"]["version"] == 1

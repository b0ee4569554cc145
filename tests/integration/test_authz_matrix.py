"""Authorisation matrix: every REST route and socket event x every role and room relation.

The expectation tables below are the contract. `test_every_endpoint_is_in_the_matrix` fails as
soon as a route or event exists that the tables do not cover (or a table entry outlives its
endpoint), so a new endpoint cannot ship without deciding who may call it. Each cell is then
executed against a real server (SQLite and PostgreSQL): the status code and the error code must
match exactly, an allowed room access must leave its audit record, and a non-member must get the
very same answer for a real room as for one that does not exist.

Outcomes: "allowed" (2xx / ack without error) or an error code of server.errors.ERROR_STATUS.
Actors: `anon` (no token), one user per global role who is not a member of the care room
(`admin`, `clinician`, `assistant`, `caregiver`, `patient`), and the room's `owner` (clinician),
`member` (clinician, room role member) and `room_patient`.
"""

from __future__ import annotations

import inspect
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
import socketio
from sqlalchemy import update

import server.app
from server.api.routing import ROUTES
from server.db.models import User
from server.errors import ERROR_STATUS
from server.realtime.registry import EVENTS
from tests.conftest import PASSWORD, envelope
from tests.integration.security_world import (
    ACTOR_ROLES,
    ACTORS,
    MEMBERS,
    NON_MEMBERS,
    World,
)

server.app._load_features()

OK = "allowed"
UNAUTH = "unauthorized"
NF = "not_found"
FORBIDDEN = "forbidden"

Expect = dict[str, str]


def public() -> Expect:
    return dict.fromkeys(ACTORS, OK)


def any_user(**over: str) -> Expect:
    exp = {a: OK for a in ACTOR_ROLES} | {"anon": UNAUTH}
    exp.update(over)
    return exp


def roles_only(*roles: str, **over: str) -> Expect:
    exp = {a: OK if r in roles else FORBIDDEN for a, r in ACTOR_ROLES.items()} | {"anon": UNAUTH}
    exp.update(over)
    return exp


def room_scoped(**over: str) -> Expect:
    """Members allowed, every non-member (admins included) told the room does not exist."""
    exp = dict.fromkeys(MEMBERS, OK) | dict.fromkeys(NON_MEMBERS, NF) | {"anon": UNAUTH}
    exp.update(over)
    return exp


PATIENTS_NO_TOTP = {"patient": FORBIDDEN, "room_patient": FORBIDDEN}


@dataclass
class Req:
    """One concrete call of a cell. `token` overrides the actor's token (e.g. a throwaway
    session for logout); `after` cleans up state the call changed."""

    path: str
    json_body: Any = None
    data: bytes | None = None
    headers: dict[str, str] | None = None
    token: str | None = None
    after: Callable[[], Awaitable[None]] | None = None


Builder = Callable[[World, str], Awaitable[Req]]
Check = Callable[[World, str, Any], None]


@dataclass
class Cell:
    expect: Expect
    build: Builder
    audit: str | None = None  # action every allowed call must append, by the actor
    check: Check | None = None  # further assertions on an allowed response
    leak_probe: bool = False  # compare non-member answers with those for a missing room
    extra: dict[str, Any] = field(default_factory=dict)


def static(path: str, body: Any = None) -> Builder:
    async def build(w: World, actor: str) -> Req:
        return Req(path.format(room=w.room, attachment=w.attachment_id), json_body=body)

    return build


def room_path_body(path: str) -> Builder:
    async def build(w: World, actor: str) -> Req:
        return Req(path, {"room_id": w.room})

    return build


def room_path(suffix: str = "", body: Any = None) -> Builder:
    return static("/api/v1/rooms/{room}" + suffix, body)


# -- builders with per-cell state ---------------------------------------------------------------


async def b_login(w: World, actor: str) -> Req:
    who = w.actors["owner" if actor == "anon" else actor]
    return Req("/api/v1/auth/login", {"username": who.username, "password": PASSWORD})


async def b_logout(w: World, actor: str) -> Req:
    if actor == "anon":
        return Req("/api/v1/auth/logout")
    token, _, _ = await w.session(w.actors[actor].user_id)
    return Req("/api/v1/auth/logout", token=token)


async def b_revoke_own_session(w: World, actor: str) -> Req:
    who = w.actors["owner" if actor == "anon" else actor]
    _, _, sid = await w.session(who.user_id)
    return Req(f"/api/v1/auth/sessions/{sid}")


async def b_revoke_owner_session(w: World, actor: str) -> Req:
    _, _, sid = await w.session(w.actors["owner"].user_id)
    return Req(f"/api/v1/auth/sessions/{sid}")


async def _set_totp(w: World, actor: str, secret: str | None) -> None:
    async with w.svc.db.write() as conn:
        await conn.execute(
            update(User)
            .where(User.id == w.actors[actor].user_id)
            .values(totp_secret=secret, failed_logins=0, locked_until=0)
        )


async def b_totp_confirm(w: World, actor: str) -> Req:
    secret = pyotp.random_base32()
    req = Req("/api/v1/auth/totp/confirm", {"secret": secret, "code": pyotp.TOTP(secret).now()})
    if actor != "anon":

        async def after() -> None:
            await _set_totp(w, actor, None)

        req.after = after
    return req


async def b_totp_disable(w: World, actor: str) -> Req:
    secret = pyotp.random_base32()
    req = Req("/api/v1/auth/totp/disable", {"password": PASSWORD, "code": pyotp.TOTP(secret).now()})
    if actor != "anon" and ACTOR_ROLES[actor] != "patient":
        await _set_totp(w, actor, secret)

        async def after() -> None:
            await _set_totp(w, actor, None)

        req.after = after
    return req


async def _invite_by(w: World, actor: str, room_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"display_name": "Invited patient"}
    if room_id is not None:
        body["room_id"] = room_id
    res = await w.rest("POST", "/api/v1/invites", token=w.actors[actor].token, json_body=body)
    assert res.status == 201, res.body
    return dict(res.body)


async def b_invite_room(w: World, actor: str) -> Req:
    room_id = await w.fresh_room(with_patient=False)
    return Req("/api/v1/invites", {"display_name": "Invited patient", "room_id": room_id})


async def b_revoke_invite(w: World, actor: str) -> Req:
    maker = actor if actor != "anon" and ACTOR_ROLES[actor] in ("clinician", "admin") else "owner"
    inv = await _invite_by(w, maker)
    return Req(f"/api/v1/invites/{inv['invite_id']}")


async def b_revoke_owner_invite(w: World, actor: str) -> Req:
    inv = await _invite_by(w, "owner")
    return Req(f"/api/v1/invites/{inv['invite_id']}")


async def b_redeem(w: World, actor: str) -> Req:
    inv = await _invite_by(w, "owner")
    return Req("/api/v1/invites/redeem", {"token": inv["token"]})


async def b_admin_create_user(w: World, actor: str) -> Req:
    return Req(
        "/api/v1/admin/users",
        {"username": f"made-{secrets.token_hex(5)}", "role": "clinician", "password": PASSWORD},
    )


def b_admin_on_user(suffix: str, body: Any = None) -> Builder:
    async def build(w: World, actor: str) -> Req:
        uid, _ = await w.user("clinician", "target")
        return Req(f"/api/v1/admin/users/{uid}{suffix}", body)

    return build


def b_admin_on_missing(suffix: str, body: Any = None) -> Builder:
    return static(f"/api/v1/admin/users/u_{'0' * 16}{suffix}", body)


async def b_add_member(w: World, actor: str) -> Req:
    uid, _ = await w.user("clinician", "newcomer")
    return Req(f"/api/v1/rooms/{w.room}/members", {"user_id": uid})


async def b_remove_member(w: World, actor: str) -> Req:
    uid, _ = await w.user("clinician", "leaver")
    await w.add_to_room(w.room, uid)
    return Req(f"/api/v1/rooms/{w.room}/members/{uid}")


async def b_leave_fresh_room(w: World, actor: str) -> Req:
    room_id = await w.fresh_room(with_patient=True)
    who = w.actors["owner" if actor == "anon" else actor]
    return Req(f"/api/v1/rooms/{room_id}/members/{who.user_id}")


async def b_consent(w: World, actor: str) -> Req:
    method = "in_app" if actor == "room_patient" else "verbal"
    return Req(
        f"/api/v1/rooms/{w.room}/consents",
        {"subject_user_id": w.actors["caregiver"].user_id, "method": method},
    )


async def b_upload(w: World, actor: str) -> Req:
    return Req(
        f"/api/v1/rooms/{w.room}/attachments",
        data=b"\x00\x02ciphertext",
        headers={"Content-Type": "application/octet-stream"},
    )


IDENTITY_KEY = "A" * 42 + "E"


async def b_revoke_own_device(w: World, actor: str) -> Req:
    # A fresh device of the actor: revoking the one behind the actor's token would end it.
    who = w.actors["owner" if actor == "anon" else actor]
    _, device, _ = await w.session(who.user_id)
    return Req(f"{A}/devices/{device}")


async def b_revoke_owner_device(w: World, actor: str) -> Req:
    _, device, _ = await w.session(w.actors["owner"].user_id)
    return Req(f"{A}/devices/{device}")


async def _backup_version(w: World, actor: str) -> int:
    """The actor's backup version, creating version 1 when there is none (0 for anon)."""
    if actor == "anon":
        return 0
    token = w.actors[actor].token
    res = await w.rest("GET", f"{A}/keys/backup", token=token)
    assert res.status == 200, res.body
    if res.body["backup"] is not None:
        return int(res.body["backup"]["version"])
    made = await w.rest(
        "PUT", f"{A}/keys/backup", token=token, json_body={"version": 1, "info": "wrapped"}
    )
    assert made.status == 200, made.body
    return 1


async def b_backup_rotate(w: World, actor: str) -> Req:
    version = await _backup_version(w, actor)
    return Req(f"{A}/keys/backup", {"version": version + 1, "info": "wrapped-again"})


async def b_backup_entries_put(w: World, actor: str) -> Req:
    version = await _backup_version(w, actor)
    return Req(
        f"{A}/keys/backup/entries",
        {"version": max(version, 1), "entries": [{"id": "e1", "data": "opaque"}]},
    )


async def b_backup_entries_get(w: World, actor: str) -> Req:
    await _backup_version(w, actor)
    return Req(f"{A}/keys/backup/entries?limit=10")


async def b_keys_query(w: World, actor: str) -> Req:
    return Req(f"{A}/keys/query", {"user_ids": [w.actors["owner"].user_id, f"u_{'0' * 16}"]})


# -- consultations: a fresh one per call, hosted by `owner`, opened from the care room, with
# `member` invited as an observer; every other actor takes no part in it. -------------------


async def _consultation(w: World, *, member_waiting: bool = False) -> tuple[str, str]:
    """(consultation id, member's participant id)."""
    svc = w.svc.parts.consultations
    owner, member = w.actors["owner"], w.actors["member"]
    made = await svc.create(owner.principal, w.room)
    cid = made["consultation_id"]
    invited = await svc.invite_user(owner.principal, cid, member.user_id, "observer")
    if member_waiting:
        await svc.join(owner.principal, cid)
        await svc.join(member.principal, cid)
    return cid, str(invited["participant_id"])


def b_consultation(suffix: str = "", body: Any = None) -> Builder:
    async def build(w: World, actor: str) -> Req:
        cid, _ = await _consultation(w)
        return Req(f"{A}/consultations/{cid}{suffix}", body)

    return build


async def b_consult_invite(w: World, actor: str) -> Req:
    cid, _ = await _consultation(w)
    return Req(
        f"{A}/consultations/{cid}/participants",
        {"user_id": w.actors["caregiver"].user_id, "role": "observer"},
    )


async def b_consult_assisted(w: World, actor: str) -> Req:
    return Req(
        f"{A}/consultations/assisted",
        {
            "host_user_id": w.actors["owner"].user_id,
            "patient": {"full_name": "P", "birth_date": "1950-01-01", "method": "id_card"},
            "consent": {"text_version": "v1", "method": "verbal"},
        },
    )


async def b_consult_redeem(w: World, actor: str) -> Req:
    cid, _ = await _consultation(w)
    res = await w.rest(
        "POST",
        f"{A}/consultations/{cid}/links",
        token=w.actors["owner"].token,
        json_body={"display_name": "P"},
    )
    assert res.status == 201, res.body
    return Req(f"{A}/consultations/redeem", {"token": res.body["token"]})


async def e_consult(w: World, actor: str) -> Any:
    cid, _ = await _consultation(w, member_waiting=True)
    return {"consultation_id": cid}


async def e_consult_member(w: World, actor: str) -> Any:
    cid, pid = await _consultation(w, member_waiting=True)
    return {"consultation_id": cid, "participant_id": pid}


async def e_consult_admitted(w: World, actor: str) -> Any:
    cid, pid = await _consultation(w, member_waiting=True)
    await w.svc.parts.consultations.admit(w.actors["owner"].principal, cid, pid)
    return {"consultation_id": cid}


async def e_consult_set_mode(w: World, actor: str) -> Any:
    """The admitted member's mode: the host may choose it, and so may the member (their own)."""
    cid, pid = await _consultation(w, member_waiting=True)
    await w.svc.parts.consultations.admit(w.actors["owner"].principal, cid, pid)
    return {"consultation_id": cid, "participant_id": pid, "mode": "audio-only"}


async def e_consult_offer(w: World, actor: str) -> Any:
    from aiortc import RTCPeerConnection

    ref = await e_consult_admitted(w, actor)
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
    finally:
        await pc.close()
    return {**ref, "sdp": sdp}


async def e_consult_ice(w: World, actor: str) -> Any:
    ref = await e_consult_admitted(w, actor)
    return {**ref, "candidate": None}


async def e_consult_probe(w: World, actor: str) -> Any:
    from aiortc import RTCPeerConnection

    ref = await e_consult(w, actor)  # the member is waiting: a link check is allowed
    pc = RTCPeerConnection()
    try:
        pc.createDataChannel("probe", ordered=False, maxRetransmits=0)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
    finally:
        await pc.close()
    return {**ref, "sdp": sdp}


async def e_consult_probe_ice(w: World, actor: str) -> Any:
    return {**(await e_consult(w, actor)), "candidate": None}


def consult_scoped(**over: str) -> Expect:
    """The host (`owner`) and the invited observer (`member`) take part; to anyone else the
    consultation does not exist (admins included)."""
    exp = {a: NF for a in ACTOR_ROLES} | {"owner": OK, "member": OK, "anon": UNAUTH}
    exp.update(over)
    return exp


# -- allowed-response checks ------------------------------------------------------------------


def c_me(w: World, actor: str, body: Any) -> None:
    assert body["user_id"] == w.actors[actor].user_id


def c_keys_query(w: World, actor: str, body: Any) -> None:
    # Co-members see the owner; so do the roles that add people to rooms. Anyone else gets the
    # same answer as for a user that does not exist: nothing.
    owner = w.actors["owner"].user_id
    visible = actor in MEMBERS or ACTOR_ROLES[actor] in ("clinician", "admin", "assistant")
    assert (owner in body["users"]) == visible, (actor, body)
    assert f"u_{'0' * 16}" not in body["users"], body


def c_room_list(w: World, actor: str, body: Any) -> None:
    listed = {r["room_id"] for r in body["rooms"]}
    assert (w.room in listed) == (actor in MEMBERS), (actor, listed)


# -- the REST table ---------------------------------------------------------------------------
# key: (method, path, variant); variant "" is the main cell of the route.

A = "/api/v1"
REST: dict[tuple[str, str, str], Cell] = {
    # auth
    ("POST", f"{A}/auth/login", ""): Cell(
        public() | {"patient": "invalid_credentials", "room_patient": "invalid_credentials"},
        b_login,
        audit=None,
    ),
    ("POST", f"{A}/auth/logout", ""): Cell(any_user(), b_logout, audit="auth.logout"),
    ("GET", f"{A}/me", ""): Cell(any_user(), static(f"{A}/me"), check=c_me),
    ("GET", f"{A}/auth/sessions", ""): Cell(any_user(), static(f"{A}/auth/sessions")),
    ("POST", f"{A}/auth/vault-key", ""): Cell(any_user(), static(f"{A}/auth/vault-key")),
    ("DELETE", f"{A}/auth/sessions/{{session_id}}", ""): Cell(
        any_user(), b_revoke_own_session, audit="auth.session_revoke"
    ),
    ("DELETE", f"{A}/auth/sessions/{{session_id}}", "someone else's"): Cell(
        any_user(**dict.fromkeys(set(ACTOR_ROLES) - {"owner"}, NF)), b_revoke_owner_session
    ),
    # TOTP: accounts without a password (patients) do not use it
    ("POST", f"{A}/auth/totp/setup", ""): Cell(
        any_user(**PATIENTS_NO_TOTP), static(f"{A}/auth/totp/setup")
    ),
    ("POST", f"{A}/auth/totp/confirm", ""): Cell(
        any_user(**PATIENTS_NO_TOTP), b_totp_confirm, audit="auth.totp_enable"
    ),
    ("POST", f"{A}/auth/totp/disable", ""): Cell(
        any_user(patient="conflict", room_patient="conflict"),
        b_totp_disable,
        audit="auth.totp_disable",
    ),
    # invitations
    ("POST", f"{A}/invites", ""): Cell(
        roles_only("clinician", "admin"),
        static(f"{A}/invites", {"display_name": "P"}),
        audit="invite.create",
    ),
    ("POST", f"{A}/invites", "for a room"): Cell(
        # role check first, then the room's managers (owners and admins); non-members: 404
        roles_only("clinician", "admin", clinician=NF, member=FORBIDDEN),
        b_invite_room,
        audit="invite.create",
    ),
    ("GET", f"{A}/invites", ""): Cell(roles_only("clinician", "admin"), static(f"{A}/invites")),
    ("DELETE", f"{A}/invites/{{invite_id}}", ""): Cell(
        roles_only("clinician", "admin"), b_revoke_invite, audit="invite.revoke"
    ),
    ("DELETE", f"{A}/invites/{{invite_id}}", "someone else's"): Cell(
        roles_only("clinician", "admin", admin=NF, clinician=NF, member=NF), b_revoke_owner_invite
    ),
    ("POST", f"{A}/invites/redeem", ""): Cell(public(), b_redeem, audit=None),
    # administration
    ("POST", f"{A}/admin/users", ""): Cell(
        roles_only("admin"), b_admin_create_user, audit="admin.user_create"
    ),
    ("GET", f"{A}/admin/users", ""): Cell(
        roles_only("admin"), static(f"{A}/admin/users"), audit="admin.user_list"
    ),
    ("POST", f"{A}/admin/users/{{user_id}}/disable", ""): Cell(
        roles_only("admin"), b_admin_on_user("/disable"), audit="admin.user_disable"
    ),
    ("POST", f"{A}/admin/users/{{user_id}}/disable", "missing user"): Cell(
        roles_only("admin", admin=NF), b_admin_on_missing("/disable")
    ),
    ("POST", f"{A}/admin/users/{{user_id}}/enable", ""): Cell(
        roles_only("admin"), b_admin_on_user("/enable"), audit="admin.user_enable"
    ),
    ("POST", f"{A}/admin/users/{{user_id}}/reset-password", ""): Cell(
        roles_only("admin"),
        b_admin_on_user("/reset-password", {"password": PASSWORD}),
        audit="admin.password_reset",
    ),
    ("GET", f"{A}/admin/users/{{user_id}}/sessions", ""): Cell(
        roles_only("admin"), b_admin_on_user("/sessions"), audit="admin.session_list"
    ),
    ("GET", f"{A}/admin/users/{{user_id}}/sessions", "missing user"): Cell(
        roles_only("admin", admin=NF), b_admin_on_missing("/sessions")
    ),
    # care rooms
    ("POST", f"{A}/rooms", ""): Cell(
        roles_only("admin", "clinician"), static(f"{A}/rooms", {}), audit="room.create"
    ),
    ("GET", f"{A}/rooms", ""): Cell(any_user(), static(f"{A}/rooms"), check=c_room_list),
    ("GET", f"{A}/people", ""): Cell(
        roles_only("admin", "clinician", "assistant"),
        static(f"{A}/people?q=cl"),
    ),
    ("GET", f"{A}/rooms/{{room_id}}", ""): Cell(
        # admins may see room state (to manage membership), never messages
        room_scoped(admin=OK),
        room_path(),
        audit="room.state",
        leak_probe=True,
    ),
    ("PATCH", f"{A}/rooms/{{room_id}}", ""): Cell(
        room_scoped(member=FORBIDDEN, room_patient=FORBIDDEN),
        room_path("", {"encrypted_meta": "opaque-title"}),
        audit="room.meta_update",
        leak_probe=True,
    ),
    ("POST", f"{A}/rooms/{{room_id}}/members", ""): Cell(
        room_scoped(admin=OK, member=FORBIDDEN, room_patient=FORBIDDEN),
        b_add_member,
        audit="room.member_add",
        leak_probe=True,
    ),
    ("POST", f"{A}/rooms/{{room_id}}/chain", ""): Cell(
        # Only the owner may start a chain (this room's chain is empty: the world made it over
        # REST); a body that is no signed event is refused after the authorisation checks.
        room_scoped(
            owner="validation_failed", admin=FORBIDDEN, member=FORBIDDEN, room_patient=FORBIDDEN
        ),
        room_path("/chain", {"signed_event": "not-a-signed-event"}),
        leak_probe=True,
    ),
    ("DELETE", f"{A}/rooms/{{room_id}}/members/{{user_id}}", ""): Cell(
        room_scoped(admin=OK, member=FORBIDDEN, room_patient=FORBIDDEN),
        b_remove_member,
        audit="room.member_remove",
        leak_probe=True,
    ),
    ("DELETE", f"{A}/rooms/{{room_id}}/members/{{user_id}}", "leave"): Cell(
        # anyone may leave, except the last owner
        room_scoped(owner="conflict"),
        b_leave_fresh_room,
        audit="room.member_remove",
    ),
    ("GET", f"{A}/rooms/{{room_id}}/membership-events", ""): Cell(
        room_scoped(admin=OK),
        room_path("/membership-events"),
        audit="room.events_read",
        leak_probe=True,
    ),
    ("POST", f"{A}/rooms/{{room_id}}/consents", ""): Cell(
        # the patient (in app) or an owner (verbal/written) records consent
        room_scoped(member=FORBIDDEN),
        b_consent,
        audit="room.consent",
        leak_probe=True,
    ),
    # attachments: members only, admins included in "non-member"
    ("POST", f"{A}/rooms/{{room_id}}/attachments", ""): Cell(
        room_scoped(), b_upload, audit="attachment.upload", leak_probe=True
    ),
    ("GET", f"{A}/attachments/{{attachment_id}}", ""): Cell(
        room_scoped(),
        static(f"{A}/attachments/{{attachment}}"),
        audit="attachment.download",
        leak_probe=True,
    ),
    # key directory: every account publishes its own keys; lookups are filtered, not refused
    ("PUT", f"{A}/keys/device-list", ""): Cell(
        any_user(),
        static(
            f"{A}/keys/device-list",
            {"identity_key": IDENTITY_KEY, "signed_device_list": "opaque-list"},
        ),
        audit="keys.publish",
    ),
    ("PUT", f"{A}/keys/device", ""): Cell(
        any_user(),
        static(f"{A}/keys/device", {"public_keys": "opaque-bundle"}),
        audit="keys.device_publish",
    ),
    ("POST", f"{A}/keys/query", ""): Cell(
        any_user(),
        b_keys_query,
        audit="keys.query",
        check=c_keys_query,
    ),
    ("DELETE", f"{A}/devices/{{device_id}}", ""): Cell(
        any_user(), b_revoke_own_device, audit="device.revoke"
    ),
    ("DELETE", f"{A}/devices/{{device_id}}", "someone else's"): Cell(
        any_user(**dict.fromkeys(set(ACTOR_ROLES) - {"owner"}, NF)), b_revoke_owner_device
    ),
    # key backup: always the caller's own
    ("GET", f"{A}/keys/backup", ""): Cell(
        any_user(), static(f"{A}/keys/backup"), audit="keys.backup_read"
    ),
    ("PUT", f"{A}/keys/backup", ""): Cell(any_user(), b_backup_rotate, audit="keys.backup_write"),
    ("PUT", f"{A}/keys/backup/entries", ""): Cell(
        any_user(), b_backup_entries_put, audit="keys.backup_entries_write"
    ),
    ("GET", f"{A}/keys/backup/entries", ""): Cell(
        any_user(), b_backup_entries_get, audit="keys.backup_entries_read"
    ),
    # consultations
    ("POST", f"{A}/consultations", ""): Cell(
        roles_only("clinician"), static(f"{A}/consultations", {}), audit="consult.create"
    ),
    ("POST", f"{A}/consultations", "from a care room"): Cell(
        # the creator must be a member of the care room
        roles_only("clinician", clinician=NF),
        room_path_body(f"{A}/consultations"),
        audit="consult.create",
    ),
    ("GET", f"{A}/consultations", ""): Cell(any_user(), static(f"{A}/consultations")),
    ("POST", f"{A}/consultations/assisted", ""): Cell(
        roles_only("assistant"), b_consult_assisted, audit="consult.create"
    ),
    ("POST", f"{A}/consultations/redeem", ""): Cell(public(), b_consult_redeem),
    ("GET", f"{A}/consultations/{{consultation_id}}", ""): Cell(
        consult_scoped(), b_consultation(), audit="consult.state_read"
    ),
    ("POST", f"{A}/consultations/{{consultation_id}}/participants", ""): Cell(
        consult_scoped(member=FORBIDDEN), b_consult_invite, audit="consult.invite"
    ),
    ("POST", f"{A}/consultations/{{consultation_id}}/consent", ""): Cell(
        consult_scoped(),
        b_consultation("/consent", {"text_version": "v1"}),
        audit="consult.consent",
    ),
    ("POST", f"{A}/consultations/{{consultation_id}}/links", ""): Cell(
        consult_scoped(member=FORBIDDEN),
        b_consultation("/links", {"display_name": "P"}),
        audit="consult.link_create",
    ),
    ("GET", f"{A}/consultations/{{consultation_id}}/record", ""): Cell(
        consult_scoped(member=FORBIDDEN, admin=OK),
        b_consultation("/record"),
        audit="consult.record_read",
    ),
    # operations: public
    ("GET", "/healthz", ""): Cell(public(), static("/healthz")),
    ("GET", "/readyz", ""): Cell(public(), static("/readyz")),
    ("GET", "/metrics", ""): Cell(public(), static("/metrics")),
    ("GET", "/api/openapi.json", ""): Cell(public(), static("/api/openapi.json")),
}


# -- the socket event table -------------------------------------------------------------------

EventBuilder = Callable[[World, str], Any]


@dataclass
class EventCell:
    expect: Expect
    build: EventBuilder
    audit: str | None = None
    check: Check | None = None
    leak_probe: bool = False


def e_room(**extra: Any) -> EventBuilder:
    def build(w: World, actor: str) -> Any:
        return {"room_id": w.room, **extra}

    return build


def e_send(w: World, actor: str) -> Any:
    return {
        "room_id": w.room,
        "client_msg_id": f"m-{secrets.token_hex(6)}",
        "envelope": envelope("matrix"),
    }


def e_todevice(w: World, actor: str) -> Any:
    return {
        "client_msg_id": f"td-{secrets.token_hex(6)}",
        "messages": [
            {
                "device_id": w.actors["owner"].device_id,
                "type": "relais.pairwise.v1",
                "payload": "opaque",
            }
        ],
    }


def c_sync(w: World, actor: str, ack: Any) -> None:
    listed = {r["room_id"] for r in ack["rooms"]}
    assert (w.room in listed) == (actor in MEMBERS), (actor, listed)


def c_todevice(w: World, actor: str, ack: Any) -> None:
    # Co-members (and the owner's own user) may reach the owner's device; anyone else is
    # answered "not_found" for it, without a hint that it exists.
    owner_device = w.actors["owner"].device_id
    if actor in MEMBERS:
        assert ack["stored"] + ack["duplicates"] == 1 and ack["not_found"] == [], ack
    else:
        assert ack["stored"] == 0 and ack["not_found"] == [owner_device], ack


def c_presence(w: World, actor: str, ack: Any) -> None:
    owner = w.actors["owner"].user_id
    assert (owner in ack["presence"]) == (actor in MEMBERS), (actor, ack)


EVENT_TABLE: dict[str, EventCell] = {
    "message.send": EventCell(room_scoped(), e_send, audit="message.write", leak_probe=True),
    "sync": EventCell(any_user(), lambda w, a: {"since": {}}, check=c_sync),
    "room.history": EventCell(room_scoped(), e_room(), audit="room.read", leak_probe=True),
    "todevice.send": EventCell(any_user(), e_todevice, check=c_todevice),
    "todevice.ack": EventCell(any_user(), lambda w, a: {"up_to": 0}),
    "typing": EventCell(room_scoped(), e_room(typing=True), leak_probe=True),
    "receipt.read": EventCell(room_scoped(), e_room(seq=1), audit="receipt.write", leak_probe=True),
    "receipts.get": EventCell(room_scoped(), e_room(), audit="room.receipts_read", leak_probe=True),
    "room.list": EventCell(any_user(), lambda w, a: {}, check=c_room_list),
    "room.get": EventCell(room_scoped(admin=OK), e_room(), audit="room.state", leak_probe=True),
    "room.events": EventCell(
        room_scoped(admin=OK), e_room(), audit="room.events_read", leak_probe=True
    ),
    "presence.get": EventCell(
        any_user(), lambda w, a: {"user_ids": [w.actors["owner"].user_id]}, check=c_presence
    ),
    # consultations: builders make a fresh one (host joined, member waiting) per call
    "consult.join": EventCell(consult_scoped(), e_consult, audit="consult.join"),
    "consult.admit": EventCell(
        consult_scoped(member=FORBIDDEN), e_consult_member, audit="consult.admit"
    ),
    "consult.deny": EventCell(
        consult_scoped(member=FORBIDDEN), e_consult_member, audit="consult.deny"
    ),
    "consult.leave": EventCell(consult_scoped(), e_consult, audit="consult.leave"),
    "consult.wait": EventCell(consult_scoped(), e_consult, audit="consult.wait_read"),
    "consult.end": EventCell(consult_scoped(member=FORBIDDEN), e_consult, audit="consult.end"),
    # media signalling: admitted participants only (the builders admit the member)
    "consult.media_config": EventCell(consult_scoped(), e_consult_admitted),
    "consult.offer": EventCell(consult_scoped(), e_consult_offer, audit="consult.media_offer"),
    # no leg yet: reaching the media layer at all is what "allowed" means here
    "consult.ice": EventCell(
        consult_scoped(owner="no_media_leg", member="no_media_leg"), e_consult_ice
    ),
    "consult.hangup": EventCell(consult_scoped(), e_consult_admitted, audit="consult.hangup"),
    "consult.set_mode": EventCell(consult_scoped(), e_consult_set_mode, audit="consult.set_mode"),
    # the waiting room's link check: waiting participants too
    "consult.link_probe_config": EventCell(consult_scoped(), e_consult),
    "consult.link_probe": EventCell(consult_scoped(), e_consult_probe, audit="consult.link_probe"),
    "consult.link_probe_ice": EventCell(
        consult_scoped(owner="no_media_leg", member="no_media_leg"), e_consult_probe_ice
    ),
}


# -- completeness -----------------------------------------------------------------------------


def test_every_endpoint_is_in_the_matrix() -> None:
    routes = {(r.method, r.path) for r in ROUTES}
    covered = {(m, p) for m, p, _ in REST}
    assert routes - covered == set(), (
        f"routes missing from the authorisation matrix: {sorted(routes - covered)}"
    )
    assert covered - routes == set(), f"matrix entries without a route: {sorted(covered - routes)}"
    assert set(EVENTS) - set(EVENT_TABLE) == set(), (
        f"socket events missing from the matrix: {sorted(set(EVENTS) - set(EVENT_TABLE))}"
    )
    assert set(EVENT_TABLE) - set(EVENTS) == set(), (
        f"matrix entries without an event: {sorted(set(EVENT_TABLE) - set(EVENTS))}"
    )
    for key, cell in REST.items():
        assert set(cell.expect) == set(ACTORS), key
        assert all(o == OK or o in ERROR_STATUS for o in cell.expect.values()), key
    for name, ecell in EVENT_TABLE.items():
        assert set(ecell.expect) == set(ACTORS), name


def test_route_roles_agree_with_the_matrix() -> None:
    """The declared `roles=` and `auth=` of a route must match what the table expects of
    actors whose room relation cannot matter (the non-members)."""
    for spec in ROUTES:
        cell = REST[(spec.method, spec.path, "")]
        if not spec.auth:
            assert cell.expect["anon"] != UNAUTH, spec.path
            continue
        assert cell.expect["anon"] == UNAUTH, spec.path
        if spec.roles is not None:
            for actor, role in ACTOR_ROLES.items():
                if role not in spec.roles:
                    assert cell.expect[actor] == FORBIDDEN, (spec.method, spec.path, actor)


# -- execution --------------------------------------------------------------------------------


def _outcome_problem(expected: str, status: int, body: Any) -> str | None:
    if expected == OK:
        if 200 <= status < 300:
            return None
        return f"expected success, got {status} {body!r}"[:400]
    want = ERROR_STATUS[expected]
    err = body.get("error") if isinstance(body, dict) else None
    if (
        status != want
        or not isinstance(err, dict)
        or err.get("code") != expected
        or not isinstance(err.get("message"), str)
    ):
        return f"expected {want} {expected}, got {status} {body!r}"[:400]
    return None


def _ack_problem(expected: str, ack: Any) -> str | None:
    err = ack.get("error") if isinstance(ack, dict) else None
    if expected == OK:
        return None if isinstance(ack, dict) and err is None else f"expected success, got {ack!r}"
    if (
        not isinstance(err, dict)
        or err.get("code") != expected
        or not isinstance(err.get("message"), str)
    ):
        return f"expected {expected}, got {ack!r}"[:400]
    return None


async def _audited(w: World, before: int, action: str, actor: str) -> bool:
    uid = w.actors[actor].user_id
    return any(
        r["action"] == action and r["actor_user_id"] == uid and r["outcome"] == "ok"
        for r in await w.audit_tail(before)
    )


def _ghostify(value: Any, w: World) -> Any:
    """The same request aimed at a room (and attachment) that does not exist."""
    text = json.dumps(value)
    text = text.replace(w.room, "r_" + "g" * 16)
    text = text.replace(w.attachment_id, "a_" + "g" * 16)
    return json.loads(text)


async def run_rest_matrix(w: World, keys: list[tuple[str, str, str]]) -> list[str]:
    problems: list[str] = []
    for key in keys:
        method, _, variant = key
        cell = REST[key]
        for actor in ACTORS:
            expected = cell.expect[actor]
            req = await cell.build(w, actor)
            token = req.token if req.token is not None else w.token(actor)
            before = await w.audit_last_id() if cell.audit and expected == OK else 0
            res = await w.rest(
                method,
                req.path,
                token=token,
                json_body=req.json_body,
                data=req.data,
                headers=req.headers,
            )
            label = f"{method} {req.path} [{variant or 'main'}] as {actor}"
            problem = _outcome_problem(expected, res.status, res.body)
            if problem is None and expected == OK:
                if cell.check is not None:
                    try:
                        cell.check(w, actor, res.body)
                    except AssertionError as exc:
                        problem = f"response check failed: {exc}"
                if (
                    problem is None
                    and cell.audit
                    and not await _audited(w, before, cell.audit, actor)
                ):
                    problem = f"no '{cell.audit}' audit record"
            if problem is None and cell.leak_probe and actor in NON_MEMBERS and expected == NF:
                ghost = await w.rest(
                    method,
                    _ghostify(req.path, w),
                    token=token,
                    json_body=_ghostify(req.json_body, w),
                    data=req.data,
                    headers=req.headers,
                )
                if (ghost.status, ghost.body) != (res.status, res.body):
                    problem = (
                        f"non-member answer differs from a missing room's: "
                        f"{res.status} {res.body!r} vs {ghost.status} {ghost.body!r}"
                    )
            if req.after is not None:
                await req.after()
            if problem is not None:
                problems.append(f"{label}: {problem}")
    return problems


async def run_event_matrix(w: World, names: list[str]) -> list[str]:
    problems: list[str] = []
    for name in names:
        cell = EVENT_TABLE[name]
        for actor in ACTORS:
            if actor == "anon":
                continue  # no socket without a token: see test_socket_refuses_anonymous
            expected = cell.expect[actor]
            sio = await w.socket(actor)
            payload = cell.build(w, actor)
            if inspect.isawaitable(payload):
                payload = await payload
            before = await w.audit_last_id() if cell.audit and expected == OK else 0
            ack = await sio.call(name, payload, timeout=10)
            problem = _ack_problem(expected, ack)
            if problem is None and expected == OK:
                if cell.check is not None:
                    try:
                        cell.check(w, actor, ack)
                    except AssertionError as exc:
                        problem = f"ack check failed: {exc}"
                if (
                    problem is None
                    and cell.audit
                    and not await _audited(w, before, cell.audit, actor)
                ):
                    problem = f"no '{cell.audit}' audit record"
            if problem is None and cell.leak_probe and actor in NON_MEMBERS and expected == NF:
                ghost = await sio.call(name, _ghostify(payload, w), timeout=10)
                if ghost != ack:
                    problem = f"non-member ack differs from a missing room's: {ack!r} vs {ghost!r}"
            if problem is None and sio.get_sid() is None:
                problem = "connection dropped"
            if problem is not None:
                problems.append(f"event {name} as {actor}: {problem}")
    return problems


def _report(problems: list[str]) -> str:
    return f"{len(problems)} authorisation cells wrong:\n" + "\n".join(problems)


async def test_socket_event_matrix(world: World) -> None:
    problems = await run_event_matrix(world, list(EVENT_TABLE))
    assert not problems, _report(problems)


# Cells whose cost is argon2 (password checks and hashes): run on SQLite only, to keep the
# file's runtime bounded on a 2-core machine; their rules do not depend on the database.
ARGON2_HEAVY = {
    ("POST", f"{A}/auth/login", ""),
    ("POST", f"{A}/auth/totp/disable", ""),
    ("POST", f"{A}/admin/users", ""),
    ("POST", f"{A}/admin/users/{{user_id}}/reset-password", ""),
}


async def test_rest_matrix(world: World) -> None:
    keys = [k for k in REST if world.svc.db.is_sqlite or k not in ARGON2_HEAVY]
    problems = await run_rest_matrix(world, keys)
    assert not problems, _report(problems)


async def _refusal(url: str, auth: Any) -> Any:
    sio = socketio.AsyncClient(reconnection=False)
    refused: list[Any] = []

    @sio.on("connect_error")  # type: ignore[misc]
    async def on_error(data: Any = None) -> None:
        refused.append(data)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=5)
    await sio.disconnect()
    assert refused, auth
    return refused[0]


BAD_AUTH = (None, {}, {"token": "rls_not-a-token"}, {"token": 42}, "token", [1, 2])


async def test_socket_refuses_anonymous(world: World) -> None:
    """`anon` column of the event table: no socket.io connection without a valid token, so no
    event can be sent at all; the server keeps serving the others."""
    assert all(cell.expect["anon"] == UNAUTH for cell in EVENT_TABLE.values())
    for auth in BAD_AUTH:
        refusal = await _refusal(world.running.url, auth)
        assert UNAUTH in json.dumps(refusal), (auth, refusal)
    sio = await world.socket("owner")
    assert "error" not in await sio.call("sync", {}, timeout=10)


async def test_socket_refusal_carries_error_code(world: World) -> None:
    refusal = await _refusal(world.running.url, {"token": "rls_not-a-token"})
    code = ((refusal.get("data") or {}).get("error") or {}).get("code")
    assert code == UNAUTH, refusal

"""The public key directory: publish, look up and revoke the key material clients encrypt to.

The server stores and serves what clients publish and interprets none of it: a user's identity
key and signed device list, and each device's signed pre-key bundle (docs/crypto.md defines the
contents). Trust comes from the signatures, which clients check; the server's part is to keep the
material available, to answer only people with a reason to encrypt to a user (themselves,
co-members, and the roles that add members to rooms), and to tell the people concerned when it
changes (`keys.changed`) so they fetch and verify it again.

Device lists form a hash-chained log; the server keeps every version a client publishes with a
version number (`device_list_log`) and serves the part after a version the client names, so a
client that pinned one list can verify the chain up to the newest. Publishing takes the versions
in order, one at a time: two devices of one user signing the same next version (which clients
would see as a fork and freeze) get a conflict instead, and the slower one builds on the winner.

A changed identity key is accepted - a user who lost every device and their backup has no other
way to start over - but audited as `keys.identity_reset`; warning the other users is the
clients' job, since only they can tell a reset from an attack.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from server.api.context import services
from server.api.routing import json_response, route
from server.audit.log import AuditRecord, append
from server.auth import sessions
from server.auth.principal import Principal
from server.errors import ApiError, not_found
from server.realtime.disconnect import disconnect_sockets
from server.rooms import store as rooms_store
from server.rooms.member_cache import emit_to_users

from . import store

if TYPE_CHECKING:
    from server.services import Services

Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
DEVICE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")

# 32 bytes in unpadded base64url are 43 characters; the last one carries 4 bits of key and 2 zero
# bits, so only these 16 letters end a canonical encoding. One key has one spelling, which makes
# "did the identity key change?" a plain string comparison.
IdentityKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{42}[AEIMQUYcgkosw048]$")]
MAX_DEVICE_LIST = 65_536
MAX_DEVICE_KEYS = 16_384
MAX_QUERY_USERS = 500
# Lists of one user's log per query answer; a client asks again from the last one it got.
LOG_PAGE = 100
MAX_VERSION = 2**31 - 1  # an INTEGER column

# Roles that add members to rooms: they must verify a person's keys before sharing room keys
# with someone they do not share a room with yet.
DIRECTORY_ROLES = ("clinician", "admin", "assistant")


class PublishDeviceList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    identity_key: IdentityKey
    signed_device_list: Annotated[str, StringConstraints(min_length=1, max_length=MAX_DEVICE_LIST)]
    # The list's version (docs/crypto.md §2.1): when given, the list joins the log.
    version: Annotated[StrictInt, Field(ge=1, le=MAX_VERSION)] | None = None


class PublishDeviceKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_keys: Annotated[str, StringConstraints(min_length=1, max_length=MAX_DEVICE_KEYS)]


class QueryKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_QUERY_USERS)]
    # user -> version: also return that user's logged lists after this version.
    since: dict[Id, Annotated[StrictInt, Field(ge=0, le=MAX_VERSION)]] | None = None

    @field_validator("user_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("user_ids must be unique")
        return value

    @model_validator(mode="after")
    def _since_among_users(self) -> QueryKeys:
        if self.since and not set(self.since) <= set(self.user_ids):
            raise ValueError("since names users that are not in user_ids")
        return self


async def _append_to_log(conn: AsyncConnection, user_id: str, body: PublishDeviceList) -> None:
    """Versions go in order, one at a time; re-sending the head is a harmless retry. Anything
    else conflicts and names the head, so the client re-fetches and builds on it."""
    assert body.version is not None
    head = await store.log_head(conn, user_id)
    if body.version == head + 1:
        await store.add_to_log(conn, user_id, body.version, body.signed_device_list)
        return
    if body.version == head:
        if await store.logged_list(conn, user_id, head) == body.signed_device_list:
            return
    raise ApiError(
        "conflict",
        "the device list log is at another version",
        details={"current_version": head},
    )


async def notify_keys_changed(svc: Services, user_id: str, co_members: set[str]) -> None:
    """Tell the user's own devices and everyone sharing a room with them to re-fetch."""
    await emit_to_users(svc, "keys.changed", {"user_id": user_id}, co_members | {user_id})


@route(
    "PUT",
    "/api/v1/keys/device-list",
    body=PublishDeviceList,
    tags=("keys",),
    errors=("conflict",),
    summary="Publish the caller's identity key and signed device list (opaque).",
)
async def publish_device_list(
    request: web.Request, p: Principal, body: PublishDeviceList
) -> web.Response:
    svc = services(request)
    async with svc.db.write() as conn:
        current = await store.lock_user_keys(conn, p.user_id)
        reset = current.identity_key is not None and current.identity_key != body.identity_key
        changed = (current.identity_key, current.signed_device_list) != (
            body.identity_key,
            body.signed_device_list,
        )
        if reset:
            # A new identity key starts a new log: the old one's lists prove nothing for it.
            await store.clear_log(conn, p.user_id)
        if body.version is not None:
            await _append_to_log(conn, p.user_id, body)
        if changed:
            await store.set_user_keys(conn, p.user_id, body.identity_key, body.signed_device_list)
        await append(
            conn,
            [
                AuditRecord(
                    "keys.identity_reset" if reset else "keys.publish",
                    p.user_id,
                    p.device_id,
                    target=p.user_id,
                    ip=p.ip,
                    detail={"bytes": len(body.signed_device_list), "changed": changed},
                )
            ],
        )
        co_members = await rooms_store.co_members(conn, p.user_id) if changed else set()
    if changed:
        await notify_keys_changed(svc, p.user_id, co_members)
    return json_response({"user_id": p.user_id, "changed": changed, "identity_reset": reset})


@route(
    "PUT",
    "/api/v1/keys/device",
    body=PublishDeviceKeys,
    tags=("keys",),
    errors=("not_found",),
    summary="Publish the calling device's public keys (signed pre-key bundle, opaque).",
)
async def publish_device_keys(
    request: web.Request, p: Principal, body: PublishDeviceKeys
) -> web.Response:
    svc = services(request)
    async with svc.db.write() as conn:
        current = await store.lock_live_device_keys(conn, p.user_id, p.device_id)
        if current is None:  # revoked between authentication and now
            raise not_found("device")
        changed = current.public_keys != body.public_keys
        if changed:
            await store.set_device_keys(conn, p.device_id, body.public_keys)
        await append(
            conn,
            [
                AuditRecord(
                    "keys.device_publish",
                    p.user_id,
                    p.device_id,
                    target=p.device_id,
                    ip=p.ip,
                    detail={"bytes": len(body.public_keys), "changed": changed},
                )
            ],
        )
        co_members = await rooms_store.co_members(conn, p.user_id) if changed else set()
    if changed:
        await notify_keys_changed(svc, p.user_id, co_members)
    return json_response({"device_id": p.device_id, "changed": changed})


@route(
    "POST",
    "/api/v1/keys/query",
    body=QueryKeys,
    tags=("keys",),
    summary="Public keys of the users the caller may see (others are simply absent).",
)
async def query_keys(request: web.Request, p: Principal, body: QueryKeys) -> web.Response:
    svc = services(request)
    wanted = body.user_ids
    found: dict[str, dict[str, Any]] = {}
    async with svc.db.read() as conn:
        if p.role in DIRECTORY_ROLES:
            visible = set(wanted)
        else:
            visible = await rooms_store.co_members(conn, p.user_id, wanted)
            if p.user_id in wanted:
                visible.add(p.user_id)
        if visible:
            for u in await store.users_keys(conn, sorted(visible)):
                found[u.user_id] = {
                    "user_id": u.user_id,
                    "identity_key": u.identity_key,
                    "signed_device_list": u.signed_device_list,
                    "devices": [],
                }
        for uid, after in sorted((body.since or {}).items()):
            if uid not in found:
                continue
            found[uid]["device_list_log"] = await store.logged_after(conn, uid, after, LOG_PAGE)
        if found:
            devices = await store.live_device_keys(conn, sorted(found), is_sqlite=svc.db.is_sqlite)
            for d in devices:
                found[d.user_id]["devices"].append(
                    {"device_id": d.device_id, "public_keys": d.public_keys}
                )
    # One record per lookup, counts only: who looked up how many people is what an auditor
    # needs; the ids asked for could themselves reveal who is being cared for by whom.
    await svc.audit.record(
        AuditRecord(
            "keys.query",
            p.user_id,
            p.device_id,
            ip=p.ip,
            detail={"requested": len(wanted), "returned": len(found)},
        )
    )
    return json_response({"users": found})


@route(
    "DELETE",
    "/api/v1/devices/{device_id}",
    tags=("keys",),
    errors=("not_found",),
    summary="Revoke one of the caller's devices: its sessions end, its sockets close.",
)
async def revoke_device(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    device_id = request.match_info["device_id"]
    if not DEVICE_ID.match(device_id):
        raise not_found("device")
    async with svc.db.write() as conn:
        revocation = await sessions.revoke_device(conn, p.user_id, device_id)
        if revocation is None:
            raise not_found("device")
        await append(
            conn,
            [
                AuditRecord(
                    "device.revoke",
                    p.user_id,
                    p.device_id,
                    target=device_id,
                    ip=p.ip,
                    ts=revocation.revoked_at,
                    detail={"sessions": revocation.sessions},
                )
            ],
        )
        co_members = await rooms_store.co_members(conn, p.user_id)
    # Other nodes close theirs in the session sweeper.
    closed = await disconnect_sockets(svc, p.user_id, device_id=device_id)
    await notify_keys_changed(svc, p.user_id, co_members)
    return json_response(
        {
            "device_id": device_id,
            "revoked_at": revocation.revoked_at,
            "sessions_revoked": revocation.sessions,
            "sockets_closed": closed,
        }
    )

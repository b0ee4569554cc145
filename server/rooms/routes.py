"""Care rooms over REST: create, list, read, and change membership."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from server.api.context import services
from server.api.routing import json_response, route
from server.auth.principal import Principal

from . import service

Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
Opaque = Annotated[str, StringConstraints(max_length=16_384)]


RoomId = Annotated[str, StringConstraints(pattern=r"^r_[A-Za-z0-9_\-]{16,38}$")]


class CreateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: RoomId | None = None
    patient_user_id: Id | None = None
    encrypted_meta: Opaque | None = None
    signed_event: Opaque | None = None
    patient_signed_event: Opaque | None = None


class AddMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: Id
    room_role: Annotated[str, StringConstraints(pattern=r"^(owner|member)$")] = "member"
    consent_id: Id | None = None
    signed_event: Opaque | None = None


class RemoveMember(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signed_event: Opaque | None = None


class UpdateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")
    encrypted_meta: Opaque


def _room_id(request: web.Request) -> str:
    return request.match_info["room_id"]


@route(
    "POST",
    "/api/v1/rooms",
    body=CreateRoom,
    roles=("admin", "clinician"),
    tags=("rooms",),
    summary="Create a care room (the caller becomes its owner).",
    errors=("forbidden", "conflict"),
)
async def create_room(request: web.Request, p: Principal, body: CreateRoom) -> web.Response:
    room = await service.create_room(
        services(request),
        p,
        body.patient_user_id,
        body.encrypted_meta,
        body.signed_event,
        room_id=body.room_id,
        patient_signed_event=body.patient_signed_event,
    )
    return json_response(room, status=201)


@route("GET", "/api/v1/rooms", tags=("rooms",), summary="Rooms the caller is a member of.")
async def list_rooms(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response({"rooms": await service.list_rooms(services(request), p)})


@route(
    "GET",
    "/api/v1/rooms/{room_id}",
    tags=("rooms",),
    errors=("not_found",),
    summary="A room's state: members, opaque metadata, last seq.",
)
async def get_room(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response(await service.get_room(services(request), p, _room_id(request)))


@route(
    "PATCH",
    "/api/v1/rooms/{room_id}",
    body=UpdateRoom,
    tags=("rooms",),
    errors=("not_found", "forbidden"),
    summary="Replace the room's encrypted metadata.",
)
async def update_room(request: web.Request, p: Principal, body: UpdateRoom) -> web.Response:
    return json_response(
        await service.update_meta(services(request), p, _room_id(request), body.encrypted_meta)
    )


@route(
    "POST",
    "/api/v1/rooms/{room_id}/members",
    body=AddMember,
    tags=("rooms",),
    errors=("not_found", "forbidden", "consent_required", "conflict"),
    summary="Add a member (owners and admins; consent needed outside the care team).",
)
async def add_member(request: web.Request, p: Principal, body: AddMember) -> web.Response:
    result: dict[str, Any] = await service.add_member(
        services(request),
        p,
        _room_id(request),
        body.user_id,
        body.room_role,
        body.consent_id,
        body.signed_event,
    )
    return json_response(result, status=201)


class SignChainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signed_event: Opaque


@route(
    "POST",
    "/api/v1/rooms/{room_id}/chain",
    body=SignChainCreate,
    tags=("rooms",),
    errors=("not_found", "forbidden", "conflict", "validation_failed"),
    summary="The owner signs the first event of a room the server made (a consultation's chat "
    "room), starting its E2EE membership chain.",
)
async def sign_chain_create(
    request: web.Request, p: Principal, body: SignChainCreate
) -> web.Response:
    result = await service.sign_chain_create(
        services(request), p, _room_id(request), body.signed_event
    )
    return json_response(result, status=201)


@route(
    "DELETE",
    "/api/v1/rooms/{room_id}/members/{user_id}",
    body=RemoveMember,
    tags=("rooms",),
    errors=("not_found", "forbidden"),
    summary="Remove a member (owners and admins; any member may leave).",
)
async def remove_member(request: web.Request, p: Principal, body: RemoveMember) -> web.Response:
    return json_response(
        await service.remove_member(
            services(request),
            p,
            _room_id(request),
            request.match_info["user_id"],
            body.signed_event,
        )
    )


@route(
    "GET",
    "/api/v1/rooms/{room_id}/membership-events",
    tags=("rooms",),
    errors=("not_found",),
    summary="The room's membership events, oldest first.",
)
async def membership_events(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response(
        {"events": await service.membership_events(services(request), p, _room_id(request))}
    )


class RecordConsent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_user_id: Id
    method: Annotated[str, StringConstraints(pattern=r"^(in_app|verbal|written)$")]


@route(
    "POST",
    "/api/v1/rooms/{room_id}/consents",
    body=RecordConsent,
    tags=("rooms",),
    errors=("not_found", "forbidden", "conflict"),
    summary="Record the patient's consent to let one person into the room.",
)
async def record_consent(request: web.Request, p: Principal, body: RecordConsent) -> web.Response:
    return json_response(
        await service.record_consent(
            services(request), p, _room_id(request), body.subject_user_id, body.method
        ),
        status=201,
    )

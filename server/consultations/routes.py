"""REST routes of consultations: create, invite, patient links, assisted sessions, state, record."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from server.api.context import client_ip, services
from server.api.routing import Handler, json_response, route
from server.auth.principal import Principal
from server.errors import ApiError

from . import assisted, consents, guests, records
from .schemas import (
    CreateConsultation,
    CreateLink,
    InviteParticipant,
    OpenAssisted,
    OwnConsent,
    RedeemLink,
)
from .store import record_denial

A = "/api/v1/consultations"
ERRORS = ("not_found", "forbidden", "consultation_ended")


def audited(fn: Handler) -> Handler:
    """Refusals on a named consultation are audited like refused room accesses."""

    @functools.wraps(fn)
    async def wrapper(request: web.Request, p: Principal | None, body: Any) -> web.StreamResponse:
        try:
            return await fn(request, p, body)
        except ApiError as err:
            cid = request.match_info.get("consultation_id")
            what = f"{request.method} {request.match_info.route.resource.canonical}"  # type: ignore[union-attr]
            await record_denial(services(request), p, cid, what, err.code)
            raise

    return wrapper


def _cid(request: web.Request) -> str:
    return request.match_info["consultation_id"]


@route(
    "POST",
    A,
    body=CreateConsultation,
    roles=("clinician",),
    tags=("consultations",),
    summary="Open a consultation (standalone or from a care room the caller is a member of); "
    "the caller is its host.",
    errors=("forbidden", "not_found"),
)
async def create(request: web.Request, p: Principal, body: CreateConsultation) -> web.Response:
    made = await services(request).parts.consultations.create(p, body.room_id)
    return json_response(made, status=201)


@route("GET", A, tags=("consultations",), summary="Consultations the caller takes part in.")
async def list_mine(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response({"consultations": await services(request).parts.consultations.list_for(p)})


@route(
    "POST",
    f"{A}/assisted",
    body=OpenAssisted,
    roles=("assistant",),
    tags=("consultations",),
    summary="Open an assisted consultation for a walk-in patient (identity check, consent) in "
    "a clinician's queue.",
    errors=("forbidden", "not_found", "validation_failed"),
)
async def open_assisted(request: web.Request, p: Principal, body: OpenAssisted) -> web.Response:
    made = await assisted.open_assisted(services(request), p, body)
    return json_response(made, status=201)


@route(
    "POST",
    f"{A}/redeem",
    body=RedeemLink,
    auth=False,
    tags=("consultations",),
    summary="Redeem a patient link: a guest session for that consultation only.",
    errors=("invite_invalid", "invalid_credentials", "rate_limited"),
)
async def redeem(request: web.Request, _p: Principal | None, body: RedeemLink) -> web.Response:
    svc = services(request)
    made = await guests.redeem(
        svc,
        body.token,
        body.code,
        body.device_name,
        client_ip(request, svc.settings),
        request.headers.get("User-Agent"),
    )
    return json_response(made)


@route(
    "GET",
    f"{A}/{{consultation_id}}",
    tags=("consultations",),
    summary="The consultation as the caller may see it (roster when admitted; the waiting "
    "room for the host).",
    errors=("not_found",),
)
@audited
async def get_state(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response(await services(request).parts.consultations.state(p, _cid(request)))


@route(
    "POST",
    f"{A}/{{consultation_id}}/participants",
    body=InviteParticipant,
    tags=("consultations",),
    summary="The host invites an existing user with a role.",
    errors=(*ERRORS, "conflict"),
)
@audited
async def invite(request: web.Request, p: Principal, body: InviteParticipant) -> web.Response:
    made = await services(request).parts.consultations.invite_user(
        p, _cid(request), body.user_id, body.role
    )
    return json_response(made, status=201)


@route(
    "POST",
    f"{A}/{{consultation_id}}/consent",
    body=OwnConsent,
    tags=("consultations",),
    summary="The caller consents to the consultation on their own device (the patient's join "
    "page): recorded with the text's version, once per version.",
    errors=("not_found", "consultation_ended"),
)
@audited
async def consent(request: web.Request, p: Principal, body: OwnConsent) -> web.Response:
    made = await consents.record_own(services(request), p, _cid(request), body.text_version)
    return json_response(made, status=201 if made.pop("new") else 200)


@route(
    "POST",
    f"{A}/{{consultation_id}}/links",
    body=CreateLink,
    tags=("consultations",),
    summary="The host makes a single-use patient link (token shown once), optional code.",
    errors=ERRORS,
)
@audited
async def create_link(request: web.Request, p: Principal, body: CreateLink) -> web.Response:
    made = await guests.create_link(
        services(request), p, _cid(request), body.display_name, body.with_code
    )
    return json_response(made, status=201)


@route(
    "GET",
    f"{A}/{{consultation_id}}/record",
    tags=("consultations",),
    summary="The session record (participants, times, mode changes): host and admins.",
    errors=("not_found", "forbidden"),
)
@audited
async def get_record(request: web.Request, p: Principal, _b: None) -> web.Response:
    return json_response(await records.read_record(services(request), p, _cid(request)))

"""REST plumbing: one decorator declares a route, its body schema, who may call it and its doc.

The same declaration drives validation, authentication, the typed error envelope and the
OpenAPI document served at /api/openapi.json, so the documented contract is the enforced one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.audit.denials import record_denial
from server.errors import ApiError, not_found
from server.validation import decode_json, reject_nul

from .context import Principal, authenticate_request, client_ip, services

Handler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: bool = True
    roles: tuple[str, ...] | None = None
    raw_body: bool = False
    tags: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


ROUTES: list[RouteSpec] = []


def route(
    method: str,
    path: str,
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    auth: bool = True,
    roles: tuple[str, ...] | None = None,
    raw_body: bool = False,
    tags: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
) -> Callable[[Handler], Handler]:
    """Register a handler `(request, ctx, body)` -> Response under the global route table."""

    def deco(fn: Handler) -> Handler:
        ROUTES.append(
            RouteSpec(
                method, path, fn, summary, body, response, auth, roles, raw_body, tags, errors
            )
        )
        return fn

    return deco


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def error_response(err: ApiError) -> web.Response:
    return json_response(err.body(), status=err.status)


def validation_error(exc: ValidationError) -> ApiError:
    """Field paths and error kinds only: the offending values may be patient data."""
    problems = [
        {"loc": ".".join(str(p) for p in e["loc"]), "type": e["type"]} for e in exc.errors()
    ][:20]
    return ApiError(
        "validation_failed", "request does not match the schema", details={"problems": problems}
    )


async def _read_body(request: web.Request, spec: RouteSpec) -> BaseModel | None:
    if spec.body is None:
        return None
    limit = services(request).settings.max_event_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError("payload_too_large", f"body larger than {limit} bytes")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ApiError("payload_too_large", f"body larger than {limit} bytes")
    data = decode_json(raw or b"{}")
    reject_nul(data)
    try:
        return spec.body.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _wrap(spec: RouteSpec) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        svc = services(request)
        svc.limits.check_ip(client_ip(request, svc.settings))
        if any("\x00" in v for v in request.match_info.values()):
            raise not_found("resource")
        principal: Principal | None = None
        if spec.auth:
            principal = await authenticate_request(request)
            if spec.roles is not None and principal.role not in spec.roles:
                raise ApiError("forbidden", "your role may not do this")
            svc.limits.check_user(principal.user_id)
        body = await _read_body(request, spec)
        try:
            return await spec.handler(request, principal, body)
        except ApiError as err:
            if principal is not None:
                room_id = request.match_info.get("room_id")
                await record_denial(svc, principal, room_id, f"{spec.method} {spec.path}", err.code)
            raise

    return handler


def add_routes(app: web.Application) -> None:
    for spec in ROUTES:
        app.router.add_route(spec.method, spec.path, _wrap(spec))

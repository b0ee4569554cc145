"""Liveness, readiness, metrics and the API description."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server.auth.principal import Principal
from server.errors import ApiError
from server.ops import metrics

from .context import services
from .openapi import build_openapi
from .routing import json_response, route


@route("GET", "/healthz", summary="Liveness: the process answers.", auth=False, tags=("ops",))
async def healthz(request: web.Request, _p: Principal | None, _b: None) -> web.Response:
    return json_response({"status": "ok"})


@route(
    "GET",
    "/readyz",
    summary="Readiness: database (and Redis when configured) reachable.",
    auth=False,
    tags=("ops",),
    errors=("unavailable",),
)
async def readyz(request: web.Request, _p: Principal | None, _b: None) -> web.Response:
    svc = services(request)
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(svc.db.ping(), 3)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    if svc.redis is not None:
        try:
            await asyncio.wait_for(svc.redis.ping(), 3)
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "down"
    if any(v != "ok" for v in checks.values()):
        err = ApiError("unavailable", "a dependency is unreachable", details={"checks": checks})
        return json_response(err.body(), status=503)
    return json_response({"status": "ok", "checks": checks})


@route("GET", "/metrics", summary="Prometheus metrics.", auth=False, tags=("ops",))
async def prometheus(request: web.Request, _p: Principal | None, _b: None) -> web.Response:
    body = generate_latest(metrics.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@route(
    "GET", "/api/openapi.json", summary="This API's OpenAPI document.", auth=False, tags=("ops",)
)
async def openapi(request: web.Request, _p: Principal | None, _b: None) -> web.Response:
    return json_response(build_openapi())

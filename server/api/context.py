"""Per-request context: the service container, the caller's identity and IP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.addresses import client_address
from server.auth.principal import Principal
from server.errors import ApiError

if TYPE_CHECKING:
    from server.services import Services
    from server.settings import Settings

SERVICES_KEY: web.AppKey[Services] = web.AppKey("relais_services")

__all__ = [
    "SERVICES_KEY",
    "Principal",
    "authenticate_request",
    "client_ip",
    "services",
]


def services(request: web.Request) -> Services:
    return request.app[SERVICES_KEY]


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return None


async def authenticate_request(request: web.Request) -> Principal:
    token = bearer_token(request)
    if token is None:
        raise ApiError("unauthorized", "missing bearer token")
    principal = await services(request).sessions.resolve(token)
    if principal is None:
        raise ApiError("unauthorized", "invalid or expired session")
    principal.ip = client_ip(request, services(request).settings)
    return principal


def client_ip(request: web.Request, settings: Settings) -> str:
    """A REST caller's address, as the node's settings say to read it (server/addresses.py)."""
    return client_address(request, settings.trust_forwarded_for)

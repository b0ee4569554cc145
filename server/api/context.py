"""Per-request context: the service container, the caller's identity and IP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from server.auth.principal import Principal
from server.errors import ApiError

if TYPE_CHECKING:
    from server.services import Services
    from server.settings import Settings

SERVICES_KEY: web.AppKey[Services] = web.AppKey("relais_services")

__all__ = [
    "SERVICES_KEY",
    "Principal",
    "address_of",
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
    return address_of(request, settings.trust_forwarded_for)


def address_of(request: web.BaseRequest | None, trust_forwarded_for: bool) -> str:
    """The one reading of a caller's address, for REST, the socket.io edge and its CONNECT: the
    TCP peer, or behind our own proxy the first X-Forwarded-For entry (the shipped nginx
    overwrites the header with the peer it saw, so a client cannot choose it)."""
    if request is None:
        return "unknown"
    if trust_forwarded_for:
        fwd = request.headers.get("X-Forwarded-For")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.remote or "unknown"

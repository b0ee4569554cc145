"""A client's address, in one place: which address a request comes from (REST, the socket.io
edge and its CONNECT must agree, or a session bound to its address would not match itself), and
what counts as one client's address for the limits that count per address (login lockout,
request rate): the block of addresses a client holds as cheaply as one address."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web


def client_address(request: web.BaseRequest | None, trust_forwarded_for: bool) -> str:
    """The TCP peer, or behind our own proxy the first X-Forwarded-For entry (the shipped nginx
    overwrites the header with the peer it saw, so a client cannot choose it). `unknown` when
    there is no request (an environ without one) or no peer."""
    if request is None:
        return "unknown"
    if trust_forwarded_for:
        fwd = request.headers.get("X-Forwarded-For")
        if fwd:
            return fwd.split(",")[0].strip()
    return request.remote or "unknown"


def address_block(ip: str) -> str:
    """An IPv4 address is itself, an IPv6 address stands for its /64 (the smallest block a
    provider hands any customer, so rotating within it is free) and an IPv4-mapped IPv6 address
    for its IPv4 address. Anything that does not parse (`unknown`) is kept as it is. Clients that
    share one /64 share its limits, as clients behind one IPv4 NAT already do."""
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(addr), 64), strict=False))
    return str(addr)

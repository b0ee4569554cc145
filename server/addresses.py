"""What counts as one client's address for the limits that count per address (login lockout,
request rate): the block of addresses a client holds as cheaply as one address."""

from __future__ import annotations

import ipaddress


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

"""Remote ICE candidates, checked before aiortc sees them (media legs and link probes alike).

aiortc's parser asserts on malformed input, and a candidate naming the server's own loopback or
link would make the server send STUN to itself: both are refused here with a typed error.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from media.errors import MediaError

# Per peer connection: a browser offers a handful (host, mDNS, srflx, relay per interface).
MAX_CANDIDATES = 32

# RFC 8839 candidate-attribute, checked before aiortc's parser (which asserts on bad input).
_CANDIDATE = re.compile(
    r"^[A-Za-z0-9+/]{1,32} [0-9]{1,3} (?i:udp|tcp) [0-9]{1,10} \S{1,255} [0-9]{1,5} typ "
    r"(host|srflx|prflx|relay)( \S{1,255} \S{1,255})*$"
)


def check_candidate_address(address: str) -> None:
    """Participants' candidates must not make the server send STUN to itself or its own
    link: loopback, link-local, multicast and unspecified addresses are refused (mDNS names
    and private networks are fine)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        if address.endswith(".local"):
            return
        raise MediaError(
            "bad_candidate", "ICE candidate address is not an IP or mDNS name"
        ) from None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified:
        raise MediaError("bad_candidate", "ICE candidate address is not reachable from outside")


async def add_remote_candidate(pc: RTCPeerConnection, candidate: dict[str, Any] | None) -> None:
    """`candidate`: the browser's RTCIceCandidateInit; None or an empty one ends the trickle
    (aiortc needs no marker)."""
    if candidate is None or not candidate.get("candidate"):
        return
    line = str(candidate["candidate"])
    if line.startswith("candidate:"):
        line = line[len("candidate:") :]
    if not _CANDIDATE.match(line):
        raise MediaError("bad_candidate", "unparsable ICE candidate")
    check_candidate_address(line.split()[4])
    try:
        parsed = candidate_from_sdp(line)
    except (ValueError, IndexError, AssertionError) as exc:
        raise MediaError(
            "bad_candidate", f"unparsable ICE candidate: {type(exc).__name__}"
        ) from None
    parsed.sdpMid = candidate.get("sdpMid")
    parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
    if pc.remoteDescription is None:
        raise MediaError("bad_state", "send the offer before ICE candidates")
    try:
        await pc.addIceCandidate(parsed)
    except (ValueError, KeyError, AttributeError) as exc:
        raise MediaError("bad_candidate", f"ICE candidate refused: {type(exc).__name__}") from None

"""STUN/TURN servers as each participant is given them, with short-lived TURN credentials.

A static TURN username and password (`RELAIS_TURN_USERNAME`/`_CREDENTIAL`) is shared by every
participant, never expires, and once it leaks (it is in every patient's browser) anyone can
relay through the TURN server. With `RELAIS_TURN_SECRET` the server shares a secret with
coturn instead (coturn's `use-auth-secret` + `static-auth-secret`, the TURN REST API scheme):
each participant gets its own username `<expiry unix time>:<user id>` and, as the password,
base64(HMAC-SHA1(secret, username)), which coturn recomputes and checks, expiry included,
without a call to Relais. So a credential names who it was issued to and stops working after
`RELAIS_TURN_TTL_S`; the secret never leaves the servers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def ice_servers_from_settings(raw: str, username: str, credential: str) -> list[dict[str, Any]]:
    """`RELAIS_ICE_SERVERS`: either a JSON list of RTCIceServer dicts, or comma-separated
    stun:/turn: URLs (TURN ones get `RELAIS_TURN_USERNAME` / `RELAIS_TURN_CREDENTIAL`)."""
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("["):
        parsed = json.loads(raw)
        if not isinstance(parsed, list) or not all(
            isinstance(e, dict) and "urls" in e for e in parsed
        ):
            raise ValueError("RELAIS_ICE_SERVERS must be a list of {urls, ...} objects")
        return parsed
    servers: list[dict[str, Any]] = []
    for url in (u.strip() for u in raw.split(",")):
        if not url:
            continue
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ValueError(f"not a STUN/TURN URL: {url}")
        entry: dict[str, Any] = {"urls": url}
        if url.startswith("turn") and username:
            entry["username"] = username
            entry["credential"] = credential
        servers.append(entry)
    return servers


def turn_credential(secret: str, user_id: str, ttl_s: int, now: float) -> tuple[str, str]:
    """(username, password) of the TURN REST scheme for `user_id`, valid `ttl_s` from `now`."""
    username = f"{int(now) + ttl_s}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def _is_turn(entry: dict[str, Any]) -> bool:
    urls = entry.get("urls")
    listed = urls if isinstance(urls, list) else [urls]
    return any(isinstance(u, str) and u.startswith(("turn:", "turns:")) for u in listed)


class IceServers:
    """The configured servers; with a secret, each TURN entry carries the asker's own
    credential, made afresh on every ask (a participant asks before each peer connection)."""

    def __init__(self, servers: list[dict[str, Any]], secret: str = "", ttl_s: int = 0) -> None:
        if secret and ttl_s <= 0:
            raise ValueError("RELAIS_TURN_TTL_S must be positive")
        self._servers = servers
        self._secret = secret
        self._ttl_s = ttl_s

    def for_user(self, user_id: str, now: float) -> list[dict[str, Any]]:
        if not self._secret:
            return [dict(e) for e in self._servers]
        username, password = turn_credential(self._secret, user_id, self._ttl_s, now)
        return [
            {**e, "username": username, "credential": password} if _is_turn(e) else dict(e)
            for e in self._servers
        ]

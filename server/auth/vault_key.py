"""The key that unlocks a browser device's local vault (docs/security.md §13).

The browser app seals what it keeps between reloads (device keys, pins, group sessions, the
outbox, decrypted history) under a key derived from this one, and holds the derived key only in
memory. The server hands it to a live session of that device and to nothing else, so:

- after "sign out" the session is gone and the browser's copy of the vault is ciphertext that
  nothing left on the machine opens, while the same person signing in again on that browser gets
  the same key back and finds their device as they left it;
- after the device is revoked (from another device, or "forget this device") the key is erased
  here too: even a copy of the profile made earlier, with a stolen session token, opens nothing.

It is random per device (not derived from a server secret), so rotating server keys never locks a
browser out, and it is made on first use with a conditional UPDATE, so two tabs asking at once
get the same key.
"""

from __future__ import annotations

import base64
import secrets

from aiohttp import web
from sqlalchemy import select, update

from server.api.context import services
from server.api.routing import json_response, route
from server.db.models import Device
from server.errors import ApiError

from .principal import Principal

KEY_BYTES = 32


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).rstrip(b"=").decode()


@route(
    "POST",
    "/api/v1/auth/vault-key",
    tags=("auth",),
    errors=("not_found",),
    summary="The key that unlocks this device's local vault (made on first use).",
)
async def vault_key(request: web.Request, p: Principal, _b: None) -> web.Response:
    svc = services(request)
    live = (Device.id == p.device_id, Device.user_id == p.user_id, Device.revoked_at.is_(None))
    async with svc.db.write() as conn:
        await conn.execute(
            update(Device).where(*live, Device.vault_key.is_(None)).values(vault_key=_new_key())
        )
        key = (await conn.execute(select(Device.vault_key).where(*live))).scalar_one_or_none()
    if key is None:
        raise ApiError("not_found", "device not found")
    return json_response({"device_id": p.device_id, "key": key})

"""Presence events: announce comings and goings to co-members, answer `presence.get`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from redis.exceptions import RedisError

from server.errors import ApiError
from server.messaging.schemas import Id, Strict
from server.parts import Parts
from server.realtime.registry import on
from server.rooms.member_cache import co_members

from .announcer import PresenceAnnouncer
from .backends import LocalPresence, Presence, RedisPresence

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

log = logging.getLogger("relais.presence")

MAX_PRESENCE_QUERY = 200


def announce(svc: Services, user_id: str, online: bool) -> None:
    """Tell everyone who shares a room with `user_id` that it came or went (queued: the
    announcer reads co-members for many changes at once, off the connect path)."""
    announcer = Parts.presence_announcer.peek(svc.parts)
    if announcer is not None:
        announcer.announce(user_id, online)


async def _on_connect(svc: Services, conn: Connection, first_here: bool) -> None:
    if not first_here:
        return
    try:
        if await svc.parts.presence.went_online(conn.principal.user_id):
            announce(svc, conn.principal.user_id, True)
    except Exception:
        # Presence is best effort; it must never refuse a connection.
        log.exception("presence update on connect failed")


async def _on_disconnect(svc: Services, conn: Connection, last_here: bool) -> None:
    uid = conn.principal.user_id
    backend = Parts.presence.peek(svc.parts)
    if not last_here or backend is None:
        return  # not the last connection, or the node is shutting down
    try:
        if await backend.went_offline(uid):
            announce(svc, uid, False)
    except Exception:
        log.exception("presence update on disconnect failed")


class PresenceGet(Strict):
    user_ids: Annotated[list[Id], Field(max_length=MAX_PRESENCE_QUERY)]


@on(
    "presence.get",
    PresenceGet,
    summary="Online state of users sharing a room with the caller (others are omitted).",
)
async def presence_get(svc: Services, conn: Connection, p: PresenceGet) -> dict[str, Any]:
    me = conn.principal.user_id
    asked = list(dict.fromkeys(p.user_ids))
    visible = await co_members(svc.db, me, [u for u in asked if u != me])
    if me in asked:
        visible.add(me)
    try:
        states = await svc.parts.presence.online(sorted(visible))
    except (RedisError, OSError):
        raise ApiError("unavailable", "presence store unreachable, retry later") from None
    return {"presence": states}


async def setup(svc: Services) -> None:
    backend: Presence
    if svc.redis is not None:

        async def offline(user_id: str) -> None:
            announce(svc, user_id, False)

        backend = RedisPresence(svc, offline)
    else:
        backend = LocalPresence(svc)
    await backend.start()
    announcer = PresenceAnnouncer(svc)
    announcer.start()
    svc.parts.presence_announcer = announcer
    svc.parts.presence = backend
    svc.connect_hooks.append(_on_connect)
    svc.disconnect_hooks.append(_on_disconnect)


async def teardown(svc: Services) -> None:
    backend = Parts.presence.detach(svc.parts)
    if backend is not None:
        await backend.stop()
    announcer = Parts.presence_announcer.detach(svc.parts)
    if announcer is not None:
        await announcer.stop()

"""Care-room reads over the socket, for clients that keep one connection open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from server.messaging.schemas import Id
from server.realtime.registry import on

from . import service

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


class RoomRef(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    room_id: Id


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


@on("room.list", Empty, summary="Rooms the caller is a member of (same as GET /api/v1/rooms).")
async def room_list(svc: Services, conn: Connection, _p: Empty) -> dict[str, Any]:
    return {"rooms": await service.list_rooms(svc, conn.principal)}


@on("room.get", RoomRef, summary="One room's state (same as GET /api/v1/rooms/{room_id}).")
async def room_get(svc: Services, conn: Connection, p: RoomRef) -> dict[str, Any]:
    return await service.get_room(svc, conn.principal, p.room_id)


@on("room.events", RoomRef, summary="The room's membership events, oldest first.")
async def room_events(svc: Services, conn: Connection, p: RoomRef) -> dict[str, Any]:
    return {"events": await service.membership_events(svc, conn.principal, p.room_id)}

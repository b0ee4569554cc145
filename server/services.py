"""The node's long-lived parts, built once by the app factory and shared by every handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.audit.log import AuditLog
from server.auth.sessions import SessionService
from server.db.engine import Database
from server.messaging.store import MessageStore
from server.parts import Parts
from server.ratelimit import RateLimiter
from server.realtime.connections import Connection, ConnectionTable
from server.settings import Settings

if TYPE_CHECKING:
    import socketio

# Called with (services, connection, first_or_last_on_this_node) after connect / disconnect.
ConnectionHook = Callable[["Services", Connection, bool], Awaitable[None]]


@dataclass
class Services:
    settings: Settings
    db: Database
    sessions: SessionService
    audit: AuditLog
    messages: MessageStore
    limits: RateLimiter
    connections: ConnectionTable
    sio: socketio.AsyncServer
    redis: Any = None
    draining: bool = False
    connect_hooks: list[ConnectionHook] = field(default_factory=list)
    disconnect_hooks: list[ConnectionHook] = field(default_factory=list)
    # What the feature modules build in their `setup` (server/parts.py).
    parts: Parts = field(default_factory=Parts)

"""The objects feature modules build at start-up, each in a typed slot of `svc.parts`.

A feature's `setup(services)` (server/app.py) builds its long-lived object and assigns it here;
handlers read `svc.parts.<slot>` and get the real type. A slot read before anything was assigned
to it raises `PartNotReady` naming the slot, so a feature listed after one of its users, or a
handler that runs before start-up finished, fails loudly instead of with a wrong object or a
silent `None`. The few readers that can do without a part (a hook that may run after teardown,
a key loaded on first use) ask `Parts.<slot>.peek(svc.parts)`.

The parts' classes are imported for the type checker only: their modules import `Services`,
which holds this container.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from server.errors import ApiError

if TYPE_CHECKING:
    import asyncio

    from server.attachments.blobstore import BlobStore
    from server.auth.totp_secrets import TotpCipher
    from server.consultations.link_check import LinkProbes
    from server.consultations.media_bridge import MediaBridge
    from server.consultations.media_homes import MediaHomes
    from server.consultations.service import ConsultationService
    from server.messaging.todevice import ToDeviceQueue
    from server.presence.announcer import PresenceAnnouncer
    from server.presence.backends import Presence
    from server.rooms.member_cache import MembershipCache

T = TypeVar("T")


class PartNotReady(ApiError):
    """Clients get `unavailable` with the slot's own wording; logs and tracebacks name the slot."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__("unavailable", message)
        self.part = part

    def __str__(self) -> str:
        return f"svc.parts.{self.part} is not set up ({self.message})"


class Part(Generic[T]):
    """One slot; `unavailable` is what a client is told when it reaches an empty one."""

    def __init__(self, unavailable: str) -> None:
        self.unavailable = unavailable
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, parts: None, owner: type[Any] | None = None) -> Part[T]: ...

    @overload
    def __get__(self, parts: Parts, owner: type[Any] | None = None) -> T: ...

    def __get__(self, parts: Parts | None, owner: type[Any] | None = None) -> T | Part[T]:
        if parts is None:
            return self
        found = self.peek(parts)
        if found is None:
            raise PartNotReady(self.name, self.unavailable)
        return found

    def __set__(self, parts: Parts, value: T) -> None:
        parts.__dict__[self.name] = value

    def peek(self, parts: Parts) -> T | None:
        """The part, or None when this node has not set it up (or has torn it down)."""
        found: T | None = parts.__dict__.get(self.name)
        return found

    def detach(self, parts: Parts) -> T | None:
        """Empty the slot for a teardown, handing back what it held so it can be closed."""
        found: T | None = parts.__dict__.pop(self.name, None)
        return found


class Parts:
    """One slot per feature-built object, in the order FEATURE_MODULES sets them up."""

    todevice: Part[ToDeviceQueue] = Part("to-device queue is not running")
    membership_cache: Part[MembershipCache] = Part("membership cache is not running")
    presence: Part[Presence] = Part("presence is not running")
    presence_announcer: Part[PresenceAnnouncer] = Part("presence is not running")
    blobs: Part[BlobStore] = Part("attachment storage is not ready")
    session_sweeper: Part[asyncio.Task[None]] = Part("session sweeper is not running")
    consultations: Part[ConsultationService] = Part("consultations are not running")
    media_bridge: Part[MediaBridge] = Part("media is not running on this node")
    media_homes: Part[MediaHomes] = Part("media is not running on this node")
    link_probes: Part[LinkProbes] = Part("media is not running on this node")
    # Loaded on first use, not at start-up (server/auth/totp_secrets.py `cipher`).
    totp_cipher: Part[TotpCipher] = Part("TOTP sealing key is not loaded")

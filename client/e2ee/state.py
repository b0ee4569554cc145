"""Everything one E2EE device knows, in one place that every part of the client shares.

The parts (device keys, backup, sending, receiving, key sharing, membership) each do one job, but
they act on the same keys and sessions: a key that arrives must release the messages waiting for
it, a session made for sending must be readable by this device and backed up. Keeping that state
in one object, rather than spread over the parts, means there is exactly one copy of each fact.
The one lock lives here too: received items and user calls both mutate key state, and they must
never do it concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from crypto import group
from crypto.identity import DeviceEntry
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore

from ..sdk import RelaisClient
from .chains import RoomChains
from .directory import KeyDirectory
from .records import MessageRecord, Metrics

DAY_MS = 86_400_000

SessionKey = tuple[str, str, str]  # (room, sender device, session id)
UserDevice = tuple[str, str]  # (user, device)


def now_ms() -> int:
    return int(time.time() * 1000)


class E2EEError(Exception):
    """A refusal the application should show: `code` is stable, the message is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class Policy:
    """Rotation and retry settings (docs/crypto.md §6.1, §2.2); tests shorten them."""

    rotate_after_messages: int = 100
    rotate_after_ms: int = 7 * DAY_MS
    prekey_rotate_ms: int = 7 * DAY_MS
    prekey_grace_ms: int = 14 * DAY_MS
    retry_interval_s: float = 30.0


@dataclass(eq=False, repr=False)
class DeviceState:
    api: RelaisClient
    user_id: str
    device_id: str
    policy: Policy
    clock: Callable[[], int]
    metrics: Metrics
    trust: TrustStore
    directory: KeyDirectory
    chains: RoomChains
    # The user's identity key: None until this device is bootstrapped, approved or restored.
    ik: SigningKey | None = None
    dsk: SigningKey = field(default_factory=SigningKey.generate)
    dx: DhKey = field(default_factory=DhKey.generate)
    prekeys: dict[int, DhKey] = field(default_factory=dict)
    prekey_made: dict[int, int] = field(default_factory=dict)
    prekey_retired: dict[int, int] = field(default_factory=dict)
    outbound: dict[str, group.OutboundSession] = field(default_factory=dict)
    inbound: dict[SessionKey, group.InboundSession] = field(default_factory=dict)
    # Sessions another device handed over: if one turns out wrong, it is dropped and asked again.
    inbound_forwarded: set[SessionKey] = field(default_factory=set)
    seen_pairwise: set[str] = field(default_factory=set)
    records: dict[str, MessageRecord] = field(default_factory=dict)
    waiting: dict[SessionKey, set[str]] = field(default_factory=dict)
    requested: dict[SessionKey, int] = field(default_factory=dict)
    order: dict[SessionKey, tuple[int, int]] = field(default_factory=dict)
    backup_key: bytes | None = None
    backup_version: int | None = None
    on_decrypted: Callable[[MessageRecord], Awaitable[None] | None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def require_identity(self) -> SigningKey:
        if self.ik is None:
            raise E2EEError("no_identity", "this device has not been approved yet")
        return self.ik

    def own_entry(self) -> DeviceEntry:
        return DeviceEntry(self.device_id, self.dsk.public, self.dx.public)

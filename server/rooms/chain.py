"""The server's guard over each room's E2EE membership chain.

The server cannot sign membership events, but clients share keys with whoever the signed chain
names, so the server must keep that chain linear and consistent with its own membership table:
it refuses a signed event that does not describe the change being made or does not extend the
stored head, and it refuses to drop, unsigned, someone the chain still names.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from crypto.errors import CryptoError
from crypto.keys import public_key
from crypto.membership import check_append, parse_event, replay_unverified
from server.errors import ApiError
from server.keys import store as key_store

from . import store


async def refuse_unsigned_removal(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    """Members' clients share keys with everyone in the signed chain: removing a chain member
    without a signed `remove` would cut their access here while every client kept giving them
    the keys to what follows. The removal must come from an E2EE client (an owner, or the member
    leaving). Consultations (server/consultations/chat.py) remove departed participants on the
    server's own authority and call this to leave chain members to the host's client."""
    await store.lock_room(conn, room_id)
    chain = await store.chain_wires(conn, room_id)
    try:
        in_chain = (
            bool(chain)
            and user_id in (await asyncio.to_thread(replay_unverified, room_id, chain)).members
        )
    except CryptoError:
        in_chain = False  # a chain no client can verify any more gives nobody keys
    if in_chain:
        raise ApiError(
            "conflict",
            "this member is in the room's signed membership chain: the removal must be signed "
            "by an owner's (or the member's own) E2EE client",
        )


async def check_signed_event(
    conn: AsyncConnection,
    room_id: str,
    signed_event: str | None,
    *,
    action: str,
    actor: str,
    target: str,
    room_role: str | None,
    consent_id: str | None,
    known_last: tuple[str | None] | None = None,
) -> None:
    """Keep the E2EE membership chain linear and truthful to what the server does.

    Two owners acting at once both sign on the same head, and the second must re-sign
    (`conflict`) instead of forking the chain that clients verify. `known_last` stands for the
    stored chain when the caller writes the room's first events in this very transaction.
    """
    if signed_event is None:
        return
    if known_last is None:
        # Lock the room row before reading the chain: two owners signing on the same head at
        # once must not both pass (PostgreSQL; SQLite writes are already serialised).
        await store.lock_room(conn, room_id)
    if known_last is not None:
        chain = [w for w in known_last if w is not None]
    else:
        chain = await store.chain_wires(conn, room_id)
    last = chain[-1] if chain else None
    ik_text = await key_store.identity_key(conn, actor)
    try:
        new = parse_event(signed_event)
        expected_n = 1 if last is None else parse_event(last).n + 1
        if new.n != expected_n:
            raise ApiError(
                "conflict",
                "signed_event does not extend the room's membership chain; re-sign on the new head",
                details={"expected_n": expected_n},
            )
        # Replaying the chain and verifying a signature is CPU work that grows with the chain:
        # off the event loop.
        await asyncio.to_thread(
            check_append,
            room_id,
            last,
            signed_event,
            action=action,
            actor=actor,
            target=target,
            role=room_role,
            consent=consent_id,
            actor_ik=public_key(ik_text) if ik_text else None,
            chain=chain,
        )
    except CryptoError as err:
        raise ApiError(
            "validation_failed",
            f"signed_event is not a valid membership event for this change ({err.code})",
        ) from err

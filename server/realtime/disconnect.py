"""Closes this node's live sockets of a user, or of one session or device of theirs, when it
ends here.

Revoking a session in the database stops new requests and connects, but an open socket was
authenticated once at connect; without this it would keep sending until it reconnects. Logout,
revoke, device revocation, account disable and a guest's end call it on the node that handled
them; the other nodes catch up through server/realtime/session_sweeper.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.services import Services


async def disconnect_sockets(
    svc: Services, user_id: str, *, session_id: str | None = None, device_id: str | None = None
) -> int:
    """Returns how many sockets were closed: all the user's, or one session's or one device's."""
    closed = 0
    for sid in svc.connections.sids_of_user(user_id):
        conn = svc.connections.by_sid.get(sid)
        if conn is None or (session_id is not None and conn.principal.session_id != session_id):
            continue
        if device_id is not None and conn.principal.device_id != device_id:
            continue
        await svc.sio.disconnect(sid)
        closed += 1
    return closed

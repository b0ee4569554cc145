"""Who may read a care room and who may change its membership.

Other capabilities ask the same questions before acting on a room (an invitation into a room, a
consultation started from one): they call these rather than restating the rule, so the answer
to "may this person manage this room" cannot differ between the rooms API and anything else.
A non-member learns nothing, not even whether the room exists: every refusal to one is
`not_found`.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from server.auth.principal import Principal
from server.errors import ApiError, not_found

from . import store
from .store import MemberRecord

CARE_TEAM_ROLES = ("clinician", "admin")


def is_manager(role: str, membership: MemberRecord | None) -> bool:
    """Admins manage every room; otherwise an owner who is on the care team (a patient made
    owner by mistake still may not add people to their own room)."""
    if role == "admin":
        return True
    return membership is not None and membership.room_role == "owner" and role in CARE_TEAM_ROLES


async def require_member(conn: AsyncConnection, p: Principal, room_id: str) -> MemberRecord:
    """The caller's membership of an existing room, or `not_found`."""
    m = await store.membership(conn, room_id, p.user_id)
    if m is None or await store.room(conn, room_id) is None:
        raise not_found()
    return m


async def require_manager(conn: AsyncConnection, p: Principal, room_id: str) -> None:
    """Refuse anyone who may not change the room's membership: a non-member gets `not_found`,
    a member who is not a manager `forbidden`. An invitation into a room is a membership change
    too, so server/auth/invites.py asks this before creating one."""
    if await store.room(conn, room_id) is None:
        raise not_found()
    if p.is_admin:
        return
    m = await store.membership(conn, room_id, p.user_id)
    if m is None:
        raise not_found()
    if not is_manager(p.role, m):
        raise ApiError("forbidden", "only room owners and admins change membership")

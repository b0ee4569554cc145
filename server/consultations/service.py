"""The consultation lifecycle and the interface the media/signalling side relies on.

Who is in which consultation, in what role and whether the host let them in is decided here and
only here: signalling asks `require_admitted` before negotiating a leg, reads `participants`,
writes the session record through `record_mode_change` / `record_leg_event`, and registers a
`ConsultationListener` to tear legs down when someone leaves, is refused after admission, or when
the host ends the consultation (not when a connection drops: see `disconnected`).

A disconnection is not a departure: the participant stays admitted (not present), so a client
whose network changed reconnects, sends `consult.join` again and is back without the host
re-admitting it. An explicit `consult.leave` is a departure: coming back means waiting again.
Presence is tracked per node (the participant's last socket on this node), like typing.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from media.policy import Mode
from server.audit.log import AuditRecord, append
from server.auth import accounts
from server.auth.principal import Principal
from server.db.models import (
    Consultation,
    ConsultationParticipant,
    new_id,
    now_ms,
)
from server.errors import ApiError, not_found
from server.rooms.access import require_member

from . import chat, emit, guests
from .emit import emit_to_consultation, emit_to_participant
from .store import (
    ENDED,
    OPEN,
    Participant,
    add_event,
    all_participants,
    audit,
    participant_by_id,
    participant_of,
    public_participant,
    require_host,
    require_participant,
    to_participant,
)

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services

__all__ = [
    "ConsultationListener",
    "ConsultationService",
    "Participant",
    "emit_to_consultation",
    "emit_to_participant",
    "setup",
]

log = logging.getLogger("relais.consultations")

# `clinician`: a clinician taking part who is not the host (the remote specialist of a
# three-way consultation); only an account with the clinician role may be invited as one.
INVITABLE_ROLES = ("patient", "clinician", "assistant", "observer")
EVENT_OF_STATE = {"waiting": "join", "admitted": "admit", "left": "leave", "denied": "deny"}
# States whose departure the listeners hear of: media legs are admitted only, link probes
# (link_check.py) run in the waiting room too.
PRESENT = ("waiting", "admitted")
MAX_MEASURED = 32
MAX_DETAIL_BYTES = 2048


class ConsultationListener(Protocol):
    async def participant_left(self, consultation_id: str, participant_id: str) -> None: ...

    async def consultation_ended(self, consultation_id: str) -> None: ...


Change = tuple[dict[str, Any], list[str]]


class ConsultationService:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.listeners: list[ConsultationListener] = []
        # user id -> consultations joined from a socket of this node (disconnects look here
        # before touching the database).
        self._local: dict[str, set[str]] = {}

    # -- the media/signalling interface ---------------------------------------------------
    async def require_admitted(self, principal: Principal, consultation_id: str) -> Participant:
        async with self.svc.db.read() as conn:
            _, me = await require_participant(conn, principal, consultation_id)
        if me.state != "admitted":
            raise ApiError("not_admitted", "you are not admitted to this consultation")
        return to_participant(me)

    async def require_present(self, principal: Principal, consultation_id: str) -> Participant:
        """Waiting or admitted: a link check may run in the waiting room."""
        async with self.svc.db.read() as conn:
            _, me = await require_participant(conn, principal, consultation_id)
        if me.state not in PRESENT:
            raise ApiError("not_admitted", "join the consultation's waiting room first")
        return to_participant(me)

    async def audit_media(
        self, p: Principal, participant: Participant, action: str, detail: dict[str, Any]
    ) -> None:
        """Media signalling is an access to the consultation: audited under its care room."""
        async with self.svc.db.read() as conn:
            room_id = (
                await conn.execute(
                    select(Consultation.room_id).where(
                        Consultation.id == participant.consultation_id
                    )
                )
            ).scalar_one_or_none()
        await self.svc.audit.record(
            audit(
                action,
                p,
                participant.consultation_id,
                room_id,
                detail={"participant_id": participant.id, **detail},
            )
        )

    async def participants(self, consultation_id: str) -> list[Participant]:
        """Admitted participants with a live connection (walk-in patients are reached through
        their assistant and are never present on their own)."""
        async with self.svc.db.read() as conn:
            rows = await all_participants(conn, consultation_id)
        return [to_participant(r) for r in rows if r.state == "admitted" and r.present]

    async def record_mode_change(
        self,
        consultation_id: str,
        participant_id: str,
        mode: str,
        reason: str,
        measured: dict[str, float],
        previous: str | None = None,
    ) -> None:
        """`previous`: the mode left (the record's first change of a leg has no earlier entry to
        read it from; the summary says "from video to sound only")."""
        modes = tuple(Mode)
        if mode not in modes or (previous is not None and previous not in modes):
            raise ApiError("validation_failed", f"mode must be one of {', '.join(modes)}")
        if not reason or len(reason) > 80:
            raise ApiError("validation_failed", "reason must have 1 to 80 characters")
        if len(measured) > MAX_MEASURED or not all(
            isinstance(k, str)
            and 0 < len(k) <= 40
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            for k, v in measured.items()
        ):
            raise ApiError("validation_failed", "measured must map short names to finite numbers")
        detail = {
            "mode": mode,
            **({"previous": previous} if previous is not None else {}),
            "reason": reason,
            "measured": {k: float(v) for k, v in measured.items()},
        }
        await self._record(consultation_id, participant_id, "mode", detail)

    async def record_leg_event(
        self, consultation_id: str, participant_id: str, kind: str, detail: dict[str, Any]
    ) -> None:
        if not kind or len(kind) > 40:
            raise ApiError("validation_failed", "kind must have 1 to 40 characters")
        body = {"kind": kind, "detail": detail}
        try:
            size = len(json.dumps(body, allow_nan=False))
        except (TypeError, ValueError):
            raise ApiError("validation_failed", "detail must be plain JSON") from None
        if size > MAX_DETAIL_BYTES:
            raise ApiError("validation_failed", f"detail larger than {MAX_DETAIL_BYTES} bytes")
        await self._record(consultation_id, participant_id, "leg", body)

    async def _record(
        self, consultation_id: str, participant_id: str, kind: str, detail: dict[str, Any]
    ) -> None:
        async with self.svc.db.write() as conn:
            if await participant_by_id(conn, consultation_id, participant_id) is None:
                raise not_found("participant")
            await add_event(
                conn, consultation_id, kind, participant_id=participant_id, detail=detail
            )

    # -- creation and invitations ---------------------------------------------------------
    async def create(self, p: Principal, room_id: str | None) -> dict[str, Any]:
        now = now_ms()
        cid = new_id("c")
        async with self.svc.db.write() as conn:
            if room_id is not None:
                await require_member(conn, p, room_id)
            chat_room = await chat.create_room(conn, p.user_id, now)
            await insert_consultation(conn, cid, p.user_id, p.user_id, room_id, chat_room, now)
            host_pid = await insert_participant(
                conn,
                cid,
                p.user_id,
                "host",
                await accounts.display_name(conn, p.user_id),
                p.user_id,
                now,
            )
            await add_event(
                conn, cid, "create", actor_user_id=p.user_id, detail={"room_id": room_id}
            )
            await append(
                conn,
                [
                    audit("consult.create", p, cid, room_id, detail={"chat_room_id": chat_room}),
                    AuditRecord(
                        "room.create",
                        p.user_id,
                        p.device_id,
                        chat_room,
                        ip=p.ip,
                        detail={"consultation_id": cid},
                    ),
                ],
            )
        return {
            "consultation_id": cid,
            "room_id": room_id,
            "chat_room_id": chat_room,
            "host_participant_id": host_pid,
            "status": OPEN,
            "created_at": now,
        }

    async def invite_user(
        self, p: Principal, consultation_id: str, user_id: str, role: str
    ) -> dict[str, Any]:
        if role not in INVITABLE_ROLES:
            raise ApiError("validation_failed", f"role must be one of {', '.join(INVITABLE_ROLES)}")
        now = now_ms()
        async with self.svc.db.write() as conn:
            c, me = await require_host(conn, p, consultation_id)
            target = await accounts.account(conn, user_id)
            if target is None or target.disabled or target.role == accounts.GUEST_ROLE:
                raise not_found("user")
            if role == "clinician" and target.role != "clinician":
                raise ApiError("validation_failed", "only a clinician joins as a clinician")
            if await participant_of(conn, consultation_id, user_id) is not None:
                raise ApiError("conflict", "already a participant")
            pid = await insert_participant(
                conn, consultation_id, user_id, role, target.display_name, p.user_id, now
            )
            await add_event(
                conn,
                consultation_id,
                "invite",
                participant_id=pid,
                actor_user_id=p.user_id,
                detail={"role": role},
            )
            await append(
                conn,
                [
                    audit(
                        "consult.invite",
                        p,
                        consultation_id,
                        c.room_id,
                        target=user_id,
                        detail={"role": role, "participant_id": pid},
                    )
                ],
            )
        await emit.tell_invited(
            self.svc,
            consultation_id,
            user_id,
            {
                "participant_id": pid,
                "role": role,
                "host": {"participant_id": me.id, "display_name": me.display_name},
            },
        )
        return {"participant_id": pid, "user_id": user_id, "role": role, "state": "invited"}

    # -- reading --------------------------------------------------------------------------
    async def list_for(self, p: Principal) -> list[dict[str, Any]]:
        async with self.svc.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        Consultation.id,
                        Consultation.status,
                        Consultation.assisted,
                        Consultation.host_user_id,
                        Consultation.created_at,
                        Consultation.room_id,
                        ConsultationParticipant.id.label("pid"),
                        ConsultationParticipant.role,
                        ConsultationParticipant.state,
                    )
                    .join(
                        ConsultationParticipant,
                        ConsultationParticipant.consultation_id == Consultation.id,
                    )
                    .where(
                        ConsultationParticipant.user_id == p.user_id,
                        ConsultationParticipant.state != "denied",
                    )
                    .order_by(Consultation.created_at.desc())
                    .limit(200)
                )
            ).all()
            out: list[dict[str, Any]] = []
            for r in rows:
                item: dict[str, Any] = {
                    "consultation_id": r.id,
                    "status": r.status,
                    "assisted": bool(r.assisted),
                    "host_user_id": r.host_user_id,
                    "created_at": r.created_at,
                    "participant_id": r.pid,
                    "role": r.role,
                    "state": r.state,
                    # As in `state`: a guest learns nothing of the care room it came from.
                    "room_id": r.room_id if r.role == "host" else None,
                }
                if r.role == "host":
                    parts = await all_participants(conn, r.id)
                    item["waiting"] = sum(1 for x in parts if x.state == "waiting")
                    item["assisted_by"] = _assisted_by(parts)
                out.append(item)
        return out

    async def state(self, p: Principal, consultation_id: str) -> dict[str, Any]:
        async with self.svc.db.read() as conn:
            c, me = await require_participant(conn, p, consultation_id, open_only=False)
            parts = await all_participants(conn, consultation_id)
        host = me.role == "host"
        inside = me.state == "admitted" or host
        body: dict[str, Any] = {
            "consultation_id": c.id,
            "status": c.status,
            "assisted": bool(c.assisted),
            "created_at": c.created_at,
            "ended_at": c.ended_at,
            "me": public_participant(me),
            "assisted_by": _assisted_by(parts),
            # A guest learns nothing of the care room the consultation came from.
            "room_id": c.room_id if host else None,
            "chat_room_id": c.chat_room_id if inside else None,
            "participants": [public_participant(r) for r in parts if r.state == "admitted"]
            if inside
            else [],
            "waiting": [public_participant(r) for r in parts if r.state == "waiting"]
            if host
            else [],
        }
        await self.svc.audit.record(audit("consult.state_read", p, c.id, c.room_id))
        return body

    # -- the waiting room -----------------------------------------------------------------
    async def join(self, p: Principal, consultation_id: str) -> dict[str, Any]:
        """Enter the waiting room (the host is admitted at once); an admitted participant who
        lost their connection is simply present again."""
        now = now_ms()
        async with self.svc.db.write() as conn:
            c, me = await require_participant(conn, p, consultation_id)
            if me.state == "denied":
                raise ApiError("not_admitted", "the host did not admit you to this consultation")
            records: list[AuditRecord] = []
            if me.state == "admitted":
                await _set(conn, me.id, present=True)
                await add_event(conn, c.id, "rejoin", participant_id=me.id, actor_user_id=p.user_id)
                records.append(
                    audit("consult.join", p, c.id, c.room_id, target=me.id, detail={"rejoin": True})
                )
                state = "admitted"
            else:
                state = "admitted" if me.role == "host" else "waiting"
                await _move(conn, c, me, state, p, now, records, present=True)
            await append(conn, records)
        self._local.setdefault(p.user_id, set()).add(consultation_id)
        if state == "admitted":
            await self._tell(consultation_id, me.id, "participant_rejoined")
        await emit.announce_roster(self.svc, consultation_id)
        if state == "admitted":
            await emit.tell_participant_state(
                self.svc, consultation_id, me, "admitted", c.chat_room_id
            )
        return {
            "consultation_id": consultation_id,
            "participant_id": me.id,
            "role": me.role,
            "state": state,
            "chat_room_id": c.chat_room_id if state == "admitted" else None,
        }

    async def admit(
        self, p: Principal, consultation_id: str, participant_id: str
    ) -> dict[str, Any]:
        now = now_ms()
        changes: list[Change] = []
        async with self.svc.db.write() as conn:
            c, _ = await require_host(conn, p, consultation_id)
            target = await _target(conn, consultation_id, participant_id)
            if target.state != "waiting":
                raise ApiError("conflict", f"this participant is {target.state}, not waiting")
            records: list[AuditRecord] = []
            await _move(conn, c, target, "admitted", p, now, records)
            if target.user_id is not None and c.chat_room_id is not None:
                added = await chat.add_member(conn, c.chat_room_id, target.user_id, p.user_id, c.id)
                if added is not None:
                    changes.append((added[0], added[1]))
                    records.append(added[2])
            await append(conn, records)
        await chat.notify(self.svc, changes)
        await emit.tell_participant_state(
            self.svc, consultation_id, target, "admitted", c.chat_room_id
        )
        await emit.announce_roster(self.svc, consultation_id)
        return {"participant_id": participant_id, "state": "admitted"}

    async def deny(self, p: Principal, consultation_id: str, participant_id: str) -> dict[str, Any]:
        """Refuse someone waiting, or send away someone admitted; a guest's access ends."""
        now = now_ms()
        async with self.svc.db.write() as conn:
            c, me = await require_host(conn, p, consultation_id)
            target = await _target(conn, consultation_id, participant_id)
            if target.id == me.id:
                raise ApiError("forbidden", "the host ends the consultation instead")
            if target.state == "denied":
                raise ApiError("conflict", "this participant is already refused")
            records: list[AuditRecord] = []
            moved = await _move(conn, c, target, "denied", p, now, records)
            changes = await self._drop_from_chat(conn, c, target, p.user_id, records)
            revoked = [target.user_id] if target.guest and target.user_id else []
            await guests.revoke_guests(conn, revoked)
            await append(conn, records)
        await chat.notify(self.svc, changes)
        await emit.tell_participant_state(self.svc, consultation_id, target, "denied", None)
        await guests.close_sockets(self.svc, revoked)
        await self._left(consultation_id, [r.id for r in moved if r.state in PRESENT])
        await emit.announce_roster(self.svc, consultation_id)
        return {"participant_id": participant_id, "state": "denied"}

    async def leave(self, p: Principal, consultation_id: str) -> dict[str, Any]:
        now = now_ms()
        async with self.svc.db.write() as conn:
            c, me = await require_participant(conn, p, consultation_id)
            if me.state not in ("waiting", "admitted"):
                return {"participant_id": me.id, "state": me.state}
            records: list[AuditRecord] = []
            moved = await _move(conn, c, me, "left", p, now, records)
            changes = await self._drop_from_chat(conn, c, me, p.user_id, records)
            await append(conn, records)
        await chat.notify(self.svc, changes)
        await self._left(consultation_id, [r.id for r in moved if r.state in PRESENT])
        await emit.announce_roster(self.svc, consultation_id)
        return {"participant_id": me.id, "state": "left"}

    async def end(self, p: Principal, consultation_id: str) -> dict[str, Any]:
        now = now_ms()
        async with self.svc.db.write() as conn:
            c, me = await require_host(conn, p, consultation_id)
            done = await conn.execute(
                update(Consultation)
                .where(Consultation.id == c.id, Consultation.status == OPEN)
                .values(status=ENDED, ended_at=now, ended_by=p.user_id)
            )
            if done.rowcount != 1:
                raise ApiError("consultation_ended", "this consultation has ended")
            parts = await all_participants(conn, c.id)
            await conn.execute(
                update(ConsultationParticipant)
                .where(
                    ConsultationParticipant.consultation_id == c.id,
                    ConsultationParticipant.state.in_(("waiting", "admitted")),
                )
                .values(state="left", left_at=now, present=False)
            )
            await conn.execute(
                update(ConsultationParticipant)
                .where(ConsultationParticipant.consultation_id == c.id)
                .values(present=False)
            )
            revoked = [r.user_id for r in parts if r.guest and r.user_id]
            await guests.revoke_guests(conn, revoked)
            await guests.burn_links(conn, c.id)
            await add_event(conn, c.id, "end", participant_id=me.id, actor_user_id=p.user_id)
            await append(
                conn,
                [audit("consult.end", p, c.id, c.room_id, detail={"guests_revoked": len(revoked)})],
            )
        await emit.tell_ended(self.svc, consultation_id, [r.user_id for r in parts if r.user_id])
        await guests.close_sockets(self.svc, revoked)
        for listener in list(self.listeners):
            try:
                await listener.consultation_ended(consultation_id)
            except Exception:
                log.exception("consultation listener failed", extra={"event": "ended"})
        return {"consultation_id": consultation_id, "status": ENDED, "ended_at": now}

    # -- connections ----------------------------------------------------------------------
    async def disconnected(self, user_id: str) -> None:
        """The user's last socket on this node closed: not present any more, still admitted."""
        if self._local.pop(user_id, None) is None:
            return
        async with self.svc.db.write() as conn:
            rows = (
                await conn.execute(
                    select(ConsultationParticipant.__table__)
                    .join(Consultation, Consultation.id == ConsultationParticipant.consultation_id)
                    .where(
                        and_(
                            ConsultationParticipant.user_id == user_id,
                            ConsultationParticipant.present.is_(True),
                            Consultation.status == OPEN,
                        )
                    )
                )
            ).all()
            for r in rows:
                await _set(conn, r.id, present=False)
                await add_event(conn, r.consultation_id, "disconnect", participant_id=r.id)
        # The media leg is not torn down at once: a socket that drops on a collapsed link is
        # exactly when the consultation must survive (text-only, then a fresh leg on reconnect).
        # Listeners get a grace period instead (`participant_disconnected`), ended by a rejoin,
        # so a revoked session's leg does not outlive it for long either.
        for r in rows:
            if r.state == "admitted":
                await self._tell(r.consultation_id, r.id, "participant_disconnected")
            await emit.announce_roster(self.svc, r.consultation_id)

    # -- helpers --------------------------------------------------------------------------
    async def _drop_from_chat(
        self, conn: AsyncConnection, c: Any, row: Any, actor: str, records: list[AuditRecord]
    ) -> list[Change]:
        if row.role == "host" or row.user_id is None or c.chat_room_id is None:
            return []
        removed = await chat.remove_member(conn, c.chat_room_id, row.user_id, actor, c.id)
        if removed is None:
            return []
        records.append(removed[2])
        return [(removed[0], removed[1])]

    async def _tell(self, consultation_id: str, participant_id: str, what: str) -> None:
        """Optional listener hooks (`participant_disconnected`, `participant_rejoined`)."""
        for listener in list(self.listeners):
            hook = getattr(listener, what, None)
            if hook is None:
                continue
            try:
                await hook(consultation_id, participant_id)
            except Exception:
                log.exception("consultation listener failed", extra={"event": what})

    async def _left(self, consultation_id: str, participant_ids: list[str]) -> None:
        for pid in participant_ids:
            for listener in list(self.listeners):
                try:
                    await listener.participant_left(consultation_id, pid)
                except Exception:
                    log.exception("consultation listener failed", extra={"event": "left"})


def _assisted_by(parts: list[Any]) -> dict[str, Any] | None:
    for r in parts:
        if r.role == "assistant" and any(x.represented_by == r.id for x in parts):
            return {"participant_id": r.id, "user_id": r.user_id, "display_name": r.display_name}
    return None


async def insert_consultation(
    conn: AsyncConnection,
    cid: str,
    host: str,
    created_by: str,
    room_id: str | None,
    chat_room: str,
    now: int,
    *,
    assisted: bool = False,
) -> None:
    await conn.execute(
        insert(Consultation).values(
            id=cid,
            host_user_id=host,
            created_by=created_by,
            room_id=room_id,
            chat_room_id=chat_room,
            assisted=assisted,
            status=OPEN,
            created_at=now,
            ended_at=None,
            ended_by=None,
        )
    )


async def insert_participant(
    conn: AsyncConnection,
    cid: str,
    user_id: str | None,
    role: str,
    display_name: str,
    invited_by: str,
    now: int,
    *,
    represented_by: str | None = None,
) -> str:
    pid = new_id("cp")
    await conn.execute(
        insert(ConsultationParticipant).values(
            id=pid,
            consultation_id=cid,
            user_id=user_id,
            role=role,
            display_name=display_name,
            state="invited",
            present=False,
            guest=False,
            represented_by=represented_by,
            invited_by=invited_by,
            invited_at=now,
        )
    )
    return pid


async def _target(conn: AsyncConnection, consultation_id: str, participant_id: str) -> Any:
    row = await participant_by_id(conn, consultation_id, participant_id)
    if row is None:
        raise not_found("participant")
    return row


async def _set(conn: AsyncConnection, pid: str, **values: Any) -> None:
    await conn.execute(
        update(ConsultationParticipant).where(ConsultationParticipant.id == pid).values(**values)
    )


async def _move(
    conn: AsyncConnection,
    c: Any,
    row: Any,
    state: str,
    p: Principal,
    now: int,
    records: list[AuditRecord],
    *,
    present: bool | None = None,
) -> list[Any]:
    """Move a participant — and the walk-in patient they represent — to `state`, with the record
    event and the audit record of each. Actions an assistant takes for the patient they
    represent are audited on the patient's behalf. Returns the rows as they were before."""
    represented = (
        await conn.execute(
            select(ConsultationParticipant.__table__).where(
                ConsultationParticipant.consultation_id == c.id,
                ConsultationParticipant.represented_by == row.id,
            )
        )
    ).all()
    moved = [row, *represented]
    for r in moved:
        values: dict[str, Any] = {"state": state}
        if state in ("waiting", "admitted") and r.joined_at is None:
            values["joined_at"] = now
        if state == "admitted":
            values["admitted_at"] = now
            values["left_at"] = None
        if state in ("left", "denied"):
            values["left_at"] = now
            values["present"] = False
        elif present is not None and r.user_id is not None:
            values["present"] = present
        await _set(conn, r.id, **values)
        await add_event(
            conn,
            c.id,
            EVENT_OF_STATE[state],
            participant_id=r.id,
            actor_user_id=p.user_id,
            detail={"from": r.state},
        )
        if r is row:
            records.append(
                audit(
                    f"consult.{EVENT_OF_STATE[state]}",
                    p,
                    c.id,
                    c.room_id,
                    target=r.id,
                    detail={"role": r.role, "from": r.state},
                )
            )
        elif p.user_id == row.user_id:
            # The assistant acting: the same action, for the patient they represent.
            records.append(
                audit(
                    f"consult.{EVENT_OF_STATE[state]}",
                    p,
                    c.id,
                    c.room_id,
                    target=r.id,
                    on_behalf_of=r.id,
                    detail={"role": r.role, "from": r.state},
                )
            )
    return moved


def setup(svc: Services) -> None:
    consultations = ConsultationService(svc)
    svc.parts.consultations = consultations

    async def on_disconnect(svc: Services, conn: Connection, last: bool) -> None:
        if last:
            await consultations.disconnected(conn.principal.user_id)

    svc.disconnect_hooks.append(on_disconnect)

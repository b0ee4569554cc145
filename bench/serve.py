"""Bench-only entry point: `relais serve` plus a fan-out test event, a manager switch, a profiler.

    python -m bench.serve [--manager fanout|stock] [--profile FILE.pyisession] serve ...

- `bench.broadcast` {room_id, envelope}: emits `message.new` to the room's other members exactly
  as `message.send` does after its commit, without the database, so fan-out is measured alone.
  The room's members are read once and cached (the bench never changes membership).
- `--manager stock` replaces our FanoutManager by python-socketio's AsyncManager (one task per
  recipient), by monkeypatching the name `build_socket_server` looks up; no server code changes.
- `--profile` runs the whole process under pyinstrument and saves the session when the server
  stops (SIGINT), for bench/profile_report.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from server.db.models import Membership
from server.realtime.connections import user_room
from server.realtime.registry import on

if TYPE_CHECKING:
    from server.realtime.connections import Connection
    from server.services import Services


class Broadcast(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room_id: str
    envelope: dict[str, Any]


_members: dict[str, list[str]] = {}


@on("bench.broadcast", Broadcast, summary="Bench only: fan an envelope out to a room.")
async def broadcast(svc: Services, conn: Connection, p: Broadcast) -> dict[str, Any]:
    targets = _members.get(p.room_id)
    if targets is None:
        async with svc.db.read() as c:
            rows = await c.execute(
                select(Membership.user_id).where(Membership.room_id == p.room_id)
            )
            targets = _members[p.room_id] = [user_room(r.user_id) for r in rows]
    await svc.sio.emit(
        "message.new", {"room_id": p.room_id, "envelope": p.envelope}, to=targets, skip_sid=conn.sid
    )
    return {"n": len(targets) - 1}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manager", choices=["fanout", "stock"], default="fanout")
    parser.add_argument("--profile")
    args, rest = parser.parse_known_args()
    if args.manager == "stock":
        import socketio

        import server.realtime.socket_server as socket_server

        socket_server.FanoutManager = socketio.AsyncManager  # type: ignore[attr-defined]
    from server.cli import main as cli_main

    if not args.profile:
        return cli_main(rest)
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        return cli_main(rest)
    finally:
        profiler.stop().save(args.profile)


if __name__ == "__main__":
    sys.exit(main())

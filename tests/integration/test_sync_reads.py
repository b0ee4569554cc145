"""A `sync` page's reads on PostgreSQL through asyncpg (`messaging/pg_sync_read.py`) against the
same statements through SQLAlchemy (`history.SqlPageReads`, `ToDeviceQueue.pending`).

The asyncpg texts are compiled from the SQLAlchemy expressions with positional parameters; a
parameter taken in the wrong order, a column read under the wrong name or a condition lost
(the live-device check folded into the queue's read) shows as a page that differs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, update

from server.db.models import Device, ToDevice, now_ms
from server.messaging.history import SqlPageReads, missed_messages
from server.messaging.pg_sync_read import PgPageReads
from server.rooms import service as room_service
from tests.conftest import test_settings as make_settings
from tests.integration.security_world import build_world

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_asyncpg_page_is_the_sqlalchemy_page(
    start_server: Any, tmp_path: Path, database_url: str
) -> None:
    running = await start_server(make_settings(tmp_path, database_url))
    w = await build_world(running)
    try:
        svc = w.svc
        owner, member = w.actors["owner"], w.actors["member"]
        rooms = [w.room, await w.fresh_room(), await w.fresh_room()]
        # A room the member is not in, with messages: on neither page.
        elsewhere = str(
            (await room_service.create_room(svc, owner.principal, None, None, None))["room_id"]
        )
        await svc.messages.send(owner.principal, elsewhere, "x-0", '{"ct":"x"}')
        for r, room in enumerate(rooms):
            for i in range(3 + 2 * r):
                await svc.messages.send(owner.principal, room, f"s{r}-{i}", f'{{"ct":"{r}{i}"}}')
        async with svc.db.write() as conn:
            await conn.execute(
                insert(ToDevice),
                [
                    {
                        "recipient_device_id": member.device_id,
                        "recipient_user_id": member.user_id,
                        "sender_user_id": owner.user_id,
                        "sender_device_id": owner.device_id,
                        "client_msg_id": f"td{i}",
                        "type": "relais.pairwise.v1",
                        "payload": f"p{i}",
                        "created_at": now_ms(),
                    }
                    for i in range(4)
                ],
            )

        async def both(since: dict[str, int], limit: int) -> tuple[Any, Any]:
            async with svc.db.read() as conn:
                sql = (
                    await missed_messages(SqlPageReads(conn), member.user_id, since, limit),
                    await svc.parts.todevice.pending(conn, member.device_id, limit),
                )
            async with svc.db.driver_read() as pg:
                raw = (
                    await missed_messages(PgPageReads(pg), member.user_id, since, limit),
                    await svc.parts.todevice.pending_on_driver(pg, member.device_id, limit),
                )
            return sql, raw

        # Whole pages, a budget that ends inside the second room, a page starting mid-room,
        # and a queue longer than the page.
        for since, limit in (({}, 100), ({}, 5), ({rooms[0]: 2, rooms[2]: 6}, 3), ({}, 2)):
            sql, raw = await both(since, limit)
            assert raw == sql, (since, limit)
        (pages, more), (queued, td_more) = sql
        assert more and td_more and len(queued) == 2
        assert sorted(p.room_id for p in pages) == sorted(rooms)  # not `elsewhere`

        # A revoked device's queue reads empty on both paths (the check is in the statement).
        async with svc.db.write() as conn:
            await conn.execute(
                update(Device).where(Device.id == member.device_id).values(revoked_at=now_ms())
            )
        sql, raw = await both({}, 100)
        assert sql[1] == raw[1] == ([], False)
    finally:
        await w.close()

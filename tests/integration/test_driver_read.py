"""The session lookup's asyncpg path (`Database.driver_read`) under a lost connection.

Past SQLAlchemy, asyncpg raises its own errors; a connection that died under a lookup (PostgreSQL
restarting or failing over) must still read as the typed outage (`unavailable`, retry) and not as
a bug (`internal`), and the dead connection must not go back to the pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.db.engine import Database
from server.db.outage import is_outage

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_lost_under_driver_read_is_an_outage(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.read() as killer:
            with pytest.raises(ConnectionError) as err:
                async with db.driver_read() as pg:
                    # The backend ends after the checkout's ping passed: what a restart does
                    # to a lookup in flight.
                    await killer.execute(
                        text("SELECT pg_terminate_backend(:pid, 5000)"),
                        {"pid": pg.get_server_pid()},
                    )
                    await pg.fetchrow("SELECT 1")
        assert is_outage(err.value), err.value
        # The pool hands out a live connection next, not the dead one.
        for _ in range(3):
            async with db.driver_read() as pg:
                assert await pg.fetchval("SELECT 1") == 1
    finally:
        await db.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_cancelled_statement_is_not_a_lost_connection(database_url: str) -> None:
    """A statement cancelled by PostgreSQL (a statement timeout, pg_cancel_backend) is that
    statement's error: the connection is healthy and goes back to the pool."""
    from asyncpg.exceptions import QueryCanceledError

    db = Database(database_url)
    try:
        with pytest.raises(QueryCanceledError):
            async with db.driver_read() as pg:
                pid = pg.get_server_pid()
                await pg.execute("SET statement_timeout = 50")
                try:
                    await pg.fetchval("SELECT pg_sleep(2)")
                finally:
                    await pg.execute("RESET statement_timeout")
        async with db.driver_read() as pg:
            assert pg.get_server_pid() == pid  # the same connection, not invalidated
            assert await pg.fetchval("SELECT 1") == 1
    finally:
        await db.close()

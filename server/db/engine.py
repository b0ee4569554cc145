"""Database access: one async engine, read connections and serialised write transactions.

SQLite allows one writer at a time; rather than letting transactions collide on the file lock
(and retry with sleeps), writers of one process queue on an asyncio lock. PostgreSQL needs no such
lock: row locks (`rooms.last_seq`, `audit_head`) order concurrent writers, also across nodes.
All I/O goes through async drivers (aiosqlite's thread, asyncpg), so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            db_path = parsed.database
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            # Every checkout pings (one round trip, `;`): a connection that outlived a
            # PostgreSQL restart is replaced before a request sees it. Pinging only connections
            # idle for a while was tried: a restart shorter than the idle bar failed the next
            # read on every worker that had not yet noticed it.
            kwargs["pool_pre_ping"] = True
            # Reads run bare statements: under READ COMMITTED every statement takes its own
            # snapshot anyway, so BEGIN/ROLLBACK around a read bought nothing and cost two round
            # trips, and two more around the checkout ping (asyncpg's dialect wraps the ping in
            # a transaction unless the connection is in autocommit): six round trips a read
            # before, two now. Writes ask for a transaction explicitly (`_writes`); the switch
            # is client-side in asyncpg.
            kwargs["isolation_level"] = "AUTOCOMMIT"
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._writes: AsyncEngine = (
            self.engine
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="READ COMMITTED")
        )
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads. On PostgreSQL each statement commits on its own (no
        transaction): never write through it. On SQLite it is one read transaction."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def driver_read(self) -> AsyncIterator[Any]:
        """PostgreSQL only: the asyncpg connection under a pooled read connection (checked out,
        pinged and returned as `read` does), for the few reads hot enough that SQLAlchemy's
        per-execution work shows in a profile (the session lookup, a `sync` page's reads); their
        statements are compiled from the same SQLAlchemy expressions once at import
        (`server/db/driver_sql.py`)."""
        if self.is_sqlite:
            raise RuntimeError("driver_read is for PostgreSQL (asyncpg)")
        from asyncpg import exceptions as pg  # the `postgres` extra: not there with SQLite only

        # asyncpg's errors when the connection itself went (closed under us, the server shutting
        # down or terminating the backend, the socket gone), not a statement's own error.
        lost = (
            pg.InterfaceError,
            pg.PostgresConnectionError,
            pg.OperatorInterventionError,
            OSError,
        )
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            try:
                yield raw.driver_connection
            except lost as exc:
                if isinstance(exc, pg.QueryCanceledError):
                    raise  # a statement cancelled (timeout, pg_cancel_backend): the link is fine
                # Past SQLAlchemy, asyncpg's own errors would read as bugs (`internal`) where a
                # lost connection (PostgreSQL restarting) must read as `unavailable`
                # (db/outage.py); and the dead connection must not go back to the pool.
                await conn.invalidate()
                raise ConnectionError(f"database connection lost: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on normal exit and rolls back on any exception."""
        if self._write_lock is None:
            async with self._writes.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.begin() as conn:
            yield conn

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the writer; FULL makes a commit durable across power loss,
    # which the protocol promises before it acks. Group commit pays the fsync once per batch.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()

"""PostgreSQL databases for tests, made ahead and dropped behind, off the test's own path.

Each PostgreSQL test gets a database of its own, at the schema's head, dropped afterwards; made
in the fixture, CREATE DATABASE and the Alembic migrations cost ~0.3 s a test, a minute and a
half over the suite's ~160 PostgreSQL tests. Here the migrations run once, into a template
database, on the first test's request (the caller waits: Alembic keeps module-level state and
must never run in two threads at once, and nothing else runs then); from there a thread with an
event loop of its own keeps `DEPTH` copies of the template ready (`CREATE DATABASE ... TEMPLATE`,
plain SQL) and drops used ones, so a test only takes one from a queue. A database is still never
shared: isolation is unchanged, only the waiting moves.
"""

from __future__ import annotations

import asyncio
import queue
import secrets
import threading
from collections.abc import Callable

DEPTH = 2
TAKE_TIMEOUT_S = 60.0


class PgPool:
    def __init__(self, admin_dsn: str, url_base: str) -> None:
        self._admin_dsn = admin_dsn
        self._url_base = url_base
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._template: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def take(self) -> str:
        """A migrated database of its own; raises what kept it from being made."""
        first = self._start()
        self._jobs.put(self._make)  # keep the queue DEPTH deep
        got = self._ready.get(timeout=TAKE_TIMEOUT_S)
        if first and not isinstance(got, BaseException):
            self._jobs.put(self._fill)  # the template exists: fill ahead only now
        if isinstance(got, BaseException):
            raise got
        return got

    def give_back(self, url: str) -> None:
        self._jobs.put(lambda: self._drop(url))

    def close(self) -> None:
        """Drop what was made ahead and what is still queued for dropping, then stop."""
        if self._thread is None:
            return
        self._jobs.put(None)
        self._thread.join(timeout=60)
        left = []
        while not self._ready.empty():
            got = self._ready.get_nowait()
            if isinstance(got, str):
                left.append(got)
        if self._template is not None:
            left.append(f"{self._url_base}/{self._template}")

        async def drop_all() -> None:
            for url in left:
                await self._drop(url)

        asyncio.run(drop_all())

    # -- the pool's thread -------------------------------------------------------------------
    def _start(self) -> bool:
        with self._lock:
            if self._thread is not None:
                return False
            self._thread = threading.Thread(target=self._run, name="pg-pool", daemon=True)
            self._thread.start()
            return True

    async def _fill(self) -> None:
        for _ in range(DEPTH):
            await self._make()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                result = job()
                if asyncio.iscoroutine(result):
                    loop.run_until_complete(result)
        finally:
            loop.close()

    async def _make(self) -> None:
        try:
            if self._template is None:
                self._template = await self._migrated_template()
            url = await self._create(self._template)
        except BaseException as exc:  # handed to the test that waits for it
            self._ready.put(exc)
            return
        self._ready.put(url)

    async def _migrated_template(self) -> str:
        from server.db.engine import Database
        from server.db.migrate import upgrade

        url = await self._create(None)
        db = Database(url)
        try:
            await upgrade(db)
        finally:
            await db.close()
        return url.rpartition("/")[2]

    async def _create(self, template: str | None) -> str:
        import asyncpg

        name = f"relais_t_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(self._admin_dsn, timeout=5)
        try:
            like = f' TEMPLATE "{template}"' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{like}')
        finally:
            await conn.close()
        return f"{self._url_base}/{name}"

    async def _drop(self, url: str) -> None:
        try:
            await self._drop_now(url)
        except Exception:  # a leftover test database is not a test failure
            return

    async def _drop_now(self, url: str) -> None:
        import asyncpg

        name = url.rpartition("/")[2]
        conn = await asyncpg.connect(self._admin_dsn, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

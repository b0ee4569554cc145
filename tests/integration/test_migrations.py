"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from server.db.engine import Database
from server.db.migrate import current_revision, upgrade
from server.db.models import Base


async def test_migrations_match_models(database_url):
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # idempotent: a restart re-runs it
        assert await current_revision(db) is not None

        def diff(sync_conn):
            ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)

        async with db.read() as conn:
            changes = await conn.run_sync(diff)
        assert changes == [], changes
    finally:
        await db.close()

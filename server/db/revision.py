"""Developer tool: `python -m server.db.revision "message"` autogenerates the next migration
by comparing the models with a scratch SQLite database migrated to head."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from .engine import Database
from .migrate import MIGRATIONS_DIR, alembic_config, upgrade


async def _main(message: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}")
        await upgrade(db)
        n = len(list((MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))) + 1

        def run(conn: Connection) -> None:
            command.revision(
                alembic_config(conn), message=message, autogenerate=True, rev_id=f"{n:04d}"
            )

        async with db.write() as conn:
            await conn.run_sync(run)
        await db.close()


if __name__ == "__main__":
    asyncio.run(_main(" ".join(sys.argv[1:]) or "change"))

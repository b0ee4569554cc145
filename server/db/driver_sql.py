"""SQLAlchemy expressions compiled once for asyncpg's own prepared statements.

The few reads hot enough that SQLAlchemy's execution path shows in a profile (statement cache
key, execution context, result rows: two thirds of a session lookup's CPU in a reconnection
storm, docs/performance.md §16) run straight on the asyncpg connection under a pooled one
(`Database.driver_read`). Their text is compiled here from the same expressions the SQLite path
executes, so both read the same columns under the same conditions; bound parameters become
`$1, $2, ...` in the order they appear in the expression.
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import asyncpg as postgresql_asyncpg
from sqlalchemy.sql.expression import Executable


def for_asyncpg(stmt: Executable, params: tuple[str, ...]) -> str:
    """The statement's text for asyncpg; `params` names its bound parameters in the order the
    caller passes their values ($1, $2, ...), checked here (at import) so that a changed
    expression fails loudly instead of binding a value to the wrong column."""
    compiled = stmt.compile(  # type: ignore[attr-defined]
        dialect=postgresql_asyncpg.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"render_postcompile": True},
    )
    order = tuple(compiled.positiontup or ())
    if order != params:
        raise RuntimeError(f"asyncpg parameters are {order}, the caller passes {params}")
    return str(compiled)

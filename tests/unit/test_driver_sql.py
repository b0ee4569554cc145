"""`for_asyncpg` checks, when a module is imported, that the compiled statement binds its
parameters in the order its caller passes them: asyncpg's parameters are positional, and a
reordered expression would otherwise bind a value to another column without an error."""

from __future__ import annotations

import pytest

from server.db.driver_sql import for_asyncpg
from server.messaging.history import MESSAGES_AFTER


def test_the_callers_order_is_checked() -> None:
    text = for_asyncpg(MESSAGES_AFTER, ("room_id", "after_seq", "limit"))
    assert "$1" in text and "$3" in text
    with pytest.raises(RuntimeError, match="asyncpg parameters"):
        for_asyncpg(MESSAGES_AFTER, ("after_seq", "room_id", "limit"))

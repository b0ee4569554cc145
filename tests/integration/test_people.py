"""The care team's directory (`GET /api/v1/people`): colleagues by name prefix, relatives only by
exact username, patients and disabled accounts never (server/people/routes.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from client import RelaisError
from server.db.models import User
from tests.conftest import make_user


async def _search(client, q: str) -> list[str]:  # type: ignore[no-untyped-def]
    found = await client.request("GET", f"/api/v1/people?q={q}")
    return sorted(p["username"] for p in found["people"])


async def test_who_can_be_found(relais, clients):
    me = await make_user(relais, "clinician", "dr-house")
    await make_user(relais, "clinician", "dr-martin")
    await make_user(relais, "assistant", "dr-bus")
    await make_user(relais, "caregiver", "dr-family")
    await make_user(relais, "patient", "dr-patient")
    gone = await make_user(relais, "clinician", "dr-gone")
    async with relais.services.db.write() as conn:
        await conn.execute(update(User).where(User.id == gone.user_id).values(disabled=True))
    async with relais.services.db.write() as conn:
        await conn.execute(
            update(User).where(User.username == "dr-martin").values(display_name="Anne Martin")
        )
    c = await clients(relais, me)

    assert await _search(c, "dr-") == ["dr-bus", "dr-martin"]
    assert await _search(c, "ANNE") == ["dr-martin"], "display names match, case-insensitively"
    assert await _search(c, "dr-family") == ["dr-family"], "a relative by exact username only"
    assert await _search(c, "dr-fam") == []
    assert await _search(c, "dr-patient") == []
    assert await _search(c, "d%") == [], "LIKE wildcards are literal"
    assert await _search(c, "dr\\_") == []


@pytest.mark.parametrize("query", ["q=a", "", "q=ab&q=cd", "q=ab&x=1", "q=" + "a" * 121])
async def test_bad_queries_are_typed_errors(relais, clients, query):
    me = await make_user(relais, "clinician")
    c = await clients(relais, me)
    with pytest.raises(RelaisError) as err:
        await c.request("GET", f"/api/v1/people?{query}")
    assert err.value.code == "validation_failed"


async def test_at_most_twenty(relais, clients):
    me = await make_user(relais, "clinician", "lead")
    for i in range(25):
        await make_user(relais, "clinician", f"team-{i:02d}")
    c = await clients(relais, me)
    assert len(await _search(c, "team")) == 20

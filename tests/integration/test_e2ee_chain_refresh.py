"""A chain fetch overtaken by this device's own signing is not a fork (found by the browser's
consultation text, where the screen reads the chain while the host signs someone in).

Refreshes of a room used to run side by side with signing: a fetch answered before the device's
add landed, verified after the add was adopted, showed a chain shorter than the verified head, and
the room froze as `chain_forked` — the host could no longer write. Played here with the fetch held
back on the wire until the add is signed."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Running, make_user
from tests.integration.e2ee_world import Device, texts, unlimited_relais, until_texts  # noqa: F401


async def test_a_refresh_overtaken_by_an_add_does_not_freeze_the_room(
    relais: Running, device: Device
) -> None:
    doc_u = await make_user(relais, "clinician")
    nurse_u = await make_user(relais, "clinician")
    doc = await device(relais, doc_u)
    nurse = await device(relais, nurse_u)
    room = await doc.create_room()

    # The next fetch of the chain is answered now but delivered only after the add is signed.
    real = doc.api.membership_events
    answered = asyncio.Event()
    release = asyncio.Event()
    held = 0

    async def slow(room_id: str) -> Any:
        nonlocal held
        rows = await real(room_id)
        if held == 0:
            held += 1
            answered.set()
            await release.wait()
        return rows

    doc.api.membership_events = slow  # type: ignore[method-assign]
    stale = asyncio.create_task(doc.chains.refresh(room))
    await answered.wait()
    doc.api.membership_events = real  # type: ignore[method-assign]
    await doc.add_member(room, nurse_u.user_id)
    release.set()
    await stale

    assert room not in doc.chains.frozen, doc.chains.frozen
    assert nurse_u.user_id in doc.chains.states[room].members
    await doc.send_text(room, "after the race")
    await until_texts(nurse, room, ["after the race"])
    assert texts(nurse, room) == ["after the race"]

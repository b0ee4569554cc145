"""A hostile server paging a user's device-list log (client/e2ee/directory.py `_full_log`).

The server decides what each page holds and where the next one starts; the client must end every
fetch promptly, whatever it is served: a page served forever, a cursor going backwards, entries
that are not text, a log that never ends. Each is refused as `devices_withheld` (the user is
frozen, no key goes to their devices), never a hang nor another exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from client.e2ee import directory
from client.e2ee.directory import LOG_PAGE, KeyDirectory
from client.e2ee.records import Metrics
from crypto.identity import DeviceEntry, list_hash, make_device_list
from crypto.keys import DhKey, SigningKey
from crypto.trust import TrustStore

USER = "u_bob"
IK = SigningKey.from_seed(b"\x01" * 32)
DEVICE = DeviceEntry(
    "d_one", SigningKey.from_seed(b"\x02" * 32).public, DhKey.from_private(b"\x03" * 32).public
)


def _chain(n: int) -> list[str]:
    """Versions 1..n of one user's device list, each linked to the one before."""
    wires: list[str] = []
    prev: bytes | None = None
    for ver in range(1, n + 1):
        wire = make_device_list(IK, USER, ver, [DEVICE], ts=ver, prev=prev)
        wires.append(wire)
        prev = list_hash(wire)
    return wires


LISTS = _chain(3 * LOG_PAGE + 1)  # LISTS[v - 1] is version v


def versions(first: int, last: int) -> list[str]:
    return LISTS[first - 1 : last]


class HostileServer:
    """Answers `query_keys` with the head it is told and a log page chosen by `pages`."""

    def __init__(self, head: int, pages: Callable[[int], list[Any]]) -> None:
        self.head = head
        self.pages = pages
        self.queries = 0

    async def query_keys(
        self, user_ids: list[str], since: dict[str, int] | None = None
    ) -> dict[str, Any]:
        self.queries += 1
        await asyncio.sleep(0)
        entry: dict[str, Any] = {
            "user_id": USER,
            "identity_key": IK.public_b64(),
            "signed_device_list": LISTS[self.head - 1],
            "devices": [],
        }
        if since and USER in since:
            entry["device_list_log"] = self.pages(since[USER])
        return {USER: entry}


async def _directory_at_v1(server: HostileServer) -> KeyDirectory:
    """A directory that verified version 1 (first contact), then talks to `server`."""
    first = HostileServer(1, lambda _after: [])
    d = KeyDirectory(first, TrustStore(), Metrics())  # type: ignore[arg-type]
    await d.ensure([USER])
    assert d.head(USER) is not None and d.head(USER)[0] == 1  # type: ignore[index]
    d.api = server  # type: ignore[assignment]
    return d


async def _withheld(server: HostileServer) -> KeyDirectory:
    d = await _directory_at_v1(server)
    await asyncio.wait_for(d.ensure([USER], force=True), timeout=10)
    assert d.frozen.get(USER) == "devices_withheld", (d.frozen, d.warnings)
    assert d.metrics["devices_withheld"] == 1
    assert d.devices_of(USER) == ()
    assert d.head(USER)[0] == 1  # type: ignore[index]
    return d


async def test_an_honest_log_of_several_pages_is_followed() -> None:
    """The baseline: pages after the held head, as the server pages them, up to the head."""
    top = 3 * LOG_PAGE + 1
    server = HostileServer(top, lambda after: versions(after + 1, min(after + LOG_PAGE, top)))
    d = await _directory_at_v1(server)
    await asyncio.wait_for(d.ensure([USER], force=True), timeout=10)
    assert USER not in d.frozen and d.head(USER)[0] == top  # type: ignore[index]
    assert server.queries == 4


async def test_the_same_page_served_forever_is_withheld() -> None:
    server = HostileServer(3 * LOG_PAGE, lambda _after: versions(2, LOG_PAGE + 1))
    await _withheld(server)
    assert server.queries <= 3


async def test_a_cursor_going_backwards_is_withheld() -> None:
    """Page 1 ends at 201, page 2 (asked after 201) ends at 101, and back again: a cycle."""
    cycle = {1: versions(102, 201), 201: versions(2, 101), 101: versions(102, 201)}
    server = HostileServer(3 * LOG_PAGE, lambda after: cycle[after])
    await _withheld(server)
    assert server.queries <= 3


@pytest.mark.parametrize("junk", [None, 7, {"wire": "x"}, ["x"], b"x"])
async def test_entries_that_are_not_text_on_a_later_page_are_withheld(junk: Any) -> None:
    """Page 2 has a non-text entry in place of one list: dropped, the gap is refused."""

    def pages(after: int) -> list[Any]:
        if after == 1:
            return versions(2, LOG_PAGE + 1)
        page: list[Any] = versions(after + 1, after + LOG_PAGE)
        page[LOG_PAGE // 2] = junk
        return page

    await _withheld(HostileServer(2 * LOG_PAGE + 1, pages))


async def test_a_log_that_never_ends_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page advances, but there is always another: the page cap ends the fetch."""
    monkeypatch.setattr(directory, "MAX_LOG_PAGES", 2)
    top = 3 * LOG_PAGE + 1
    server = HostileServer(top, lambda after: versions(after + 1, min(after + LOG_PAGE, top)))
    await _withheld(server)
    assert server.queries == 2  # the two pages allowed, no third


async def test_an_oversized_page_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory, "MAX_LOG_LISTS", 2 * LOG_PAGE)
    top = 3 * LOG_PAGE + 1
    await _withheld(HostileServer(top, lambda after: versions(after + 1, top)))

"""What a media test must leave behind: nothing. UDP sockets, aiortc peers and asyncio tasks are
counted before and after; a leak fails the test that caused it."""

from __future__ import annotations

import asyncio
import os


def udp_socket_count() -> int:
    """UDP sockets (v4 and v6) held by this process, from /proc."""
    inodes: set[str] = set()
    for name in ("udp", "udp6"):
        try:
            with open(f"/proc/net/{name}") as fh:
                next(fh)
                for line in fh:
                    inodes.add(line.split()[9])
        except OSError:
            continue
    mine = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            mine += 1
    return mine


MEDIA_MODULES = ("aiortc", "aioice", "media", "client", "av")


def other_tasks(media_only: bool = False) -> set[asyncio.Task[object]]:
    """Pending tasks but the current one; with `media_only`, those running media code (a server
    that is still up legitimately keeps its own per-connection tasks)."""
    current = asyncio.current_task()
    found = {t for t in asyncio.all_tasks() if t is not current and not t.done()}
    if media_only:
        found = {t for t in found if _module_of(t).startswith(MEDIA_MODULES)}
    return found


def _module_of(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    frame = getattr(coro, "cr_frame", None)
    if frame is None:
        return ""
    return str(frame.f_globals.get("__name__", ""))


async def settle(predicate: object, timeout: float = 10.0) -> bool:
    """Wait (polling) until predicate() is true; returns whether it became true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]

"""Constant-time bookkeeping of sockets in python-socketio's client manager.

python-socketio 5 keeps the sockets still authenticating (and those going away) in plain lists,
and finds a leaving socket's rooms by copying and scanning every room of the namespace. Both are
fine for a hundred sockets and quadratic for a node's thousands: in a reconnection storm every
event of every socket asks `sid in pending_connect` while 5,000 sockets wait for their session
lookup, and every disconnect walks ~3 rooms per connected socket (docs/performance.md §16).
`IndexedRooms` keeps the library's structures as they are (its own code still reads them) and
adds what makes these lookups O(1): sets in place of the pending lists, and a per-socket index of
its rooms. tests/unit/test_room_index.py plays the same operations on the stock manager and on
this one and compares every structure, so a library upgrade that changes them fails there.
"""

from __future__ import annotations

from typing import Any


class _SidSet(set[str]):
    """Stands in for the library's list of pending sids: it appends, removes, asks `in` and
    `len`, never depends on order."""

    def append(self, sid: str) -> None:
        self.add(sid)


class _PendingSids(dict[str, _SidSet]):
    """namespace -> pending sids; the library assigns a fresh list, which becomes a set here."""

    def __setitem__(self, namespace: str, sids: Any) -> None:
        super().__setitem__(namespace, _SidSet(sids))


class IndexedRooms:
    """Mixin before a python-socketio manager class in the bases."""

    rooms: dict[str, dict[Any, Any]]
    callbacks: dict[str, Any]
    pending_connect: dict[str, Any]
    pending_disconnect: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending_connect = _PendingSids()
        self.pending_disconnect = _PendingSids()
        # namespace -> sid -> the rooms it is in (None, the connection's own entry, included)
        self._rooms_of: dict[str, dict[str, set[Any]]] = {}

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)  # type: ignore[misc]
        self._rooms_of.setdefault(namespace, {}).setdefault(sid, set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)  # type: ignore[misc]
        by_sid = self._rooms_of.get(namespace)
        if by_sid is None:
            return
        mine = by_sid.get(sid)
        if mine is None:
            return
        mine.discard(room)
        if not mine:
            del by_sid[sid]
            if not by_sid:
                del self._rooms_of[namespace]

    def basic_disconnect(self, sid: str, namespace: str, **_: Any) -> None:
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get(namespace, {}).get(sid, ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        return [r for r in self._rooms_of.get(namespace, {}).get(sid, ()) if r is not None]

"""`IndexedRooms` (server/realtime/room_index.py) against python-socketio's own manager.

The same random life of sockets (connect, authenticate, join and leave rooms, close rooms, start
to disconnect, disconnect) is played on the stock `AsyncManager` and on Relais's `FanoutManager`;
after every step both must hold the same rooms, pending sets, callbacks and answers. If a
python-socketio upgrade changes how the manager keeps these, this fails before a node does.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
import socketio
from socketio import AsyncManager

from server.realtime.fanout import FanoutManager
from server.realtime.room_index import IndexedRooms

NS = "/"


def _manager(cls: type[Any]) -> Any:
    mgr = cls()
    mgr.set_server(socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr))
    return mgr


def _state(mgr: Any) -> dict[str, Any]:
    rooms = {
        ns: {room: dict(members) for room, members in by_room.items()}
        for ns, by_room in mgr.rooms.items()
    }
    sids = sorted(rooms.get(NS, {}).get(None, {}))
    return {
        "rooms": rooms,
        "pending_connect": {ns: sorted(s) for ns, s in mgr.pending_connect.items()},
        "pending_disconnect": {ns: sorted(s) for ns, s in mgr.pending_disconnect.items()},
        "callbacks": sorted(mgr.callbacks),
        "get_rooms": {sid: sorted(map(str, mgr.get_rooms(sid, NS))) for sid in sids},
        "connected": {sid: mgr.is_connected(sid, NS) for sid in sids},
        "pre_connected": {sid: mgr.is_pre_connected(sid, NS) for sid in sids},
    }


@pytest.mark.parametrize("seed", range(20))
async def test_same_state_as_the_stock_manager(seed: int) -> None:
    rng = random.Random(seed)
    stock, ours = _manager(AsyncManager), _manager(FanoutManager)
    assert isinstance(ours, IndexedRooms)
    live: list[tuple[str, str]] = []  # (stock sid, our sid) of the same socket
    eio = 0
    going: set[str] = set()
    for _ in range(300):
        op = rng.random()
        if op < 0.25 or not live:
            eio += 1
            # The two managers draw their own sids; sockets are matched by position.
            pair = (
                await stock.pre_connect(f"e{eio}", NS),
                await ours.pre_connect(f"e{eio}", NS),
            )
            live.append(pair)
            if rng.random() < 0.7:
                await stock.connect(pair[0], NS)
                await ours.connect(pair[1], NS)
        else:
            i = rng.randrange(len(live))
            s_sid, o_sid = live[i]
            room = f"r{rng.randrange(6)}"
            if op < 0.45:
                await stock.enter_room(s_sid, NS, room)
                await ours.enter_room(o_sid, NS, room)
            elif op < 0.6:
                await stock.leave_room(s_sid, NS, room)
                await ours.leave_room(o_sid, NS, room)
            elif op < 0.65:
                await stock.close_room(room, NS)
                await ours.close_room(room, NS)
            elif op < 0.75:
                stock._generate_ack_id(s_sid, print)
                ours._generate_ack_id(o_sid, print)
            elif op < 0.85:
                if s_sid in going:
                    continue  # the server marks a socket once
                going.add(s_sid)
                stock.pre_disconnect(s_sid, NS)
                ours.pre_disconnect(o_sid, NS)
            else:
                await stock.disconnect(s_sid, NS)
                await ours.disconnect(o_sid, NS)
                live.pop(i)
        rename = {o: s for s, o in live}
        mine = _state(ours)
        assert _renamed(mine, rename) == _state(stock)


def _renamed(state: Any, rename: dict[str, str]) -> Any:
    """Our sids replaced by the stock manager's sids of the same sockets."""
    if isinstance(state, dict):
        return {
            rename.get(k, k) if isinstance(k, str) else k: _renamed(v, rename)
            for k, v in state.items()
        }
    if isinstance(state, list):
        return sorted((_renamed(v, rename) for v in state), key=str)
    if isinstance(state, str):
        return rename.get(state, state)
    return state


async def test_a_storm_of_pending_sockets_costs_no_scan() -> None:
    """The pending sids are a set: asking about one of 5,000 does not walk the others."""
    ours = _manager(FanoutManager)
    sids = [await ours.pre_connect(f"e{i}", NS) for i in range(5000)]
    assert isinstance(ours.pending_connect[NS], set)
    assert ours.is_pre_connected(sids[-1], NS)
    assert not ours.is_connected(sids[-1], NS)
    for sid in sids:
        await ours.connect(sid, NS)
    assert NS not in ours.pending_connect
    assert ours.is_connected(sids[-1], NS)

"""The engine.io internals the fast fan-out path relies on (server/realtime/fanout.py).

If a python-engineio / python-socketio upgrade changes them, these fail before production does.
"""

from __future__ import annotations

import asyncio
import inspect

import engineio
import socketio
from engineio.async_socket import AsyncSocket
from socketio.async_pubsub_manager import AsyncPubSubManager

from server.realtime.fanout import FanoutManager, RedisFanoutManager


def test_engineio_server_keeps_sockets_by_eio_sid():
    srv = engineio.AsyncServer(async_mode="aiohttp")
    assert isinstance(srv.sockets, dict)


def test_engineio_socket_has_queue_and_closed_flag():
    srv = engineio.AsyncServer(async_mode="aiohttp")
    sock = AsyncSocket(srv, "sid1")
    assert isinstance(sock.queue, asyncio.Queue)
    assert sock.closed is False
    # The writer drains with poll(); packets put_nowait() there are what it sends.
    assert inspect.iscoroutinefunction(AsyncSocket.poll)


def test_redis_manager_delivers_locally_through_the_fast_path():
    mro = RedisFanoutManager.__mro__
    assert mro.index(AsyncPubSubManager) < mro.index(FanoutManager) < mro.index(
        socketio.AsyncManager)


async def test_emit_enqueues_one_shared_packet_without_tasks():
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=FanoutManager())
    mgr = sio.manager
    mgr.set_server(sio)
    mgr.initialize()
    socks = []
    for i in range(3):
        eio_sid = f"e{i}"
        sock = AsyncSocket(sio.eio, eio_sid)
        sio.eio.sockets[eio_sid] = sock
        socks.append(sock)
        sid = await mgr.connect(eio_sid, "/")
        await mgr.enter_room(sid, "/", "room")
    tasks_before = len(asyncio.all_tasks())
    await mgr.emit("message.new", {"x": 1}, "/", room="room")
    assert len(asyncio.all_tasks()) == tasks_before
    pkts = [s.queue.get_nowait() for s in socks]
    assert all(p is pkts[0] for p in pkts), "one packet object shared by every recipient"
    assert pkts[0].encode() == '42["message.new",{"x":1}]'
    # A closed socket is skipped, not written to.
    socks[1].closed = True
    await mgr.emit("message.new", {"x": 2}, "/", room="room")
    assert socks[1].queue.empty() and not socks[0].queue.empty()

"""The engine.io internals the fast fan-out path relies on (server/realtime/fanout.py).

If a python-engineio / python-socketio upgrade changes them, these fail before production does.
"""

from __future__ import annotations

import asyncio
import inspect

import engineio
import pytest
import socketio
from engineio.async_drivers import aiohttp as eio_aiohttp
from engineio.async_socket import AsyncSocket
from socketio.async_pubsub_manager import AsyncPubSubManager

from server.realtime.fanout import FanoutManager, text_frame
from server.realtime.redis_fanout import RedisFanoutManager


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
    assert (
        mro.index(AsyncPubSubManager) < mro.index(FanoutManager) < mro.index(socketio.AsyncManager)
    )


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


def test_driver_table_is_per_server_and_tracked():
    from server.realtime.websocket import TrackedWebSocket, install_tracking

    sio = socketio.AsyncServer(async_mode="aiohttp")
    stock = sio.eio._async["websocket"]
    install_tracking(sio)
    assert sio.eio._async["websocket"] is TrackedWebSocket
    assert issubclass(TrackedWebSocket, stock)
    other = socketio.AsyncServer(async_mode="aiohttp")
    assert other.eio._async["websocket"] is stock, "the driver table must not be patched globally"


async def test_queue_getters_show_a_parked_consumer():
    q: asyncio.Queue[int] = asyncio.Queue()
    assert not q._getters
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert q._getters
    q.put_nowait(1)
    assert not q._getters, "put_nowait must take the waiter off _getters"
    assert await waiter == 1


def test_aiohttp_websocket_writer_internals():
    import inspect as _inspect

    from aiohttp import web
    from aiohttp._websocket import writer as ws_writer

    assert "_writer" in web.WebSocketResponse.__slots__ or hasattr(
        web.WebSocketResponse(), "_writer"
    )
    src = _inspect.getsource(ws_writer.WebSocketWriter.send_frame)
    assert "WEBSOCKET_MAX_SYNC_CHUNK_SIZE" in src and "_paused" in src
    assert ws_writer.WEBSOCKET_MAX_SYNC_CHUNK_SIZE >= 16 * 1024


class _Transport:
    def __init__(self) -> None:
        self.out = bytearray()

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return False


class _Protocol:
    _paused = False


@pytest.mark.parametrize("size", [0, 5, 125, 126, 200, 65535, 65536, 70000])
async def test_our_frames_are_the_bytes_aiohttp_would_write(size: int):
    """write_direct writes `text_frame` bytes to the transport beside aiohttp's own writer: they
    must be exactly the frame aiohttp writes for that text, and the writer must still keep the
    state write_direct reads (`transport`, `_closing`, `protocol._paused`)."""
    from aiohttp import WSMsgType
    from aiohttp._websocket.writer import WebSocketWriter

    text = "4" + "é" * (size // 2) + "x" * (size % 2)
    transport = _Transport()
    writer = WebSocketWriter(_Protocol(), transport, use_mask=False, compress=0)  # type: ignore[arg-type]
    await writer.send_frame(text.encode(), WSMsgType.TEXT)
    assert bytes(transport.out) == text_frame(text)
    assert writer.transport is transport and writer._closing is False
    assert writer.protocol._paused is False


def test_stock_websocket_driver_still_opens_as_trackedwebsocket_does():
    """TrackedWebSocket.__call__ opens the WebSocket itself (without permessage-deflate); it
    relies on the stock driver keeping these names, and on the stock one still compressing
    (if an upgrade stops, the override can go)."""
    src = inspect.getsource(eio_aiohttp.WebSocket.__call__)
    for name in ("aiohttp.request", "max_http_buffer_size", "self._sock", "self.environ"):
        assert name in src, name
    assert "compress" not in src, "the stock driver now chooses compression: revisit"
    assert inspect.signature(eio_aiohttp.WebSocket.__init__).parameters.keys() >= {
        "handler",
        "server",
    }

"""Malformed input must never crash a connection, the process, or corrupt stored data.

Hypothesis generates payloads — random JSON of every shape, and mutations of valid payloads
(a field replaced by a wrong type, a huge or hostile string, a field dropped, an unknown one
added) — and sends them to every registered socket event over one real socket.io connection and
to every REST route. Every answer must be a success or a typed error with a known code (never
`internal`); the connection must keep its sid throughout; afterwards the server still answers,
the messages stored before the fuzzing come back from `sync` unchanged, and the audit chain
verifies. A raw engine.io WebSocket then sends broken socket.io packets and oversized frames.

Hypothesis runs in a worker thread (its engine is synchronous) and submits each example to the
event loop that hosts the server and the clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import server.app
from server.api.routing import ROUTES
from server.errors import ERROR_STATUS
from server.realtime.registry import EVENTS
from tests.conftest import envelope, wait_for
from tests.integration.security_world import World

server.app._load_features()

# RELAIS_FUZZ_EXAMPLES raises the budget for a longer local run.
_BUDGET = os.environ.get("RELAIS_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_BUDGET or 150),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
REST_FUZZ = settings(
    max_examples=int(_BUDGET or 120),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# -- strategies -------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\u202e",
    "😀" * 10,
    "%s%n",
    "../../etc",
    "'; DROP TABLE messages; --",
    "<script>",
    "null",
    "-1",
    "1e309",
    "r_" + "A" * 60,
    "x" * 5000,
    "é" * 2000,
    "\n\r\t",
    "\\",
    '"',
]
texts = st.one_of(
    st.text(max_size=40), st.sampled_from(HOSTILE), st.integers(0, 100_000).map(lambda n: "z" * n)
)
ints = st.one_of(st.integers(), st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 2**64, 10**30]))
scalars = st.one_of(
    st.none(), st.booleans(), ints, st.floats(allow_nan=False, allow_infinity=False), texts
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=15,
)


def valid_payloads(w: World) -> dict[str, Callable[[], Any]]:
    """A well-formed payload per event; events added later start from `{}`."""
    room = w.room
    return {
        "message.send": lambda: {
            "room_id": room,
            "client_msg_id": f"f-{secrets.token_hex(6)}",
            "envelope": envelope("fuzz"),
        },
        "sync": lambda: {"since": {room: 0}, "limit": 10},
        "room.history": lambda: {"room_id": room, "before_seq": 2, "limit": 5},
        "todevice.send": lambda: {
            "client_msg_id": f"t-{secrets.token_hex(6)}",
            "messages": [
                {
                    "device_id": w.actors["member"].device_id,
                    "type": "relais.pairwise.v1",
                    "payload": "p",
                }
            ],
        },
        "todevice.ack": lambda: {"up_to": 0},
        "typing": lambda: {"room_id": room, "typing": False},
        "receipt.read": lambda: {"room_id": room, "seq": 1},
        "receipts.get": lambda: {"room_id": room},
        "presence.get": lambda: {"user_ids": [w.actors["member"].user_id]},
        "room.list": lambda: {},
        "room.get": lambda: {"room_id": room},
        "room.events": lambda: {"room_id": room},
    }


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """A valid payload with one part broken, recursively into nested objects."""
    if not isinstance(base, dict) or not base:
        return draw(json_values)
    out = dict(base)
    key = draw(st.sampled_from(sorted(out)))
    action = draw(st.sampled_from(["replace", "drop", "extra", "nest", "deep"]))
    if action == "replace":
        out[key] = draw(json_values)
    elif action == "drop":
        del out[key]
    elif action == "extra":
        out[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
    elif action == "nest":
        out[key] = [out[key]] if draw(st.booleans()) else {"value": out[key]}
    else:
        inner = out[key]
        if isinstance(inner, list) and inner:
            inner = inner[0]
        out[key] = draw(mutated(inner))
    return out


def check_ack(ack: Any, where: str) -> None:
    assert isinstance(ack, dict), f"{where}: ack is not an object: {ack!r}"[:300]
    if "error" in ack:
        err = ack["error"]
        assert isinstance(err, dict) and err.get("code") in ERROR_STATUS, f"{where}: {ack!r}"
        assert isinstance(err.get("message"), str), f"{where}: {ack!r}"
        assert err["code"] != "internal", f"{where}: input crashed the handler"


# -- fixtures ---------------------------------------------------------------------------------


async def stored_messages(w: World) -> list[tuple[int, str, str]]:
    sio = await w.socket("member")
    res = await sio.call("sync", {"since": {}}, timeout=10)
    (room,) = [r for r in res["rooms"] if r["room_id"] == w.room]
    return [
        (m["seq"], m["id"], json.dumps(m["envelope"], sort_keys=True)) for m in room["messages"]
    ]


async def assert_intact(w: World, before: list[tuple[int, str, str]]) -> None:
    health = await w.rest("GET", "/healthz")
    assert health.status == 200
    after = await stored_messages(w)
    assert after[: len(before)] == before, "messages stored before the fuzzing changed"
    assert [s for s, _, _ in after] == list(range(1, len(after) + 1)), "seq gap or duplicate"
    ok, _, reason = await w.svc.audit.verify()
    assert ok, reason


async def seed(w: World, n: int = 3) -> list[tuple[int, str, str]]:
    sio = await w.socket("owner")
    for i in range(n):
        ack = await sio.call(
            "message.send",
            {"room_id": w.room, "client_msg_id": f"keep-{i}", "envelope": envelope(f"keep {i}")},
            timeout=10,
        )
        assert "error" not in ack, ack
    return await stored_messages(w)


# -- socket events ----------------------------------------------------------------------------


async def test_fuzz_socket_events(world: World) -> None:
    before = await seed(world)
    sio = await world.socket("owner")
    sid = sio.get_sid()
    loop = asyncio.get_running_loop()
    valid = valid_payloads(world)
    names = sorted(EVENTS)

    calls: list[str] = []

    async def one(event: str, payload: Any) -> None:
        calls.append(event)
        ack = await sio.call(event, payload, timeout=10)
        check_ack(ack, f"{event} {json.dumps(payload)[:200]}")
        assert sio.connected and sio.get_sid() == sid, "the connection was dropped"

    @FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        event = data.draw(st.sampled_from([*names, *names, "no.such.event"]), label="event")
        base = valid.get(event, dict)()
        payload = data.draw(st.one_of(mutated(base), json_values), label="payload")
        asyncio.run_coroutine_threadsafe(one(event, payload), loop).result(30)

    # Every event once with its valid payload first: with ~40 events, 150 random draws leave
    # some event out about half the time; the random part then mutates and mixes them.
    for event in names:
        await one(event, valid.get(event, dict)())
    await asyncio.to_thread(run)
    assert len(calls) >= 50 and set(EVENTS) <= set(calls), "the fuzzer did not run"
    await assert_intact(world, before)


# -- REST -------------------------------------------------------------------------------------

path_params = st.one_of(
    st.sampled_from(
        ["x", "r_nope", "a_" + "0" * 16, "u_0", "%00", "..", "é", "a" * 300, "-1", "0"]
    ),
    st.text(alphabet="abcdefABC0123_-", min_size=1, max_size=40),
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"{",
            b"[]",
            b"null",
            b"\xff\xfe",
            b'{"a":' * 50,
            b"{}" * 1000,
            b'{"' + b"k" * 10000 + b'": 1}',
        ]
    ),
)
CONTENT_TYPES = ["application/json", "application/octet-stream", "text/plain", "", "multipart/x"]


def fill(path: str, draw: st.DrawFn) -> str:
    parts = []
    for seg in path.split("/"):
        if seg.startswith("{") and seg.endswith("}"):
            seg = quote(draw(path_params), safe="")
        parts.append(seg)
    return "/".join(parts)


async def test_fuzz_rest_routes(world: World) -> None:
    before = await seed(world)
    loop = asyncio.get_running_loop()
    # The fuzzers get throwaway sessions: a random call may well be a valid logout.
    fuzzers = ["admin", "clinician", "caregiver"]
    specs = [r for r in ROUTES if r.path not in ("/metrics",)]

    calls: list[str] = []

    async def one(method: str, path: str, actor: str | None, body: bytes, ctype: str) -> None:
        calls.append(path)
        token = None
        if actor is not None:
            token, _, _ = await world.session(world.actors[actor].user_id)
        headers = {"Content-Type": ctype} if ctype else {}
        res = await world.rest(method, path, token=token, data=body, headers=headers)
        where = f"{method} {path} {body[:120]!r}"
        assert res.status < 500, f"{where}: server error {res.status} {res.body!r}"[:400]
        if res.status >= 400:
            err = res.body.get("error") if isinstance(res.body, dict) else None
            assert isinstance(err, dict) and err.get("code") in ERROR_STATUS, (
                f"{where}: untyped error {res.status} {res.body!r}"[:400]
            )
            assert ERROR_STATUS[err["code"]] == res.status, f"{where}: {res.status} {err}"

    @REST_FUZZ
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        spec = data.draw(st.sampled_from(specs), label="route")
        path = fill(spec.path, data.draw)
        actor = data.draw(st.sampled_from([None, *fuzzers]), label="actor")
        body = data.draw(bodies, label="body")
        ctype = data.draw(st.sampled_from(CONTENT_TYPES), label="ctype")
        asyncio.run_coroutine_threadsafe(one(spec.method, path, actor, body, ctype), loop).result(
            30
        )

    await asyncio.to_thread(run)
    assert len(calls) >= 50, "the fuzzer did not run"
    await assert_intact(world, before)


# -- raw engine.io / socket.io packets --------------------------------------------------------

GARBAGE_TEXT = [
    "42[",
    "42{}",
    "42[]",
    "42[123]",
    "42[null,{}]",
    '42["sync"',
    "42" + "[" * 5000,
    '42["message.send","not an object"]',
    '42["message.send",{"room_id":[]}]',
    '421["sync",{"since":{"r":-5}}]',
    "43",
    "431[]",
    "4",
    "49",
    "4x",
    "9",
    "7abc",
    "5",
    "6",
    "1",
    "3probe",
    "2probe",
    '40{"token":1}',
    "41",
    "44{}",
    "45-[]",
    '451-["message.send",{"_placeholder":true,"num":7}]',
    "46",
    "4\x00",
    '42["sync","\\ud83d"]',
    '42["\\ud800",{}]',
    '42["\u0000",1]',
    '420["sync",' + "1," * 2000 + "1]",
]
INVALID_UTF8_TEXT = b"<invalid utf-8 text frame>"
GARBAGE_BINARY = [
    INVALID_UTF8_TEXT,
    b"",
    b"\x00",
    b"\x04\x00\x01",
    b"\xff" * 100,
    b"4" + b"\x00" * 10,
]


async def test_raw_engineio_garbage(world: World) -> None:
    before = await seed(world)
    url = world.running.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    healthy = await world.socket("member")
    limit = world.svc.settings.max_event_bytes
    token = world.actors["clinician"].token

    baseline = len(world.svc.connections.by_sid)

    async def probe_server() -> None:
        ack = await healthy.call("sync", {"since": {}}, timeout=10)
        assert "error" not in ack, ack
        assert (await world.rest("GET", "/healthz")).status == 200

    async with aiohttp.ClientSession() as http:

        async def connect() -> aiohttp.ClientWebSocketResponse:
            ws = await http.ws_connect(url, max_msg_size=0)
            opened = await ws.receive(timeout=10)
            assert opened.type == aiohttp.WSMsgType.TEXT and opened.data.startswith("0")
            await ws.send_str("40" + json.dumps({"token": token}))
            return ws

        ws = await connect()
        frames: list[str | bytes] = [
            *GARBAGE_TEXT,
            *GARBAGE_BINARY,
            "42" + json.dumps(["sync", {"pad": "x" * (limit + 10)}]),
        ]

        async def send(ws: aiohttp.ClientWebSocketResponse, frame: str | bytes) -> None:
            if frame == INVALID_UTF8_TEXT:
                await ws.send_frame(b'42["sync","\xff\xfe"]', aiohttp.WSMsgType.TEXT)
            elif isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)

        for frame in frames:
            # The server may drop a connection that breaks the protocol: open a new one.
            for _ in range(3):
                if ws.closed:
                    ws = await connect()
                try:
                    await send(ws, frame)
                    break
                except aiohttp.ClientConnectionResetError:
                    await ws.close()
            await probe_server()
        await ws.close()
        # A raw connection that behaves again still gets answers (or was closed cleanly).
        ws = await connect()
        await ws.send_str('421["sync",{"since":{}}]')
        while True:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            if msg.data.startswith("431"):
                ack = json.loads(msg.data[3:])[0]
                assert "error" not in ack and "rooms" in ack
                break
        await ws.close()
    # Every raw connection is gone from the server too: no zombie connection (presence would
    # show its user online forever, and graceful shutdown would wait on it).
    await wait_for(lambda: len(world.svc.connections.by_sid) == baseline)
    assert len(world.svc.sio.eio.sockets) == baseline

    # A client sending an event above the transport cap is cut off; the others are not.
    big = socketio.AsyncClient(reconnection=False)
    await big.connect(
        world.running.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
    )
    with pytest.raises(
        (
            socketio.exceptions.TimeoutError,
            socketio.exceptions.BadNamespaceError,
            socketio.exceptions.DisconnectedError,
        )
    ):
        await big.call("sync", {"pad": "x" * (limit * 4)}, timeout=5)
    await big.disconnect()
    await probe_server()
    await assert_intact(world, before)


@pytest.mark.parametrize("frame", ["x", ""])
async def test_undecodable_engineio_packet_leaves_no_zombie(world: World, frame: str) -> None:
    url = world.running.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    svc = world.svc
    await world.socket("member")
    baseline = len(svc.connections.by_sid)
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url)
            await ws.receive(timeout=10)
            await ws.send_str("40" + json.dumps({"token": world.actors["clinician"].token}))
            assert (await ws.receive(timeout=10)).data.startswith("40")
            await ws.send_str(frame)
            await ws.close()
        await wait_for(lambda: len(svc.connections.by_sid) == baseline, timeout=5)
    finally:
        # Should the zombie come back, clean it up so the server can still stop.
        known = {world.sockets[a].eio.sid for a in world.sockets}
        for eio_sid, sock in list(svc.sio.eio.sockets.items()):
            if eio_sid not in known:
                await sock.close(wait=False, abort=True)


# -- hostile values in otherwise valid payloads, field by field -------------------------------
# Random payloads rarely reach the database; these do: every field of a valid payload in turn
# gets a value that is well-formed JSON but hostile to storage (64-bit overflow, NUL, lone
# surrogate, a large string, wrong types).

HOSTILE_VALUES: list[Any] = [
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    -1,
    -(2**63) - 1,
    "a\x00b",
    "\ud800",
    "x" * 100_000,
    None,
    [],
    {},
    True,
    1.5,
    "",
]

# Known bugs, by (name, backend): each entry marks that case as a strict xfail with its reason.
KNOWN_EVENT_BUGS: dict[tuple[str, str], str] = {}


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in [(*prefix, k), *leaf_paths(v, (*prefix, k))]]
    if isinstance(value, list) and value:
        return [(*prefix, 0), *leaf_paths(value[0], (*prefix, 0))]
    return []


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out: Any = dict(value) if isinstance(value, dict) else list(value)
    out[path[0]] = replaced(out[path[0]], path[1:], new)
    return out


def backend(w: World) -> str:
    return "sqlite" if w.svc.db.is_sqlite else "postgres"


@pytest.mark.parametrize("event", sorted(EVENTS))
async def test_hostile_values_in_event_fields(
    world: World, event: str, request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_EVENT_BUGS.get((event, backend(world)))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    sio = await world.socket("owner")
    sid = sio.get_sid()
    make = valid_payloads(world).get(event, dict)
    problems = []
    for path in leaf_paths(make()) or [()]:
        for value in HOSTILE_VALUES:
            payload = replaced(make(), path, value)
            ack = await sio.call(event, payload, timeout=10)
            try:
                check_ack(ack, f"{event} {path}={str(value)[:20]!r}")
            except AssertionError as exc:
                problems.append(str(exc)[:200])
            assert sio.get_sid() == sid
    assert not problems, "\n".join(problems)


def rest_templates(w: World) -> dict[tuple[str, str], tuple[str | None, Any]]:
    """(method, path) -> (actor, valid-shaped body). Paths are filled with the care room."""
    r = w.room
    return {
        ("POST", "/api/v1/auth/login"): (
            None,
            {
                "username": "nobody",
                "password": "x",
                "totp": "123456",
                "device_name": "d",
                "device_id": "d_x",
            },
        ),
        ("POST", "/api/v1/invites"): ("owner", {"display_name": "P", "with_code": False}),
        ("POST", "/api/v1/invites/redeem"): (
            None,
            {"token": "inv_x", "code": "123456", "device_name": "d"},
        ),
        ("POST", "/api/v1/auth/totp/confirm"): ("owner", {"secret": "A" * 16, "code": "123456"}),
        ("POST", "/api/v1/auth/totp/disable"): ("owner", {"password": "x", "code": "123456"}),
        ("POST", "/api/v1/admin/users"): (
            "admin",
            {"username": "hx", "role": "patient", "display_name": "d"},
        ),
        ("POST", "/api/v1/rooms"): ("owner", {"encrypted_meta": "m", "signed_event": "s"}),
        ("PATCH", f"/api/v1/rooms/{r}"): ("owner", {"encrypted_meta": "m"}),
        ("POST", f"/api/v1/rooms/{r}/members"): (
            "owner",
            {"user_id": w.actors["caregiver"].user_id, "room_role": "member", "signed_event": "s"},
        ),
        ("POST", f"/api/v1/rooms/{r}/consents"): (
            "owner",
            {"subject_user_id": w.actors["caregiver"].user_id, "method": "verbal"},
        ),
    }


REST_TEMPLATE_KEYS = [
    "POST /api/v1/auth/login",
    "POST /api/v1/invites",
    "POST /api/v1/invites/redeem",
    "POST /api/v1/auth/totp/confirm",
    "POST /api/v1/auth/totp/disable",
    "POST /api/v1/admin/users",
    "POST /api/v1/rooms",
    "PATCH /api/v1/rooms/{room}",
    "POST /api/v1/rooms/{room}/members",
    "POST /api/v1/rooms/{room}/consents",
]
KNOWN_REST_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("key", REST_TEMPLATE_KEYS)
async def test_hostile_values_in_rest_bodies(
    world: World, key: str, request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_REST_BUGS.get((key, backend(world)))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    method, path = key.split(" ", 1)
    path = path.replace("{room}", world.room)
    actor, template = rest_templates(world)[(method, path)]
    problems = []
    for field in leaf_paths(template):
        for value in HOSTILE_VALUES:
            token = None
            if actor is not None:
                token, _, _ = await world.session(world.actors[actor].user_id)
            body = replaced(template, field, value)
            res = await world.rest(
                method,
                path,
                token=token,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            err = res.body.get("error") if isinstance(res.body, dict) else None
            if res.status >= 500 or (
                res.status >= 400
                and (not isinstance(err, dict) or err.get("code") not in ERROR_STATUS)
            ):
                problems.append(f"{field}={str(value)[:20]!r}: {res.status} {res.body!r}"[:200])
    assert not problems, "\n".join(problems)

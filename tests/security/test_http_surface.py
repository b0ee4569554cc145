"""The HTTP surface as an attacker sees it: headers on every answer, no version banner, one typed
error for every malformed body on every route, JSON misses under /app/ (issue 11, findings 5, 8).
"""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
import yarl

from server.api.routing import ROUTES
from server.app import _load_features
from tests.security.conftest import Served, serve

MARKER = "PATIENT-DUPONT-7731"  # never to be found in the server's log


def _headers_ok(resp: aiohttp.ClientResponse, where: str) -> list[str]:
    h = resp.headers
    problems = []
    server = h.get("Server", "")
    if re.search(r"aiohttp|python|\d+\.\d+", server, re.I):
        problems.append(f"{where}: Server banner {server!r}")
    for name, want in (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer")):
        if h.get(name) != want:
            problems.append(f"{where}: {name}={h.get(name)!r}")
    if (
        "frame-ancestors 'none'" not in h.get("Content-Security-Policy", "")
        and h.get("X-Frame-Options") != "DENY"
    ):
        problems.append(f"{where}: framing allowed")
    return problems


async def test_every_kind_of_response_carries_the_headers(served: Served) -> None:
    await served.add_user("hdr")
    problems: list[str] = []
    async with aiohttp.ClientSession() as http:
        login = await served.login(http, "hdr")
        auth = {"Authorization": f"Bearer {login['token']}"}
        probes = [
            ("GET", "/healthz", {}),
            ("GET", "/api/v1/me", auth),
            ("GET", "/api/v1/me", {}),  # 401
            ("GET", "/nope", {}),  # 404
            ("DELETE", "/api/v1/me", auth),  # 405
            ("GET", "/app/media-check.html", {}),
            ("GET", "/app/missing.js", {}),
            ("GET", "/socket.io/?EIO=4&transport=polling", {}),
            ("GET", "/api/openapi.json", {}),
        ]
        for method, path, headers in probes:
            async with http.request(method, served.url + path, headers=headers) as resp:
                await resp.read()
                problems += _headers_ok(resp, f"{method} {path} -> {resp.status}")
                if not path.startswith("/app/") and resp.headers.get("Cache-Control") != "no-store":
                    problems.append(
                        f"{method} {path}: Cache-Control {resp.headers.get('Cache-Control')!r}"
                    )
        async with http.post(
            served.url + "/api/v1/auth/login", json={"username": "hdr", "password": "wrong one"}
        ) as resp:
            problems += _headers_ok(resp, "login refused")
        # The answer that carries a token must never be cached.
        async with http.post(
            served.url + "/api/v1/auth/login",
            json={"username": "hdr", "password": "correct horse battery"},
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
            problems += _headers_ok(resp, "login")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "path",
    [
        "/app/missing.js",
        "/app/assets/",
        "/app/%2e%2e/server/app.py",
        "/app/.hidden",
        "/app/a//b",
        # Names the file system refuses outright (a NUL, a name or path too long): not found.
        "/app/%00",
        "/app/a%00b",
        "/app/a%00b.js",
        "/app/a%00b/index.html",
        "/app/" + "a" * 300,
        "/app/" + "/".join(["b" * 200] * 30),
    ],
)
async def test_web_client_misses_are_json_not_found(served: Served, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(yarl.URL(served.url + path, encoded=True)) as resp:
            assert resp.status == 404, path
            assert resp.content_type == "application/json"
            assert (await resp.json())["error"]["code"] == "not_found"
    log = served.log_text()
    assert "Traceback" not in log and " 500 " not in log, log[-2000:]


def _deep(levels: int) -> bytes:
    return ("[" * levels + "]" * levels).encode()


BAD_BODIES: dict[str, bytes] = {
    "not json": b'{"username": "' + MARKER.encode() + b'",',
    "nested 1000 deep (arrays)": _deep(1000),
    "nested 100000 deep": _deep(100_000),
    "nested 40 deep (objects)": ('{"a":' * 40 + '"' + MARKER + '"' + "}" * 40).encode(),
    "5000-digit integer": b'{"n": ' + b"9" * 5000 + b"}",
    "invalid utf-8": b'{"username": "\xff\xfe' + MARKER.encode() + b'"}',
    "NUL in text": json.dumps({"username": MARKER + "\x00"}).encode(),
}


@pytest.fixture
async def unthrottled(tmp_path):  # type: ignore[no-untyped-def]
    """Rate limits out of the way, so that every answer below is the body's own verdict."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'relais.db'}"
    limits = {
        f"RELAIS_RATE_{k}": "100000" for k in ("USER_PER_S", "USER_BURST", "IP_PER_S", "IP_BURST")
    }
    proc = await serve(tmp_path, url, **limits)
    try:
        yield Served(proc, url)
    finally:
        await proc.terminate()


async def test_malformed_bodies_get_one_typed_error_on_every_route(unthrottled: Served) -> None:
    """Every declared route with a JSON body, every malformed body: a 4xx with the JSON error
    shape, never a 500, never a traceback or the body's bytes in the log."""
    served = unthrottled
    _load_features()  # registers every route in ROUTES
    await served.add_user("walker", role="admin")
    failures = []
    checked = 0
    async with aiohttp.ClientSession() as http:
        login = await served.login(http, "walker")
        auth = {"Authorization": f"Bearer {login['token']}", "Content-Type": "application/json"}
        for spec in ROUTES:
            if spec.body is None or spec.raw_body:
                continue
            path = re.sub(r"\{[^}]+\}", "x1", spec.path)
            for name, body in BAD_BODIES.items():
                checked += 1
                async with http.request(
                    spec.method, served.url + path, data=body, headers=auth
                ) as resp:
                    text = await resp.text()
                    try:
                        code = json.loads(text)["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        code = None
                    if resp.status >= 500 or code is None:
                        failures.append(
                            f"{spec.method} {spec.path} [{name}]: {resp.status} {text[:80]}"
                        )
                    elif name.startswith(
                        ("not json", "nested", "5000", "invalid")
                    ) and code not in (
                        "bad_request",
                        "not_found",
                        "forbidden",
                    ):
                        failures.append(f"{spec.method} {spec.path} [{name}]: {code}")
    assert not failures, "\n".join(failures[:30])
    assert checked > 100
    log = served.log_text()
    assert "Traceback" not in log
    assert MARKER not in log


MALFORMED_HTTP = {
    "not http": b"GARBAGE " + MARKER.encode() + b"\r\n\r\n",
    "header over 8 KiB": b"GET / HTTP/1.1\r\nHost: x\r\nX: " + MARKER.encode() * 800 + b"\r\n\r\n",
    "bad content-length": b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: "
    + MARKER.encode()
    + b"\r\n\r\n",
    "smuggling shape": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n",
    "bad chunk": b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz" + MARKER.encode() + b"\r\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_HTTP))
async def test_malformed_http_gets_the_json_error_and_headers(served: Served, case: str) -> None:
    """aiohttp's parser refusals: JSON error shape, security headers, no banner, no echo of the
    request bytes, no traceback in the log."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(MALFORMED_HTTP[case])
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0].split()[1].startswith("4"), lines[0]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["server"] == "relais"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] in ("bad_request", "payload_too_large")
    assert MARKER.encode() not in raw
    log = served.log_text()
    assert "Traceback" not in log and MARKER not in log

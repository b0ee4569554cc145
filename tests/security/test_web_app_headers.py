"""The browser app as served by a real `relais serve`: what each kind of file may be cached for,
and the page policy that keeps any script but the app's own out (issue 12, item 1)."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from server.api import web_client
from tests.nodejs import WEB_CLIENT
from tests.security.conftest import Served

MANIFEST = json.loads((WEB_CLIENT / "dist" / "manifest.json").read_text())


async def test_html_is_never_stored_and_hashed_assets_are_immutable(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(served.url + "/app/") as resp:
            body = await resp.text()
            assert resp.status == 200 and resp.content_type == "text/html"
            assert resp.headers["Cache-Control"] == "no-store"
            assert MANIFEST["entries"]["app.js"] in body
        for name in MANIFEST["entries"].values():
            async with http.get(f"{served.url}/app/{name}") as resp:
                assert resp.status == 200, name
                assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        async with http.get(served.url + "/app/manifest.json") as resp:
            assert resp.status == 200 and resp.headers["Cache-Control"] == "no-cache"


async def test_every_app_response_carries_the_page_policy(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/app/", "/app/" + MANIFEST["entries"]["app.js"], "/app/missing.js"):
            async with http.get(served.url + path) as resp:
                await resp.read()
                csp = resp.headers["Content-Security-Policy"]
                for rule in (
                    "default-src 'none'",
                    "script-src 'self'",
                    "connect-src 'self'",
                    "frame-ancestors 'none'",
                    "require-trusted-types-for 'script'",
                ):
                    assert rule in csp, (path, rule)
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_the_root_leads_to_the_app(served: Served) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/app"):
            async with http.get(served.url + path, allow_redirects=False) as resp:
                assert resp.status == 302 and resp.headers["Location"] == "/app/", path


async def test_bundles_go_precompressed_to_browsers_that_accept_it(served: Served) -> None:
    """Brotli (or gzip) siblings built by `make web` are what a browser gets: a rural link pays
    for the compressed bytes, and the node spends nothing compressing per request."""
    name = MANIFEST["entries"]["app.js"]
    raw = (WEB_CLIENT / "dist" / name).read_bytes()
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        for accept, encoding in (("gzip, deflate, br", "br"), ("gzip", "gzip"), ("identity", None)):
            async with http.get(
                f"{served.url}/app/{name}", headers={"Accept-Encoding": accept}
            ) as resp:
                body = await resp.read()
                assert resp.headers.get("Content-Encoding") == encoding, accept
                assert "javascript" in resp.content_type
                assert (len(body) < len(raw) / 2) if encoding else body == raw
                assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"


async def test_the_join_page_carries_the_policy_and_its_token_is_never_logged(
    served: Served,
) -> None:
    """`/consult/<token>` (the patient's link) answers the join page, never stored, under the
    page policy, loading the join bundle and not the workspace; the token never reaches the
    server's log, neither from the page nor from its redemption (issue 13)."""
    async with aiohttp.ClientSession() as http:
        await served.add_user("dr.join")
        session = await served.login(http, "dr.join")
        headers = {"Authorization": f"Bearer {session['token']}"}
        async with http.post(served.url + "/api/v1/consultations", json={}, headers=headers) as r:
            cid = (await r.json())["consultation_id"]
        async with http.post(
            f"{served.url}/api/v1/consultations/{cid}/links",
            json={"display_name": "Mme Join", "with_code": True},
            headers=headers,
        ) as r:
            link = await r.json()
        token = link["token"]
        assert link["url"] == "/consult/" + token
        for path in (link["url"], "/consult/"):
            async with http.get(served.url + path) as resp:
                body = await resp.text()
                assert resp.status == 200 and resp.content_type == "text/html", path
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["Content-Security-Policy"] == web_client.CSP
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                assert resp.headers["Referrer-Policy"] == "no-referrer"
                assert "/app/" + MANIFEST["entries"]["join.js"] in body
                assert MANIFEST["entries"]["app.js"] not in body
        async with http.get(served.url + link["url"] + "/more") as resp:
            assert resp.status == 404
            assert token not in await resp.text()
        redeem = served.url + "/api/v1/consultations/redeem"
        wrong = f"{(int(link['code']) + 1) % 1_000_000:06d}"
        async with http.post(redeem, json={"token": token, "code": wrong}) as r:
            assert r.status == 401
        async with http.post(redeem, json={"token": token, "code": link["code"]}) as r:
            assert r.status == 200
        async with http.post(redeem, json={"token": token, "code": link["code"]}) as r:
            assert r.status == 410
    await asyncio.sleep(0.2)  # let the server's log reach the file
    log = served.log_text()
    assert log  # the server does log (its start, the redemptions' audit trail…)
    assert token not in log and token.split("_", 1)[1] not in log

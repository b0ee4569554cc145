"""Login, lockout, TOTP, sessions, disabled accounts and the admin REST API, over a real server
(SQLite and PostgreSQL) driven by the real client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pyotp
import pytest
import socketio

from client import RelaisClient, RelaisError
from tests.conftest import PASSWORD, envelope, make_user, wait_for
from tests.conftest import test_settings as settings_for


async def eventually(attempt: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """Retry a request until it stops failing (state driven by the server's clock), bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            return await attempt()
        except RelaisError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.05)


async def audit_text(running: Any) -> str:
    return "\n".join([json.dumps(r) async for r in running.services.audit.rows()])


async def fresh(running: Any, made: list[RelaisClient]) -> RelaisClient:
    c = RelaisClient(running.url)
    made.append(c)
    return c


@pytest.fixture
async def anon() -> Any:
    made: list[RelaisClient] = []

    async def _make(running: Any) -> RelaisClient:
        return await fresh(running, made)

    yield _make
    for c in made:
        await c.close()


async def test_login_success_and_failure(relais, anon):
    user = await make_user(relais, "clinician")
    c = await anon(relais)
    with pytest.raises(RelaisError) as err:
        await c.login(user.username, "wrong password!!")
    assert err.value.code == "invalid_credentials" and err.value.status == 401
    with pytest.raises(RelaisError) as err:
        await c.login("nobody-here", PASSWORD)
    assert err.value.code == "invalid_credentials"
    res = await c.login(user.username.upper(), PASSWORD)
    assert res["user_id"] == user.user_id and res["role"] == "clinician"
    me = await c.request("GET", "/api/v1/me")
    assert me["user_id"] == user.user_id and me["totp_enabled"] is False
    assert me["session_id"] == res["session_id"]
    text = await audit_text(relais)
    assert PASSWORD not in text and res["token"] not in text
    assert '"action":"auth.login"' in text.replace(" ", "")


async def test_lockout_then_recovery(start_server, tmp_path, database_url, anon):
    running = await start_server(
        settings_for(tmp_path, database_url, login_lockout_s=1, login_max_failures=3)
    )
    user = await make_user(running, "clinician")
    c = await anon(running)
    for _ in range(3):
        with pytest.raises(RelaisError) as err:
            await c.login(user.username, "not the password")
        assert err.value.code == "invalid_credentials"
    with pytest.raises(RelaisError) as err:
        await c.login(user.username, PASSWORD)
    assert err.value.code == "account_locked" and err.value.status == 423
    assert 0 < err.value.details["retry_after_ms"] <= 1000
    # The lockout ends on its own; the correct password then works again.
    res = await eventually(lambda: c.login(user.username, PASSWORD))
    assert res["user_id"] == user.user_id


async def test_totp_enable_login_disable(relais, anon, clients):
    user = await make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)
    setup = await c.request("POST", "/api/v1/auth/totp/setup")
    secret = setup["secret"]
    assert setup["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    valid_now = {totp.at(time.time() + k * 30) for k in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid_now)
    with pytest.raises(RelaisError) as err:
        await c.request("POST", "/api/v1/auth/totp/confirm", json={"secret": secret, "code": wrong})
    assert err.value.code == "invalid_credentials"
    assert (await c.request("GET", "/api/v1/me"))["totp_enabled"] is False
    await c.request(
        "POST", "/api/v1/auth/totp/confirm", json={"secret": secret, "code": totp.now()}
    )
    assert (await c.request("GET", "/api/v1/me"))["totp_enabled"] is True
    with pytest.raises(RelaisError) as err:
        await c.request("POST", "/api/v1/auth/totp/setup")
    assert err.value.code == "conflict"

    other = await anon(relais)
    with pytest.raises(RelaisError) as err:
        await other.login(user.username, PASSWORD)
    assert err.value.code == "invalid_credentials"  # the password is not confirmed without a code
    res = await other.login(user.username, PASSWORD, totp=totp.now())
    assert res["user_id"] == user.user_id

    with pytest.raises(RelaisError) as err:
        await c.request(
            "POST",
            "/api/v1/auth/totp/disable",
            json={"password": "wrong password!", "code": totp.now()},
        )
    assert err.value.code == "invalid_credentials"
    await c.request(
        "POST", "/api/v1/auth/totp/disable", json={"password": PASSWORD, "code": totp.now()}
    )
    third = await anon(relais)
    await third.login(user.username, PASSWORD)
    text = await audit_text(relais)
    assert secret not in text and PASSWORD not in text


async def test_patient_cannot_set_up_totp(relais, clients):
    patient = await make_user(relais, "patient")
    c = await clients(relais, patient, connect=False)
    with pytest.raises(RelaisError) as err:
        await c.request("POST", "/api/v1/auth/totp/setup")
    assert err.value.code == "forbidden"


async def test_sessions_list_and_revoke(relais, clients):
    user = await make_user(relais, "clinician")
    phone = await clients(relais, user)
    laptop = await clients(relais, user, connect=False)
    sessions = (await laptop.request("GET", "/api/v1/auth/sessions"))["sessions"]
    assert len(sessions) == 2 and all(s["active"] for s in sessions)
    assert not any("token" in k for s in sessions for k in s)
    phone_sid = next(s["id"] for s in sessions if s["device_id"] == phone.device_id)

    await laptop.request("DELETE", f"/api/v1/auth/sessions/{phone_sid}")
    # The phone's open socket is closed, its token refused on REST and at connect.
    await wait_for(lambda: phone.sio is not None and not phone.sio.connected)
    with pytest.raises(RelaisError) as err:
        await phone.request("GET", "/api/v1/me")
    assert err.value.code == "unauthorized" and err.value.status == 401
    phone.sio = None
    with pytest.raises(socketio.exceptions.ConnectionError):
        await phone.connect()
    with pytest.raises(RelaisError) as err:
        await laptop.request("DELETE", f"/api/v1/auth/sessions/{phone_sid}")
    assert err.value.code == "not_found"
    listed = (await laptop.request("GET", "/api/v1/auth/sessions"))["sessions"]
    assert [s["active"] for s in listed if s["id"] == phone_sid] == [False]

    # Another user's session cannot be revoked (nor its existence learned).
    stranger = await clients(relais, await make_user(relais, "clinician"), connect=False)
    me = await laptop.request("GET", "/api/v1/me")
    with pytest.raises(RelaisError) as err:
        await stranger.request("DELETE", f"/api/v1/auth/sessions/{me['session_id']}")
    assert err.value.code == "not_found"
    await laptop.request("POST", "/api/v1/auth/logout")
    with pytest.raises(RelaisError) as err:
        await laptop.request("GET", "/api/v1/me")
    assert err.value.code == "unauthorized"


async def test_admin_routes(relais, clients, anon):
    admin = await make_user(relais, "admin")
    ca = await clients(relais, admin, connect=False)
    created = await ca.request(
        "POST",
        "/api/v1/admin/users",
        json={
            "username": "Dr.Martin",
            "role": "clinician",
            "display_name": "Dr Martin",
            "password": "first password 1",
        },
    )
    uid = created["user_id"]
    assert created["username"] == "dr.martin"
    with pytest.raises(RelaisError) as err:
        await ca.request(
            "POST",
            "/api/v1/admin/users",
            json={"username": "dr.martin", "role": "clinician", "password": "first password 1"},
        )
    assert err.value.code == "conflict"
    with pytest.raises(RelaisError) as err:
        await ca.request(
            "POST", "/api/v1/admin/users", json={"username": "nopass", "role": "clinician"}
        )
    assert err.value.code == "validation_failed"
    with pytest.raises(RelaisError) as err:
        await ca.request(
            "POST",
            "/api/v1/admin/users",
            json={"username": "short", "role": "clinician", "password": "short"},
        )
    assert err.value.code == "validation_failed"
    pat = await ca.request(
        "POST", "/api/v1/admin/users", json={"username": "pat1", "role": "patient"}
    )
    assert pat["role"] == "patient"

    users = (await ca.request("GET", "/api/v1/admin/users"))["users"]
    assert {u["username"] for u in users} >= {"dr.martin", "pat1", admin.username}
    flat = json.dumps(users)
    assert "hash" not in flat and "secret" not in flat and "argon2" not in flat

    doc = await anon(relais)
    await doc.login("dr.martin", "first password 1")
    await doc.connect()
    room = await doc.create_room()
    await doc.send(room, envelope("hello"))
    sessions = (await ca.request("GET", f"/api/v1/admin/users/{uid}/sessions"))["sessions"]
    assert len(sessions) == 1 and sessions[0]["active"]

    reset = await ca.request(
        "POST", f"/api/v1/admin/users/{uid}/reset-password", json={"password": "second password 2"}
    )
    assert reset["sockets_closed"] == 1
    await wait_for(lambda: doc.sio is not None and not doc.sio.connected)
    with pytest.raises(RelaisError) as err:
        await doc.request("GET", "/api/v1/me")
    assert err.value.code == "unauthorized"
    with pytest.raises(RelaisError) as err:
        await doc.login("dr.martin", "first password 1")
    assert err.value.code == "invalid_credentials"
    await doc.login("dr.martin", "second password 2")
    doc.sio = None
    await doc.connect()

    out = await ca.request("POST", f"/api/v1/admin/users/{uid}/disable")
    assert out["disabled"] is True and out["sockets_closed"] == 1
    await wait_for(lambda: doc.sio is not None and not doc.sio.connected)
    doc.sio = None
    with pytest.raises(socketio.exceptions.ConnectionError):
        await doc.connect()
    with pytest.raises(RelaisError) as err:
        await doc.login("dr.martin", "second password 2")
    assert err.value.code == "account_disabled"
    with pytest.raises(RelaisError) as err:
        await ca.request("POST", f"/api/v1/admin/users/{admin.user_id}/disable")
    assert err.value.code == "conflict"
    with pytest.raises(RelaisError) as err:
        await ca.request("POST", "/api/v1/admin/users/u_nope/disable")
    assert err.value.code == "not_found"

    await ca.request("POST", f"/api/v1/admin/users/{uid}/enable")
    await doc.login("dr.martin", "second password 2")

    text = await audit_text(relais)
    for secret in ("first password 1", "second password 2", doc.token):
        assert secret not in text
    actions = [json.loads(line)["action"] for line in text.splitlines()]
    for action in (
        "admin.user_create",
        "admin.user_list",
        "admin.session_list",
        "admin.password_reset",
        "admin.user_disable",
        "admin.user_enable",
    ):
        assert action in actions
    ok, _, reason = await relais.services.audit.verify()
    assert ok, reason


@pytest.mark.parametrize("role", ["clinician", "assistant", "caregiver", "patient"])
async def test_admin_routes_forbidden_for_non_admins(relais, clients, role):
    target = await make_user(relais, "clinician")
    c = await clients(relais, await make_user(relais, role), connect=False)
    calls: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/v1/admin/users",
            {"username": "x1", "role": "admin", "password": "long enough pw"},
        ),
        ("GET", "/api/v1/admin/users", None),
        ("POST", f"/api/v1/admin/users/{target.user_id}/disable", None),
        ("POST", f"/api/v1/admin/users/{target.user_id}/enable", None),
        (
            "POST",
            f"/api/v1/admin/users/{target.user_id}/reset-password",
            {"password": "long enough pw"},
        ),
        ("GET", f"/api/v1/admin/users/{target.user_id}/sessions", None),
    ]
    for method, path, body in calls:
        with pytest.raises(RelaisError) as err:
            await c.request(method, path, json=body)
        assert err.value.code == "forbidden", path
    # Nothing changed: the target still logs in.
    other = await clients(relais, target, connect=False)
    assert other.token


async def test_admin_routes_need_a_session(relais, anon):
    c = await anon(relais)
    with pytest.raises(RelaisError) as err:
        await c.request("GET", "/api/v1/admin/users")
    assert err.value.code == "unauthorized"


async def test_disabled_user_cannot_login_or_connect(relais, clients, anon):
    user = await make_user(relais, "caregiver")
    c = await clients(relais, user)
    async with relais.services.db.write() as conn:
        from server.auth import accounts

        await accounts.set_disabled(conn, user.user_id, True)
    # The token no longer resolves: REST and socket connect both refuse it.
    with pytest.raises(RelaisError) as err:
        await c.request("GET", "/api/v1/me")
    assert err.value.code == "unauthorized"
    await c.sio.disconnect()
    c.sio = None
    with pytest.raises(socketio.exceptions.ConnectionError):
        await c.connect()
    other = await anon(relais)
    with pytest.raises(RelaisError) as err:
        await other.login(user.username, PASSWORD)
    assert err.value.code == "account_disabled"


async def test_session_revoked_on_another_node_closes_the_socket(
    start_server, tmp_path, database_url, clients
):
    """A revocation written by another node (here: straight into the shared database) is
    picked up by this node's sweeper, which closes the socket."""
    from sqlalchemy import update

    from server.db.models import Session, now_ms
    from tests.conftest import make_user as _make_user
    from tests.conftest import test_settings as _settings
    from tests.conftest import wait_for as _wait_for

    running = await start_server(_settings(tmp_path, database_url, session_recheck_s=0.2))
    user = await _make_user(running, "clinician")
    c = await clients(running, user)
    c.sio.reconnection = False
    assert c.sio.connected
    async with running.services.db.write() as conn:
        await conn.execute(
            update(Session).where(Session.user_id == user.user_id).values(revoked_at=now_ms())
        )
    await _wait_for(lambda: not c.sio.connected, timeout=10)


async def test_a_totp_code_is_accepted_once(relais, clients):
    """A code seen over a shoulder cannot be replayed within its validity window."""
    import pyotp as _pyotp

    from client import RelaisClient as _Client
    from client import RelaisError as _Err
    from server.auth.totp import matching_step
    from tests.conftest import make_user as _make_user

    user = await _make_user(relais, "clinician")
    c = await clients(relais, user, connect=False)
    setup = await c.request("POST", "/api/v1/auth/totp/setup")
    secret = setup["secret"]
    await c.request(
        "POST",
        "/api/v1/auth/totp/confirm",
        json={"secret": secret, "code": _pyotp.TOTP(secret).now()},
    )
    code = _pyotp.TOTP(secret).now()
    assert matching_step(secret, code) is not None
    first = _Client(relais.url)
    second = _Client(relais.url)
    try:
        await first.login(user.username, user.password, totp=code)
        with pytest.raises(_Err) as err:
            await second.login(user.username, user.password, totp=code)
        assert err.value.code == "invalid_credentials"
    finally:
        await first.close()
        await second.close()

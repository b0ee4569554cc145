"""The `relais` command line as an operator runs it: a separate process on the same SQLite data
directory as a running server. Account administration takes effect on the live server; the audit
chain verifies, detects an edited row and a removed tail, and exports JSON lines without secrets.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from client import RelaisClient, RelaisError
from tests.conftest import test_settings as settings_for

REPO = Path(__file__).resolve().parents[2]
ADMIN_PW = "admin password one"
DOC_PW = "doctor password one"
DOC_PW2 = "doctor password two"


async def relais_cli(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run `relais <args> --data-dir <dir>` in its own process (`python -m server.cli`)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        *args,
        "--data-dir",
        str(data_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**base, **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate((stdin or "").encode()), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def ok(data_dir: Path, *args: str, **kw: Any) -> Any:
    code, out, err = await relais_cli(data_dir, *args, **kw)
    assert code == 0, (args, out, err)
    return json.loads(out) if out.strip().startswith("{") else out


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "var"
    d.mkdir()
    return d


@pytest.fixture
async def http() -> Any:
    made: list[RelaisClient] = []

    def _make(url: str) -> RelaisClient:
        c = RelaisClient(url)
        made.append(c)
        return c

    yield _make
    for c in made:
        await c.close()


async def test_admin_commands_on_a_live_server(start_server, tmp_path, data_dir, http):
    running = await start_server(
        settings_for(
            tmp_path, f"sqlite+aiosqlite:///{data_dir / 'relais.db'}", data_dir=str(data_dir)
        )
    )
    admin = await ok(
        data_dir, "admin", "create-user", "Root", "--role", "admin", "--password", ADMIN_PW
    )
    assert admin["username"] == "root" and admin["role"] == "admin"
    doc = await ok(
        data_dir,
        "admin",
        "create-user",
        "doc",
        "--role",
        "clinician",
        "--display-name",
        "Dr Who",
        env={"RELAIS_ADMIN_PASSWORD": DOC_PW},
    )
    patient = await ok(data_dir, "admin", "create-user", "pat", "--role", "patient")
    assert patient["role"] == "patient"
    code, _, err = await relais_cli(
        data_dir, "admin", "create-user", "doc", "--role", "clinician", "--password", DOC_PW
    )
    assert code == 1 and json.loads(err)["error"]["code"] == "conflict"
    code, _, err = await relais_cli(
        data_dir, "admin", "reset-password", "ghost", "--password", DOC_PW
    )
    assert code == 1 and json.loads(err)["error"]["code"] == "not_found"

    c = http(running.url)
    login = await c.login("doc", DOC_PW)
    assert login["user_id"] == doc["user_id"]
    listed = await ok(data_dir, "admin", "list-sessions", "doc")
    assert [s["id"] for s in listed["sessions"]] == [login["session_id"]]
    assert listed["sessions"][0]["active"] is True

    # The new password comes on stdin (what a script piping a secret does).
    await ok(data_dir, "admin", "reset-password", "doc", stdin=DOC_PW2 + "\n")
    with pytest.raises(RelaisError) as e:
        await http(running.url).login("doc", DOC_PW)
    assert e.value.code == "invalid_credentials"
    await http(running.url).login("doc", DOC_PW2)

    out = await ok(data_dir, "admin", "disable-user", "doc")
    assert out == {"user_id": doc["user_id"], "disabled": True}
    with pytest.raises(RelaisError) as e:
        await c.request("GET", "/api/v1/me")
    assert e.value.code == "unauthorized"
    with pytest.raises(RelaisError) as e:
        await http(running.url).login("doc", DOC_PW2)
    assert e.value.code == "account_disabled"
    listed = await ok(data_dir, "admin", "list-sessions", "doc")
    assert len(listed["sessions"]) == 2 and not any(s["active"] for s in listed["sessions"])

    verdict = await ok(data_dir, "audit", "verify")
    assert verdict["ok"] is True and verdict["rows"] >= 8
    export = data_dir / "audit.jsonl"
    await ok(data_dir, "audit", "export", "-o", str(export))
    lines = export.read_text().splitlines()
    assert len(lines) == verdict["rows"]
    rows = [json.loads(line) for line in lines]
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    actions = {r["action"] for r in rows}
    assert {
        "admin.user_create",
        "admin.password_reset",
        "admin.user_disable",
        "auth.login",
    } <= actions
    text = export.read_text()
    for secret in (ADMIN_PW, DOC_PW, DOC_PW2, login["token"], c.token or "-"):
        assert secret not in text
    # stdout export is the same stream.
    code, out, _ = await relais_cli(data_dir, "audit", "export")
    assert code == 0 and out.splitlines() == lines


async def test_audit_verify_detects_tampering(data_dir):
    for name in ("a1", "a2", "a3"):
        await ok(
            data_dir, "admin", "create-user", name, "--role", "clinician", "--password", DOC_PW
        )
    await ok(data_dir, "admin", "disable-user", "a2")
    verdict = await ok(data_dir, "audit", "verify")
    assert verdict == {"ok": True, "rows": 4, "reason": "ok"}

    db = data_dir / "relais.db"

    def sql(statement: str, *params: Any) -> list[Any]:
        with sqlite3.connect(db) as conn:
            return conn.execute(statement, params).fetchall()

    original = sql("SELECT action FROM audit_events WHERE id = 2")[0][0]
    sql("UPDATE audit_events SET action = 'x' WHERE id = 2")
    code, out, _ = await relais_cli(data_dir, "audit", "verify")
    verdict = json.loads(out)
    assert code == 2 and verdict["ok"] is False
    assert "row 2" in verdict["reason"] and verdict["rows"] == 1

    sql("UPDATE audit_events SET action = ? WHERE id = 2", original)
    assert (await ok(data_dir, "audit", "verify"))["ok"] is True

    # Removing the newest row leaves a consistent chain: only the head gives it away.
    sql("DELETE FROM audit_events WHERE id = (SELECT MAX(id) FROM audit_events)")
    code, out, _ = await relais_cli(data_dir, "audit", "verify")
    verdict = json.loads(out)
    assert code == 2 and verdict["ok"] is False and "head" in verdict["reason"]
    assert verdict["rows"] == 3


async def test_serve_runs_on_the_event_loop_it_is_told(tmp_path: Path) -> None:
    """`relais serve` runs on uvloop unless RELAIS_EVENT_LOOP says asyncio, answers on both,
    and refuses an unknown loop before it opens anything."""
    from tests.conftest import free_port
    from tests.procs import ServerProcess

    env = {k: v for k, v in os.environ.items() if k.startswith("RELAIS_TEST")}
    for loop in ("", "asyncio"):
        data = tmp_path / (loop or "default")
        proc = ServerProcess(
            free_port(),
            data,
            f"sqlite+aiosqlite:///{data / 'relais.db'}",
            extra_env={**env, **({"RELAIS_EVENT_LOOP": loop} if loop else {})},
        )
        try:
            await proc.start()
        finally:
            await proc.terminate()
        assert f"loop: {loop or 'uvloop'})" in proc.log.read_text(), proc.log.read_text()[-500:]
    rc, _, err = await relais_cli(tmp_path / "bad", "serve", env={"RELAIS_EVENT_LOOP": "trio"})
    assert rc != 0 and "invalid RELAIS_EVENT_LOOP: 'trio'" in err, (rc, err)

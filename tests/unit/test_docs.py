"""The documents that describe the contract must match the code that enforces it.

- docs/configuration.md holds the settings table generated from server/settings.py;
- docs/protocol.md documents every REST route, socket event, server-emitted event and error code;
- the README's quickstart script is docs/quickstart.py, byte for byte.

Regenerate the settings table with `.venv/bin/python -m tests.unit.test_docs --write`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SETTINGS_START, SETTINGS_END = "<!-- settings:start -->", "<!-- settings:end -->"
# `sio.emit("message.new", ...)`, `_emit_to_users(svc, "typing", ...)`: first string argument.
EMIT = re.compile(r"emit\w*\(\s*(?:[\w.]+\s*,\s*){0,3}[\"']([a-z][\w.]*)[\"']")


def _settings_block(text: str) -> str:
    start, end = text.index(SETTINGS_START), text.index(SETTINGS_END)
    return text[start + len(SETTINGS_START) : end].strip()


def _generated_table() -> str:
    from server.settings import settings_table_markdown

    return settings_table_markdown().strip()


def _protocol() -> str:
    return (DOCS / "protocol.md").read_text()


def _headings(text: str) -> set[str]:
    """The backticked text of every markdown heading: "### `message.send`" -> "message.send"."""
    return {m.group(1) for m in re.finditer(r"^#{2,5} `([^`]+)`", text, re.MULTILINE)}


def _load_contract() -> None:
    """Import every feature module, as the app factory does, so the registries are complete."""
    from server import app

    app._load_features()


def test_settings_table_matches_code() -> None:
    doc = (DOCS / "configuration.md").read_text()
    assert _settings_block(doc) == _generated_table(), (
        "docs/configuration.md is stale: run `.venv/bin/python -m tests.unit.test_docs --write`"
    )


def test_every_rest_route_is_documented() -> None:
    _load_contract()
    from server.api.routing import ROUTES

    documented = _headings(_protocol())
    missing = sorted(
        f"{r.method} {r.path}" for r in ROUTES if f"{r.method} {r.path}" not in documented
    )
    assert not missing, (
        f"routes missing from docs/protocol.md (as '#### `METHOD /path`'): {missing}"
    )


def test_every_socket_event_is_documented() -> None:
    _load_contract()
    from server.realtime.registry import EVENTS

    documented = _headings(_protocol())
    missing = sorted(name for name in EVENTS if name not in documented)
    assert not missing, f"socket events missing from docs/protocol.md: {missing}"


def test_every_server_event_is_documented() -> None:
    emitted: set[str] = set()
    for path in (ROOT / "server").rglob("*.py"):
        emitted.update(EMIT.findall(path.read_text()))
    assert "message.new" in emitted  # the pattern still matches the code's emit calls
    documented = _headings(_protocol())
    missing = sorted(emitted - documented)
    assert not missing, f"server-emitted events missing from docs/protocol.md: {missing}"


def test_protocol_documents_nothing_that_is_gone() -> None:
    _load_contract()
    from server.api.routing import ROUTES
    from server.realtime.registry import EVENTS

    emitted: set[str] = set()
    for path in (ROOT / "server").rglob("*.py"):
        emitted.update(EMIT.findall(path.read_text()))
    known = {f"{r.method} {r.path}" for r in ROUTES} | set(EVENTS) | emitted
    stale = sorted(h for h in _headings(_protocol()) if h not in known)
    assert not stale, f"docs/protocol.md documents routes/events the server no longer has: {stale}"


def test_every_error_code_is_documented() -> None:
    from server.errors import ERROR_STATUS

    text = _protocol()
    missing = sorted(
        code
        for code, status in ERROR_STATUS.items()
        if not re.search(rf"^\| `{code}` \| {status} \|", text, re.MULTILINE)
    )
    assert not missing, f"error codes missing from the table in docs/protocol.md: {missing}"


def test_readme_quickstart_is_the_script() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    script = (DOCS / "quickstart.py").read_text()
    assert script in blocks, "the README's python block differs from docs/quickstart.py"
    for command in (
        "make run",
        "make test",
        "make lint",
        "make bench",
        ".venv/bin/relais admin create-user",
    ):
        assert command in readme


def test_architecture_maps_every_server_module() -> None:
    text = (DOCS / "architecture.md").read_text()
    server = ROOT / "server"
    modules = sorted(
        p.relative_to(server).as_posix()
        for p in server.rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts
    )
    missing = [m for m in modules if f"`{m}`" not in text]
    assert not missing, (
        f"server modules missing from the module map of docs/architecture.md: {missing}"
    )


def test_openapi_lists_every_route() -> None:
    _load_contract()
    from server.api.openapi import build_openapi
    from server.api.routing import ROUTES

    paths = build_openapi()["paths"]
    for r in ROUTES:
        assert r.method.lower() in paths[r.path]


def _write() -> None:
    path = DOCS / "configuration.md"
    text = path.read_text()
    start, end = text.index(SETTINGS_START), text.index(SETTINGS_END)
    path.write_text(
        text[: start + len(SETTINGS_START)] + "\n" + _generated_table() + "\n" + text[end:]
    )
    print(f"rewrote the settings table of {path.relative_to(ROOT)}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write()
    else:
        raise SystemExit("usage: python -m tests.unit.test_docs --write")

"""What the browser app's tests need from the machine: Node.js and the locked npm dependencies
(`make test` runs `npm ci` in web_client/ when npm is there). Without them the JS tests skip, and
fail under RELAIS_REQUIRE_SERVICES=1 (CI installs nodejs and npm)."""

from __future__ import annotations

import shutil
from pathlib import Path

WEB_CLIENT = Path(__file__).resolve().parents[1] / "web_client"


def require_node() -> str:
    """The `node` executable, once web_client/node_modules is installed; else skip (or fail)."""
    from tests.conftest import service_unavailable

    node = shutil.which("node")
    if node is None:
        service_unavailable("Node.js", "node not on PATH (apt-get install nodejs npm)")
    if not (WEB_CLIENT / "node_modules" / ".package-lock.json").is_file():
        service_unavailable("web_client/node_modules", "run `make web-deps` (npm ci)")
    return node

"""The JavaScript twin of crypto/ (web_client/src/crypto) against the same vectors.

Runs `node --test` in web_client/: test/vectors.test.mjs recomputes every case of
tests/vectors/*.json (failing on an op it does not know and on a case count that differs from the
files) and test/primitives.test.mjs checks the libsodium functions it composes from noble. Without
Node.js 20+ or without web_client/node_modules (`npm ci`), this skips, or fails under
RELAIS_REQUIRE_SERVICES=1 like the other machine-provided dependencies.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import service_unavailable

WEB_CLIENT = Path(__file__).resolve().parents[2] / "web_client"
TIMEOUT_S = 600


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        service_unavailable("Node.js", "no `node` on PATH (apt-get install nodejs)")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = re.match(r"v(\d+)\.", out.stdout.strip())
    if out.returncode != 0 or major is None or int(major.group(1)) < 20:
        service_unavailable("Node.js 20+", f"`node --version` said {out.stdout.strip()!r}")
    if not (WEB_CLIENT / "node_modules" / "@noble").is_dir():
        service_unavailable("web_client/node_modules", "run `npm ci` in web_client/")
    return node


def _count(output: str, name: str) -> int:
    found = re.findall(rf"^# {name} (\d+)$", output, re.MULTILINE)
    assert found, f"no '# {name}' line in the node --test summary:\n{output[-3000:]}"
    return int(found[-1])


def test_js_twin_passes_every_vector() -> None:
    node = _node()
    run = subprocess.run(
        [node, "--test", "--test-reporter=tap", "test/"],
        cwd=WEB_CLIENT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    output = run.stdout + run.stderr
    failures = "\n".join(line for line in output.splitlines() if line.startswith("not ok"))
    assert run.returncode == 0, f"node --test failed:\n{failures}\n{output[-3000:]}"
    assert _count(output, "fail") == 0, failures
    assert _count(output, "pass") > 0

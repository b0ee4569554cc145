"""The committed bundles in web_client/dist are exactly what `make web` builds from the sources
and the locked dependencies. `make run` serves them without Node, so a source change that was
not rebuilt would ship old code silently; this test rebuilds into a scratch folder and compares
every file byte for byte."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.nodejs import WEB_CLIENT, require_node

DIST = WEB_CLIENT / "dist"


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_committed_bundles_match_a_fresh_build(tmp_path: Path) -> None:
    node = require_node()
    out = tmp_path / "dist"
    run = subprocess.run(
        [node, "build.mjs", "--outdir", str(out)],
        cwd=WEB_CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    fresh, committed = _tree(out), _tree(DIST)
    stale = sorted(k for k in fresh.keys() | committed.keys() if fresh.get(k) != committed.get(k))
    assert not stale, f"web_client/dist is stale, run `make web` and commit: {stale}"


def test_manifest_lists_every_file_with_its_hash() -> None:
    manifest = json.loads((DIST / "manifest.json").read_text())
    tree = _tree(DIST)
    del tree["manifest.json"]
    assert manifest["files"] == tree
    for name in manifest["entries"].values():
        assert name.startswith("assets/") and (DIST / name).is_file()


def test_html_loads_only_hashed_same_origin_files() -> None:
    """No CDN, no inline script: every script and stylesheet of each page is a hashed local file
    of its own entry (the patient's join page, served at /consult/<token>, names them under
    /app/ and loads none of the workspace)."""
    manifest = json.loads((DIST / "manifest.json").read_text())
    for page, entry, base in (("index.html", "app", ""), ("join.html", "join", "/app/")):
        html = (DIST / page).read_text()
        assert "<script>" not in html and "http" not in html.replace('name="viewport"', "")
        for key, name in manifest["entries"].items():
            if key.split(".")[0] == entry:
                assert f'"{base}{name}"' in html, (page, key)
            else:
                assert name not in html, (page, key)

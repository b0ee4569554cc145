"""The hash-locked install agrees with pyproject.toml, and is what the suite runs on.

`make run`, `make test` and the Dockerfile install from requirements*.lock with --require-hashes;
pyproject.toml keeps the ranges (bounded where Relais relies on a dependency's internals). When
someone edits one without the other (`make lock` regenerates both), this fails in CI.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)")


def _pins(lock: str) -> dict[str, set[Version]]:
    """name -> every version pinned (a universal lock may pin two under different markers)."""
    out: dict[str, set[Version]] = {}
    for line in (ROOT / lock).read_text().splitlines():
        m = PIN.match(line)
        if m:
            out.setdefault(canonicalize_name(m.group(1)), set()).add(Version(m.group(2)))
    return out


def _entries(lock: str) -> list[str]:
    """Each pinned requirement with its continuation lines, as one string."""
    text = (ROOT / lock).read_text()
    return [b for b in re.split(r"\n(?=[A-Za-z0-9])", text) if PIN.match(b)]


def _requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == "relais":
                pending.extend(req.extras)  # `relais[test]` inside `dev`
            else:
                reqs.append(req)
    return reqs


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("requirements.lock", ("postgres",)), ("requirements-dev.lock", ("dev", "postgres"))],
)
def test_lock_pins_every_requirement_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    pins = _pins(lock)
    problems = []
    for req in _requirements(extras):
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is in pyproject.toml but not in {lock}")
            continue
        for version in pins[name]:
            if not req.specifier.contains(version, prereleases=True):
                problems.append(f"{lock} pins {req.name}=={version}, outside {req.specifier}")
    assert not problems, "run `make lock`:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    bare = [e.split()[0] for e in _entries(lock) if "--hash=sha256:" not in e]
    assert not bare, f"pins without hashes in {lock}: {bare}"


def test_app_lock_agrees_with_dev_lock() -> None:
    """The server runs on the versions the suite tested."""
    app, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    differ = {n: (v, dev.get(n)) for n, v in app.items() if dev.get(n) != v}
    assert not differ, f"requirements.lock and requirements-dev.lock disagree: {differ}"


def test_installs_go_through_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in makefile
    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert not re.search(r"pip install (?!.*--no-deps)[^\n]*'?\.\[", dockerfile)


def test_this_environment_is_the_locked_one() -> None:
    """The suite runs on the pinned versions, not on whatever pip found that day."""
    pins = _pins("requirements-dev.lock")
    mismatched = {}
    for name, versions in pins.items():
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # a pin for another platform or Python (markers)
        if installed not in versions:
            mismatched[name] = (str(installed), sorted(map(str, versions)))
    assert not mismatched, f"installed versions differ from requirements-dev.lock: {mismatched}"

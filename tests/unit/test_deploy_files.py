"""The deployment files agree with each other and with the code: docker-compose.yml validates
(`docker-compose config`, Debian's), nginx.conf is what deploy/proxy_config.py renders, and the
workers nginx routes to are the ones compose starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploy.proxy_config import COMPOSE, COMPOSE_FILE, render
from tests.conftest import service_unavailable

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ENV = {
    "POSTGRES_PASSWORD": "pw",
    "TURN_SECRET": "secret",
    "PUBLIC_HOST": "relais.example.org",
    "PUBLIC_IP": "203.0.113.10",
}


def test_nginx_conf_is_rendered_from_proxy_config():
    assert COMPOSE_FILE.read_text() == render(COMPOSE), (
        "deploy/nginx.conf is stale: python -m deploy.proxy_config --write"
    )


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    if shutil.which("docker-compose") is None:
        service_unavailable("docker-compose", "not installed (apt-get install docker-compose)")
    clean = {k: v for k, v in os.environ.items() if k not in ENV}
    return subprocess.run(
        ["docker-compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", *args],
        cwd=DEPLOY,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _config() -> dict[str, Any]:
    done = _compose(env=ENV)
    assert done.returncode == 0, done.stderr
    # docker-compose prints YAML; its own Python (Debian's python3-yaml) reads it back.
    parsed = subprocess.run(
        [
            "/usr/bin/python3",
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ],
        input=done.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(parsed.stdout))


def test_compose_file_validates_and_says_what_is_missing():
    assert _config()["services"]
    for missing in ENV:
        done = _compose("-q", env={k: v for k, v in ENV.items() if k != missing})
        assert done.returncode != 0
        assert f"set {missing} in deploy/.env" in done.stderr


def test_nginx_routes_to_the_workers_compose_starts():
    services = _config()["services"]
    started = set()
    for name, svc in services.items():
        env = svc.get("environment") or {}
        if svc.get("command") != ["serve"]:
            continue
        port = int(env.get("RELAIS_PORT", 8080))
        for i in range(int(env["RELAIS_WORKERS"])):
            started.add((f"{env['RELAIS_ROUTE_TAG']}{i}", f"{name}:{port + i}"))
    assert started == {(w.tag, w.address) for w in COMPOSE.workers}


def test_compose_keeps_the_database_and_bus_off_the_internet():
    services = _config()["services"]
    for name in ("postgres", "redis", "relais1", "relais2"):
        assert not services[name].get("ports"), name
    networks = _config()["networks"]
    assert networks["backend"].get("internal") is True
    assert "backend" not in services["coturn"]["networks"]


@pytest.mark.parametrize("service", ["relais1", "relais2", "migrate"])
def test_every_node_gets_the_turn_secret_and_servers(service: str):
    env = _config()["services"][service]["environment"]
    assert env["RELAIS_TURN_SECRET"] == ENV["TURN_SECRET"]
    assert "turn:relais.example.org:3478" in env["RELAIS_ICE_SERVERS"]

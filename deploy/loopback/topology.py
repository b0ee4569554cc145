"""The production topology on loopback ports, from Debian's packages: nginx (TLS) in front of
two Relais nodes of two workers each, PostgreSQL, Redis and coturn.

    python -m deploy.loopback            # start it all, print the URLs, stop on Ctrl-C

The fault tests (tests/deploy/) drive the same objects: they kill a node, restart Redis or
PostgreSQL, and check what clients see through the proxy. Every process runs from a private
folder on ports picked free at start, so the topology never touches the machine's own services
and several can run at once.

Why processes and not containers: CI has no Docker, and what is under test (the proxy's routing,
the nodes' recovery from their dependencies' failures) does not depend on the packaging.
docker-compose.yml describes the same topology; `deploy/proxy_config.py` renders one nginx
configuration for both.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from deploy.proxy_config import Proxy, Tls, Worker, render

ROOT = Path(__file__).resolve().parents[2]
WORKERS_PER_NODE = 2
NODE_TAGS = ("a", "b")


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports. Probed with SO_REUSEADDR, as the
    servers bind them (aiohttp, nginx, PostgreSQL, Redis all set it): a port whose last
    connections linger in TIME_WAIT is free for them, and after a load test most are."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count > 65000:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                held.append(s)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no run of free loopback ports")


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} in {timeout} s")


def _pg_user() -> str | None:
    """PostgreSQL refuses to run as root: CI runs as root, so its commands run as `postgres`."""
    return "postgres" if os.geteuid() == 0 else None


def _pg_bin(name: str) -> str:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return str(versions[-1] / name)


@dataclass
class Service:
    """One process of the topology: started, stopped, killed and started again on its port."""

    name: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def user(self) -> str | None:
        return None

    def ready_port(self) -> int:
        return self.port

    def start(self, timeout: float = 30) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                user=self.user(),
                start_new_session=True,  # its own process group: a kill takes its children
            )
        try:
            _wait_port(self.ready_port(), timeout, self.proc, self.name)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; log: {self.log.read_text()[-3000:]}") from None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            assert self.proc is not None
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the whole process group, as a crash or an OOM kill of a host would."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


@dataclass
class Postgres(Service):
    data: Path = Path()

    def init(self) -> None:
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            self.data.parent.chmod(0o755)  # mkdtemp's 0700 would keep `postgres` out
        done = subprocess.run(
            [_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"],
            capture_output=True,
            text=True,
            user=_pg_user(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")

    def user(self) -> str | None:
        return _pg_user()

    def argv(self) -> list[str]:
        return [
            _pg_bin("postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.data),
            "-c",
            "max_connections=200",
        ]

    def stop(self, timeout: float = 30) -> int | None:
        # SIGINT is PostgreSQL's "fast" shutdown: it ends sessions and checkpoints.
        if self.running:
            self.signal(signal.SIGINT)
        return super().stop(timeout)

    def dump(self, database: str, path: Path) -> None:
        """A backup as docs/operations.md §5 makes it: `pg_dump -Fc`."""
        self._client_tool("pg_dump", "-Fc", "-d", database, "-f", str(path))

    def restore(self, path: Path, database: str) -> None:
        """Into a new database of this cluster, as the restore procedure does."""
        self.psql(f'CREATE DATABASE "{database}"')
        self._client_tool("pg_restore", "--no-owner", "-d", database, str(path))

    def _client_tool(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [tool, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *args],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr[-2000:]}")

    def url(self, database: str = "relais") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        done = subprocess.run(
            [
                *("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"),
                *("-d", database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout


@dataclass
class Redis(Service):
    def argv(self) -> list[str]:
        return [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class Coturn(Service):
    secret: str = ""
    relay_min: int = 0
    relay_max: int = 0
    workdir: Path = Path()

    def argv(self) -> list[str]:
        return [
            "turnserver",
            "-n",  # no configuration file: everything is on this line
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={self.port}",
            f"--min-port={self.relay_min}",
            f"--max-port={self.relay_max}",
            "--use-auth-secret",
            f"--static-auth-secret={self.secret}",
            "--realm=relais.loopback",
            # The Relais nodes are on loopback here; in production they are on a private
            # network the relay is allowed to reach (docs/operations.md §1.1.1).
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--no-multicast-peers",
            f"--pidfile={self.workdir / 'turnserver.pid'}",
            f"--log-file={self.workdir / 'turnserver.log'}",
            "--simple-log",
        ]

    @property
    def uris(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


@dataclass
class RelaisNode(Service):
    """`relais serve --workers 2` (server/workers.py): worker i on `port + i`."""

    tag: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    worker_count: int = WORKERS_PER_NODE

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "server.cli", "serve"]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "RELAIS_PORT": str(self.port),
            "RELAIS_ROUTE_TAG": self.tag,
            "RELAIS_NODE_ID": f"node-{self.tag}",
            **self.settings,
            "RELAIS_WORKERS": str(self.worker_count),
        }

    def start(self, timeout: float = 60) -> None:
        super().start(timeout)
        for i in range(1, self.worker_count):
            _wait_port(self.port + i, timeout, self.proc, f"{self.name} worker {i}")

    def worker_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.port + i}" for i in range(self.worker_count)]

    def workers(self) -> list[Worker]:
        return [
            Worker(f"{self.tag}{i}", f"127.0.0.1:{self.port + i}") for i in range(self.worker_count)
        ]


@dataclass
class Nginx(Service):
    conf: Path = Path()

    def argv(self) -> list[str]:
        prefix = str(self.conf.parent) + "/"
        return ["nginx", "-e", "stderr", "-p", prefix, "-c", str(self.conf), "-g", "daemon off;"]


class Topology:
    """Everything under `root`; `up()` starts it in dependency order, `down()` stops it all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.turn_secret = secrets.token_hex(16)
        pg, redis, turn, proxy = (free_ports(1) for _ in range(4))
        relay = free_ports(20)
        self.postgres = Postgres("postgres", pg, root / "postgres.log", data=root / "pgdata")
        self.redis = Redis("redis", redis, root / "redis.log")
        self.coturn = Coturn(
            "coturn",
            turn,
            root / "coturn.out",
            secret=self.turn_secret,
            relay_min=relay,
            relay_max=relay + 19,
            workdir=root,
        )
        self.nodes = [
            RelaisNode(f"relais-{t}", free_ports(WORKERS_PER_NODE), root / f"relais-{t}.log", tag=t)
            for t in NODE_TAGS
        ]
        self.proxy_port = proxy
        self.nginx = Nginx("nginx", proxy, root / "nginx.log", conf=root / "nginx" / "nginx.conf")
        self.certificate = root / "nginx" / "cert.pem"

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.proxy_port}"

    def node_settings(self) -> dict[str, str]:
        return {
            "RELAIS_DATABASE_URL": self.postgres.url(),
            "RELAIS_REDIS_URL": self.redis.url,
            "RELAIS_REDIS_PREFIX": "relais",
            "RELAIS_DATA_DIR": str(self.root / "data"),  # attachments: shared by every worker
            "RELAIS_TRUST_FORWARDED_FOR": "true",
            "RELAIS_ICE_SERVERS": self.coturn.uris,
            "RELAIS_TURN_SECRET": self.turn_secret,
            "RELAIS_LOG_LEVEL": "WARNING",
            "RELAIS_SHUTDOWN_GRACE_S": "3",
        }

    def _write_proxy(self) -> None:
        folder = self.nginx.conf.parent
        folder.mkdir(parents=True, exist_ok=True)
        key = folder / "key.pem"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                *("-keyout", str(key), "-out", str(self.certificate)),
            ],
            check=True,
            capture_output=True,
        )
        workers = [w for node in self.nodes for w in node.workers()]
        proxy = Proxy(
            workers=workers,
            listen=f"127.0.0.1:{self.proxy_port}",
            tls=Tls(str(self.certificate), str(key)),
            runtime_dir=str(folder),
            user="root" if os.geteuid() == 0 else None,
        )
        self.nginx.conf.write_text(render(proxy))

    def up(self) -> None:
        try:
            self.postgres.init()
            self.postgres.start()
            self.postgres.psql("CREATE DATABASE relais")
            self.redis.start()
            self.coturn.start()
            settings = self.node_settings()
            for node in self.nodes:
                node.settings = settings
                node.start()  # one after the other: the first applies the migrations
            self._write_proxy()
            self.nginx.start()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        for svc in [self.nginx, *self.nodes, self.coturn, self.redis, self.postgres]:
            try:
                svc.stop()
            except Exception:  # noqa: S112 - stop the rest whatever one did
                continue


def main() -> int:
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="relais-loopback-"))
    topo = Topology(root)
    topo.up()
    print(f"Relais behind nginx: {topo.url}/app/  (self-signed certificate {topo.certificate})")
    print(f"nodes: {', '.join(u for n in topo.nodes for u in n.worker_urls())}")
    print(f"PostgreSQL {topo.postgres.url()}  Redis {topo.redis.url}  TURN {topo.coturn.uris}")
    print(f"logs and data: {root}  (Ctrl-C stops everything)", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        topo.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Server settings: one table of knobs, read from `RELAIS_*` variables and overridden by CLI flags.

The defaults are the embedded deployment (SQLite file under ./var, in-process bus) so that
`make run` needs no service; production parts are switched on by URLs, never by code changes.
`docs/configuration.md` is generated from `FIELDS` so the doc and the code cannot drift.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    host: str = field(default="127.0.0.1", metadata={"doc": "Address the HTTP server binds."})
    port: int = field(default=8080, metadata={"doc": "TCP port of the HTTP/socket.io server."})
    data_dir: str = field(
        default="./var", metadata={"doc": "Directory for the SQLite file and attachment blobs."}
    )
    web_client_dir: str = field(
        default="",
        metadata={
            "doc": "Folder of the built browser app served under `/app/` (`make web` builds it). "
            "Empty: `web_client/dist` of the source checkout."
        },
    )
    database_url: str = field(
        default="",
        metadata={
            "doc": "SQLAlchemy URL. Empty: SQLite file `<data_dir>/relais.db`. "
            "`postgresql+asyncpg://...` for production."
        },
    )
    redis_url: str = field(
        default="",
        metadata={
            "doc": "Redis URL. Empty: in-process bus (one node). Set it to run several nodes "
            "(socket.io Redis manager, shared presence; rate limits stay per node)."
        },
    )
    redis_prefix: str = field(
        default="relais", metadata={"doc": "Prefix of every Redis key and channel of this server."}
    )
    node_id: str = field(default="", metadata={"doc": "Name of this node in logs (default: pid)."})
    session_ttl_s: int = field(
        default=12 * 3600, metadata={"doc": "Lifetime of a login session token, seconds."}
    )
    invite_ttl_s: int = field(
        default=2 * 3600, metadata={"doc": "Lifetime of a patient invitation link, seconds."}
    )
    consult_link_ttl_s: int = field(
        default=2 * 3600,
        metadata={"doc": "Lifetime of a consultation's patient link (unredeemed), seconds."},
    )
    ice_servers: str = field(
        default="",
        metadata={
            "doc": "STUN/TURN servers given to consultation participants: comma-separated "
            "stun:/turn: URLs, or a JSON list of RTCIceServer objects."
        },
    )
    turn_username: str = field(
        default="", metadata={"doc": "Username for the turn: URLs of `ice_servers`."}
    )
    turn_credential: str = field(
        default="", metadata={"doc": "Credential for the turn: URLs of `ice_servers`."}
    )
    media_ice_timeout_s: float = field(
        default=15.0,
        metadata={
            "doc": "A media leg that has not connected (ICE+DTLS) by then is closed, seconds."
        },
    )
    consult_guest_ttl_s: int = field(
        default=4 * 3600,
        metadata={
            "doc": "Longest lifetime of a consultation guest session, seconds (it also ends "
            "with the consultation)."
        },
    )
    session_recheck_s: float = field(
        default=30.0,
        metadata={
            "doc": "How often each node re-checks its live sockets' sessions (revoked "
            "elsewhere, expired, user disabled) and closes the ended ones, seconds."
        },
    )
    argon2_time_cost: int = field(
        default=3, metadata={"doc": "argon2id passes for new password hashes."}
    )
    argon2_memory_kib: int = field(
        default=64 * 1024, metadata={"doc": "argon2id memory for new password hashes, KiB."}
    )
    login_max_failures: int = field(
        default=5,
        metadata={
            "doc": "Failed logins for one username (existing or not) before a temporary lockout."
        },
    )
    login_lockout_s: int = field(
        default=15 * 60,
        metadata={
            "doc": "Window in which failed logins are counted, and length of the lockout they "
            "cause, seconds."
        },
    )
    login_ip_max_failures: int = field(
        default=50,
        metadata={
            "doc": "Failed logins from one client address (any usernames) before that address "
            "is locked out for `login_lockout_s`."
        },
    )
    totp_keys: str = field(
        default="",
        metadata={
            "doc": "Keys sealing TOTP secrets at rest: comma-separated `id:base64(32 bytes)`; "
            "the first seals, all open. Empty: one key generated once into "
            "`<data_dir>/secrets/totp.key` (set it explicitly when nodes share a database)."
        },
    )
    max_envelope_bytes: int = field(
        default=64 * 1024, metadata={"doc": "Largest encrypted message envelope accepted, bytes."}
    )
    max_todevice_bytes: int = field(
        default=64 * 1024, metadata={"doc": "Largest to-device payload accepted, bytes."}
    )
    max_event_bytes: int = field(
        default=256 * 1024,
        metadata={"doc": "Largest socket.io/HTTP JSON body accepted (transport cap), bytes."},
    )
    max_attachment_bytes: int = field(
        default=25 * 1024 * 1024, metadata={"doc": "Largest attachment blob accepted, bytes."}
    )
    rate_user_per_s: float = field(
        default=50.0, metadata={"doc": "Sustained events per second allowed per user."}
    )
    rate_user_burst: int = field(
        default=200, metadata={"doc": "Burst of events allowed per user above the rate."}
    )
    rate_ip_per_s: float = field(
        default=200.0, metadata={"doc": "Sustained requests per second allowed per client IP."}
    )
    rate_ip_burst: int = field(
        default=1000, metadata={"doc": "Burst of requests allowed per client IP."}
    )
    sync_page_size: int = field(
        default=500, metadata={"doc": "Most messages returned by one `sync` page."}
    )
    write_batch_max: int = field(
        default=256, metadata={"doc": "Most messages committed in one group-commit transaction."}
    )
    trust_forwarded_for: bool = field(
        default=False,
        metadata={"doc": "Take the client IP from X-Forwarded-For (only behind your own proxy)."},
    )
    # Transport bounds: every connection is bounded in time and size (docs/security.md §11).
    http_keepalive_s: float = field(
        default=15.0,
        metadata={
            "doc": "An HTTP connection waiting for a request (idle keep-alive, or request "
            "line and headers not yet complete) is closed after this long, seconds."
        },
    )
    http_body_idle_s: float = field(
        default=15.0,
        metadata={
            "doc": "A request whose body stops arriving (no byte received while the server "
            "waits for one) is closed after this long, seconds."
        },
    )
    http_body_timeout_s: float = field(
        default=300.0,
        metadata={
            "doc": "Longest time a request body may take to arrive in full, seconds (bounds a "
            "body dripped slowly enough to dodge `http_body_idle_s`)."
        },
    )
    socket_ping_interval_s: float = field(
        default=20.0,
        metadata={"doc": "engine.io ping interval: how often the server pings a socket, seconds."},
    )
    socket_ping_timeout_s: float = field(
        default=20.0,
        metadata={
            "doc": "engine.io ping timeout: a socket (WebSocket or long-polling) that has not "
            "answered a ping within this long after it is due is closed, seconds."
        },
    )
    socket_auth_timeout_s: float = field(
        default=10.0,
        metadata={
            "doc": "An engine.io session that has not completed its authenticated socket.io "
            "CONNECT within this long is closed, seconds."
        },
    )
    socket_max_bad_packets: int = field(
        default=20,
        metadata={
            "doc": "A socket is closed after this many refused packets (malformed, binary, "
            "stray acks, unknown namespaces; unknown event names do not count)."
        },
    )
    log_level: str = field(default="INFO", metadata={"doc": "Log level (JSON lines on stderr)."})
    shutdown_grace_s: float = field(
        default=10.0, metadata={"doc": "Time given to open connections to drain on shutdown."}
    )
    migrate_on_start: bool = field(
        default=True, metadata={"doc": "Apply pending Alembic migrations when the server starts."}
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{Path(self.data_dir) / 'relais.db'}"

    @property
    def attachments_dir(self) -> Path:
        return Path(self.data_dir) / "attachments"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


FIELDS = dataclasses.fields(Settings)
ENV_PREFIX = "RELAIS_"


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then `RELAIS_*` environment variables, then explicit overrides (CLI flags)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in FIELDS:
        raw = env.get(env_name(f.name))
        if raw is not None:
            try:
                values[f.name] = _coerce(raw, f.default)
            except ValueError as exc:
                raise SystemExit(f"invalid {env_name(f.name)}: {exc}") from exc
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return Settings(**values)


def settings_table_markdown() -> str:
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        flag = "--" + f.name.replace("_", "-")
        default = repr(f.default) if f.default != "" else "(empty)"
        rows.append(f"| `{env_name(f.name)}` | `{flag}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)

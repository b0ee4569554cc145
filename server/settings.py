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

from media.policy import PolicyConfig

# The adaptation policy's own defaults: a `media_*` threshold setting starts from the code's.
_POLICY_DEFAULTS = PolicyConfig()


def _policy_setting(name: str, doc: str) -> Any:
    """A setting that tunes the `PolicyConfig` field `name` (media/policy.py, where the why of
    each default is): its default is the policy's own, so the two cannot drift."""
    return field(default=getattr(_POLICY_DEFAULTS, name), metadata={"doc": doc, "policy": name})


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
    workers: int = field(
        default=1,
        metadata={
            "doc": "Worker processes `relais serve` runs, worker i on `port + i`; 0: one per "
            "core. More than one needs Redis and PostgreSQL, and a proxy that routes each "
            "long-polling session back to its worker (docs/operations.md §1.2)."
        },
    )
    route_tag: str = field(
        default="",
        metadata={
            "doc": "Prefix (letters, digits, `-`) of the engine.io session ids this process "
            "issues, `<tag>.<id>`: a proxy routes long-polling requests on it. Empty: no "
            "prefix; worker i of `--workers` gets `<tag or w><i>`."
        },
    )
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
    turn_secret: str = field(
        default="",
        metadata={
            "doc": "Secret shared with the TURN server (coturn `use-auth-secret` + "
            "`static-auth-secret`). Set, every participant gets its own TURN credential for the "
            "turn: URLs of `ice_servers`, expiring after `turn_ttl_s` (`turn_username` and "
            "`turn_credential` are then unused)."
        },
    )
    turn_ttl_s: int = field(
        default=4 * 3600,
        metadata={
            "doc": "Lifetime of a per-participant TURN credential, seconds. coturn checks it on "
            "every allocation refresh, so it must outlast the longest consultation."
        },
    )
    media_ice_timeout_s: float = field(
        default=15.0,
        metadata={
            "doc": "A media leg that has not connected (ICE+DTLS) by then is closed, seconds."
        },
    )
    # The adaptation policy's tunable thresholds (docs/media.md, "Adaptation policy").
    media_floor_audio_kbps: float = _policy_setting(
        "floor_audio_kbps",
        "Link estimate a media leg needs for `audio-only`, kbit/s: a climb into the mode needs "
        "this x `media_climb_margin`; an estimate below it (or below the least the mode's "
        "targets need, when that is lower) for `media_degrade_hold_s` takes the leg out of it.",
    )
    media_floor_video_low_kbps: float = _policy_setting(
        "floor_video_low_kbps", "The same floor for `video-low`, kbit/s."
    )
    media_floor_video_high_kbps: float = _policy_setting(
        "floor_video_high_kbps",
        "The same floor for `video-high`, kbit/s. Floors must rise up the modes and carry each "
        "mode's least targets, or the server refuses to start.",
    )
    media_climb_margin: float = _policy_setting(
        "climb_margin",
        "A probe commits a climb only when the estimate reaches the mode's floor x this (>= 1).",
    )
    media_loss_degrade: float = _policy_setting(
        "loss_degrade",
        "Loss (0-1) that steps a video mode down when it lasts `media_degrade_hold_s`; on a "
        "link that always loses some, raised to its steady loss plus a margin.",
    )
    media_loss_degrade_audio: float = _policy_setting(
        "loss_degrade_audio", "The same loss limit for `audio-only` (to `text-only`), 0-1."
    )
    media_loss_ceiling_video: float = _policy_setting(
        "loss_ceiling_video",
        "Steady loss (0-1) a video mode never bears, whatever the link's usual loss: the most "
        "`media_loss_degrade` is raised to.",
    )
    media_loss_ceiling_audio: float = _policy_setting(
        "loss_ceiling_audio", "The same ceiling for `audio-only`, 0-1."
    )
    media_degrade_hold_s: float = _policy_setting(
        "degrade_hold_s",
        "How long a rate collapse or loss over the limit lasts before a leg steps down, seconds.",
    )
    media_dead_after_s: float = _policy_setting(
        "dead_after_s",
        "A leg with no packet from its participant for this long goes to `text-only` at once, "
        "seconds.",
    )
    media_backoff_max_s: float = _policy_setting(
        "backoff_max_s",
        "Longest wait before probing a mode again after failed probes of it, seconds: the cost "
        "of probing a starved link (one lost second per wait at most) against the time back "
        "to video on a restored one.",
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
    event_loop: str = field(
        default="uvloop",
        metadata={
            "doc": "`uvloop` (libuv: +17-29 % fan-out deliveries on one core, "
            "docs/performance.md §2) or `asyncio` (the standard library's loop)."
        },
    )
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
    settings = Settings(**values)
    try:
        media_policy(settings)
    except ValueError as exc:
        raise SystemExit(f"invalid RELAIS_MEDIA_* settings: {exc}") from exc
    return settings


def media_policy(settings: Settings) -> PolicyConfig:
    """The adaptation policy of this node's media legs: the `media_*` thresholds set here, the
    code's defaults for the rest. Raises ValueError when they do not hold together."""
    tuned = {
        f.metadata["policy"]: getattr(settings, f.name) for f in FIELDS if "policy" in f.metadata
    }
    return dataclasses.replace(_POLICY_DEFAULTS, **tuned)


def settings_table_markdown() -> str:
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for f in FIELDS:
        flag = "--" + f.name.replace("_", "-")
        default = repr(f.default) if f.default != "" else "(empty)"
        rows.append(f"| `{env_name(f.name)}` | `{flag}` | `{default}` | {f.metadata['doc']} |")
    return "\n".join(rows)

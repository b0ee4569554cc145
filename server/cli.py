"""`relais` command line: serve, migrate, admin tasks and audit tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
from collections.abc import Coroutine
from typing import Any

from server import workers
from server.settings import FIELDS, Settings, load_settings


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for f in FIELDS:
        flag = "--" + f.name.replace("_", "-")
        kind: Any = type(f.default)
        if kind is bool:
            parser.add_argument(
                flag,
                dest=f.name,
                default=None,
                type=lambda v: v.lower() in ("1", "true", "yes", "on"),
                help=f.metadata["doc"],
            )
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=f.metadata["doc"])


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({f.name: getattr(args, f.name, None) for f in FIELDS})


def cmd_serve(args: argparse.Namespace) -> int:
    from server.app import create_app
    from server.ops.logging import configure_logging

    settings = _settings(args)
    if settings.event_loop not in EVENT_LOOPS:
        raise SystemExit(f"invalid RELAIS_EVENT_LOOP: {settings.event_loop!r} (uvloop or asyncio)")
    if not ROUTE_TAG.fullmatch(settings.route_tag):
        raise SystemExit("invalid RELAIS_ROUTE_TAG: up to 32 letters, digits or '-'")
    configure_logging(settings.log_level, settings.node_id or f"pid{os.getpid()}")
    count = workers.worker_count(settings)
    if count > 1:
        return _serve_workers(settings, count)
    app = create_app(settings)
    url = f"http://{settings.host}:{settings.port}"
    database = (
        "SQLite " + settings.effective_database_url.split("///")[-1]
        if settings.is_sqlite
        else "PostgreSQL"
    )
    bus = "Redis" if settings.redis_url else "in-process"
    # One line (the rest of the output is JSON logs): where to open the browser app.
    print(
        f"Relais listening on {url}  (database: {database}, bus: {bus}, "
        f"loop: {settings.event_loop})  web app: {url}/app/",
        flush=True,
    )
    run_loop(_serve(app, settings), settings.event_loop)
    return 0


ROUTE_TAG = re.compile(r"[A-Za-z0-9-]{0,32}")


def _serve_workers(settings: Settings, count: int) -> int:
    """The parent of `count` workers (server/workers.py): migrate once, then keep them up."""
    problem = workers.refusal(settings, count)
    if problem is not None:
        raise SystemExit(f"relais serve: {problem}")
    if settings.migrate_on_start:
        asyncio.run(_with_db(settings, _nothing))
    argvs = [workers.serve_argv(workers.worker_overrides(settings, i)) for i in range(count)]
    last = settings.port + count - 1
    print(
        f"Relais: {count} workers on http://{settings.host}:{settings.port}-{last}, session ids "
        f"tagged {workers.worker_tag(settings, 0)}..{workers.worker_tag(settings, count - 1)} "
        "(put a proxy in front: docs/operations.md §1.3)",
        flush=True,
    )
    supervisor = workers.Supervisor(argvs, settings.shutdown_grace_s)
    return asyncio.run(supervisor.run())


async def _nothing(_db: Any) -> None:
    return None


def run_loop(main: Coroutine[Any, Any, None], kind: str) -> None:
    """Run the server on the event loop the settings name. uvloop's is libuv's: the same
    asyncio API with its I/O and callbacks in C, which is most of a fan-out's time."""
    if kind == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


EVENT_LOOPS = ("uvloop", "asyncio")
# The kernel caps it at net.core.somaxconn (4096 on current Linux; Node's servers ask for 511).
LISTEN_BACKLOG = 2048


async def _serve(app: Any, settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then drain sockets and the write queue before aiohttp stops."""
    import signal

    from aiohttp import web

    from server.app import drain
    from server.ops.collector import tune_collector
    from server.realtime.transport_limits import BodyReaper, BoundedAppRunner

    # Time bounds of every connection (docs/security.md §11): the keep-alive timer also
    # bounds unfinished request headers; the reaper bounds request bodies.
    runner = BoundedAppRunner(
        app,
        reaper=BodyReaper(settings.http_body_idle_s, settings.http_body_timeout_s),
        access_log=None,
        shutdown_timeout=settings.shutdown_grace_s,
        keepalive_timeout=settings.http_keepalive_s,
        # After an early answer aiohttp reads the rest of an unread body for at most this long.
        lingering_time=settings.http_body_idle_s,
    )
    await runner.setup()
    # Thousands of clients may reconnect at once (a cell or a hospital uplink coming back);
    # aiohttp's default backlog of 128 drops their SYNs and each retries a second or more later.
    site = web.TCPSite(runner, settings.host, settings.port, backlog=LISTEN_BACKLOG)
    await site.start()
    tune_collector()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await site.stop()  # no new connections: disconnected clients must reconnect elsewhere
    await drain(app)
    await runner.cleanup()


async def _with_db(settings: Settings, fn: Any) -> Any:
    from server.auth import passwords
    from server.db.engine import Database

    passwords.configure(settings.argon2_time_cost, settings.argon2_memory_kib)
    from server.db.migrate import upgrade

    db = Database(settings.effective_database_url)
    try:
        await upgrade(db)
        return await fn(db)
    finally:
        await db.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.db.migrate import current_revision

    async def run(db: Any) -> str | None:
        return await current_revision(db)

    rev = asyncio.run(_with_db(_settings(args), run))
    print(f"database at revision {rev}")
    return 0


def _password(args: argparse.Namespace) -> str:
    if getattr(args, "password", None):
        return str(args.password)
    env = os.environ.get("RELAIS_ADMIN_PASSWORD")
    if env:
        return env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass("password: ")


def cmd_admin(args: argparse.Namespace) -> int:
    from server.audit.log import AuditRecord, append
    from server.auth import accounts
    from server.auth.sessions import SessionService
    from server.errors import ApiError

    settings = _settings(args)

    async def run(db: Any) -> Any:
        if args.action == "create-user":
            pw_hash = None
            if args.role != "patient":
                pw_hash = await accounts.prepare_password(_password(args))
            async with db.write() as conn:
                new_uid = await accounts.create_user(
                    conn,
                    username=args.username,
                    role=args.role,
                    display_name=args.display_name,
                    password_hash=pw_hash,
                )
                await append(
                    conn,
                    [
                        AuditRecord(
                            "admin.user_create",
                            target=new_uid,
                            detail={"role": args.role, "via": "cli"},
                        )
                    ],
                )
            return {"user_id": new_uid, "username": args.username.lower(), "role": args.role}
        async with db.read() as conn:
            uid = await accounts.user_id_by_name(conn, args.username)
        if uid is None:
            raise ApiError("not_found", "user not found")
        if args.action == "reset-password":
            pw_hash = await accounts.prepare_password(_password(args))
            async with db.write() as conn:
                await accounts.set_password_hash(conn, uid, pw_hash)
                # As over REST: a reset logs the account out everywhere (live sockets close
                # within session_recheck_s through each node's session sweeper).
                await SessionService(db, settings.session_ttl_s).revoke_all(conn, uid)
                await append(
                    conn, [AuditRecord("admin.password_reset", target=uid, detail={"via": "cli"})]
                )
            return {"user_id": uid, "password": "reset", "sessions": "revoked"}
        if args.action == "disable-user":
            sessions = SessionService(db, settings.session_ttl_s)
            async with db.write() as conn:
                await accounts.set_disabled(conn, uid, True)
                await sessions.revoke_all(conn, uid)
                await append(
                    conn, [AuditRecord("admin.user_disable", target=uid, detail={"via": "cli"})]
                )
            return {"user_id": uid, "disabled": True}
        if args.action == "list-sessions":
            return {"user_id": uid, "sessions": await SessionService(db, 0).list_for_user(uid)}
        raise AssertionError(args.action)

    try:
        result = asyncio.run(_with_db(settings, run))
    except ApiError as err:
        print(json.dumps(err.body()), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from server.audit.log import AuditLog

    settings = _settings(args)

    async def run(db: Any) -> Any:
        log = AuditLog(db)
        if args.action == "verify":
            return await log.verify()
        # A CLI run, not the server: blocking file writes are fine here.
        out = open(args.output, "w") if args.output not in (None, "-") else sys.stdout  # noqa: ASYNC230
        n = 0
        try:
            async for row in log.rows():
                out.write(json.dumps(row, sort_keys=True) + "\n")
                n += 1
        finally:
            if out is not sys.stdout:
                out.close()
        return n

    result = asyncio.run(_with_db(settings, run))
    if args.action == "verify":
        ok, count, reason = result
        print(json.dumps({"ok": ok, "rows": count, "reason": reason}))
        return 0 if ok else 2
    print(f"exported {result} audit events", file=sys.stderr)
    return 0


def cmd_totp_rekey(args: argparse.Namespace) -> int:
    """Seal every TOTP secret under the first key (after prepending one to RELAIS_TOTP_KEYS),
    and seal those still in clear from before sealing existed."""
    from server.auth.totp_secrets import TotpKeyError, load_cipher, rekey

    settings = _settings(args)
    try:
        totp = load_cipher(settings)
    except TotpKeyError as exc:
        print(f"relais totp-rekey: {exc}", file=sys.stderr)
        return 2

    async def run(db: Any) -> tuple[int, int]:
        return await rekey(db, totp)

    resealed, clear = asyncio.run(_with_db(settings, run))
    print(f"sealed {resealed} TOTP secrets under key {totp.current_id} ({clear} were in clear)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relais", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    _add_setting_flags(serve)
    serve.set_defaults(fn=cmd_serve)
    migrate = sub.add_parser("migrate", help="apply database migrations")
    _add_setting_flags(migrate)
    migrate.set_defaults(fn=cmd_migrate)
    admin = sub.add_parser("admin", help="account administration")
    admin_sub = admin.add_subparsers(dest="action", required=True)
    create = admin_sub.add_parser("create-user", help="create an account")
    create.add_argument("username")
    create.add_argument(
        "--role", required=True, choices=["admin", "clinician", "assistant", "caregiver", "patient"]
    )
    create.add_argument("--display-name")
    create.add_argument("--password", help="else RELAIS_ADMIN_PASSWORD, stdin or a prompt")
    reset = admin_sub.add_parser("reset-password", help="set a new password")
    reset.add_argument("username")
    reset.add_argument("--password")
    disable = admin_sub.add_parser("disable-user", help="disable and revoke all sessions")
    disable.add_argument("username")
    sessions = admin_sub.add_parser("list-sessions", help="a user's sessions")
    sessions.add_argument("username")
    for p in (create, reset, disable, sessions):
        _add_setting_flags(p)
    admin.set_defaults(fn=cmd_admin)
    audit = sub.add_parser("audit", help="audit log tools")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain")
    export = audit_sub.add_parser("export", help="write the log as JSON lines")
    export.add_argument("--output", "-o", default="-")
    for p in (verify, export):
        _add_setting_flags(p)
    audit.set_defaults(fn=cmd_audit)
    rekey = sub.add_parser("totp-rekey", help="seal all TOTP secrets under the first TOTP key")
    _add_setting_flags(rekey)
    rekey.set_defaults(fn=cmd_totp_rekey)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())

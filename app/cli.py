"""`allmine-live`: run the API with uvicorn (one worker; scale out with more replicas, not workers).

`allmine-live migrate-indexes [--drop-obsolete]` runs the index migration once and exits, for deploy
pipelines (docs/decisions.md, "Index migrations").
"""

import argparse
import asyncio
import errno
import os
import socket
import sys

import structlog
import uvicorn

from app.core.config import ConfigurationError, Settings, load_settings
from app.core.logging import configure_logging

log = structlog.get_logger("app.cli")
APP_FACTORY = "app.main:create_app"

# migrate-indexes exit codes
MIGRATED, NOT_CLEAN, UNAVAILABLE = 0, 1, 2


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["migrate-indexes"]:
        sys.exit(migrate_indexes_command(argv[1:]))
    serve(argv)


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="allmine-live",
        description="Run the Allmine live-stream API (`allmine-live migrate-indexes --help`: index migration)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        settings.check_production_safety()
    except ConfigurationError as exc:
        sys.exit(f"allmine-live: {exc}")
    # The port is taken before the app starts: a busy port fails here in one line, and the demo
    # banner (printed while the app starts) only appears once the address is ours.
    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        sys.exit(f"allmine-live: cannot listen on {args.host}:{args.port}: {describe_bind_error(exc)}")
    port = sock.getsockname()[1]  # the real one for --port 0
    if "public_base_url" not in settings.model_fields_set:
        # Links (thumbnails, media) and the banner follow the address actually served, not the default.
        os.environ["PUBLIC_BASE_URL"] = bound_url(args.host, port)
    # uvicorn's own lines (start-up, errors, access) go through the app's formatter: JSON in production.
    configure_logging(settings.log_level, json=settings.json_logs, access_log=settings.access_log)
    options = {
        "factory": True,
        "host": args.host,
        "port": port,
        "log_config": None,
        "access_log": settings.access_log,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    if args.reload:  # the reloader's supervisor binds the address itself, in this process
        sock.close()
        uvicorn.run(APP_FACTORY, reload=True, **options)
        return
    config = uvicorn.Config(APP_FACTORY, **options)
    run_server(config, sock)


class Server(uvicorn.Server):
    """uvicorn's server, saying where it serves (uvicorn is silent about sockets it did not bind)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            log.info("serving", address=bound_url(self.config.host, self.config.port))


def run_server(config: uvicorn.Config, sock: socket.socket) -> None:
    Server(config).run(sockets=[sock])


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket for host:port, as uvicorn would make it. Listening at once holds the port
    against another process (two SO_REUSEADDR sockets may share a port until one listens); connections
    made while the app starts wait in the backlog."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)  # uvicorn's default backlog
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def describe_bind_error(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another server on that port? choose another with --port, e.g. make run PORT=9000)"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)"
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return "no such local address (check --host)"
    return exc.strerror or str(exc)


def bound_url(host: str, port: int) -> str:
    """The URL a browser on this machine uses for the bound address (all interfaces → loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def migrate_indexes_command(argv: list[str], settings: Settings | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="allmine-live migrate-indexes",
        description=(
            "Create every declared index that is missing (commit quorum majority on replica sets) and "
            "report conflicting and obsolete ones. Exit 0 when every declared index is in place, 1 when "
            "a conflict or a failed build remains, 2 when the database is unavailable."
        ),
    )
    parser.add_argument(
        "--drop-obsolete",
        action="store_true",
        help="also drop undeclared indexes, and conflicting ones before creating the declared version",
    )
    args = parser.parse_args(argv)
    try:
        settings = settings or load_settings()
    except ConfigurationError as exc:
        print(f"allmine-live: {exc}", file=sys.stderr)
        return NOT_CLEAN
    return asyncio.run(run_migration(settings, drop_obsolete=args.drop_obsolete))


async def run_migration(settings: Settings, *, drop_obsolete: bool = False) -> int:
    from app.core.db import create_client
    from app.core.errors import database_unavailable
    from app.core.migrations import migrate_indexes
    from app.repositories import REPOSITORIES

    configure_logging("WARNING", json=bool(settings.log_json))
    if settings.uses_embedded_db:
        print("note: MONGODB_URL is unset; migrating a fresh in-memory embedded database", file=sys.stderr)
    client = create_client(settings)
    try:
        report = await migrate_indexes(
            client[settings.mongodb_db],
            REPOSITORIES,
            drop_obsolete=drop_obsolete,
            build_timeout_seconds=None,  # a deploy step: wait for every build to end, however long
        )
    except Exception as exc:
        if database_unavailable(exc) is None:
            raise
        print(f"database unavailable: {exc}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        await client.close()
    for line in report.lines():
        print(line)
    print(
        f"{len(report.created)} created, {len(report.dropped)} dropped, {len(report.conflicts)} conflicting, "
        f"{len(report.obsolete)} obsolete, {len(report.failed)} failed"
    )
    return NOT_CLEAN if report.conflicts or report.failed else MIGRATED


if __name__ == "__main__":
    main()

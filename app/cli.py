"""`allmine-live`: run the API with uvicorn (one worker; scale out with more replicas, not workers).

`allmine-live migrate-indexes [--drop-obsolete]` runs the index migration once and exits, for deploy
pipelines (docs/decisions.md, "Index migrations").
"""

import argparse
import asyncio
import os
import sys

import uvicorn

from app.core.config import ConfigurationError, Settings

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
        settings = Settings()
        settings.check_production_safety()
    except (ConfigurationError, ValueError) as exc:
        sys.exit(f"allmine-live: {exc}")
    if "public_base_url" not in settings.model_fields_set:
        # Links (thumbnails, media) and the banner follow the address actually served, not the default.
        os.environ["PUBLIC_BASE_URL"] = bound_url(args.host, args.port)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        access_log=False,
        proxy_headers=True,
    )


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
        settings = settings or Settings()
    except ValueError as exc:
        print(f"allmine-live: {exc}", file=sys.stderr)
        return NOT_CLEAN
    return asyncio.run(run_migration(settings, drop_obsolete=args.drop_obsolete))


async def run_migration(settings: Settings, *, drop_obsolete: bool = False) -> int:
    from app.core.db import create_client
    from app.core.errors import database_unavailable
    from app.core.logging import configure_logging
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

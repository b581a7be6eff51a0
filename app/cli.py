"""`allmine-live`: run the API with uvicorn (one worker; scale out with more replicas, not workers)."""

import argparse
import sys

import uvicorn

from app.core.config import ConfigurationError, Settings


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the Allmine live-stream API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    args = parser.parse_args()
    try:
        Settings().check_production_safety()
    except (ConfigurationError, ValueError) as exc:
        sys.exit(f"allmine-live: {exc}")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        reload=args.reload,
        access_log=False,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()

"""Run the fake AIOZ Stream server: `aioz-fake --port 8081` or `python -m app.aioz.fake`."""

import argparse
import logging
import os
from collections.abc import Sequence

import uvicorn

from app.aioz.fake.app import FakeAioz
from app.aioz.fake.auth import FakeAccount
from app.aioz.fake.faults import DroppedConnection

DEFAULT_PORT = 8081


def main(argv: Sequence[str] | None = None) -> None:
    defaults = FakeAccount()
    parser = argparse.ArgumentParser(prog="aioz-fake", description="Local fake of the AIOZ Stream live API.")
    parser.add_argument("--host", default=os.environ.get("AIOZ_FAKE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIOZ_FAKE_PORT", DEFAULT_PORT)))
    parser.add_argument("--api-token", default=os.environ.get("AIOZ_API_TOKEN", defaults.api_token))
    parser.add_argument("--public-key", default=os.environ.get("AIOZ_PUBLIC_KEY", defaults.public_key))
    parser.add_argument("--secret-key", default=os.environ.get("AIOZ_SECRET_KEY", defaults.secret_key))
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per minute before 429")
    args = parser.parse_args(argv)
    account = FakeAccount(api_token=args.api_token, public_key=args.public_key, secret_key=args.secret_key)
    fake = FakeAioz(account, rate_limit=args.rate_limit)
    server = uvicorn.Server(uvicorn.Config(fake.app, host=args.host, port=args.port))
    logging.getLogger("uvicorn.error").addFilter(_hide_injected_drops)
    server.run()


def _hide_injected_drops(record: logging.LogRecord) -> bool:
    # A `drop` fault closes the connection by raising; that is the point, not an error worth a traceback.
    return not (record.exc_info and isinstance(record.exc_info[1], DroppedConnection))


if __name__ == "__main__":
    main()

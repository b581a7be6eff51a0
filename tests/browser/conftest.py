"""Real headless Chromium (Debian's `chromium` package) driven by Playwright, against the app served by
uvicorn on a loopback port, in the test's event loop.

No browser is ever downloaded: Playwright launches the system binary (`CHROMIUM`, default
/usr/bin/chromium; CI installs it with apt like redis-server). Without it the tests skip and say so.
Screenshots go to `var/browser/` (git-ignored); each test prints the paths it wrote.
"""

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tests.realtime.conftest import serve

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "browser"

try:
    from playwright.async_api import Browser, async_playwright
except ImportError:  # pragma: no cover - the dev lock installs it
    async_playwright = None  # type: ignore[assignment]


@pytest.fixture
async def browser() -> AsyncIterator["Browser"]:
    if async_playwright is None:
        pytest.skip("Playwright is not installed (make install): browser test skipped")
    if not HAVE_CHROMIUM:
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium): browser test skipped")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def page_app(html: str) -> FastAPI:
    """A one-page site: what a web client's dev server (another origin) would serve."""
    site = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @site.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return html

    return site


@pytest.fixture
async def other_origin() -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>` serving a blank page, another origin than the API's."""
    async for url in serve(page_app("<!doctype html><title>web client</title><h1>web client</h1>")):
        yield url


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


async def screenshot(target: Any, name: str) -> Path:
    """A page (whole) or a locator (that element) as `var/browser/<name>.png`."""
    path = screenshot_path(name)
    options = {"full_page": True} if hasattr(target, "goto") else {}
    await target.screenshot(path=str(path), **options)
    print(f"screenshot: {path}")
    return path

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
import pytest_asyncio
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


# One Chromium per test process: launching it (and Playwright's driver) costs a second or more, and each
# test opens its pages with `browser.new_page()`, a new browser context (cookies, storage, cache) each.
# Playwright's objects belong to the loop that made them, so the browser tests and their async fixtures
# run in the session's loop (`pytestmark` in each module, `loop_scope="session"` on the fixtures).
SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator["Browser"]:
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


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: "Browser") -> AsyncIterator["Browser"]:
    """The process's Chromium; the contexts (and pages) a test opened are closed after it."""
    yield chromium
    for context in chromium.contexts:
        await context.close()


def page_app(html: str) -> FastAPI:
    """A one-page site: what a web client's dev server (another origin) would serve."""
    site = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @site.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return html

    return site


@pytest_asyncio.fixture(loop_scope="session")
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

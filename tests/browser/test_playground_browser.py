"""The `/docs` playground, driven in headless Chromium the way a person uses it: authorize with a token,
open "Create a live stream", type a guest id into `guests`, pick `duoself`, Execute → 201 with the guest.

Swagger UI builds the multipart request from the OpenAPI document, so this proves the document
describes `guests` the way the server reads it (one form field per id)."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from app.main import create_app
from tests.browser.conftest import SESSION_LOOP, screenshot
from tests.conftest import make_settings
from tests.realtime.conftest import serve

pytestmark = SESSION_LOOP

OPERATION = "#operations-Streams-createLiveStream"


@pytest_asyncio.fixture(loop_scope="session")
async def api() -> AsyncIterator[str]:
    async for url in serve(create_app(make_settings())):
        yield url


async def dev_user(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    answer = await http.post("/api/v1/dev/users", json={"username": name})
    assert answer.status_code == 201, answer.text
    data = answer.json()["data"]
    return str(data["user"]["_id"]), str(data["accessToken"])


async def test_create_a_duo_stream_with_a_guest_from_the_playground(browser, api):
    async with httpx.AsyncClient(base_url=api) as http:
        _, token = await dev_user(http, "playcreator")
        guest_id, _ = await dev_user(http, "playguest")

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(15_000)
    await page.goto(f"{api}/docs")
    await page.wait_for_selector(OPERATION)

    # Authorize: the dialog's bearer field, then close it.
    await page.click("button.authorize")
    await page.fill(".modal-ux input", token)
    await page.click(".modal-ux .auth-btn-wrapper button.authorize")
    await page.click(".modal-ux .auth-btn-wrapper button.btn-done")

    # Open the operation (the playground starts in "Try it out" mode) and fill the form.
    await page.click(f"{OPERATION} .opblock-summary")
    form = page.locator(f"{OPERATION} .opblock-section-request-body")
    await form.locator('tr[data-property-name="title"] input').fill("Duo from the playground")
    await form.locator('tr[data-property-name="liveStreamType"] select').select_option("duoself")
    guests = form.locator('tr[data-property-name="guests"]')
    await guests.locator("button.json-schema-form-item-add").click()
    await guests.locator(".json-schema-form-item input").last.fill(guest_id)
    await screenshot(form, "playground-create-form")

    async with page.expect_response(
        lambda response: response.url.endswith("/api/v1/live-stream/create")
    ) as sent:
        await page.click(f"{OPERATION} button.execute")
    response = await sent.value
    body = await response.json()
    sent_form = response.request.post_data_buffer or b""
    assert sent_form.count(b'name="guests"') == 1 and guest_id.encode() in sent_form  # one part per id
    await page.wait_for_selector(f"{OPERATION} .live-responses-table .response-col_status")
    await screenshot(page.locator(f"{OPERATION} .responses-wrapper"), "playground-create-201")

    assert response.status == 201, json.dumps(body)
    assert body["data"]["liveStreamType"] == "duoself"
    assert [guest["_id"] for guest in body["data"]["guests"]] == [guest_id]
    shown = await page.locator(
        f"{OPERATION} .live-responses-table tbody .response-col_status"
    ).first.inner_text()
    assert shown.strip() == "201"

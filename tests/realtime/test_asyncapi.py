"""`/asyncapi.json`: a valid AsyncAPI 3.0 document (the official JSON Schema, vendored), generated from
the contract the server runs on, and true to what real sockets receive."""

import asyncio
import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from app.realtime import namespaces as namespace_module
from app.realtime.asyncapi import asyncapi_document
from app.realtime.contract import CLIENT_EVENTS, NAMESPACES, SERVER_EVENTS
from tests.helpers import auth
from tests.streams import started_stream

ROOT = Path(__file__).resolve().parents[2]
# The official AsyncAPI 3.0.0 JSON Schema (npm @asyncapi/specs 6.11.1, Apache-2.0; tests/data/asyncapi).
OFFICIAL_SCHEMA = json.loads((ROOT / "tests/data/asyncapi/asyncapi-3.0.0.schema.json").read_text())
LIVE, STATUS, CHAT = "/live-stream", "/live-stream-status", "/stream-chat"
API = "/api/v1/live-stream"


def spec_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(OFFICIAL_SCHEMA)
    return [f"{error.json_path}: {error.message[:200]}" for error in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document("http://127.0.0.1:8000")


def test_the_document_is_valid_asyncapi_3(document):
    assert document["asyncapi"] == "3.0.0"
    assert spec_errors(document) == []


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["operations"]["streamChat_sendMessage"].update(action="publish"),
        lambda d: d["components"]["schemas"]["StreamRef"].update(type=5),
        lambda d: d["servers"]["api"].pop("protocol"),
        lambda d: d["components"]["messages"]["streamChat_chatMessage"].update(payloads={}),
    ],
    ids=["bad-action", "bad-schema", "server-without-protocol", "unknown-message-field"],
)
def test_the_official_schema_catches_a_broken_document(document, breakage):
    broken = copy.deepcopy(document)
    breakage(broken)
    assert spec_errors(broken)


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_reference_resolves_and_operations_use_their_channels_messages(document):
    refs = re.findall(r'"\$ref": "(#[^"]+)"', json.dumps(document))
    assert len(refs) > 50
    for ref in refs:
        resolve(document, ref)
    for operation in document["operations"].values():
        channel = operation["channel"]["$ref"]
        for message in [*operation["messages"], *operation.get("reply", {}).get("messages", [])]:
            assert message["$ref"].startswith(f"{channel}/messages/")


def test_three_namespaces_with_every_event_ack_and_error(document):
    channels = {channel["address"]: channel for channel in document["channels"].values()}
    assert set(channels) == {STATUS, LIVE, CHAT}
    for path in NAMESPACES:
        messages = set(channels[path]["messages"])
        for event in CLIENT_EVENTS[path]:
            assert {event, f"{event}Ack"} <= messages
        assert SERVER_EVENTS[path] <= messages
    actions = {(op["channel"]["$ref"], op["action"]) for op in document["operations"].values()}
    assert len(actions) == 6  # every namespace: events received (with acks) and sent
    join_ack = document["components"]["messages"]["liveStream_joinStreamAck"]
    assert "`403`" in join_ack["description"] and "`429`" in join_ack["description"]
    assert join_ack["payload"]["oneOf"][1] == {"$ref": "#/components/schemas/AckError"}


def test_the_handlers_are_exactly_the_declared_client_events():
    def handled(cls: type) -> set[str]:
        return {name.removeprefix("on_") for name in dir(cls) if name.startswith("on_")} - {
            "connect",
            "disconnect",
        }

    assert handled(namespace_module.StatusNamespace) == CLIENT_EVENTS[STATUS]
    assert handled(namespace_module.LiveStreamNamespace) == CLIENT_EVENTS[LIVE]
    assert handled(namespace_module.ChatNamespace) == CLIENT_EVENTS[CHAT]


async def test_an_undeclared_server_event_is_refused(live):
    with pytest.raises(ValueError, match="not a declared server event"):
        await live.app.state.realtime.emit("chatMessage", {}, "stream:x", LIVE)


class Wire:
    """Validates what a socket received against the served document's message payloads."""

    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource(contents=document, specification=DRAFT7)
        self.registry = Registry().with_resource("urn:asyncapi", resource)
        self.document = document
        self.checked: set[str] = set()

    def check(self, message_id: str, value: Any) -> None:
        assert message_id in self.document["components"]["messages"], message_id
        schema = {"$ref": f"urn:asyncapi#/components/messages/{message_id}/payload"}
        jsonschema.Draft7Validator(schema, registry=self.registry).validate(value)
        self.checked.add(message_id)


async def test_what_real_sockets_receive_matches_the_document(live):
    served = await live.http.get("/asyncapi.json")
    assert served.status_code == 200
    wire = Wire(served.json())
    assert spec_errors(served.json()) == []
    _, creator = await live.user()
    _, viewer = await live.user(credits=100)
    stream = await started_stream(live.http, creator)
    ref = {"streamId": stream["id"]}
    wire.check("liveStreamStatus_subscribe", ref)  # what clients send, as the document describes it
    wire.check("streamChat_sendMessage", {"content": "hi"})

    status, status_seen = await live.connect(STATUS, viewer)
    wire.check("liveStreamStatus_subscribeAck", await status.call("subscribe", ref, namespace=STATUS))
    wire.check(
        "liveStreamStatus_subscribeAck", await status.call("subscribe", {"streamId": 1}, namespace=STATUS)
    )
    watcher, watcher_seen = await live.connect(LIVE)
    wire.check("liveStream_joinStreamAck", await watcher.call("joinStream", ref, namespace=LIVE))  # listens
    chat, chat_seen = await live.connect(CHAT, viewer)
    joined = await chat.call("joinStream", ref, namespace=CHAT)
    assert joined["ok"] and "token" in joined["data"]
    wire.check("streamChat_joinStreamAck", joined)
    wire.check("streamChat_sendMessageAck", await chat.call("sendMessage", {"content": "hi"}, namespace=CHAT))
    wire.check("streamChat_sendMessageAck", await chat.call("sendMessage", {"content": ""}, namespace=CHAT))
    wire.check("streamChat_chatMessage", (await chat_seen.wait_for("chatMessage"))[0])
    wire.check("liveStream_viewerCount", (await watcher_seen.wait_for("viewerCount"))[0])
    superlike = await live.http.post(f"{API}/{stream['id']}/chat/superlike", headers=auth(viewer))
    assert superlike.status_code in (200, 201), superlike.text
    wire.check("streamChat_superlike", (await chat_seen.wait_for("superlike"))[0])
    wire.check("streamChat_leaveStreamAck", await chat.call("leaveStream", ref, namespace=CHAT))
    wire.check("streamChat_leaveStreamAck", await chat.call("leaveStream", ref, namespace=CHAT))  # 409
    wire.check("liveStreamStatus_unsubscribeAck", await status.call("unsubscribe", ref, namespace=STATUS))
    await status.call("subscribe", ref, namespace=STATUS)
    ended = await live.http.post(f"{API}/{stream['id']}/end", headers=auth(creator))
    assert ended.status_code == 200, ended.text
    wire.check("liveStreamStatus_liveStreamStatus", (await status_seen.wait_for("liveStreamStatus"))[0])
    assert len(wire.checked) == 12

    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a payload the document refuses
        wire.check("liveStream_viewerCount", {"streamId": stream["id"], "viewerCount": "many"})


async def test_the_viewer_and_the_openapi_link(live):
    page = await live.http.get("/asyncapi")
    assert page.status_code == 200 and "AsyncApiStandalone.render" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(source.startswith("/static/asyncapi/") for source in sources)  # no CDN
    for source in sources:
        asset = await live.http.get(source)
        assert asset.status_code == 200 and len(asset.content) > 10_000
    description = (await live.http.get("/openapi.json")).json()["info"]["description"]
    assert "/asyncapi.json" in description and "/asyncapi)" in description


async def test_the_viewer_renders_offline_in_chromium(live, tmp_path):
    """The vendored viewer renders the served document in a real headless browser (no network
    beyond this server: the page's assets are all local)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    screenshot = tmp_path / "asyncapi.png"
    # one browser run prints the rendered DOM and then writes the screenshot (headless Chromium does both
    # commands of one invocation; a second launch cost the suite ~5 s)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
            f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1200",
            "--dump-dom", f"--screenshot={screenshot}"]  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        browser, *args, f"{live.url}/asyncapi",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    dom, _ = await asyncio.wait_for(process.communicate(), 120)
    rendered = dom.decode()
    for text in ("Allmine Live Streams realtime API", "/live-stream-status", "/stream-chat", "joinStream",
                 "sendMessage", "liveStreamStatus", "viewerCount", "AckError"):  # fmt: skip
        assert text in rendered, text
    assert screenshot.stat().st_size > 0
    print(f"AsyncAPI viewer screenshot: {screenshot}")

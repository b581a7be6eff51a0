"""The offline playground and the OpenAPI document's contract for clients and generators."""

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from app.openapi_docs import OPENAPI_TAGS

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


async def test_docs_and_every_asset_it_references_come_from_the_app(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    html = page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?'([^']+)'", html)
    assert len(urls) >= 4, urls  # stylesheet, icon, script, OpenAPI document
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"/docs loads {url} from another host"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.content, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert ASSET_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
    assert '"validatorUrl": null' in html  # Swagger UI would otherwise call the public validator


@pytest.fixture
async def document(client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_document_is_valid_openapi(document):
    validate(document)
    assert document["servers"] and document["info"]["license"]


async def test_operation_ids_are_readable_camel_case_and_unique(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z0-9][a-z0-9]*)*", operation_id), operation_id
    for expected in ("fundLiveStream", "createLiveStream", "listFundedStreams", "getViewerCount"):
        assert expected in ids


async def test_every_tag_is_declared_with_a_description(document):
    declared = {tag["name"]: tag.get("description") for tag in document["tags"]}
    assert [tag["name"] for tag in document["tags"]] == [tag["name"] for tag in OPENAPI_TAGS]
    for method, path, operation in operations(document):
        assert len(operation["tags"]) == 1, (method, path)
        assert declared.get(operation["tags"][0]), (method, path, operation["tags"])


async def test_security_says_required_optional_or_none(document):
    required = [{"JWT-auth": []}]
    optional = [{}, {"JWT-auth": []}]
    paths = document["paths"]
    assert paths["/api/v1/live-stream/{id}/fund"]["post"]["security"] == required
    assert paths["/api/v1/live-stream/most-watched-creators"]["get"]["security"] == optional
    assert paths["/api/v1/live-stream/user/{userId}/past-streams"]["get"]["security"] == optional
    assert paths["/api/v1/live-stream/featured"]["get"]["security"] == []
    assert paths["/health"]["get"]["security"] == []
    for method, path, operation in operations(document):
        assert operation["security"] in (required, optional, []), (method, path)
        if operation["security"]:
            assert "401" in operation["responses"], (method, path)


async def test_error_responses_show_the_real_error_envelope(document):
    for method, path, operation in operations(document):
        codes = [int(code) for code in operation["responses"]]
        assert 422 not in codes and 400 in codes, (method, path)
        assert any(200 <= code < 300 for code in codes), (method, path)
        for code, response in operation["responses"].items():
            media = response["content"]["application/json"]
            (example,) = media["examples"].values()
            if int(code) >= 400:
                assert media["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
                value = example["value"]
                assert value["isSuccess"] is False and value["statusCode"] == int(code), (path, code)
                assert value["data"] is None and value["errors"] and value["errors"][0]
            else:
                assert example["value"]["isSuccess"] is True, (method, path)
                assert example["value"]["statusCode"] == int(code), (method, path)


async def test_thumbnail_is_a_binary_upload(document):
    form = document["paths"]["/api/v1/live-stream/create"]["post"]["requestBody"]["content"]
    ref = form["multipart/form-data"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["properties"]["thumbnail"] == {
        **schema["properties"]["thumbnail"],
        "type": "string",
        "format": "binary",
    }
    assert "contentMediaType" not in str(document)


async def test_optional_parameters_are_omitted_not_null(document):
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (method, path, parameter["name"])
            if not parameter.get("required"):
                assert "anyOf" not in parameter["schema"] or all(
                    branch.get("type") != "null" for branch in parameter["schema"]["anyOf"]
                ), (method, path, parameter["name"])
    fund = document["paths"]["/api/v1/live-stream/{id}/fund"]["post"]
    (key,) = [p for p in fund["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["schema"]["type"] == "string" and key["required"] is False


async def test_schemas_use_examples_not_example(document):
    assert '"example":' not in str(document).replace("'", '"')


async def test_redoc_and_every_asset_it_references_come_from_the_app(client):
    page = await client.get("/redoc")
    assert page.status_code == 200
    html = page.text
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html)
    assert any(url.endswith("redoc.standalone.js") for url in urls) and "/openapi.json" in urls, urls
    assert "fonts.googleapis" not in html
    for url in urls:
        assert not urlsplit(url).netloc, f"/redoc loads {url} from another host"
        assert (await client.get(url)).status_code == 200, url


def _walk(node: Any, path: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, (*path, str(index)))
    else:
        yield path, node


def test_no_example_shows_a_placeholder_string(document):
    placeholders = [
        "/".join(path)
        for path, value in _walk(document)
        if value == "string" and "examples" in path and path[-1] != "type"
    ]
    assert not placeholders, placeholders[:10]


def test_the_error_envelope_lists_its_codes_and_every_operation_keeps_500_and_503(document):
    from app.core.errors import ErrorCode

    schemas = document["components"]["schemas"]
    envelope = schemas["ErrorEnvelope"]
    assert envelope["properties"]["code"]["$ref"] == "#/components/schemas/ErrorCode"
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert "code" in envelope["required"]
    assert envelope["properties"]["timestamp"]["format"] == "date-time"
    for method, path, operation in operations(document):
        responses = operation["responses"]
        for status in ("500", "503"):
            media = responses[status]["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, status)
            assert media["examples"]["error"]["value"]["code"] in schemas["ErrorCode"]["enum"]
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
        assert "Retry-After" in responses["503"]["headers"]
    create = document["paths"]["/api/v1/live-stream/create"]["post"]["responses"]
    assert create["415"]["content"]["application/json"]["examples"]["error"]["value"]["code"] == (
        "UNSUPPORTED_MEDIA_TYPE"
    )


def test_guests_are_an_array_of_form_fields_and_price_a_number(document):
    form = document["components"]["schemas"]["CreateLiveStreamForm"]["properties"]
    assert form["guests"]["type"] == "array" and form["guests"]["items"]["type"] == "string"
    assert form["guests"]["examples"] == [[]]  # the playground starts without a placeholder guest
    assert form["price"]["type"] == "number"


def test_direction_is_described_with_its_enum_values(document):
    parameters = document["paths"]["/api/v1/users/me/transactions"]["get"]["parameters"]
    direction = next(parameter for parameter in parameters if parameter["name"] == "direction")
    assert "`credit`" in direction["description"] and "`debit`" in direction["description"]

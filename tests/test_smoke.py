from tests.helpers import assert_error


async def test_health_answers_in_envelope(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["data"] == {"status": "ok"}


async def test_unknown_route_is_enveloped_404(client):
    assert_error(await client.get("/nope"), 404, "Resource not found")

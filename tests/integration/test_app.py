"""The app: one pooled upstream client per process, owned by the lifespan; demo mode."""

from __future__ import annotations

import httpx

from graphql_api.app import EXAMPLE_QUERY, create_app
from tests.helpers import open_app, settings


async def test_one_client_for_all_requests_closed_at_shutdown() -> None:
    app = create_app(settings(demo=True))
    async with app.router.lifespan_context(app):
        client = app.state.service._client._http
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://t"
        ) as http:
            for _ in range(3):
                response = await http.post("/graphql", json={"query": EXAMPLE_QUERY})
                assert "errors" not in response.json()
                assert app.state.service._client._http is client
        assert not client.is_closed
    assert client.is_closed


async def test_demo_accepts_no_token_and_any_token() -> None:
    app = create_app(settings(demo=True))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http,
    ):
        for headers in ({}, {"Authorization": "Bearer anything"}):
            response = await http.post("/graphql", json={"query": EXAMPLE_QUERY}, headers=headers)
            nodes = response.json()["data"]["productGroupProducts"]["nodes"]
            assert len(nodes) == 10
            assert {n["__typename"] for n in nodes} <= {
                "RetailProduct",
                "HotelProduct",
                "CreativeAssetsProduct",
            }


async def test_demo_catalog_has_every_catalog_type_and_media_variant() -> None:
    query = """{ productGroupProducts(productGroupId: "1", first: 250) {
        nodes { __typename pin { media { __typename } } } } }"""
    async with open_app() as h:
        nodes = (await h.gql(query))["data"]["productGroupProducts"]["nodes"]
    assert {n["__typename"] for n in nodes} == {
        "RetailProduct",
        "HotelProduct",
        "CreativeAssetsProduct",
    }
    assert {n["pin"]["media"]["__typename"] for n in nodes} == {
        "PinMediaWithImage",
        "PinMediaWithVideo",
        "PinMediaWithImages",
        "PinMediaWithVideos",
        "PinMediaWithImageAndVideo",
        "OtherPinMedia",
    }


async def test_health() -> None:
    async with open_app() as h:
        response = await h.client.get("/healthz")
        assert response.json() == {"status": "ok"}
        assert h.requests == []

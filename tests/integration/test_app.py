"""The app: one pooled upstream client per process, owned by the lifespan; demo mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from graphql_api.app import EXAMPLE_QUERY, create_app
from tests.helpers import open_app, running, settings


async def test_one_client_for_all_requests_closed_at_shutdown() -> None:
    app = create_app(settings(demo=True))
    async with running(app) as (http, resources, _):
        client = resources.http
        for _ in range(3):
            response = await http.post("/graphql", json={"query": EXAMPLE_QUERY})
            assert "errors" not in response.json()
        assert not client.is_closed
    assert client.is_closed


async def test_readyz_is_unavailable_before_the_lifespan_and_after_it() -> None:
    app = create_app(settings(demo=True))

    async def readyz(state: Mapping[str, Any]) -> int:
        """/readyz of a request given this lifespan state (as a server gives it)."""

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(state)}, receive, send)

        transport = httpx.ASGITransport(with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            return (await http.get("/readyz")).status_code

    assert await readyz({}) == 503  # no lifespan has run
    async with app.router.lifespan_context(app) as state:
        assert state is not None
        assert await readyz(state) == 200
    assert await readyz(state) == 503  # shut down: the state a server kept names closed things


async def test_demo_accepts_no_token_and_any_token() -> None:
    app = create_app(settings(demo=True))
    async with running(app) as (http, _, _):
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
    query = """query($after: String) {
      productGroupProducts(productGroupId: "1", first: 250, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { __typename pin { media { __typename } } } } }"""
    nodes: list[dict[str, Any]] = []
    async with open_app() as h:
        after = None
        while True:  # the whole demo catalog: the seed sample (OtherPinMedia) is its last item
            page = (await h.gql(query, {"after": after}))["data"]["productGroupProducts"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    assert nodes[-1]["pin"]["media"]["__typename"] == "OtherPinMedia"
    assert "OtherPinMedia" not in {n["pin"]["media"]["__typename"] for n in nodes[:-1]}
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


# The exploration query, every connection at its default size: estimated far above the
# production budget (25 catalogs x 25 groups), within the demo's.
EXPLORE = (
    "{ catalogs { nodes { productGroups { nodes {"
    " products(first: 2) { nodes { pin { id } } } } } } } }"
)


async def test_the_demo_explores_the_catalog_graph_with_the_defaults_production_refuses_it() -> (
    None
):
    app = create_app(settings(demo=True))
    async with running(app) as (http, _, _):
        body = (await http.post("/graphql", json={"query": EXPLORE})).json()
    assert "errors" not in body, body
    catalogs = body["data"]["catalogs"]["nodes"]
    groups = [group for catalog in catalogs for group in catalog["productGroups"]["nodes"]]
    pins = [p for group in groups for p in group["products"]["nodes"]]
    assert len(catalogs) >= 6
    assert len(groups) >= 15
    assert pins
    cost = body["extensions"]["cost"]
    assert 100 < cost["requestedQueryCost"] <= 1000  # over production's default, within the demo's
    assert cost["actualQueryCost"] == 1 + len(catalogs) + len(groups)

    production_budget = create_app(settings(demo=True, max_upstream_cost=100))
    async with running(production_budget) as (http, _, _):
        body = (await http.post("/graphql", json={"query": EXPLORE})).json()
    assert body["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
    assert "data" not in body or body["data"] is None

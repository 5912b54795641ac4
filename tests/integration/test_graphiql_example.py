"""GraphiQL's example query, served on the page and run against the served schema over the demo
catalog: the path from a catalog to its products, then a page of product group "1". What a
newcomer sees first is real-looking: no spec placeholder, prices and image sizes."""

from __future__ import annotations

import json
import re
from typing import Any

from graphql_api.graphiql import EXAMPLE_QUERY
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import open_app


async def test_the_page_opens_with_the_example() -> None:
    async with open_app() as h:
        page = await h.client.get("/graphql", headers={"Accept": "text/html"})
    match = re.search(r'id="graphiql-config">(.*?)</script>', page.text)
    assert match is not None
    assert json.loads(match.group(1))["defaultQuery"] == EXAMPLE_QUERY


async def test_the_example_walks_from_catalogs_to_their_products() -> None:
    fake = FakePinterest()
    graph = fake.graph
    async with open_app(fake) as h:
        result = await h.gql(EXAMPLE_QUERY)
        requests = len(h.requests)
    assert "errors" not in result, result
    catalogs: list[dict[str, Any]] = result["data"]["catalogs"]["nodes"]
    assert [c["id"] for c in catalogs] == [c["id"] for c in graph.catalogs[:2]]
    assert [c["name"] for c in catalogs] == [c["name"] for c in graph.catalogs[:2]]
    assert [c["catalogType"] for c in catalogs] == ["RETAIL", "HOTEL"]  # two verticals
    for catalog in catalogs:
        own = [g for g in graph.product_groups if g["catalog_id"] == catalog["id"]]
        groups = catalog["productGroups"]["nodes"]
        assert [(g["id"], g["name"]) for g in groups] == [(g["id"], g["name"]) for g in own[:2]]
        for group, raw in zip(groups, own, strict=False):
            expected = fake.group_products(raw)[:2]
            pins = [node["pin"] for node in group["products"]["nodes"]]
            assert len(pins) == 2  # every group the example reaches shows products
            assert pins == [{"id": i["pin"]["id"], "title": i["pin"]["title"]} for i in expected]
            assert all(pin["title"] != "string" for pin in pins)
    assert catalogs[0]["productGroups"]["nodes"][0]["id"] == "1"  # the whole retail catalog
    # one request per listing at most: catalogs, 2 x product groups, 4 x products, group "1"
    assert requests <= 1 + 2 + 4 + 1


async def test_the_example_page_of_group_one_looks_real() -> None:
    fake = FakePinterest()
    async with open_app(fake) as h:
        result = await h.gql(EXAMPLE_QUERY)
    page = result["data"]["productGroupProducts"]
    assert page["pageInfo"]["hasNextPage"] is True
    nodes = page["nodes"]
    assert [n["pin"]["id"] for n in nodes] == [item["pin"]["id"] for item in fake.items[:10]]
    assert all(n["pin"]["title"] != "string" for n in nodes)
    assert all(n["pin"]["media"]["mediaType"] != "string" for n in nodes)
    first, raw = nodes[0], fake.items[0]
    assert first["__typename"] == "RetailProduct"
    assert first["metadata"]["price"] == raw["metadata"]["price"] > 0
    assert first["pin"]["media"]["mediaType"] == "image"
    size = raw["pin"]["media"]["images"]["400x300"]
    assert first["pin"]["media"]["images"]["size400x300"] == size

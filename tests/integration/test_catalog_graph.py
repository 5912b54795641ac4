"""The catalog as a graph through GraphQL (issue 18): nested connections bounded and costed
(counted at the fake upstream), the same connection as ``productGroupProducts`` under
``ProductGroup.products``, lookups by id batched, entities, and every failure a stable code."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.upstream.demo_catalog import DemoGraph, build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Handler, json_response, open_app, without_cost

CATALOGS, GROUPS = 10, 10
CATALOG_ID, FEED_ID, GROUP_ID = 700_000_000_000, 800_000_000_000, 900_000_000_000
NESTED = (
    "{ catalogs(first: 10) { nodes { productGroups(first: 10) { nodes { "
    "products(first: 2) { nodes { pin { id } } } } } } } }"
)
# 1 page of catalogs + a page of product groups for each of the 10 catalogs + a page of
# products for each of their 100 groups.
NESTED_REQUESTS = 1 + CATALOGS + CATALOGS * GROUPS
NESTED_LIMITS: dict[str, Any] = {"max_upstream_cost": NESTED_REQUESTS}  # others: defaults


def _graph(items: list[dict[str, Any]]) -> DemoGraph:
    """10 retail catalogs, a feed each, 10 product groups each selecting every product."""
    catalogs, feeds, groups, feed_catalog = [], [], [], {}
    for c in range(CATALOGS):
        catalog_id, feed_id = str(CATALOG_ID + c), str(FEED_ID + c)
        catalogs.append({"id": catalog_id, "name": f"Catalog {c}", "catalog_type": "RETAIL"})
        feeds.append({"id": feed_id, "catalog_type": "RETAIL", "name": f"Feed {c}"})
        feed_catalog[feed_id] = catalog_id
        for g in range(GROUPS):
            group_id = str(GROUP_ID + GROUPS * c + g)
            groups.append(
                {
                    "id": group_id,
                    "catalog_id": catalog_id,
                    "catalog_type": "RETAIL",
                    "feed_id": feed_id,
                    "name": f"Group {c}.{g}",
                    "filters": {"all_of": []},
                }
            )
    return DemoGraph(catalogs, feeds, groups, feed_catalog, tuple(c["id"] for c in catalogs))


class GraphFake(FakePinterest):
    """The fake upstream serving :func:`_graph` around its items."""

    @cached_property
    def graph(self) -> DemoGraph:
        return _graph(self.items)


def _fake() -> GraphFake:
    return GraphFake(build_catalog(40))


def _cost(body: dict[str, Any]) -> dict[str, int]:
    cost: dict[str, int] = body["extensions"]["cost"]
    return cost


def _codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", ())]


# --- Nested connections: bounded, counted, refused over the limit -----------------------------


@pytest.mark.parametrize("response_cache", [False, True])
async def test_nested_connections_make_the_requests_the_estimate_counts(
    response_cache: bool,
) -> None:
    fake = _fake()
    async with open_app(fake, response_cache=response_cache, **NESTED_LIMITS) as h:
        cold = await h.gql(NESTED)
        assert "errors" not in cold, cold["errors"]
        catalogs = cold["data"]["catalogs"]["nodes"]
        assert len(catalogs) == CATALOGS
        for catalog in catalogs:
            groups = catalog["productGroups"]["nodes"]
            assert len(groups) == GROUPS
            assert all(len(group["products"]["nodes"]) == 2 for group in groups)
        assert len(h.requests) == NESTED_REQUESTS
        assert fake.calls == {
            "catalogs": 1,
            "product_groups": CATALOGS,
            "product_group_products": CATALOGS * GROUPS,
        }
        assert _cost(cold) == {
            "requestedQueryCost": NESTED_REQUESTS,
            "actualQueryCost": NESTED_REQUESTS,
        }
        warm = await h.gql(NESTED)  # the page cache (or the response cache) answers
        assert without_cost(warm) == without_cost(cold)
        assert _cost(warm) == {"requestedQueryCost": NESTED_REQUESTS, "actualQueryCost": 0}
        assert len(h.requests) == NESTED_REQUESTS


async def test_nested_connections_over_the_limit_are_refused_before_any_request() -> None:
    async with open_app(_fake(), max_upstream_cost=NESTED_REQUESTS - 1) as h:
        refused = await h.gql(NESTED)
        assert _codes(refused) == ["COST_ESTIMATED_TOO_EXPENSIVE"]
        assert "data" not in refused
        assert _cost(refused) == {"requestedQueryCost": NESTED_REQUESTS, "actualQueryCost": 0}
        assert h.requests == []


async def test_the_graph_walks_feeds_and_counts_too() -> None:
    query = (
        "{ catalogs(first: 3) { edges { cursor node { id feeds(first: 1) { nodes { id "
        "productGroups(first: 4) { pageInfo { hasNextPage } nodes { id productCounts "
        "{ total } } } } } } } } }"
    )
    fake = _fake()
    async with open_app(fake) as h:
        result = await h.gql(query)
        assert "errors" not in result, result["errors"]
        edges = result["data"]["catalogs"]["edges"]
        assert [edge["node"]["id"] for edge in edges] == [str(CATALOG_ID + c) for c in range(3)]
        for edge in edges:
            (feed,) = edge["node"]["feeds"]["nodes"]
            groups = feed["productGroups"]
            assert groups["pageInfo"]["hasNextPage"] is True
            by_id = {group["id"]: group for group in fake.graph.product_groups}
            totals = [len(fake.group_products(by_id[g["id"]])) for g in groups["nodes"]]
            assert [g["productCounts"]["total"] for g in groups["nodes"]] == totals
            assert min(totals) > 0
        # 1 + 3 * (1 feeds page + 1 groups page + 4 counts)
        assert len(h.requests) == _cost(result)["actualQueryCost"] == 1 + 3 * 6
        assert _cost(result)["requestedQueryCost"] == 1 + 3 * 6


# --- ProductGroup.products is productGroupProducts --------------------------------------------

GROUP = str(GROUP_ID)
BY_ROOT = (
    "query($after: String) { productGroupProducts(productGroupId: GROUP, first: 2, after: $after)"
    " { nodes { pin { id } } pageInfo { endCursor } } }"
).replace("GROUP", f'"{GROUP}"')
BY_GROUP = (
    "query($after: String) { productGroup(id: GROUP) { products(first: 2, after: $after)"
    " { nodes { pin { id } } pageInfo { endCursor } } } }"
).replace("GROUP", f'"{GROUP}"')


async def test_a_groups_products_are_the_same_connection_as_product_group_products() -> None:
    fake = _fake()
    async with open_app(fake, response_cache=False) as h:
        first = (await h.gql(BY_ROOT))["data"]["productGroupProducts"]
        same = (await h.gql(BY_GROUP))["data"]["productGroup"]["products"]
        assert same == first  # the same products, the same cursors
        assert fake.calls["product_group_products"] == 1  # and the same cached page
        # A cursor of either continues the other.
        after = {"after": first["pageInfo"]["endCursor"]}
        next_by_group = (await h.gql(BY_GROUP, after))["data"]["productGroup"]["products"]
        next_by_root = (await h.gql(BY_ROOT, after))["data"]["productGroupProducts"]
        assert next_by_group == next_by_root
        assert next_by_group["nodes"] != first["nodes"]
        back = {"after": next_by_group["pageInfo"]["endCursor"]}
        third = (await h.gql(BY_ROOT, back))["data"]["productGroupProducts"]
        walked = await h.gql(
            "query($g: ID!) { productGroupProducts(productGroupId: $g, first: 6) "
            "{ nodes { pin { id } } } }",
            {"g": GROUP},
        )
        pins = [n["pin"]["id"] for n in walked["data"]["productGroupProducts"]["nodes"]]
        seen = [n["pin"]["id"] for part in (first, next_by_group, third) for n in part["nodes"]]
        assert seen == pins
        assert fake.calls["product_group_products"] == 1


async def test_a_groups_products_read_as_the_ad_account_it_was_read_as() -> None:
    query = (
        'query { catalogs(first: 1, adAccountId: "549755885175") { nodes { productGroups'
        "(first: 1) { nodes { products(first: 1) { nodes { catalogType } } } } } } }"
    )
    async with open_app(_fake()) as h:
        result = await h.gql(query)
        assert "errors" not in result, result["errors"]
        assert len(h.requests) == 3
        for request in h.requests:
            assert request.url.params["ad_account_id"] == "549755885175"


# --- Lookups by id, entities ------------------------------------------------------------------


async def test_lookups_by_id() -> None:
    fake = _fake()
    async with open_app(fake) as h:
        result = await h.gql(
            "query($g: ID!, $f: ID!) { productGroup(id: $g) { id name catalogId } "
            "feed(id: $f) { id name } }",
            {"g": GROUP, "f": str(FEED_ID)},
        )
        assert "errors" not in result, result["errors"]
        assert result["data"]["productGroup"] == {
            "id": GROUP,
            "name": "Group 0.0",
            "catalogId": str(CATALOG_ID),
        }
        assert result["data"]["feed"] == {"id": str(FEED_ID), "name": "Feed 0"}
        assert fake.calls == {"product_group": 1, "feed": 1}


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ('{ productGroup(id: "12345") { id } }', ["productGroup"]),
        ('{ feed(id: "12345") { id } }', ["feed"]),
        (
            '{ _entities(representations: [{__typename: "Catalog", id: "12345"}]) '
            "{ ... on Catalog { id } } }",
            ["_entities", 0],
        ),
        (
            '{ _entities(representations: [{__typename: "ProductGroup", id: "12345"}]) '
            "{ ... on ProductGroup { id } } }",
            ["_entities", 0],
        ),
    ],
)
async def test_an_unknown_id_is_null_with_not_found(query: str, path: list[Any]) -> None:
    async with open_app(_fake()) as h:
        result = await h.gql(query)
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert error["path"] == path
        value: Any = result["data"]
        for key in path:
            value = value[key]
        assert value is None


async def test_product_groups_by_id_are_one_request_in_the_order_asked() -> None:
    ids = [str(GROUP_ID + n) for n in (42, 3, 99, 0)]
    fake = _fake()
    async with open_app(fake) as h:
        result = await h.gql(
            "query($ids: [ID!]!) { productGroups(ids: $ids) { id name } }",
            {"ids": [*ids[:2], "12345", *ids[2:]]},
        )
        groups = result["data"]["productGroups"]
        assert [g and g["id"] for g in groups] == [*ids[:2], None, *ids[2:]]
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert error["path"] == ["productGroups", 2]
        assert fake.calls == {"product_groups": 1}
        assert _cost(result) == {"requestedQueryCost": 5, "actualQueryCost": 1}
        # The same entries as productGroup(id): no request for a group read by id before.
        again = await h.gql("query($g: ID!) { productGroup(id: $g) { name } }", {"g": ids[0]})
        assert again["data"]["productGroup"] == {"name": "Group 4.2"}
        assert fake.calls == {"product_groups": 1}


async def test_entities_are_resolved_in_batches_with_the_callers_token() -> None:
    representations = [
        *({"__typename": "ProductGroup", "id": str(GROUP_ID + n)} for n in range(12)),
        *({"__typename": "Catalog", "id": str(CATALOG_ID + n)} for n in range(5)),
        {"__typename": "Pin", "id": "1"},
    ]
    query = (
        "query($r: [_Any!]!) { _entities(representations: $r) { __typename "
        "... on ProductGroup { id name products(first: 1) { nodes { catalogType } } } "
        "... on Catalog { id name } } }"
    )
    fake = _fake()
    async with open_app(fake) as h:
        result = await h.gql(query, {"r": representations}, token="caller-token")
        entities = result["data"]["_entities"]
        typenames = [r["__typename"] for r in representations[:17]]
        assert [e and e["__typename"] for e in entities] == [*typenames, None]
        assert [e["id"] for e in entities[:17]] == [r["id"] for r in representations[:17]]
        assert entities[17] is None  # no such Pin
        assert _codes(result) == ["NOT_FOUND"]
        # 12 groups: one request; 5 catalogs: one page; 12 product pages; the Pin.
        assert fake.calls == {
            "product_groups": 1,
            "catalogs": 1,
            "product_group_products": 12,
            "pin": 1,
        }
        for request in h.requests:
            assert request.headers["Authorization"] == "Bearer caller-token"
        assert _cost(result)["requestedQueryCost"] >= _cost(result)["actualQueryCost"] == 15


async def test_a_representation_of_no_entity_names_the_entities() -> None:
    query = '{ _entities(representations: [{__typename: "Feed", id: "1"}]) { __typename } }'
    async with open_app(_fake()) as h:
        result = await h.gql(query)
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "Catalog, Pin, ProductGroup" in error["message"]
        assert h.requests == []


# --- Bad input: BAD_USER_INPUT before any upstream request ------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        '{ productGroup(id: "abc") { id } }',
        '{ feed(id: "") { id } }',
        '{ productGroups(ids: ["1", "x"]) { id } }',
        "{ productGroups(ids: []) { id } }",
        "{ productGroups(ids: [" + ", ".join(f'"{n}"' for n in range(1, 102)) + "]) { id } }",
        '{ catalogs(after: "garbage") { nodes { id } } }',
        "{ catalogs(first: -1) { nodes { id } } }",
        '{ catalogs(adAccountId: "x1") { nodes { id } } }',
        "{ availableFilterValues { catalogType } }",
        '{ availableFilterValues(feedId: "f") { catalogType } }',
        '{ availableFilterValues(catalogId: "a") { catalogType } }',
        '{ availableFilterValues(catalogId: "1", country: "usa") { catalogType } }',
        '{ availableFilterValues(catalogId: "1", language: "en_US") { catalogType } }',
    ],
)
async def test_bad_arguments_are_bad_user_input_without_a_request(query: str) -> None:
    async with open_app(_fake(), max_upstream_cost=1000) as h:  # 101 ids: more than 100
        result = await h.gql(query)
        assert set(_codes(result)) == {"BAD_USER_INPUT"}, result
        assert h.requests == []


async def test_a_cursor_of_another_listing_is_bad_user_input() -> None:
    async with open_app(_fake()) as h:
        catalogs = await h.gql("{ catalogs(first: 1) { pageInfo { endCursor } } }")
        cursor = catalogs["data"]["catalogs"]["pageInfo"]["endCursor"]
        foreign = await h.gql(
            "query($c: String, $g: ID!) { productGroup(id: $g) { products(after: $c) "
            "{ nodes { catalogType } } } }",
            {"c": cursor, "g": GROUP},
        )
        (error,) = foreign["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["path"] == ["productGroup", "products"]
        # Catalogs continue after their own cursor.
        resumed = await h.gql(
            "query($c: String) { catalogs(first: 1, after: $c) { nodes { id } } }", {"c": cursor}
        )
        assert resumed["data"]["catalogs"]["nodes"] == [{"id": str(CATALOG_ID + 1)}]


async def test_filter_values_of_a_feed_are_asked_with_its_catalog() -> None:
    """The upstream requires ``catalog_id`` (a retail feed does not name its catalog): the feed
    narrows the catalog's values; ``feedId`` alone is refused before any request (above)."""
    fake = FakePinterest(build_catalog(40))
    feed_id, catalog_id = next(iter(fake.graph.feed_catalog.items()))
    query = (
        "query($c: ID, $f: ID) { availableFilterValues(catalogId: $c, feedId: $f) { catalogType } }"
    )
    async with open_app(fake) as h:
        result = await h.gql(query, {"c": catalog_id, "f": feed_id})
        assert "errors" not in result, result
        asked = [dict(r.url.params) for r in h.requests]
        assert asked == [{"catalog_id": catalog_id, "feed_id": feed_id}]


# --- Upstream failures: the same codes as the products' ---------------------------------------

FAILURES = [
    (401, "UNAUTHENTICATED"),
    (403, "FORBIDDEN"),
    (404, "NOT_FOUND"),
    (409, "CONFLICT"),
    (429, "RATE_LIMITED"),
    (500, "UPSTREAM_UNAVAILABLE"),
    (503, "UPSTREAM_UNAVAILABLE"),
]
ENDPOINTS = [
    ("{ catalogs { nodes { id } } }", "/v5/catalogs", ["catalogs"]),
    ('{ feed(id: "1") { id } }', "/v5/catalogs/feeds/1", ["feed"]),
    ('{ productGroup(id: "1") { id } }', "/v5/catalogs/product_groups/1", ["productGroup"]),
    ('{ productGroups(ids: ["1"]) { id } }', "/v5/catalogs/product_groups", ["productGroups", 0]),
    (
        '{ availableFilterValues(catalogId: "1") { catalogType } }',
        "/v5/catalogs/available_filter_values",
        ["availableFilterValues"],
    ),
    (
        "{ catalogs(first: 1) { nodes { feeds { nodes { id } } } } }",
        "/v5/catalogs/feeds",
        ["catalogs", "nodes", 0, "feeds"],
    ),
    (
        '{ productGroup(id: "1") { productCounts { total } } }',
        "/v5/catalogs/product_groups/1/product_counts",
        ["productGroup", "productCounts"],
    ),
    (
        '{ productGroup(id: "1") { products { nodes { catalogType } } } }',
        "/v5/catalogs/product_groups/1/products",
        ["productGroup", "products"],
    ),
]


def _failing(path: str, status: int) -> Handler:
    """The demo upstream, but ``path`` answers ``status``."""
    fake = FakePinterest()
    failure = json_response(status, {"code": 7, "message": "upstream text"})

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == path:
            return failure(request)
        return fake.handler(request)

    return handler


@pytest.mark.parametrize(("status", "code"), FAILURES)
@pytest.mark.parametrize(("query", "path", "error_path"), ENDPOINTS)
async def test_upstream_failures_of_the_graph_map_to_the_same_codes(
    query: str, path: str, error_path: list[Any], status: int, code: str
) -> None:
    async with open_app(_failing(path, status)) as h:
        response = await h.post(query)
        assert response.status_code == 200
        assert "upstream text" not in response.text
        result = orjson.loads(response.content)
        (error,) = result["errors"]
        assert error["extensions"]["code"] == code
        assert error["extensions"]["upstreamStatus"] == status
        assert error["path"] == error_path
        assert any(request.url.path == path for request in h.requests)


@pytest.mark.parametrize(
    ("selection", "path"),
    [
        ("nodes { id }", ["catalogs", "nodes", 1]),
        ("edges { node { name } }", ["catalogs", "edges", 1, "node"]),
    ],
)
async def test_a_broken_listing_item_is_an_upstream_error_at_its_path(
    selection: str, path: list[Any]
) -> None:
    page = {"items": [{"id": "1"}, {"id": ["not", "an", "id"]}, {"id": "3"}], "bookmark": None}
    async with open_app(json_response(200, page)) as h:
        response = await h.post(f"{{ catalogs(first: 3) {{ {selection} }} }}")
        assert "INTERNAL_SERVER_ERROR" not in response.text
        result = orjson.loads(response.content)
        (error,) = result["errors"]
        assert error["extensions"]["code"] == "UPSTREAM_ERROR"
        assert error["path"] == path
        assert result["data"] is None  # non-null all the way up, as a product's


async def test_lookups_by_id_batch_per_ad_account_in_one_tick() -> None:
    query = (
        "query($a: [ID!]!, $b: [ID!]!) { a: productGroups(ids: $a) { id } "
        'b: productGroups(ids: $b, adAccountId: "549755885175") { id } '
        'c: _entities(representations: [{__typename: "ProductGroup", id: "%s"}]) '
        "{ ... on ProductGroup { id } } }"
    ).replace("%s", str(GROUP_ID + 7))
    fake = _fake()
    async with open_app(fake) as h:
        result = await h.gql(
            query, {"a": [GROUP, str(GROUP_ID + 1), GROUP], "b": [str(GROUP_ID + 2)]}
        )
        assert "errors" not in result, result["errors"]
        assert [g["id"] for g in result["data"]["a"]] == [GROUP, str(GROUP_ID + 1), GROUP]
        # One request for the caller's ids (entities' included), one for the ad account's.
        assert fake.calls == {"product_groups": 2}
        accounts = sorted(r.url.params.get("ad_account_id", "") for r in h.requests)
        assert accounts == ["", "549755885175"]
        asked = {r.url.params.get("ad_account_id", ""): r.url.params["id"] for r in h.requests}
        assert sorted(asked[""].split(",")) == sorted([GROUP, str(GROUP_ID + 1), str(GROUP_ID + 7)])


@pytest.mark.parametrize(
    "query",
    [
        "{ catalogs { nodes { id } } }",
        '{ feed(id: "800000000000") { id } }',
        '{ productGroup(id: "900000000000") { id } }',
        '{ productGroups(ids: ["900000000000", "900000000001"]) { id } }',
        '{ availableFilterValues(catalogId: "700000000000") { catalogType } }',
        '{ _entities(representations: [{__typename: "Catalog", id: "700000000000"}]) '
        "{ ... on Catalog { id } } }",
        '{ _entities(representations: [{__typename: "ProductGroup", id: "900000000000"}]) '
        "{ ... on ProductGroup { id } } }",
    ],
)
async def test_every_lookup_is_a_source_of_the_response(query: str) -> None:
    """The response cache follows the entries a response was built from: once they are stale,
    the response is not reused, and says it is stale (each field noted its entries)."""
    clock = Clock()
    async with open_app(_fake(), clock=clock, cache_ttl=60) as h:
        fresh = await h.gql(query)
        assert "errors" not in fresh, fresh["errors"]
        assert "cache" not in fresh.get("extensions", {})
        clock.advance(61)
        stale = await h.gql(query)
        assert without_cost(stale)["data"] == fresh["data"]
        assert stale["extensions"]["cache"]["stale"] is True

"""Connections over both listing endpoints: canonical pages, cursors, bounds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import open_app

CATALOG = build_catalog(1000)
PIN_IDS = [item["pin"]["id"] for item in CATALOG]
# The filter below selects the products with a price >= 0: the retail ones.
PRICED_IDS = [item["pin"]["id"] for item in CATALOG if "price" in item["metadata"]]

BY_GROUP = """
query Walk($first: Int, $after: String) {
  productGroupProducts(productGroupId: "1", first: $first, after: $after) {
    edges { cursor node { pin { id } } }
    nodes { pin { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

BY_FILTER = """
query Walk($first: Int, $after: String) {
  productsByFilter(first: $first, after: $after, filter: {feedBased: {feedId: "7",
      filters: {anyOf: [{minPrice: {values: 0}}, {maxPrice: {values: 0}}]}}}) {
    edges { cursor node { pin { id } } }
    nodes { pin { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def _walk(h: Any, query: str, field: str, first: int) -> tuple[list[str], int]:
    seen: list[str] = []
    after = None
    calls = 0
    while True:
        result = await h.gql(query, {"first": first, "after": after})
        assert "errors" not in result, result
        connection = result["data"][field]
        calls += 1
        ids = [edge["node"]["pin"]["id"] for edge in connection["edges"]]
        assert ids == [node["pin"]["id"] for node in connection["nodes"]]
        assert len(ids) <= first
        info = connection["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        if ids:
            assert info["startCursor"] == connection["edges"][0]["cursor"]
            assert info["endCursor"] == connection["edges"][-1]["cursor"]
        seen += ids
        if not info["hasNextPage"]:
            return seen, calls
        assert len(ids) == first  # a short page only at the end
        after = info["endCursor"]


@pytest.mark.parametrize(
    ("query", "field", "expected"),
    [
        (BY_GROUP, "productGroupProducts", PIN_IDS),
        (BY_FILTER, "productsByFilter", PRICED_IDS),
    ],
)
@pytest.mark.parametrize("first", [1, 7, 25, 100, 250])
async def test_walk_returns_every_product_once_in_order(
    query: str, field: str, expected: list[str], first: int
) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        seen, calls = await _walk(h, query, field, first)
        assert seen == expected
        assert calls == max(1, -(-len(expected) // first))
        # Canonical pages of 250 and the page cache: one request a page, whatever `first`.
        assert len(h.requests) == -(-len(expected) // 250)
        assert {r.url.params["page_size"] for r in h.requests} == {"250"}


async def test_first_spanning_upstream_pages_follows_bookmarks() -> None:
    async with open_app(FakePinterest(CATALOG), upstream_page_size=100) as h:
        result = await h.gql(BY_GROUP, {"first": 250})
        ids = [n["pin"]["id"] for n in result["data"]["productGroupProducts"]["nodes"]]
        assert ids == PIN_IDS[:250]
        bookmarks = [r.url.params.get("bookmark") for r in h.requests]
        assert bookmarks[0] is None
        assert len(set(bookmarks)) == 3
        assert [r.url.params["page_size"] for r in h.requests] == ["100"] * 3


async def test_last_page_has_no_next_page() -> None:
    async with open_app(FakePinterest(CATALOG[:30])) as h:
        result = await h.gql(BY_GROUP, {"first": 30})
        connection = result["data"]["productGroupProducts"]
        assert len(connection["edges"]) == 30
        assert connection["pageInfo"]["hasNextPage"] is False
        result = await h.gql(BY_GROUP, {"first": 5, "after": connection["pageInfo"]["endCursor"]})
        assert result["data"]["productGroupProducts"]["edges"] == []
        assert result["data"]["productGroupProducts"]["pageInfo"]["hasNextPage"] is False


async def test_first_zero_returns_no_edges() -> None:
    async with open_app(FakePinterest(CATALOG[:3])) as h:
        result = await h.gql(BY_GROUP, {"first": 0})
        connection = result["data"]["productGroupProducts"]
        assert connection["edges"] == []
        assert connection["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("first", [-1, 251, 10_000])
async def test_out_of_range_first_is_bad_user_input(first: int) -> None:
    async with open_app() as h:
        result = await h.gql(BY_GROUP, {"first": first})
        assert result.get("data") is None
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert h.requests == []


async def test_max_first_is_a_setting() -> None:
    async with open_app(FakePinterest(CATALOG), max_first=500) as h:
        result = await h.gql(BY_GROUP, {"first": 500})
        assert len(result["data"]["productGroupProducts"]["edges"]) == 500


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage",
        "c1.",
        "c1.!!!!",
        "c1.bnVsbA",
        "c1.WyJ4IiwyNTAsbnVsbCwtMV0",
        "c1." + "A" * 5000,
    ],
)
async def test_malformed_cursor_is_bad_user_input(cursor: str) -> None:
    async with open_app() as h:
        result = await h.gql(BY_GROUP, {"first": 1, "after": cursor})
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "Traceback" not in str(result)
        assert h.requests == []


async def test_cursor_from_another_query_is_bad_user_input() -> None:
    other_group = BY_GROUP.replace('productGroupId: "1"', 'productGroupId: "2"')
    async with open_app() as h:
        result = await h.gql(other_group, {"first": 1})
        cursor = result["data"]["productGroupProducts"]["pageInfo"]["endCursor"]
        sent = len(h.requests)
        for query in (BY_GROUP, BY_FILTER):
            result = await h.gql(query, {"first": 1, "after": cursor})
            assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert "another query" in result["errors"][0]["message"]
        assert len(h.requests) == sent


async def test_cursor_from_another_page_size_is_bad_user_input() -> None:
    async with open_app(upstream_page_size=100) as h:
        result = await h.gql(BY_GROUP, {"first": 1})
        cursor = result["data"]["productGroupProducts"]["pageInfo"]["endCursor"]
    async with open_app() as h:
        result = await h.gql(BY_GROUP, {"first": 1, "after": cursor})
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_ad_account_id_goes_upstream() -> None:
    async with open_app() as h:
        result = await h.gql(
            '{ productGroupProducts(productGroupId: "1", first: 1, adAccountId: "549755885175")'
            " { nodes { catalogType } } }"
        )
        assert "errors" not in result
        assert h.requests[0].url.params["ad_account_id"] == "549755885175"
        assert h.requests[0].url.path == "/v5/catalogs/product_groups/1/products"


def _repeating(items_per_page: int) -> Any:
    """A mock built from the spec's examples: every page has the same bookmark."""
    fake = FakePinterest(CATALOG)

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/product_groups/2/products"):
            return fake.handler(request)  # a healthy listing beside the broken one
        start = 0 if "bookmark" not in request.url.params else items_per_page
        page = CATALOG[start : start + items_per_page]
        return httpx.Response(200, json={"items": page, "bookmark": "c3BlYy1leGFtcGxl"})

    return upstream


REPEATING = """
query($first: Int) {
  productGroupProducts(productGroupId: "1", first: $first) {
    nodes { pin { id } } pageInfo { hasNextPage endCursor }
  }
  other: productGroupProducts(productGroupId: "2", first: 2) { nodes { pin { id } } }
}"""


async def test_a_repeated_bookmark_keeps_the_products_gathered_so_far() -> None:
    async with open_app(_repeating(10), upstream_page_size=10) as h:
        result = await h.gql(REPEATING, {"first": 50})
    connection = result["data"]["productGroupProducts"]
    assert [node["pin"]["id"] for node in connection["nodes"]] == PIN_IDS[:20]
    assert connection["pageInfo"]["hasNextPage"] is False
    assert connection["pageInfo"]["endCursor"] is not None
    assert len(result["data"]["other"]["nodes"]) == 2  # the sibling field is answered
    (error,) = result["errors"]
    assert error["path"] == ["productGroupProducts"]
    assert error["extensions"] == {"code": "UPSTREAM_ERROR"}
    assert "does not advance" in error["message"]
    assert len([r for r in h.requests if "/product_groups/1/" in r.url.path]) == 2


async def test_a_repeated_bookmark_before_any_product_gives_an_empty_connection() -> None:
    async with open_app(_repeating(0), upstream_page_size=10) as h:
        result = await h.gql(REPEATING, {"first": 5})
    connection = result["data"]["productGroupProducts"]
    assert connection == {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
    assert len(result["data"]["other"]["nodes"]) == 2
    (error,) = result["errors"]
    assert (error["path"], error["extensions"]) == (
        ["productGroupProducts"],
        {"code": "UPSTREAM_ERROR"},
    )

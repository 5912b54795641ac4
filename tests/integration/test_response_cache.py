"""The response cache: repeated operations answered without execution, never across callers,
never past the freshness of their pages, and gone with them."""

from __future__ import annotations

import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Harness, open_app, without_cost

CATALOG = build_catalog(40)
QUERY = """query($first: Int) { productGroupProducts(productGroupId: "1", first: $first) {
  nodes { pin { id } } } }"""


async def _cached(h: Harness) -> int:
    text = (await h.client.get("/metrics")).text
    line = next((line for line in text.splitlines() if 'outcome="cached"' in line), "x 0")
    return int(float(line.rsplit(" ", 1)[1]))


async def test_a_repeated_operation_is_answered_from_the_cache() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        first = await h.post(QUERY, {"first": 3})
        again = await h.post(QUERY, {"first": 3})
        reformatted = await h.post(" ".join(QUERY.split()), {"first": 3})
        assert again.content == reformatted.content  # both from the cache: cost 0 upstream
        assert without_cost(first.json()) == without_cost(again.json())
        assert again.json()["extensions"]["cost"]["actualQueryCost"] == 0
        assert await _cached(h) == 2
        other = await h.post(QUERY, {"first": 4})
        assert len(other.json()["data"]["productGroupProducts"]["nodes"]) == 4
        assert await _cached(h) == 2
        assert len(h.requests) == 1


async def test_never_across_callers() -> None:
    fake = FakePinterest(CATALOG, mark_callers=True)
    query = QUERY.replace("pin { id }", "pin { id note }")
    async with open_app(fake) as h:
        alice = await h.gql(query, {"first": 2}, token="alice-token")
        bob = await h.gql(query, {"first": 2}, token="bob-token")
        assert alice != bob
        assert await _cached(h) == 0


async def test_not_past_the_freshness_of_its_pages() -> None:
    clock = Clock()
    async with open_app(FakePinterest(CATALOG), clock=clock, cache_ttl=60) as h:
        await h.post(QUERY, {"first": 3})
        clock.advance(30)
        await h.post(QUERY, {"first": 3})
        assert await _cached(h) == 1
        clock.advance(31)  # the page is stale now: the response is not reused
        stale = await h.gql(QUERY, {"first": 3})
        assert stale["extensions"]["cache"]["stale"] is True
        assert await _cached(h) == 1


async def test_gone_with_the_pages_it_was_built_from() -> None:
    async with open_app(FakePinterest(CATALOG), cache_max_entries=1) as h:
        await h.post(QUERY, {"first": 3})
        await h.post(QUERY.replace('"1"', '"2"'), {"first": 3})  # evicts group 1's page
        await h.post(QUERY, {"first": 3})
        assert await _cached(h) == 0
        assert len(h.requests) == 3


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { queryType { name } } }",
        '{ productGroupProducts(productGroupId: "1", first: -1) { nodes { catalogType } } }',
    ],
)
async def test_introspection_and_errors_are_not_kept(query: str) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        await h.post(query)
        await h.post(query)
        assert await _cached(h) == 0


async def test_it_can_be_turned_off() -> None:
    async with open_app(FakePinterest(CATALOG), response_cache=False) as h:
        await h.post(QUERY, {"first": 3})
        await h.post(QUERY, {"first": 3})
        assert await _cached(h) == 0


async def test_bounded_by_bytes_and_reported_in_metrics() -> None:
    big = QUERY.replace("pin { id }", "pin { id title description link altText }")
    async with open_app(FakePinterest(CATALOG), response_cache_max_bytes=0) as h:
        await h.post(big, {"first": 30})
        await h.post(big, {"first": 30})  # too large for the bound: never kept
        assert await _cached(h) == 0
        one = len((await h.post(big, {"first": 30})).content)
    bound = one * 5 // 2  # two of those below fit, three do not
    async with open_app(FakePinterest(CATALOG), response_cache_max_bytes=bound) as h:
        for first in range(20, 30):
            await h.post(big, {"first": first})
        sizes = await h.cache_sizes()
        assert 0 < sizes["graphql_api_cache_bytes", "responses"] <= bound
        assert sizes["graphql_api_cache_entries", "responses"] == 2  # each counts its key too
        assert sizes["graphql_api_cache_entries", "pages"] == 1
        await h.post(big, {"first": 29})  # the most recent are kept
        await h.post(big, {"first": 20})  # the oldest went
        assert await _cached(h) == 1

"""Nothing grows without bound: many callers, listings, pages and Pins, round after round, and
every structure the process keeps per caller or per key stays within its bound (with either
store). The long version, in resident memory, is ``python -m bench.soak``."""

from __future__ import annotations

from typing import Any

import pytest

from graphql_api.pagination import Position, encode_cursor
from graphql_api.service import Listing
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Harness, open_app

LISTING = """query Products($account: ID, $after: String) {
  productGroupProducts(productGroupId: "1", first: 5, after: $after, adAccountId: $account) {
    nodes { pin { id } } } }"""
PIN = "query Pin($id: ID!) { pin(id: $id) { id } }"
MAX_ENTRIES, MAX_RESPONSES = 8, 16


def _sizes(h: Harness) -> dict[str, int]:
    cache, resilience = h.resources.cache, h.resources.resilience
    assert h.resources.responses is not None
    return {
        "pages in memory": len(cache.in_process),
        "page versions": len(cache.versions),
        "fetches in flight": cache.fetches,
        "responses": len(h.resources.responses),
        "bulkhead callers": len(resilience.bulkhead),
        "holds": len(resilience.holds),
        "retry budget": len(resilience.budget),
        "breakers": sum(len(b) for b in resilience.breakers.values()),
    }


async def _round(h: Harness, number: int, pins: list[str]) -> None:
    for i in range(40):  # a new caller each time, 8 listings, 5 pages each, and Pins
        account = str(10**6 + i % 8)
        key = Listing("product_group_products", product_group_id="1", ad_account_id=account).key
        after = encode_cursor(Position(None, 5 * (i % 5)), query=key, page_size=250)
        variables: dict[str, Any] = {"account": account, "after": after if i % 5 else None}
        token = f"caller-{number}-{i}"
        assert "errors" not in await h.gql(LISTING, variables, token=token)
        assert "errors" not in await h.gql(PIN, {"id": pins[i % len(pins)]}, token=token)


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_nothing_grows_round_after_round(store: str, request: pytest.FixtureRequest) -> None:
    cache_url = request.getfixturevalue("redis_url") if store == "redis" else "memory://"
    clock = Clock()
    fake = FakePinterest()
    pins = [item["pin"]["id"] for item in fake.items[:50]]
    values = {
        "cache_url": cache_url,
        "cache_ttl": 10,
        "cache_stale_ttl": 10,
        "cache_max_entries": MAX_ENTRIES,
        "response_cache_max_entries": MAX_RESPONSES,
    }
    async with open_app(fake, clock=clock, **values) as h:
        rounds = []
        for number in range(3):
            await _round(h, number, pins)
            await h.settle()
            rounds.append(_sizes(h))
            clock.advance(61)  # past freshness, stale, breaker and retry-budget windows
    first, *_, last = rounds
    assert last["pages in memory"] <= MAX_ENTRIES
    assert last["responses"] <= MAX_RESPONSES
    assert last["fetches in flight"] == last["bulkhead callers"] == 0
    for name, size in last.items():  # flat after the first round: nothing piles up per round
        assert size <= max(first[name], 1) * 1.2, (name, rounds)

"""Resilience through the app: a saturated upstream, partial pages, an open breaker."""

from __future__ import annotations

import asyncio

import httpx

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import BreakerState
from tests.helpers import Clock, open_app

CATALOG = build_catalog(60)
QUERY = """query($first: Int, $after: String) {
  productGroupProducts(productGroupId: "1", first: $first, after: $after) {
    edges { cursor node { pin { id } } } pageInfo { hasNextPage endCursor } } }"""
IDS = [item["pin"]["id"] for item in CATALOG]


async def test_saturated_upstream_fails_excess_requests_and_health_stays_up() -> None:
    release = asyncio.Event()
    fake = FakePinterest(CATALOG)

    async def stuck(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return fake.handler(request)

    settings = {"upstream_max_concurrency": 4, "upstream_max_concurrency_per_token": 2,
                "upstream_queue_timeout": 0.05}  # fmt: skip
    async with open_app(stuck, **settings) as h:  # type: ignore[arg-type]
        groups = [str(n) for n in range(2, 12)]
        calls = [
            h.gql(QUERY.replace('"1"', f'"{group}"'), {"first": 1}, token=f"t{i % 3}")
            for i, group in enumerate(groups)
        ]
        pending = [asyncio.create_task(call) for call in calls]
        await asyncio.sleep(0.02)
        health = await asyncio.wait_for(h.client.get("/healthz"), timeout=1)
        assert health.status_code == 200
        await asyncio.sleep(0.1)
        release.set()
        results = await asyncio.gather(*pending)
    codes = [r["errors"][0]["extensions"]["code"] for r in results if "errors" in r]
    served = [r for r in results if "errors" not in r]
    assert len(served) == 4  # the process bound
    assert sorted(set(codes)) == ["RATE_LIMITED", "UPSTREAM_UNAVAILABLE"]
    assert len(h.requests) == 4


async def test_a_later_page_failing_returns_the_products_before_it() -> None:
    fake = FakePinterest(CATALOG)
    failing = False

    def upstream(request: httpx.Request) -> httpx.Response:
        if failing and "bookmark" in request.url.params:
            return httpx.Response(503, json={"code": 0, "message": "down"})
        return fake.handler(request)

    async with open_app(upstream, upstream_page_size=10, retry_attempts=1) as h:
        failing = True
        result = await h.gql(QUERY, {"first": 25})
        connection = result["data"]["productGroupProducts"]
        ids = [edge["node"]["pin"]["id"] for edge in connection["edges"]]
        assert ids == IDS[:10]
        assert connection["pageInfo"]["hasNextPage"] is True
        assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        (error,) = result["errors"]
        assert error["path"] == ["productGroupProducts"]
        assert error["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "upstreamStatus": 503,
                                       "upstreamCode": 0}  # fmt: skip
        failing = False
        after = connection["pageInfo"]["endCursor"]
        following = await h.gql(QUERY, {"first": 25, "after": after})
        more = [e["node"]["pin"]["id"] for e in following["data"]["productGroupProducts"]["edges"]]
        assert more == IDS[10:35]
        assert "errors" not in following


async def test_an_open_breaker_fails_fast_or_serves_the_stale_page() -> None:
    fake = FakePinterest(CATALOG)
    failing = False

    def upstream(request: httpx.Request) -> httpx.Response:
        if failing:
            return httpx.Response(503, json={"code": 0, "message": "down"})
        return fake.handler(request)

    clock = Clock()
    options = {"breaker_min_calls": 3, "breaker_open_seconds": 30, "retry_attempts": 1,
               "cache_ttl": 10, "cache_stale_ttl": 100}  # fmt: skip
    async with open_app(upstream, clock=clock, **options) as h:  # type: ignore[arg-type]
        cached = await h.gql(QUERY, {"first": 5})
        failing = True
        for group in ("2", "3", "4"):
            await h.gql(QUERY.replace('"1"', f'"{group}"'), {"first": 1})
        resilience = h.client._transport.app.state.resilience  # type: ignore[attr-defined]
        breaker = resilience.breakers["product_group_products"]
        assert breaker.state is BreakerState.OPEN
        sent = len(h.requests)
        refused = await h.gql(QUERY.replace('"1"', '"5"'), {"first": 1})
        assert refused["errors"][0]["extensions"] == {"code": "UPSTREAM_UNAVAILABLE"}
        clock.advance(20)  # the cached page is stale now: served, while its refresh is refused
        stale = await h.gql(QUERY, {"first": 5})
        assert stale["data"] == cached["data"]
        assert stale["extensions"]["cache"] == {"stale": True, "ageSeconds": 20}
        await h.settle()
        assert len(h.requests) == sent  # nothing reached the failing upstream while open
        failing = False
        clock.advance(30)
        assert breaker.state is BreakerState.HALF_OPEN
        assert "errors" not in await h.gql(QUERY.replace('"1"', '"6"'), {"first": 1})
        assert breaker.state is BreakerState.CLOSED

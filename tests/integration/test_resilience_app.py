"""Resilience through the app: a saturated upstream, partial pages, an open breaker."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import BreakerState
from tests.helpers import Clock, Harness, open_app

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

    settings = {
        "upstream_max_concurrency": 4,
        "upstream_max_concurrency_per_token": 2,
        "upstream_queue_timeout": 0.05,
    }
    async with open_app(stuck, **settings) as h:  # type: ignore[arg-type]
        groups = [str(n) for n in range(2, 12)]
        calls = [
            h.gql(QUERY.replace('"1"', f'"{group}"'), {"first": 1}, token=f"t{i % 3}")
            for i, group in enumerate(groups)
        ]
        pending = [asyncio.create_task(call) for call in calls]
        # Four reach the stuck upstream; the six others are refused (at once, or when the
        # queue timeout ends their wait), while the four are held.
        for _ in range(3000):
            if len(h.requests) == 4 and sum(task.done() for task in pending) == 6:
                break
            await asyncio.sleep(0.01)
        health = await asyncio.wait_for(h.client.get("/healthz"), timeout=1)
        assert health.status_code == 200
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
        assert error["extensions"] == {
            "code": "UPSTREAM_UNAVAILABLE",
            "upstreamStatus": 503,
            "upstreamCode": 0,
        }
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
    options = {"breaker_min_calls": 3, "retry_attempts": 1, "cache_ttl": 10, "cache_stale_ttl": 100}
    async with open_app(upstream, clock=clock, **options) as h:
        resilience = h.resources.resilience
        breaker = resilience.breakers["product_group_products"]
        breaker.rng = lambda: 0.0  # refuse whenever the refusal probability is above zero
        cached = await h.gql(QUERY, {"first": 5})
        failing = True
        for group in ("2", "3", "4"):
            await h.gql(QUERY.replace('"1"', f'"{group}"'), {"first": 1})
        assert breaker.state is BreakerState.HALF_OPEN  # 3 failures, 1 success: shedding
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
        clock.advance(10)  # the failures leave the breaker's window
        # mypy keeps an earlier assert's narrowing of .state across the calls that change it
        assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]
        assert "errors" not in await h.gql(QUERY.replace('"1"', '"6"'), {"first": 1})


def _flaky(
    failing: Callable[[], bool],
) -> tuple[Callable[[httpx.Request], httpx.Response], list[bool]]:
    """The demo upstream, answering 503 whenever ``failing()`` says so; records each outcome."""
    fake, outcomes = FakePinterest(CATALOG), []

    def upstream(request: httpx.Request) -> httpx.Response:
        fail = failing()
        outcomes.append(not fail)
        return (
            httpx.Response(503, json={"code": 0, "message": "down"})
            if fail
            else fake.handler(request)
        )

    return upstream, outcomes


async def _distinct(h: Harness, i: int) -> dict[str, Any]:
    """The ``i``-th of 300 listings that share nothing in the caches (100 groups, 3 callers)."""
    return await h.gql(QUERY.replace('"1"', f'"{i % 100 + 1}"'), {"first": 1}, token=f"t{i // 100}")


def _alternating() -> Callable[[], bool]:
    calls = itertools.count()
    return lambda: next(calls) % 2 == 1


def _coin() -> Callable[[], bool]:
    coin = random.Random(5)
    return lambda: coin.random() < 0.5


@pytest.mark.parametrize("failing", [_alternating, _coin], ids=["alternating", "seeded"])
async def test_a_half_failing_upstream_is_not_amplified(
    failing: Callable[[], Callable[[], bool]],
) -> None:
    upstream, outcomes = _flaky(failing())
    n = 300
    async with open_app(upstream) as h:  # default settings: breaker, retries and budget
        h.resources.resilience.breakers["product_group_products"].rng = random.Random(6).random
        results = [await _distinct(h, i) for i in range(n)]
    served = sum("errors" not in r for r in results)
    assert {r["errors"][0]["extensions"]["code"] for r in results if "errors" in r} <= {
        "UPSTREAM_UNAVAILABLE"
    }
    upstream_share = sum(outcomes) / len(outcomes)
    assert 0.4 < upstream_share < 0.6
    assert served / n >= upstream_share  # the client sees at least the upstream's successes
    paths = [(r.url.path, r.headers["authorization"]) for r in h.requests]
    first_attempts = len(set(paths))
    retries = len(paths) - first_attempts
    assert first_attempts == n  # nothing refused: every request went upstream
    assert 0 < retries <= 3 + 0.1 * first_attempts  # the retry budget holds


async def test_a_dead_upstream_fails_fast_and_refusals_do_not_feed_the_retry_budget() -> None:
    upstream, outcomes = _flaky(lambda: True)
    n = 300
    async with open_app(upstream) as h:
        resilience = h.resources.resilience
        resilience.breakers["product_group_products"].rng = random.Random(7).random
        results = [await _distinct(h, i) for i in range(n)]
    assert {r["errors"][0]["extensions"]["code"] for r in results} == {"UPSTREAM_UNAVAILABLE"}
    paths = [(r.url.path, r.headers["authorization"]) for r in h.requests]
    first_attempts = len(set(paths))
    assert first_attempts < n / 4  # after the window's first calls, most fail without a request
    assert len(paths) - first_attempts <= 3 + 0.1 * first_attempts  # retries within the budget
    assert len(resilience.budget) == len(paths)  # the budget counted only what went upstream
    assert not any(outcomes)

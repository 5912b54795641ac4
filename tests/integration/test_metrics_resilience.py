"""/metrics' resilience figures through the app: upstream requests in flight and refused by the
bulkhead, refusals of the breaker and the retry budget, callers held after a 429."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Harness, json_response, metrics, open_app

QUERY = '{ productGroupProducts(productGroupId: "%s", first: 1) { nodes { pin { id } } } }'
REFUSED = 'graphql_api_upstream_refused_total{reason="%s"}'


async def _query(h: Harness, group: int, token: str = "tok") -> dict[str, Any]:
    return await h.gql(QUERY % group, token=token)


async def test_requests_in_flight_and_refused_by_the_bulkhead() -> None:
    release = asyncio.Event()
    fake = FakePinterest(build_catalog(10))

    async def stuck(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return fake.handler(request)

    settings = {"upstream_max_concurrency": 2, "upstream_queue_timeout": 0.05}
    async with open_app(stuck, **settings) as h:  # type: ignore[arg-type]
        assert (await metrics(h))["graphql_api_upstream_in_flight"] == 0
        pending = [asyncio.create_task(_query(h, g, token=f"t{g}")) for g in range(2, 5)]
        for _ in range(1000):  # two reach the stuck upstream, the third is refused
            if len(h.requests) == 2 and sum(task.done() for task in pending) == 1:
                break
            await asyncio.sleep(0.01)
        during = await metrics(h)
        assert during["graphql_api_upstream_in_flight"] == 2
        assert during[REFUSED % "bulkhead"] == 1
        release.set()
        await asyncio.gather(*pending)
        after = await metrics(h)
    assert after["graphql_api_upstream_in_flight"] == 0
    assert after[REFUSED % "bulkhead"] == 1


async def test_refusals_of_the_breaker_and_the_retry_budget() -> None:
    failing = json_response(503, {"code": 0, "message": "unavailable"})
    async with open_app(failing, retry_attempts=3, breaker_min_calls=10) as h:
        assert (await metrics(h))["graphql_api_upstream_retry_budget"] == 3  # the floor
        for group in range(2, 30):
            await _query(h, group)
        m = await metrics(h)
    sent = len(h.requests)
    assert (
        m['graphql_api_upstream_requests_total{operation="product_group_products",status="503"}']
        == sent
    )
    # 28 queries would make 84 attempts: the budget allowed 3 retries (plus 10% of the
    # requests), and the breaker refused most once it had 10 failures and no success.
    assert m[REFUSED % "retry_budget"] >= 1
    assert m[REFUSED % "breaker"] >= 1
    assert m['graphql_api_breaker_state{operation="product_group_products"}'] == 2
    assert m["graphql_api_upstream_retry_budget"] < 3
    assert sent < 28 * 3


async def test_callers_held_after_a_429() -> None:
    clock = Clock()
    limited = json_response(429, {"code": 8, "message": "slow down"}, {"Retry-After": "30"})
    async with open_app(limited, clock=clock) as h:
        assert (await metrics(h))["graphql_api_upstream_held_callers"] == 0
        await _query(h, 2, token="a")
        await _query(h, 2, token="b")
        m = await metrics(h)
        assert m["graphql_api_upstream_held_callers"] == 2
        assert m[REFUSED % "hold"] == 0
        sent = len(h.requests)
        answer = await _query(h, 3, token="a")  # held for 30 s: refused at once, not sent
        assert [e["extensions"]["code"] for e in answer["errors"]] == ["RATE_LIMITED"]
        assert len(h.requests) == sent
        assert (await metrics(h))[REFUSED % "hold"] == 1
        clock.advance(31)
        assert (await metrics(h))["graphql_api_upstream_held_callers"] == 0

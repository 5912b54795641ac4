"""The page cache through the app: sharing, staleness, auth, replicas, and no leaks."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import httpx
import pytest
import redis.asyncio as aioredis

from graphql_api.cache import MemoryStore
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, caller_mark
from tests.helpers import Clock, json_response, open_app, without_cost

CATALOG = build_catalog(60)
LIST = """query($group: ID!, $first: Int, $after: String) {
  productGroupProducts(productGroupId: $group, first: $first, after: $after) {
    nodes { pin { id note } } pageInfo { endCursor hasNextPage } } }"""
WITH_METRICS = """{ productGroupProducts(productGroupId: "1", first: 5) {
    nodes { pin { id pinMetrics { allTime { impression } } } } } }"""
WITHOUT_METRICS = """{ productGroupProducts(productGroupId: "1", first: 5) {
    nodes { pin { id title } } } }"""


async def test_page_with_metrics_serves_a_later_query_without() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        assert "errors" not in await h.gql(WITH_METRICS)
        result = await h.gql(WITHOUT_METRICS)
        assert len(result["data"]["productGroupProducts"]["nodes"]) == 5
        assert [r.url.params.get("pin_metrics") for r in h.requests] == ["true"]


async def test_stale_page_is_served_and_said_so_when_the_upstream_fails() -> None:
    fake = FakePinterest(CATALOG)
    failing = False

    def upstream(request: httpx.Request) -> httpx.Response:
        if failing:
            return httpx.Response(503, json={"code": 0, "message": "down"})
        return fake.handler(request)

    clock = Clock()
    async with open_app(upstream, clock=clock, cache_ttl=60, cache_stale_ttl=300) as h:
        fresh = await h.gql(WITHOUT_METRICS)
        assert "cache" not in fresh["extensions"]
        failing = True
        clock.advance(100)
        stale = await h.gql(WITHOUT_METRICS)
        assert stale["data"] == fresh["data"]
        assert stale["extensions"]["cache"] == {"stale": True, "ageSeconds": 100}
        # Its refresh runs in the background: the stale answer itself cost nothing upstream.
        assert stale["extensions"]["cost"]["actualQueryCost"] == 0
        await h.settle()  # the background refresh gives up (503, retried) before time moves on
        clock.advance(300)  # past the stale window
        failed = await h.gql(WITHOUT_METRICS)
        assert failed["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"


async def test_auth_failures_are_never_answered_from_the_cache() -> None:
    fake = FakePinterest(CATALOG, accept_any_token=False, tokens={"alice"})
    clock = Clock()
    async with open_app(fake, clock=clock) as h:
        await h.gql(WITHOUT_METRICS, token="alice")
        fake.tokens = frozenset()  # alice's token is revoked
        clock.advance(61)
        stale = await h.gql(WITHOUT_METRICS, token="alice")  # at once; its refresh gets 401
        assert stale["extensions"]["cache"]["stale"] is True
        for _ in range(200):  # until the background refresh has dropped the page
            if "errors" in await h.gql(WITHOUT_METRICS, token="alice"):
                break
            await asyncio.sleep(0.01)
        for _ in range(2):
            result = await h.gql(WITHOUT_METRICS, token="alice")
            assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        forged = await h.gql(WITHOUT_METRICS, token="mallory")
        assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_two_instances_sharing_redis_share_pages(redis_url: str) -> None:
    secret = "shared-secret-for-replicas"
    async with open_app(FakePinterest(CATALOG), cache_url=redis_url, secret=secret) as first:
        one = await first.gql(WITHOUT_METRICS)
    async with open_app(FakePinterest(CATALOG), cache_url=redis_url, secret=secret) as second:
        two = await second.gql(WITHOUT_METRICS)
        assert second.requests == []
        three = await second.gql(WITHOUT_METRICS, token="someone-else")
        assert len(second.requests) == 1  # another caller: never the first one's page
    assert without_cost(one) == without_cost(two) == without_cost(three)
    # The page the second instance read from Redis cost nothing upstream; another caller's did.
    spent = [body["extensions"]["cost"]["actualQueryCost"] for body in (one, two, three)]
    assert spent == [1, 0, 1]


async def test_redis_serves_stale_pages_too(redis_url: str) -> None:
    clock = Clock()
    async with open_app(FakePinterest(CATALOG), clock=clock, cache_url=redis_url) as h:
        fresh = await h.gql(WITHOUT_METRICS)
        clock.advance(120)
        stale = await h.gql(WITHOUT_METRICS)
        assert stale["data"] == fresh["data"]
        assert stale["extensions"]["cache"] == {"stale": True, "ageSeconds": 120}


TOKENS = [f"tok-{random.Random(i).getrandbits(96):024x}" for i in range(50)]


async def _mixed_requests(h: Any, count: int) -> int:
    """``count`` concurrent requests from 50 callers over fresh, short-lived clients; the number
    of products served to a caller other than the one that fetched them."""
    rng = random.Random(7)
    semaphore = asyncio.Semaphore(64)
    wrong = 0
    app_transport = h.transport

    async def one(token: str, group: str, first: int) -> None:
        nonlocal wrong
        async with (
            semaphore,
            httpx.AsyncClient(transport=app_transport, base_url="http://testserver") as client,
        ):
            response = await client.post(
                "/graphql",
                json={"query": LIST, "variables": {"group": group, "first": first}},
                headers={"Authorization": f"Bearer {token}"},
            )
        nodes = response.json()["data"]["productGroupProducts"]["nodes"]
        wrong += sum(node["pin"]["note"] != caller_mark(token) for node in nodes)
        assert nodes

    calls = (
        one(rng.choice(TOKENS), rng.choice(["1", "2", "3"]), rng.choice([1, 5, 25]))
        for _ in range(count)
    )
    await asyncio.gather(*calls)
    return wrong


def _fragments(token: str) -> list[str]:
    secret_part = token.removeprefix("tok-")
    return [secret_part[i : i + 8] for i in range(0, len(secret_part) - 7, 4)]


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_no_page_reaches_another_caller(backend: str, request: pytest.FixtureRequest) -> None:
    url = "memory://" if backend == "memory" else request.getfixturevalue("redis_url")
    fake = FakePinterest(CATALOG, mark_callers=True)
    async with open_app(fake, cache_url=url, upstream_page_size=20, cache_max_entries=1000) as h:
        assert await _mixed_requests(h, 5000) == 0
        assert len(h.requests) <= 50 * 3 * 3  # tokens x groups x pages: the cache was used
        keys: list[str]
        blobs: list[bytes]
        if backend == "memory":
            store = h.resources.cache.store
            assert isinstance(store, MemoryStore)
            keys = list(store)
            blobs = [repr(await store.get(key)).encode() for key in keys]
        else:
            client = aioredis.Redis.from_url(url)  # no decode_responses: it answers bytes
            stored = cast("list[bytes]", await client.keys("*"))
            keys = [k.decode() for k in stored]
            blobs = [cast("bytes", await client.get(k)) for k in stored]
            await client.aclose()
    assert len(keys) >= 50
    for token in TOKENS:
        for fragment in _fragments(token):
            assert all(fragment not in key for key in keys)
            assert all(fragment.encode() not in blob for blob in blobs)


async def test_no_token_reaches_a_key_or_a_log(caplog: pytest.LogCaptureFixture) -> None:
    async with open_app(json_response(503, {}), upstream_page_size=20) as h:
        await h.gql(WITHOUT_METRICS, token=TOKENS[0])
    assert TOKENS[0][4:12] not in caplog.text

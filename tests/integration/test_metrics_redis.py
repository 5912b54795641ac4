"""/metrics with a Redis cache, on real redis-servers: the availability gauges follow Redis
going away (killed or hung) and coming back, and the tier counters follow where each lookup was
answered across two replicas."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import redis

from graphql_api.cache import Entry, RedisStore, TierCounts
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.models import parse_page
from tests.helpers import Clock, Harness, RedisProcess, metrics, open_app, redis_link

QUERY = '{ productGroupProducts(productGroupId: "%s", first: 2) { nodes { pin { id } } } }'
SECRET = "s" * 32
FRESH = 60.0


async def _until(h: Harness, condition: Callable[[dict[str, float]], bool], what: str) -> None:
    for _ in range(200):
        if condition(await metrics(h)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within 10 s; {await metrics(h)}")


def lookups(m: dict[str, float], tier: str, result: str = "found") -> float:
    return m[f'graphql_api_cache_lookups_total{{result="{result}",tier="{tier}"}}']


def redis_ops(m: dict[str, float], operation: str, result: str) -> float:
    return m.get(
        f'graphql_api_redis_operations_total{{operation="{operation}",result="{result}"}}', 0
    )


@pytest.mark.parametrize("failure", ["killed", "hung"])
async def test_the_availability_gauges_follow_redis(failure: str, own_redis: RedisProcess) -> None:
    async with open_app(
        cache_url=own_redis.url,
        secret=SECRET,
        redis_probe_interval=0.1,
        response_cache=False,
    ) as h:
        await _until(h, lambda m: m["graphql_api_redis_subscribed"] == 1, "subscribed")
        await h.gql(QUERY % "1")
        before = await metrics(h)
        assert before["graphql_api_redis_up"] == 1
        assert redis_ops(before, "cache_get", "ok") == 1
        own_redis.kill() if failure == "killed" else own_redis.stop()

        await h.gql(QUERY % "2")  # its Redis operations fail: the guard opens
        await h.gql(QUERY % "3")  # not sent to Redis at all
        away = await metrics(h)
        assert away["graphql_api_redis_up"] == 0
        failed = "error" if failure == "killed" else "timeout"
        assert redis_ops(away, "cache_get", failed) >= 1
        assert redis_ops(away, "cache_get", "skipped") >= 1
        assert redis_ops(away, "cache_get", "ok") == 1
        await _until(h, lambda m: m["graphql_api_redis_subscribed"] == 0, "subscription lost")
        await _until(h, lambda m: m["graphql_api_redis_outages_total"] == 1, "outage counted")
        assert (await metrics(h))["graphql_api_redis_up"] == 0  # still away

        own_redis.restart() if failure == "killed" else own_redis.cont()
        await _until(h, lambda m: m["graphql_api_redis_up"] == 1, "up again")
        await _until(h, lambda m: m["graphql_api_redis_subscribed"] == 1, "subscribed again")
        await h.gql(QUERY % "4")
        back = await metrics(h)
        assert redis_ops(back, "cache_get", "ok") == 2
        assert back["graphql_api_redis_outages_total"] == 1


async def test_the_tier_counters_follow_the_lookups_of_two_replicas(redis_url: str) -> None:
    """B reads A's page from Redis once, then from its own copy; A's refresh drops B's copy
    (a message), and B reads the newer page from Redis; A checked its copy against Redis."""
    clock = Clock()
    settings: dict[str, Any] = {
        "cache_url": redis_url,
        "secret": SECRET,
        "response_cache": False,
        "cache_ttl": FRESH,
    }
    async with open_app(clock=clock, **settings) as a, open_app(clock=clock, **settings) as b:
        for h in (a, b):
            await _until(h, lambda m: m["graphql_api_redis_subscribed"] == 1, "subscribed")
        await a.gql(QUERY % "1")
        assert len(a.requests) == 1

        await b.gql(QUERY % "1")  # from Redis: read and parsed
        first = await metrics(b)
        assert (lookups(first, "redis"), lookups(first, "process")) == (1, 0)
        await b.gql(QUERY % "1")  # from B's copy: no Redis read
        second = await metrics(b)
        assert (lookups(second, "redis"), lookups(second, "process")) == (1, 1)
        assert redis_ops(second, "cache_get", "ok") == redis_ops(first, "cache_get", "ok")
        assert b.requests == []  # B never went upstream

        clock.advance(FRESH + 1)
        await a.gql(QUERY % "1")  # stale: served, refreshed in the background
        await a.settle()
        assert len(a.requests) == 2
        newer = 'graphql_api_cache_invalidations_total{reason="newer"}'
        await _until(b, lambda m: m[newer] == 1, "B's older copy dropped on A's message")
        assert (await metrics(a))['graphql_api_cache_revalidations_total{result="kept"}'] == 1

        await b.gql(QUERY % "1")  # the newer page, from Redis
        third = await metrics(b)
        assert (lookups(third, "redis"), lookups(third, "process")) == (2, 1)
        assert third["graphql_api_cache_messages_total"] >= 2  # A's two stores
        assert b.requests == []


async def test_each_lookup_of_the_store_is_counted_once(redis_url: str) -> None:
    """Every way a Redis store answers counts one lookup: an unreadable entry in Redis is
    absent (Redis' answer), a page Redis does not hold too, a read one found in Redis."""
    link = redis_link(redis_url)
    store = RedisStore(link, max_entries=10, max_bytes=2**20)
    client = redis.Redis.from_url(redis_url)
    try:
        client.set("garbage", b"not an entry")
        assert await store.get("garbage") is None
        assert await store.get("nothing") is None
        assert (store.counts.redis_absent, store.counts.process_absent) == (2, 0)
        page = parse_page({"items": build_catalog(2, seed=1), "bookmark": None})
        now = store.clock()
        await store.set("page", Entry(page, now, now + FRESH, now + 2 * FRESH, False), 2 * FRESH)
        await store.local.delete("page")  # as if another replica had stored it
        assert await store.get("page") is not None
        assert store.counts == TierCounts(redis_found=1, redis_absent=2)
    finally:
        client.close()
        await store.close()
        await link.close()

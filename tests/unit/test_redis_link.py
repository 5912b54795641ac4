"""The Redis link's guard and the Redis page store's fallback, against a real redis-server that
is stopped (SIGSTOP: data kept, no answer) and resumed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
import redis

from graphql_api.cache import Entry, RedisStore
from graphql_api.redis_link import LinkState, RedisLink
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.models import parse_page
from tests.helpers import RedisProcess, redis_link

PAGE = parse_page({"items": build_catalog(2), "bookmark": None})


def _entry(stored_at: float) -> Entry:
    return Entry(PAGE, stored_at, stored_at + 60, stored_at + 360, False)


@pytest.fixture
async def link(own_redis: RedisProcess) -> AsyncIterator[RedisLink]:
    # The timeout is generous for a busy machine: a stopped Redis never answers anyway.
    link = redis_link(own_redis.url, timeout=0.2, probe_interval=0.05)
    yield link
    own_redis.cont()
    await link.close()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(300):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached")


async def _until_up(link: RedisLink) -> None:
    await _until(lambda: link.available)


async def test_timeouts_that_a_ping_answers_at_once_are_a_blip_not_an_outage(
    own_redis: RedisProcess, link: RedisLink, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.stop()  # as a host starved of CPU would see it: no answer in time
    for _ in range(3):
        assert await link.run(link.client.ping, False) is False
    assert link.state is LinkState.DOWN
    own_redis.cont()  # before the guard's immediate PING runs out of time
    await _until_up(link)
    assert (link.blips, link.outages) == (1, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_the_guard_opens_after_three_failures_in_a_row_and_probes_until_back(
    own_redis: RedisProcess, link: RedisLink
) -> None:
    assert await link.run(lambda: link.client.set("k", b"v"), None)
    own_redis.stop()
    for failures in (1, 2):
        assert await link.run(lambda: link.client.get("k"), "fallback") == "fallback"
        assert (link.failures, link.state) == (failures, LinkState.UP)
    assert await link.run(lambda: link.client.get("k"), "fallback") == "fallback"
    assert link.state is LinkState.DOWN
    attempts = link.attempts
    for _ in range(50):  # at once, without touching Redis
        assert await link.run(lambda: link.client.get("k"), None) is None
    assert (link.attempts, link.skipped) == (attempts, 50)
    assert not await link.ping()
    await _until(lambda: link.outages == 1)  # once a PING confirmed it (timeouts alone)
    own_redis.cont()
    await _until_up(link)
    assert await link.run(lambda: link.client.get("k"), None) == b"v"
    assert link.outages == 1


async def test_a_success_resets_the_count_of_failures(own_redis: RedisProcess) -> None:
    link = redis_link(own_redis.url, timeout=0.2)
    own_redis.kill()
    for _ in range(2):
        await link.run(link.client.ping, False)
    own_redis.start()
    assert await link.run(link.client.ping, False)
    own_redis.kill()
    for _ in range(2):
        await link.run(link.client.ping, False)
    assert link.state is LinkState.UP  # never three in a row
    await link.close()


async def test_while_away_the_store_keeps_pages_in_memory_then_goes_back_to_redis(
    own_redis: RedisProcess, link: RedisLink
) -> None:
    store = RedisStore(link, max_entries=10)
    admin = redis.Redis(port=own_redis.port)
    own_redis.stop()
    for _ in range(3):
        assert await store.get("other") is None
    assert link.state is LinkState.DOWN
    await store.set("k", _entry(1.0), ttl=360)
    assert (await store.get("k")) == _entry(1.0)  # from the process' memory
    own_redis.cont()
    await _until_up(link)
    assert admin.exists("k") == 0  # not copied to Redis
    assert (await store.get("k")) == _entry(1.0)  # Redis lacks it: memory still serves it
    await store.set("k", _entry(2.0), ttl=360)  # now into Redis, and out of memory
    assert admin.exists("k") == 1
    assert len(store.local) == 0
    assert (await store.get("k")) == _entry(2.0)
    admin.close()


async def test_a_page_dropped_while_redis_is_away_is_deleted_from_it_when_back(
    own_redis: RedisProcess, link: RedisLink
) -> None:
    store = RedisStore(link, max_entries=10)
    await store.set("revoked", _entry(1.0), ttl=360)
    await store.set("kept", _entry(1.0), ttl=360)
    own_redis.stop()  # Redis keeps its data, but does not answer
    for _ in range(3):
        await store.get("other")
    await store.delete("revoked")  # a 401 while Redis is away
    assert await store.get("revoked") is None
    await _until(lambda: link.outages == 1)
    own_redis.cont()
    await _until_up(link)
    admin = redis.Redis(port=own_redis.port)
    for _ in range(100):  # the recovery deletes it (in the probe's task)
        if not admin.exists("revoked"):
            break
        await asyncio.sleep(0.01)
    assert (admin.exists("revoked"), admin.exists("kept")) == (0, 1)
    admin.close()
    assert await store.get("revoked") is None


async def test_after_a_hang_the_newer_of_the_process_copy_and_redis_copy_is_served(
    own_redis: RedisProcess, link: RedisLink
) -> None:
    store = RedisStore(link, max_entries=10)
    await store.set("k", _entry(1.0), ttl=360)
    own_redis.stop()  # Redis keeps the old entry
    for _ in range(3):
        await store.get("other")
    await _until(lambda: link.outages == 1)
    await store.set("k", _entry(2.0), ttl=360)  # refreshed meanwhile, kept in the process
    own_redis.cont()
    await _until_up(link)
    assert (await store.get("k")) == _entry(2.0)  # not Redis' older copy
    await store.set("k", _entry(3.0), ttl=360)
    assert (await store.get("k")) == _entry(3.0)
    assert len(store.local) == 0

"""The Redis store's two tiers, with two stores (two replicas) on one real redis-server: a fresh
copy in the process is served without Redis; a refresh or a drop on one replica reaches the
other by pub/sub at once; a lost subscription costs the copies it may have left stale."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from graphql_api.cache import Entry, PageCache, RedisStore
from graphql_api.errors import UpstreamUnauthorized
from graphql_api.redis_link import RedisLink
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.models import Page, footprint, parse_page
from tests.helpers import Clock, RedisProcess, redis_link

PAGES = [parse_page({"items": build_catalog(3, seed=s), "bookmark": None}) for s in range(3)]
FRESH, STALE = 60.0, 300.0


def _entry(stored_at: float, page: Page = PAGES[0]) -> Entry:
    return Entry(page, stored_at, stored_at + FRESH, stored_at + FRESH + STALE, False)


async def _until(condition: Callable[[], bool], what: str = "condition") -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{what} not reached in 5 s")


class Replica:
    """One process's link and two-tier store, on a test clock."""

    def __init__(self, url: str, clock: Clock, max_bytes: int = 2**30) -> None:
        self.link: RedisLink = redis_link(url, probe_interval=0.2)
        self.store = RedisStore(self.link, max_entries=100, max_bytes=max_bytes)
        self.store.clock = clock

    async def live(self) -> None:
        await _until(lambda: self.store.live, "subscription")

    async def close(self) -> None:
        await self.store.close()
        await self.link.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def replicas(redis_url: str, clock: Clock) -> AsyncIterator[tuple[Replica, Replica]]:
    a, b = Replica(redis_url, clock), Replica(redis_url, clock)
    await a.live()
    await b.live()
    yield a, b
    await a.close()
    await b.close()


async def test_a_fresh_copy_is_served_without_redis(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await a.store.set("k", _entry(1_000_000.0), ttl=FRESH + STALE)
    loaded = await b.store.get("k")  # from Redis, parsed once, kept
    assert loaded == _entry(1_000_000.0)
    attempts = (a.link.attempts, b.link.attempts)
    for _ in range(20):
        assert await a.store.get("k") == loaded
        hit = await b.store.get("k")
        assert hit is loaded  # the same parsed object: no Redis read, no parse
    assert (a.link.attempts, b.link.attempts) == attempts


async def test_a_copy_no_longer_fresh_is_checked_against_redis(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    await a.store.set("k", _entry(clock.now), ttl=FRESH + STALE)
    first = await b.store.get("k")
    clock.advance(FRESH + 1)
    attempts = b.link.attempts
    assert await b.store.get("k") is first  # the same version in Redis: kept, not parsed again
    assert b.link.attempts == attempts + 1


async def test_a_refresh_on_one_replica_replaces_the_others_copy(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    await a.store.set("k", _entry(clock.now), ttl=FRESH + STALE)
    assert await b.store.get("k") == _entry(clock.now)
    clock.advance(1)
    await a.store.set("k", _entry(clock.now, PAGES[1]), ttl=FRESH + STALE)  # refreshed on A
    await _until(lambda: "k" not in b.store.local, "B's older copy gone")
    refreshed = await b.store.get("k")
    assert refreshed is not None
    assert refreshed.value == PAGES[1]
    assert "k" in b.store.local  # the newer copy is kept in its place


async def test_a_page_dropped_on_one_replica_is_gone_from_the_others_at_once(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    a, b = replicas
    await a.store.set("k", _entry(clock.now), ttl=FRESH + STALE)
    assert await b.store.get("k") is not None
    await a.store.delete("k")  # a 401/403 on A
    await _until(lambda: "k" not in b.store.local, "B's copy dropped")
    assert await b.store.get("k") is None


async def test_versions_follow_the_copies_a_replica_holds(
    replicas: tuple[Replica, Replica], clock: Clock
) -> None:
    """B's page cache validates its responses against the versions of the copies B holds,
    loaded from Redis or not, and forgets them when A refreshes or drops the page."""
    a, b = replicas
    cache_a, cache_b = (
        PageCache(
            r.store,
            secret=b"k" * 32,
            fresh_ttl=FRESH,
            stale_ttl=STALE,
            clock=clock,
            rng=lambda: 0.0,
        )
        for r in (a, b)
    )
    pages = iter(PAGES)
    calls: list[str] = []

    async def fetch() -> Page:
        calls.append("fetch")
        return next(pages)

    await cache_a.get("k", fetch, metrics=False)
    hit = await cache_b.get("k", fetch, metrics=False)
    assert (calls, cache_b.versions) == (["fetch"], {"k": hit.version})
    clock.advance(FRESH + 1)
    await cache_a.get("k", fetch, metrics=False)  # stale on A: refreshed in the background
    await _until(lambda: "k" not in cache_b.versions, "B's version forgotten on A's refresh")
    clock.advance(1)
    newer = await cache_b.get("k", fetch, metrics=False)
    assert (newer.value, newer.stale, len(calls)) == (PAGES[1], False, 2)
    assert cache_b.versions == {"k": newer.version}

    async def revoked() -> Page:
        raise UpstreamUnauthorized()

    clock.advance(FRESH + 1)
    await cache_a.get("k", revoked, metrics=False)  # stale at once; the refresh gets a 401
    await _until(lambda: "k" not in cache_b.versions, "B's version forgotten on A's drop")
    assert "k" not in b.store.local


async def test_no_in_process_tier_with_max_bytes_zero(redis_url: str, clock: Clock) -> None:
    a, b = Replica(redis_url, clock), Replica(redis_url, clock, max_bytes=0)
    try:
        await b.live()
        await a.store.set("k", _entry(clock.now), ttl=FRESH + STALE)
        attempts = b.link.attempts
        for _ in range(3):
            assert await b.store.get("k") == _entry(clock.now)
        assert (len(b.store.local), b.link.attempts) == (0, attempts + 3)  # Redis every time
    finally:
        await a.close()
        await b.close()


async def test_the_tier_is_bounded_by_bytes(redis_url: str, clock: Clock) -> None:
    bound = footprint(PAGES[0]) + footprint(PAGES[1])
    a, b = Replica(redis_url, clock), Replica(redis_url, clock, max_bytes=bound)
    try:
        await b.live()
        for i in range(10):
            await a.store.set(f"k{i}", _entry(clock.now, PAGES[i % 3]), ttl=FRESH + STALE)
            assert await b.store.get(f"k{i}") is not None
            assert b.store.local.nbytes <= bound
        assert 1 <= len(b.store.local) <= 2
    finally:
        await a.close()
        await b.close()


async def test_after_losing_the_subscription_copies_of_redis_entries_go(
    own_redis: RedisProcess, clock: Clock
) -> None:
    """Messages published while a replica was not subscribed are lost to it: once subscribed
    again it drops the copies it held of Redis' entries (they are read again), and until then
    it serves none of them without asking Redis."""
    a, b = Replica(own_redis.url, clock), Replica(own_redis.url, clock)
    try:
        await a.live()
        await b.live()
        await a.store.set("k", _entry(clock.now), ttl=FRESH + STALE)
        assert await b.store.get("k") is not None
        epoch = b.store.epoch
        own_redis.restart()  # the subscriptions are cut, and Redis forgot "k"
        # Lost (the epoch moves on), then subscribed again (once more) and trusted.
        await _until(lambda: b.store.epoch >= epoch + 2 and b.store.live, "subscribed again")
        assert "k" not in b.store.local
        assert await b.store.get("k") is None  # Redis lost it: a miss, not a stale copy
    finally:
        await a.close()
        await b.close()

"""The page cache, over both stores: identity in keys, bound, single-flight, freshness."""

from __future__ import annotations

import asyncio

import pytest

from graphql_api.cache import Entry, MemoryStore, PageCache, Store
from graphql_api.errors import (
    UpstreamForbidden,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.models import Page, footprint, parse_page
from tests.helpers import Clock

PAGES = [parse_page({"items": build_catalog(3, seed=s), "bookmark": f"b{s}"}) for s in range(4)]
FRESH, STALE = 60.0, 300.0


class Upstream:
    """A fetch function that counts calls, can be held at a gate, and can fail."""

    def __init__(self, pages: list[Page] = PAGES) -> None:
        self.calls = 0
        self.pages = iter(pages * 100)
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> Page:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return next(self.pages)


async def _joined(cache: PageCache, count: int) -> None:
    """Wait until ``count`` requests wait for a fetch under way (bounded; real I/O in Redis)."""
    for _ in range(500):
        if cache.stats["joins"] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"only {cache.stats['joins']} of {count} requests joined")


def _cache(store: Store, clock: Clock, rng: float = 0.0) -> PageCache:
    return PageCache(
        store, secret=b"k" * 32, fresh_ttl=FRESH, stale_ttl=STALE, clock=clock, rng=lambda: rng
    )


def test_keys_carry_a_keyed_hash_of_the_token_never_the_token() -> None:
    cache = _cache(MemoryStore(10), Clock())
    key = cache.key("token-abcdef", "listing", 250)
    assert "token" not in key
    assert "abcdef" not in key
    assert key != cache.key("token-abcdeg", "listing", 250)
    other = PageCache(MemoryStore(10), secret=b"j" * 32, fresh_ttl=1, stale_ttl=1)
    assert key != other.key("token-abcdef", "listing", 250)


async def test_hit_after_miss(store: Store) -> None:
    clock, upstream = Clock(), Upstream()
    cache = _cache(store, clock)
    first = await cache.get("k", upstream, metrics=False)
    clock.advance(FRESH * 0.5)
    second = await cache.get("k", upstream, metrics=False)
    assert upstream.calls == 1
    assert second.value == first.value == PAGES[0]
    assert (second.stale, second.age) == (False, FRESH * 0.5)


async def test_memory_hit_is_the_same_frozen_object() -> None:
    cache, upstream = _cache(MemoryStore(10), Clock()), Upstream()
    first = await cache.get("k", upstream, metrics=False)
    second = await cache.get("k", upstream, metrics=False)
    assert second.value is first.value  # no copy, no re-validation
    with pytest.raises(AttributeError, match="immutable"):
        first.value.items[0].pin.title = "changed"  # type: ignore[union-attr, misc]
    with pytest.raises(TypeError):
        first.value.items[0] = first.value.items[1]  # type: ignore[index]


async def test_concurrent_identical_misses_share_one_fetch(store: Store) -> None:
    cache, upstream = _cache(store, Clock()), Upstream()
    upstream.gate = asyncio.Event()
    waiters = [asyncio.create_task(cache.get("k", upstream, metrics=False)) for _ in range(50)]
    others = [asyncio.create_task(cache.get("k2", upstream, metrics=False)) for _ in range(5)]
    await _joined(cache, 49 + 4)
    upstream.gate.set()
    results = await asyncio.gather(*waiters)
    await asyncio.gather(*others)
    assert {id(r.value) for r in results} == {id(results[0].value)}
    assert upstream.calls == 2  # one for each key


async def test_two_tokens_make_two_requests() -> None:
    cache, upstream = _cache(MemoryStore(10), Clock()), Upstream()
    upstream.gate = asyncio.Event()
    keys = [cache.key(token, "listing") for token in ("alice", "bob")]
    waiters = [asyncio.create_task(cache.get(k, upstream, metrics=False)) for k in keys * 10]
    await _joined(cache, 18)
    upstream.gate.set()
    await asyncio.gather(*waiters)
    assert upstream.calls == 2


async def test_a_failure_reaches_every_waiter_and_is_not_cached(store: Store) -> None:
    cache, upstream = _cache(store, Clock()), Upstream()
    upstream.gate, upstream.error = asyncio.Event(), UpstreamUnavailable()
    waiters = [asyncio.create_task(cache.get("k", upstream, metrics=False)) for _ in range(5)]
    await _joined(cache, 4)
    upstream.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, UpstreamUnavailable) for r in results)
    assert upstream.calls == 1
    assert await store.get("k") is None
    upstream.error = None
    assert (await cache.get("k", upstream, metrics=False)).value == PAGES[0]


async def test_a_cancelled_caller_does_not_cancel_the_fetch_for_others() -> None:
    cache, upstream = _cache(MemoryStore(10), Clock()), Upstream()
    upstream.gate = asyncio.Event()
    first = asyncio.create_task(cache.get("k", upstream, metrics=False))
    second = asyncio.create_task(cache.get("k", upstream, metrics=False))
    await _joined(cache, 1)
    first.cancel()
    upstream.gate.set()
    assert (await second).value == PAGES[0]
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_memory_store_is_bounded_least_recently_used_out() -> None:
    store = MemoryStore(max_entries=3)
    cache, upstream = _cache(store, Clock()), Upstream()
    for key in ("a", "b", "c"):
        await cache.get(key, upstream, metrics=False)
    await cache.get("a", upstream, metrics=False)  # a is now the most recently used
    for key in ("d", "e"):
        await cache.get(key, upstream, metrics=False)
    assert len(store) == 3
    assert len(store) == 3
    assert [k for k in "abcde" if await store.get(k) is not None] == ["a", "d", "e"]


async def test_stale_page_served_at_once_with_one_background_refresh(store: Store) -> None:
    clock, upstream = Clock(), Upstream()
    cache = _cache(store, clock)
    await cache.get("k", upstream, metrics=False)
    clock.advance(FRESH + 10)
    upstream.gate = asyncio.Event()  # the refresh hangs: stale answers must not wait for it
    lookups = await asyncio.gather(*(cache.get("k", upstream, metrics=False) for _ in range(20)))
    assert all(lookup.stale and lookup.value == PAGES[0] for lookup in lookups)
    assert {lookup.age for lookup in lookups} == {FRESH + 10}
    assert upstream.calls == 2  # the first fetch and one refresh
    upstream.gate.set()
    for _ in range(10):
        await asyncio.sleep(0)
    refreshed = await cache.get("k", upstream, metrics=False)
    assert (refreshed.value, refreshed.stale, refreshed.age) == (PAGES[1], False, 0.0)
    assert upstream.calls == 2


@pytest.mark.parametrize(
    "error", [UpstreamUnavailable(upstream_status=503), UpstreamRateLimited(), UpstreamTimeout()]
)
async def test_upstream_failure_keeps_serving_the_stale_page(
    store: Store, error: Exception
) -> None:
    clock, upstream = Clock(), Upstream()
    cache = _cache(store, clock)
    await cache.get("k", upstream, metrics=False)
    upstream.error = error
    for elapsed in (FRESH + 1, FRESH + STALE / 2, FRESH + STALE - 1):
        clock.now = 1_000_000.0 + elapsed
        lookup = await cache.get("k", upstream, metrics=False)
        for _ in range(5):
            await asyncio.sleep(0)
        assert (lookup.value, lookup.stale, lookup.age) == (PAGES[0], True, elapsed)
    clock.now = 1_000_000.0 + FRESH + STALE + 1  # past the stale window: the error shows
    with pytest.raises(type(error)):
        await cache.get("k", upstream, metrics=False)


@pytest.mark.parametrize("error", [UpstreamUnauthorized(), UpstreamForbidden()])
async def test_auth_failure_drops_the_page(store: Store, error: Exception) -> None:
    clock, upstream = Clock(), Upstream()
    cache = _cache(store, clock)
    await cache.get("k", upstream, metrics=False)
    clock.advance(FRESH + 1)
    upstream.error = error
    await cache.get("k", upstream, metrics=False)  # stale at once; the refresh gets the 401/403
    for _ in range(10):
        await asyncio.sleep(0)
    assert await store.get("k") is None
    with pytest.raises(type(error)):
        await cache.get("k", upstream, metrics=False)


@pytest.mark.parametrize(
    ("rng", "fresh_for"), [(0.0, FRESH), (0.5, FRESH * 0.95), (1.0, FRESH * 0.9)]
)
async def test_expiry_carries_jitter(rng: float, fresh_for: float) -> None:
    store = MemoryStore(10)
    clock = Clock()
    await _cache(store, clock, rng).get("k", Upstream(), metrics=False)
    entry = await store.get("k")
    assert entry is not None
    assert entry.fresh_until - entry.stored_at == pytest.approx(fresh_for)
    assert entry.stale_until - entry.fresh_until == pytest.approx(STALE)


async def test_a_page_with_metrics_serves_requests_without(store: Store) -> None:
    cache, upstream = _cache(store, Clock()), Upstream()
    await cache.get("k", upstream, metrics=True)
    assert (await cache.get("k", upstream, metrics=False)).value == PAGES[0]
    assert upstream.calls == 1


async def test_a_page_without_metrics_does_not_serve_requests_with(store: Store) -> None:
    cache, upstream = _cache(store, Clock()), Upstream()
    await cache.get("k", upstream, metrics=False)
    assert (await cache.get("k", upstream, metrics=True)).value == PAGES[1]
    assert upstream.calls == 2
    assert (await cache.get("k", upstream, metrics=False)).value == PAGES[1]
    assert upstream.calls == 2


async def test_a_request_without_metrics_joins_a_fetch_with_them() -> None:
    cache, upstream = _cache(MemoryStore(10), Clock()), Upstream()
    upstream.gate = asyncio.Event()
    with_metrics = asyncio.create_task(cache.get("k", upstream, metrics=True))
    await asyncio.sleep(0)
    without = asyncio.create_task(cache.get("k", upstream, metrics=False))
    await _joined(cache, 1)
    upstream.gate.set()
    assert (await with_metrics).value is (await without).value
    assert upstream.calls == 1


async def test_versions_are_pruned_with_either_store(store: Store) -> None:
    """The response cache's record of versions cannot grow without bound: a version goes when
    its entry's freshness ends (Redis included, which evicts nothing in the process) or when
    there are more than ``max_versions``."""
    clock, upstream = Clock(), Upstream()
    cache = PageCache(
        store,
        secret=b"k" * 32,
        fresh_ttl=FRESH,
        stale_ttl=STALE,
        clock=clock,
        rng=lambda: 0.0,
        max_versions=50,
    )
    for i in range(20):
        await cache.get(f"old{i}", upstream, metrics=False)
    assert len(cache.versions) == 20
    clock.advance(FRESH)  # their freshness is over: no kept response can use them
    await cache.get("new", upstream, metrics=False)
    assert list(cache.versions) == ["new"]
    for i in range(200):
        await cache.get(f"k{i}", upstream, metrics=False)
        assert len(cache.versions) <= 50
    assert list(cache.versions)[-1] == "k199"


def _entry(value: Page) -> Entry:
    return Entry(value, 1.0, 61.0, 361.0, False)


BIG = [
    parse_page({"items": build_catalog(3 * (n + 1), seed=n), "bookmark": None}) for n in range(4)
]


async def test_memory_store_is_bounded_by_bytes_least_recently_used_out() -> None:
    sizes = [footprint(page) for page in BIG]
    assert len(set(sizes)) == 4  # distinct sizes, so the total says which are held
    store = MemoryStore(100, max_bytes=sizes[0] + sizes[1] + sizes[2])
    evicted: list[str] = []
    store.on_evict = evicted.append
    for key, page in zip("abc", BIG, strict=False):
        await store.set(key, _entry(page), ttl=60)
    assert (len(store), store.nbytes) == (3, sizes[0] + sizes[1] + sizes[2])
    await store.get("a")  # a is now the most recently used
    await store.set("d", _entry(BIG[3]), ttl=60)  # b, then c, must go to make room
    assert sizes[0] + sizes[2] + sizes[3] > sizes[0] + sizes[1] + sizes[2] >= sizes[0] + sizes[3]
    assert evicted == ["b", "c"]
    assert [key for key in "abcd" if await store.get(key) is not None] == ["a", "d"]
    assert store.nbytes == sizes[0] + sizes[3]
    assert len(store) == 2


async def test_memory_store_replacing_an_entry_counts_its_new_size_once() -> None:
    store = MemoryStore(10, max_bytes=10 * footprint(BIG[3]))
    await store.set("k", _entry(BIG[0]), ttl=60)
    await store.set("k", _entry(BIG[3]), ttl=60)
    assert (len(store), store.nbytes) == (1, footprint(BIG[3]))
    await store.delete("k")
    assert (len(store), store.nbytes) == (0, 0)


async def test_memory_store_does_not_keep_a_value_larger_than_its_bound() -> None:
    store = MemoryStore(10, max_bytes=footprint(BIG[1]))
    evicted: list[str] = []
    store.on_evict = evicted.append
    await store.set("k", _entry(BIG[0]), ttl=60)
    await store.set("k", _entry(BIG[3]), ttl=60)  # too large: not kept, the older copy goes too
    assert await store.get("k") is None
    assert (len(store), store.nbytes, evicted) == (0, 0, ["k"])


async def test_a_page_the_store_cannot_keep_has_no_version() -> None:
    """The response cache validates against versions: none for a page the store did not keep."""
    cache = _cache(MemoryStore(10, max_bytes=footprint(PAGES[0]) - 1), Clock())
    lookup = await cache.get("k", Upstream(), metrics=False)
    assert lookup.value == PAGES[0]
    assert "k" not in cache.versions


async def test_an_expired_entry_stops_counting_when_looked_up() -> None:
    store = MemoryStore(10, max_bytes=10 * footprint(BIG[3]))
    await store.set("k", _entry(BIG[0]), ttl=0.01)
    await asyncio.sleep(0.05)  # aiocache expires it by itself
    assert await store.get("k") is None
    assert (len(store), store.nbytes) == (0, 0)

"""The page cache: caller identity in keys, single-flight for concurrent misses."""

from __future__ import annotations

import asyncio

import pytest

from graphql_api.cache import PageCache, create_backend


def _cache() -> PageCache:
    return PageCache(create_backend("memory://"), secret=b"k" * 32, ttl=60)


def test_keys_carry_a_keyed_hash_of_the_token_never_the_token() -> None:
    cache = _cache()
    key = cache.key("token-abcdef", "listing", 250)
    assert "token" not in key
    assert "abcdef" not in key
    assert key != cache.key("token-abcdeg", "listing", 250)
    other = PageCache(create_backend("memory://"), secret=b"j" * 32, ttl=60)
    assert key != other.key("token-abcdef", "listing", 250)


async def test_concurrent_identical_misses_share_one_fetch() -> None:
    cache = _cache()
    calls = 0
    gate = asyncio.Event()

    async def fetch() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "page"

    waiters = [asyncio.create_task(cache.get_or_fetch("k", fetch)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == ["page"] * 50
    assert calls == 1
    assert await cache.get_or_fetch("k", fetch) == "page"
    assert calls == 1


async def test_a_failure_reaches_every_waiter_and_is_not_cached() -> None:
    cache = _cache()
    gate = asyncio.Event()

    async def failing() -> str:
        await gate.wait()
        raise RuntimeError("upstream down")

    waiters = [asyncio.create_task(cache.get_or_fetch("k", failing)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def working() -> str:
        return "page"

    assert await cache.get_or_fetch("k", working) == "page"


async def test_a_cancelled_caller_does_not_cancel_the_fetch_for_others() -> None:
    cache = _cache()
    gate = asyncio.Event()

    async def fetch() -> str:
        await gate.wait()
        return "page"

    first = asyncio.create_task(cache.get_or_fetch("k", fetch))
    second = asyncio.create_task(cache.get_or_fetch("k", fetch))
    for _ in range(10):  # let both reach the shared fetch
        await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "page"
    with pytest.raises(asyncio.CancelledError):
        await first

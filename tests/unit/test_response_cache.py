"""The response cache's bounds: entries and bytes, least recently used out first, with byte
accounting that matches what its entries occupy."""

from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Any, cast

import pytest

from graphql_api.cache import Lookup
from graphql_api.response_cache import ResponseCache
from tests.helpers import Clock


def _source(name: str, version: float = 1.0) -> Lookup[Any]:
    """A fresh cache entry: the response cache reads its key, version and freshness only."""
    return Lookup(cast("Any", None), False, 0.0, f"page:{name}", version, fresh_until=2e6)


def _key(n: int) -> tuple[str, ...]:
    return ResponseCache.key("caller", "{ products }", None, {"n": n})


def _cache(*, max_entries: int = 1000, max_bytes: int | None = None) -> ResponseCache:
    versions = {f"page:{n}": 1.0 for n in range(1000)}
    return ResponseCache(max_entries, max_bytes=max_bytes, clock=Clock(), versions=versions)


def _size_of_one(body_size: int) -> int:
    probe = _cache()
    probe.put(_key(0), bytes(body_size), [_source("0")])
    return probe.nbytes


def test_an_entry_counts_its_body_and_its_key() -> None:
    cache = _cache()
    cache.put(_key(1), bytes(10_000), [_source("1")])
    small = cache.nbytes
    assert 10_000 < small < 11_000
    long_document = ResponseCache.key("caller", "{ products }" + " " * 5000, None, {"n": 1})
    cache.put(long_document, bytes(10_000), [_source("1")])
    assert cache.nbytes - small > 15_000  # the second entry counts its 5,000 more of key


def test_least_recently_used_out_first_by_bytes() -> None:
    one = _size_of_one(10_000)
    cache = _cache(max_bytes=3 * one + one // 2)
    for n in range(3):
        cache.put(_key(n), bytes(10_000), [_source(str(n))])
    assert len(cache) == 3
    assert cache.get(_key(0)) is not None  # 0 is now the most recently used
    cache.put(_key(3), bytes(10_000), [_source("3")])
    assert len(cache) == 3
    assert cache.nbytes <= 3 * one + one // 2
    assert cache.get(_key(1)) is None  # the least recently used went
    assert [cache.get(_key(n)) is not None for n in (0, 2, 3)] == [True, True, True]
    cache.put(_key(4), bytes(25_000), [_source("4")])  # two go to make room for it
    assert [cache.get(_key(n)) is not None for n in (0, 2, 3, 4)] == [False, False, True, True]
    assert cache.nbytes <= 3 * one + one // 2


def test_an_entry_larger_than_the_bound_is_not_kept() -> None:
    one = _size_of_one(10_000)
    cache = _cache(max_bytes=2 * one)
    cache.put(_key(0), bytes(10_000), [_source("0")])
    cache.put(_key(1), bytes(2 * one), [_source("1")])
    assert cache.get(_key(1)) is None
    assert cache.get(_key(0)) is not None  # and nothing went to make room for it
    assert cache.nbytes == one


def test_the_entry_bound_still_holds() -> None:
    cache = _cache(max_entries=2, max_bytes=10**9)
    for n in range(5):
        cache.put(_key(n), b"{}", [_source(str(n))])
    assert len(cache) == 2
    assert [cache.get(_key(n)) is not None for n in (2, 3, 4)] == [False, True, True]


def test_bytes_are_given_back_when_entries_go() -> None:
    clock = Clock()
    versions = {"page:0": 1.0, "page:1": 1.0, "page:2": 1.0}
    cache = ResponseCache(10, max_bytes=10**6, clock=clock, versions=versions)
    cache.put(_key(0), bytes(1000), [_source("0")])
    cache.put(_key(0), bytes(3000), [_source("0")])  # replaced: counted once
    assert cache.nbytes == _size_of_one(3000)
    cache.put(_key(1), bytes(1000), [_source("1")])
    cache.put(
        _key(2), bytes(1000), [Lookup(cast("Any", None), False, 0.0, "page:2", 1.0, clock() + 5)]
    )
    versions["page:1"] = 2.0  # its page was refreshed
    assert cache.get(_key(1)) is None
    clock.advance(10)  # the page of key 2 is no longer fresh
    assert cache.get(_key(2)) is None
    assert len(cache) == 1
    assert cache.nbytes == _size_of_one(3000)


@pytest.mark.parametrize("sources", [1, 3])
def test_the_count_is_what_the_entries_occupy(sources: int) -> None:
    """Measured with tracemalloc: the count is never below what the entries hold, and at most
    10% above it (small bodies, where the fixed overhead weighs most)."""
    cache = ResponseCache(10**6, max_bytes=10**9, clock=Clock(), versions={})
    count = 5000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            variables = {"first": n, "after": str(n)}
            operation = "Q" if n % 2 else None
            key = ResponseCache.key(f"caller-{n:026d}", f"query Q{n} {{ x }}", operation, variables)
            pages = [_source(f"{n:032d}:{s}:product_group_products", n) for s in range(sources)]
            cache.put(key, os.urandom(100 + n % 400), pages)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == count
    assert held <= cache.nbytes <= held * 1.1

"""The catalog graph's values in the page cache: every kind has a Redis form that reads back
equal (whatever structs the models hold), a footprint near its deep size, and a batch lookup
(``get_many``) whose misses are fetched together and cached one by one."""

from __future__ import annotations

import asyncio
import enum
import typing
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
import orjson
import pytest

from graphql_api import cache as cache_module
from graphql_api import cache_forms
from graphql_api.cache import Entry, Lookup, MemoryStore, PageCache, Store
from graphql_api.errors import UpstreamNotFound, UpstreamUnauthorized, UpstreamUnavailable
from graphql_api.upstream import models as m
from graphql_api.upstream.demo_catalog import (
    build_catalog,
    catalog_items,
    filter_values,
    product_counts,
)
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock

FRESH, STALE = 60.0, 300.0
FAKE = FakePinterest()
GRAPH, ITEMS = FAKE.graph, FAKE.items


def _page(items: list[Any], parse: Any, bookmark: str | None = "b") -> Any:
    return parse(orjson.dumps({"items": items, "bookmark": bookmark}))


def _values() -> dict[str, Any]:
    """One value of each kind the cache holds, as the upstream's answers parse (the demo's)."""
    groups = GRAPH.product_groups
    with_broken = _page([GRAPH.catalogs[0], {"no": "id"}, GRAPH.catalogs[1]], m.parse_catalogs_json)
    return {
        "page": m.parse_page({"items": build_catalog(3), "bookmark": "b"}),
        "pin": m.parse_pin(build_catalog(1)[0]["pin"]),
        "catalogs": _page(GRAPH.catalogs, m.parse_catalogs_json),
        "catalogs with broken items": with_broken,
        "only broken items": _page([{"no": "id"}], m.parse_feeds_json, None),
        "empty listing": _page([], m.parse_product_groups_json, None),
        "feeds": _page(GRAPH.feeds, m.parse_feeds_json),
        "product groups": _page(groups, m.parse_product_groups_json),
        "feed": m.parse_feed_json(orjson.dumps(GRAPH.feeds[0])),
        "feed read with an ad account": msgspec.structs.replace(
            m.parse_feed_json(orjson.dumps(GRAPH.feeds[1])), ad_account_id="42"
        ),
        "product group": m.parse_product_group_json(orjson.dumps(groups[3])),
        "product counts": m.parse_product_counts_json(
            orjson.dumps(product_counts("RETAIL", build_catalog(5)))
        ),
        "filter values": m.parse_filter_values_json(
            orjson.dumps(filter_values("RETAIL", catalog_items(GRAPH, GRAPH.catalogs[0], ITEMS)))
        ),
    }


VALUES = _values()


def test_every_kind_of_value_is_among_these() -> None:
    kinds = {type(v) for v in VALUES.values()}
    assert kinds == set(typing.get_args(cache_forms.Cached)) - {m.Listing[Any]} | {m.Listing}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_the_redis_form_reads_back_equal(name: str) -> None:
    value = VALUES[name]
    entry = Entry(value, 1.0, 2.0, 3.0, False)
    data = cache_module._encode(entry)
    header = orjson.loads(data.partition(b"\n")[0])
    assert header["k"] in cache_forms.FORMS
    again = cache_module._decode(data)
    assert again == entry
    assert type(again.value) is type(value)
    if isinstance(value, m.Listing):
        read: Any = again.value
        assert [type(i) for i in read.items] == [type(i) for i in value.items]


def test_product_pages_and_pins_keep_their_header_names() -> None:
    """Entries written by replicas of the previous version still read."""
    for name, kind in (("page", "page"), ("pin", "pin")):
        data = cache_module._encode(Entry(VALUES[name], 1.0, 2.0, 3.0, True))
        assert orjson.loads(data.partition(b"\n")[0])["k"] == kind


def test_an_entry_of_an_unknown_kind_is_not_read() -> None:
    data = cache_module._encode(Entry(VALUES["feed"], 1.0, 2.0, 3.0, False))
    with pytest.raises(KeyError):  # RedisStore.get logs it and ignores the entry
        cache_module._decode(data.replace(b'"k":"feed"', b'"k":"nope"', 1))


# Enum members are shared by every value that holds them: not part of any value's size.
SHARED = [member for cls in vars(m).values() if isinstance(cls, type)
          and issubclass(cls, enum.Enum) for member in cls]  # fmt: skip
# What a deep size does not see of a cached value anyway (its Entry, its key, the store's slots):
# the estimate of a small value may be above it by that much.
SMALL = 1024


@pytest.mark.parametrize("name", sorted(set(VALUES) - {"page", "pin"}))
def test_a_footprint_is_near_the_deep_size(name: str) -> None:
    from pympler import asizeof

    value = VALUES[name]
    deep = asizeof.asizesof(*SHARED, value)[-1]  # type: ignore[no-untyped-call]
    assert 0.7 * deep <= m.footprint(value) <= 1.6 * deep + SMALL


async def test_the_memory_store_bounds_graph_values_by_bytes() -> None:
    groups = VALUES["product groups"]
    size = m.footprint(groups)
    store = MemoryStore(100, max_bytes=int(size * 2.5))
    for key in "abc":
        await store.set(key, Entry(groups, 0.0, 1e12, 1e12, False), 60)
    assert list(store) == ["b", "c"]
    assert store.nbytes == 2 * size


# --- get_many -----------------------------------------------------------------------------------


class Batch:
    """A batch fetch: records the keys asked, answers each from ``values`` (or its error)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)
        self.asked: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self, keys: list[str]) -> dict[str, Any]:
        self.asked.append(keys)
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return {key: self.values[key] for key in keys}


async def _until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition`` holds (bounded; real I/O with Redis)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in 5 s")


def _cache(store: Store, clock: Clock) -> PageCache:
    return PageCache(
        store, secret=b"k" * 32, fresh_ttl=FRESH, stale_ttl=STALE, clock=clock, rng=lambda: 0.0
    )


GROUPS = {str(n): m.ProductGroup(str(n), m.CatalogType.RETAIL, name=f"group {n}") for n in range(6)}


async def test_get_many_fetches_the_misses_together_then_serves_them(store: Store) -> None:
    cache, batch = _cache(store, Clock()), Batch(GROUPS)
    first = await cache.get_many(["1", "2", "1", "3"], batch)
    assert batch.asked == [["1", "2", "3"]]
    assert list(first) == ["1", "2", "3"]
    assert all(isinstance(v, Lookup) and v.outcome == "miss" for v in first.values())
    again = await cache.get_many(["3", "4", "1"], batch)
    assert batch.asked[1:] == [["4"]]
    assert {k: v.outcome for k, v in again.items() if isinstance(v, Lookup)} == {
        "3": "hit",
        "4": "miss",
        "1": "hit",
    }
    single = await cache.get("2", batch_of_one(batch), metrics=False)
    assert single.outcome == "hit"
    assert single.value == GROUPS["2"]


def batch_of_one(batch: Batch) -> Any:
    async def fetch() -> Any:
        raise AssertionError("not fetched: the batch's entry serves it")

    return fetch


async def test_get_many_answers_errors_per_key_and_caches_none(store: Store) -> None:
    missing = UpstreamNotFound("none")
    cache, batch = _cache(store, Clock()), Batch({**GROUPS, "9": missing})
    answers = await cache.get_many(["1", "9"], batch)
    assert isinstance(answers["1"], Lookup)
    assert answers["9"] is missing
    await cache.get_many(["1", "9"], batch)
    assert batch.asked == [["1", "9"], ["9"]]


async def test_get_many_a_failed_batch_reaches_every_key_and_an_auth_failure_drops(
    store: Store,
) -> None:
    clock = Clock()
    cache, batch = _cache(store, clock), Batch(GROUPS)
    await cache.get_many(["1"], batch)
    batch.error = UpstreamUnavailable()
    answers = await cache.get_many(["2", "3"], batch)
    assert all(isinstance(a, UpstreamUnavailable) for a in answers.values())
    clock.advance(FRESH + 1)  # "1" is stale: served, refreshed in the background, which fails
    batch.error = UpstreamUnauthorized()
    stale = await cache.get_many(["1"], batch)
    assert isinstance(stale["1"], Lookup)
    assert stale["1"].stale
    await asyncio.wait_for(cache.settle(), 5)
    assert await store.get("1") is None  # never answered from the cache after a 401


async def test_get_many_joins_fetches_under_way_and_they_join_it(store: Store) -> None:
    cache, batch = _cache(store, Clock()), Batch(GROUPS)
    batch.gate = asyncio.Event()
    many = asyncio.create_task(cache.get_many(["1", "2"], batch))
    await _until(lambda: len(batch.asked) == 1)
    single = asyncio.create_task(cache.get("2", batch_of_one(batch), metrics=False))
    other = asyncio.create_task(cache.get_many(["1", "2", "3"], batch))
    await _until(lambda: len(batch.asked) == 2)
    batch.gate.set()
    first, joined, more = await asyncio.gather(many, single, other)
    assert batch.asked == [["1", "2"], ["3"]]
    assert joined.outcome == "join"
    assert isinstance(first["2"], Lookup)
    assert joined.value is first["2"].value
    assert {k: v.outcome for k, v in more.items() if isinstance(v, Lookup)} == {
        "1": "join",
        "2": "join",
        "3": "miss",
    }

"""The catalog graph's cached values on a real redis-server: what one replica fetched, another
reads from Redis equal to the original (no upstream request); with Redis killed, the process'
memory still serves them, and what is fetched meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest

from graphql_api.cache import Lookup, PageCache, RedisStore
from graphql_api.service import CatalogService, Listing
from graphql_api.upstream import models as m
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, RedisProcess, redis_link, resilience, settings

SECRET = b"shared-secret-for-replicas-of-it"
TOKEN = "tok"
ACCOUNT = "42"


class Replica:
    """One process: its upstream (a fake of its own, to count), Redis link, two-tier store,
    page cache and service."""

    def __init__(self, service: CatalogService, store: RedisStore, upstream: FakePinterest):
        self.service = service
        self.store = store
        self.upstream = upstream

    def sent(self) -> int:
        """Upstream requests since the last call."""
        count = sum(self.upstream.calls.values())
        self.upstream.calls.clear()
        return count


@asynccontextmanager
async def _replica(url: str, clock: Clock, *, max_bytes: int = 2**30) -> AsyncIterator[Replica]:
    upstream = FakePinterest()
    async with AsyncExitStack() as stack:
        http = build_http_client(settings(), httpx.MockTransport(upstream.handler))
        await stack.enter_async_context(http)
        link = redis_link(url, probe_interval=0.1)
        stack.push_async_callback(link.close)
        store = RedisStore(link, max_entries=1000, max_bytes=max_bytes)
        cache = PageCache(store, secret=SECRET, fresh_ttl=60, stale_ttl=300, clock=clock)
        stack.push_async_callback(cache.close)
        await asyncio.wait_for(store.subscribed(), 5)
        client = PinterestClient(http, resilience(clock))
        yield Replica(CatalogService(client, cache, page_size=4), store, upstream)


async def _read(service: CatalogService, account: str | None) -> list[Lookup[Any]]:
    """A lookup of every kind of catalog-graph value."""
    graph = FakePinterest().graph  # the same demo graph every replica's upstream serves
    catalog, feed = graph.catalogs[0]["id"], graph.feeds[0]["id"]
    groups = [g["id"] for g in graph.product_groups]
    pages = [
        Listing("catalogs", ad_account_id=account),
        Listing("feeds", catalog_id=catalog, ad_account_id=account),
        Listing("product_groups", catalog_id=catalog, ad_account_id=account),
    ]
    lookups: list[Lookup[Any]] = [await service.entity_page(TOKEN, p, None) for p in pages]
    lookups.append(await service.feed(TOKEN, feed, ad_account_id=account))
    lookups.append(await service.product_group(TOKEN, "1", ad_account_id=account))
    for result in await service.product_groups_by_id(TOKEN, groups[1:9], ad_account_id=account):
        assert isinstance(result, Lookup), result
        lookups.append(result)
    lookups.append(await service.catalog(TOKEN, catalog, ad_account_id=account))
    lookups.append(await service.product_counts(TOKEN, "1", ad_account_id=account))
    lookups.append(
        await service.available_filter_values(TOKEN, catalog_id=catalog, ad_account_id=account)
    )
    return lookups


KINDS = {m.Listing, m.Feed, m.ProductGroup, m.Catalog, m.ProductCounts, m.AvailableFilterValues}


@pytest.mark.parametrize("account", [None, ACCOUNT])
async def test_every_kind_stored_by_one_replica_is_read_by_another(
    redis_url: str, account: str | None
) -> None:
    clock = Clock()
    async with _replica(redis_url, clock) as a, _replica(redis_url, clock) as b:
        original = await _read(a.service, account)
        assert a.sent() > 0
        assert {type(lookup.value) for lookup in original} == KINDS
        found = b.store.counts.redis_found
        shared = await _read(b.service, account)
        assert b.sent() == 0  # every value from Redis
        assert b.store.counts.redis_found - found >= len(original) - 2  # catalog: a page's
        assert [lookup.value for lookup in shared] == [lookup.value for lookup in original]
        assert [lookup.version for lookup in shared] == [lookup.version for lookup in original]
        carried = [lookup.value for lookup in shared[3:]]  # feed, groups, catalog
        carried += [i for lookup in shared[:3] for i in lookup.value.items]
        with_account = [v for v in carried if hasattr(v, "ad_account_id")]
        assert {v.ad_account_id for v in with_account} == {account}


@pytest.mark.parametrize("max_bytes", [0, 2**30], ids=["redis only", "two tiers"])
async def test_with_redis_killed_memory_still_serves(
    own_redis: RedisProcess, max_bytes: int
) -> None:
    clock = Clock()
    async with _replica(own_redis.url, clock, max_bytes=max_bytes) as replica:
        before = await _read(replica.service, ACCOUNT)
        fetched = replica.sent()
        own_redis.kill()
        during = await _read(replica.service, ACCOUNT)
        # Copies in the process serve at once; without them (no second tier) the values are
        # fetched once, as with no cache at all, and kept in the process' memory.
        assert replica.sent() == (fetched if max_bytes == 0 else 0)
        assert [lookup.value for lookup in during] == [lookup.value for lookup in before]
        again = await _read(replica.service, ACCOUNT)
        assert replica.sent() == 0
        assert [lookup.value for lookup in again] == [lookup.value for lookup in before]
        other = await replica.service.product_group(
            TOKEN, FakePinterest().graph.product_groups[12]["id"]
        )
        assert replica.sent() == 1
        assert (await replica.service.product_group(TOKEN, other.value.id)).value == other.value
        assert replica.sent() == 0

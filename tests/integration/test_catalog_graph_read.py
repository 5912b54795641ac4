"""The demo's catalog graph read back through the real client and models: everything the fake
upstream serves for the seven catalog-graph endpoints parses, item by item, into the typed
models (no broken item, every id and vertical kept), walking every listing by its bookmarks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from graphql_api.upstream import models as m
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import resilience, settings

TOKEN = "fake-token"
E = TypeVar("E", m.Catalog, m.Feed, m.ProductGroup)


async def _walk(page: Callable[[str | None], Awaitable[m.Listing[E]]]) -> list[E]:
    """Every item of a listing, page after page (at most 100 pages)."""
    items: list[E] = []
    bookmark: str | None = None
    for _ in range(100):
        listing = await page(bookmark)
        for item in listing.items:
            assert not isinstance(item, m.BrokenItem), item
            items.append(item)
        bookmark = listing.bookmark
        if bookmark is None:
            return items
    raise AssertionError("the listing did not end within 100 pages")


def _ids(objects: list[dict[str, Any]]) -> list[str]:
    return [str(o["id"]) for o in objects]


async def test_the_whole_demo_graph_reads_into_the_models() -> None:
    fake = FakePinterest()
    graph = fake.graph
    http = build_http_client(settings(), transport=httpx.MockTransport(fake.handler))
    async with http:
        client = PinterestClient(http, resilience())
        catalogs = await _walk(lambda b: client.list_catalogs(TOKEN, bookmark=b, page_size=2))
        assert [c.id for c in catalogs] == _ids(graph.catalogs)
        assert {c.catalog_type for c in catalogs} == {
            m.CatalogType.RETAIL,
            m.CatalogType.HOTEL,
            m.CatalogType.CREATIVE_ASSETS,
        }
        feeds: list[m.Feed] = []
        groups: list[m.ProductGroup] = []
        for catalog in catalogs:

            def feed_page(
                bookmark: str | None, c: str = catalog.id
            ) -> Awaitable[m.Listing[m.Feed]]:
                return client.list_feeds(TOKEN, c, bookmark=bookmark, page_size=1)

            def group_page(
                bookmark: str | None, c: str = catalog.id
            ) -> Awaitable[m.Listing[m.ProductGroup]]:
                return client.list_product_groups(
                    TOKEN, catalog_id=c, bookmark=bookmark, page_size=2
                )

            feeds += await _walk(feed_page)
            groups += await _walk(group_page)
            values = await client.get_available_filter_values(TOKEN, catalog_id=catalog.id)
            assert values.catalog_type is catalog.catalog_type
        assert sorted(f.id for f in feeds) == sorted(_ids(graph.feeds))
        assert sorted(g.id for g in groups) == sorted(_ids(graph.product_groups))
        for feed in feeds:
            assert await client.get_feed(TOKEN, feed.id) == feed
        for group in groups:
            assert await client.get_product_group(TOKEN, group.id) == group
            counts = await client.get_product_counts(TOKEN, group.id)
            assert counts.catalog_type is group.catalog_type
            raw = next(g for g in graph.product_groups if str(g["id"]) == group.id)
            assert counts.total == len(fake.group_products(raw)), group.id
    assert fake.calls["product_counts"] == len(groups)

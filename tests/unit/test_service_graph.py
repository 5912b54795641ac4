"""The service's catalog graph: listings walked as product listings are (one walk), product
groups by id in as few requests as the API allows (sharing per-id entries with the single
lookup), catalogs picked from the cached listing, the ad account carried, callers apart.
The upstream is faked at HTTP level: the demo's FakePinterest, or scripted pages."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from graphql_api.cache import Lookup, MemoryStore, PageCache
from graphql_api.errors import APIError, UpstreamConflict, UpstreamError, UpstreamNotFound
from graphql_api.pagination import START, Position
from graphql_api.service import CatalogService, Listing, ProductSlice, Slice
from graphql_api.upstream import models as m
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, resilience, settings

Handler = Callable[[httpx.Request], httpx.Response]
TOKEN = "tok"


@asynccontextmanager
async def _service(handler: Handler, *, page_size: int = 4) -> AsyncIterator[CatalogService]:
    async with build_http_client(settings(), httpx.MockTransport(handler)) as http:
        client = PinterestClient(http, resilience())
        cache = PageCache(
            MemoryStore(10_000), secret=b"s" * 32, fresh_ttl=60, stale_ttl=300, clock=Clock()
        )
        yield CatalogService(client, cache, page_size=page_size)
        await cache.close()


class Scripted:
    """A listing served page by page: ``pages[bookmark]`` is a page (``{items, bookmark}``) or
    an error status; every request is recorded."""

    def __init__(self, pages: dict[str | None, dict[str, Any] | int]) -> None:
        self.pages = pages
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.pages[request.url.params.get("bookmark")]
        if isinstance(answer, int):
            return httpx.Response(answer, json={"code": 1, "message": "no"})
        return httpx.Response(200, json=answer)

    @property
    def bookmarks(self) -> list[str | None]:
        return [r.url.params.get("bookmark") for r in self.requests]


def _catalogs(*ids: str, bookmark: str | None = None) -> dict[str, Any]:
    items = [{"id": i, "name": f"catalog {i}", "catalog_type": "RETAIL"} for i in ids]
    return {"items": items, "bookmark": bookmark}


def _ids(items: list[tuple[Any, Position]]) -> list[str | None]:
    return [getattr(item, "id", None) for item, _ in items]


@pytest.fixture
def fake() -> FakePinterest:
    return FakePinterest()


@pytest.fixture
async def service(fake: FakePinterest) -> AsyncIterator[CatalogService]:
    async with _service(fake.handler) as s:
        yield s


def _calls(fake: FakePinterest) -> dict[str, int]:
    """The requests received by operation since the last call, and forget them."""
    calls = {k: v for k, v in fake.calls.items() if v}
    fake.calls.clear()
    return calls


# --- Listing ------------------------------------------------------------------------------------


def test_product_listing_keys_are_the_ones_they_were() -> None:
    """Fingerprints computed on main before the catalog graph's listings: existing cursors and
    cache entries stay valid."""
    body = {"feed_id": "7", "filters": {"any_of": [{"MIN_PRICE": {"values": 1}}]}}
    assert Listing("product_group_products", product_group_id="1").key == "VTERhTVx1BIF"
    key = Listing("product_group_products", product_group_id="1", ad_account_id="42").key
    assert key == "fyDCd4UdqlN1"
    assert Listing("products_by_filter", body=body).key == "3RI68Db1gFWP"
    body = {"feed_id": "7", "filters": {"all_of": []}}
    assert Listing("products_by_filter", body=body, ad_account_id="42").key == "Icmilo6cnAcZ"


def test_catalog_graph_listings_each_have_their_own_key() -> None:
    listings = [
        Listing("catalogs"),
        Listing("catalogs", ad_account_id="1"),
        Listing("feeds"),
        Listing("feeds", catalog_id="1"),
        Listing("feeds", catalog_id="2"),
        Listing("product_groups", catalog_id="1"),
        Listing("product_groups", feed_id="1"),
        Listing("product_groups", feed_id="1", ad_account_id="1"),
        Listing("product_group_products", product_group_id="1"),
    ]
    assert len({listing.key for listing in listings}) == len(listings)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Listing("catalogs", catalog_id="1"),
        lambda: Listing("feeds", feed_id="1"),
        lambda: Listing("product_group_products", product_group_id="1", catalog_id="1"),
        lambda: Listing("feed"),  # not a listing
    ],
)
def test_a_listing_refuses_what_does_not_select_its_items(make: Callable[[], Listing]) -> None:
    with pytest.raises(ValueError, match="not"):
        make()


async def test_entities_refuses_a_product_listing(service: CatalogService) -> None:
    with pytest.raises(ValueError, match="not a catalog-graph listing"):
        await service.entities(
            TOKEN, Listing("product_group_products", product_group_id="1"), first=1, after=None
        )


def test_product_slice_is_the_generic_slice_of_products() -> None:
    made = ProductSlice([], has_next_page=False, has_previous_page=False)
    assert type(made) is Slice
    assert made == Slice([], False, False, None, ())


# --- The walk ---------------------------------------------------------------------------------


async def test_entities_walk_pages_by_bookmarks_each_page_fetched_once() -> None:
    upstream = Scripted(
        {
            None: _catalogs("1", "2", "3", bookmark="b2"),
            "b2": _catalogs("4", "5", "6", bookmark="b3"),
            "b3": _catalogs("7", "8"),
        }
    )
    listing = Listing("catalogs")
    async with _service(upstream, page_size=3) as service:
        first = await service.entities(TOKEN, listing, first=4, after=None)
        assert _ids(first.items) == ["1", "2", "3", "4"]
        assert (first.has_next_page, first.has_previous_page, first.error) == (True, False, None)
        assert first.items[2][1] == Position("b2", 0)  # the end of a page: the next one's start
        assert [s.value.bookmark for s in first.sources] == ["b2", "b3"]
        walked, after = [], first.items[-1][1]
        while True:
            part = await service.entities(TOKEN, listing, first=2, after=after)
            assert part.has_previous_page
            walked += _ids(part.items)
            if not part.has_next_page:
                break
            after = part.items[-1][1]
        assert walked == ["5", "6", "7", "8"]
    assert upstream.bookmarks == [None, "b2", "b3"]  # each page once, then from the cache
    assert {r.url.params["page_size"] for r in upstream.requests} == {"3"}


async def test_broken_items_are_kept_in_their_place() -> None:
    page = _catalogs("1", "2", "3")
    page["items"][1] = {"name": ["no id"]}
    upstream = Scripted({None: page})
    async with _service(upstream) as service:
        result = await service.entities(TOKEN, Listing("catalogs"), first=10, after=None)
    assert _ids(result.items) == ["1", None, "3"]
    assert isinstance(result.items[1][0], m.BrokenItem)
    assert [p for _, p in result.items] == [Position(None, 1), Position(None, 2), Position(None, 3)]
    assert not result.has_next_page


async def test_an_error_mid_walk_keeps_the_items_before_it() -> None:
    upstream = Scripted({None: _catalogs("1", "2", bookmark="b2"), "b2": 409})
    async with _service(upstream, page_size=2) as service:
        result = await service.entities(TOKEN, Listing("catalogs"), first=5, after=None)
        assert _ids(result.items) == ["1", "2"]
        assert result.has_next_page  # resumable after the last item
        assert isinstance(result.error, UpstreamConflict)
        with pytest.raises(UpstreamConflict):  # nothing before it: the error itself
            await service.entities(TOKEN, Listing("catalogs"), first=5, after=Position("b2", 0))


async def test_a_pagination_that_does_not_advance_ends_the_walk_with_an_error() -> None:
    upstream = Scripted({None: _catalogs("1", bookmark="b"), "b": _catalogs("2", bookmark="b")})
    async with _service(upstream, page_size=1) as service:
        result = await service.entities(TOKEN, Listing("catalogs"), first=5, after=None)
    assert _ids(result.items) == ["1", "2"]
    assert not result.has_next_page
    assert type(result.error) is UpstreamError


async def test_feeds_and_product_groups_listings_walk_the_demo_graph(
    fake: FakePinterest, service: CatalogService
) -> None:
    graph = fake.graph
    catalog = graph.catalogs[0]["id"]
    feeds = await service.entities(
        TOKEN, Listing("feeds", catalog_id=catalog), first=250, after=None
    )
    expected = [f["id"] for f in graph.feeds if graph.feed_catalog[f["id"]] == catalog]
    assert _ids(feeds.items) == expected
    listing = Listing("product_groups", catalog_id=catalog)
    groups = await service.entities(TOKEN, listing, first=250, after=None)
    in_catalog = [g["id"] for g in graph.product_groups if g["catalog_id"] == catalog]
    assert _ids(groups.items) == in_catalog
    assert all(type(g) is m.ProductGroup for g, _ in groups.items)
    assert _calls(fake) == {"feeds": 1, "product_groups": math.ceil(len(in_catalog) / 4)}
    by_feed = await service.entities(
        TOKEN, Listing("product_groups", feed_id=expected[0]), first=250, after=None
    )
    assert _ids(by_feed.items)
    assert {r.url.params.get("feed_id") for r in fake.requests[-len(by_feed.sources) :]} == {
        expected[0]
    }


async def test_products_still_walk_as_they_did(
    fake: FakePinterest, service: CatalogService
) -> None:
    listing = Listing("product_group_products", product_group_id="1")
    first = await service.products(TOKEN, listing, first=6, after=None, pin_metrics=False)
    second = await service.products(
        TOKEN, listing, first=6, after=first.items[-1][1], pin_metrics=False
    )
    whole = await service.products(TOKEN, listing, first=12, after=START, pin_metrics=False)
    assert [p for p, _ in first.items + second.items] == [p for p, _ in whole.items]
    assert _calls(fake) == {"product_group_products": 3}  # pages of 4: 12 products


# --- Product groups by id ---------------------------------------------------------------------


def _group_ids(fake: FakePinterest) -> list[str]:
    return [g["id"] for g in fake.graph.product_groups]


def _asked_ids(fake: FakePinterest) -> list[list[str]]:
    return [
        r.url.params["id"].split(",")
        for r in fake.requests
        if r.url.path.endswith("/catalogs/product_groups") and "id" in r.url.params
    ]


async def test_misses_are_read_in_chunks_of_the_page_size(
    fake: FakePinterest, service: CatalogService
) -> None:
    ids = _group_ids(fake)  # 15: four chunks of 4
    results = await service.product_groups_by_id(TOKEN, ids)
    assert [r.value.id for r in results if isinstance(r, Lookup)] == ids
    assert _calls(fake) == {"product_groups": math.ceil(len(ids) / service.page_size)}
    assert all(len(chunk) <= service.page_size for chunk in _asked_ids(fake))
    assert sorted(i for chunk in _asked_ids(fake) for i in chunk) == sorted(ids)
    # Each group is cached under the single lookup's key: both share it.
    for i in ids:
        lookup = await service.product_group(TOKEN, i)
        assert lookup.outcome == "hit"
        assert lookup.value == next(
            r.value for r in results if isinstance(r, Lookup) and r.value.id == i
        )
    assert _calls(fake) == {}


async def test_hits_cost_nothing_and_only_misses_are_asked(
    fake: FakePinterest, service: CatalogService
) -> None:
    ids = _group_ids(fake)
    single = await service.product_group(TOKEN, ids[3])
    assert _calls(fake) == {"product_group": 1}
    again = await service.product_groups_by_id(TOKEN, [ids[3]])
    assert _calls(fake) == {}
    assert isinstance(again[0], Lookup)
    assert again[0].value is single.value
    mixed = await service.product_groups_by_id(TOKEN, [ids[3], ids[4], ids[3], ids[5]])
    assert [r.value.id for r in mixed if isinstance(r, Lookup)] == [ids[3], ids[4], ids[3], ids[5]]
    assert _calls(fake) == {"product_groups": 1}
    assert _asked_ids(fake)[-1] == [ids[4], ids[5]]


async def test_an_id_the_upstream_does_not_return_is_not_found_and_not_cached(
    fake: FakePinterest, service: CatalogService
) -> None:
    results = await service.product_groups_by_id(TOKEN, ["1", "404404", "1"])
    assert isinstance(results[0], Lookup)
    assert results[0].value.id == "1"
    assert isinstance(results[1], UpstreamNotFound)
    assert results[1].extensions["code"] == "NOT_FOUND"
    assert isinstance(results[2], Lookup)
    assert results[2].value is results[0].value
    assert _calls(fake) == {"product_groups": 1}
    again = await service.product_groups_by_id(TOKEN, ["404404"])
    assert isinstance(again[0], UpstreamNotFound)
    assert _calls(fake) == {"product_groups": 1}


async def test_an_id_that_is_not_a_number_is_read_alone_and_fails_alone(
    fake: FakePinterest, service: CatalogService
) -> None:
    results = await service.product_groups_by_id(TOKEN, ["1", "not-a-number"])
    assert isinstance(results[0], Lookup)
    assert isinstance(results[1], APIError)
    assert results[1].extensions["code"] == "BAD_USER_INPUT"  # the upstream's 400, for it alone
    assert _calls(fake) == {"product_groups": 1, "product_group": 1}


async def test_a_chunks_error_reaches_its_ids_and_is_not_cached() -> None:
    upstream = Scripted({None: 409})
    async with _service(upstream) as service:
        results = await service.product_groups_by_id(TOKEN, ["1", "2"])
        assert all(isinstance(r, UpstreamConflict) for r in results)
        await service.product_groups_by_id(TOKEN, ["1", "2"])
    assert len(upstream.requests) == 2


async def test_bookmarks_of_a_chunk_are_followed_until_every_id_is_found() -> None:
    def group(i: str) -> dict[str, Any]:
        return {"id": i, "name": f"group {i}"}

    upstream = Scripted(
        {
            None: {"items": [group("1")], "bookmark": "b2"},
            "b2": {"items": [group("3"), {"bad": True}], "bookmark": "b3"},
            "b3": {"items": [], "bookmark": None},
        }
    )
    async with _service(upstream) as service:
        results = await service.product_groups_by_id(TOKEN, ["1", "2", "3"])
    assert upstream.bookmarks == [None, "b2", "b3"]
    assert [r.value.id if isinstance(r, Lookup) else type(r) for r in results] == [
        "1",
        UpstreamError,  # not returned, but an item could not be read: perhaps it
        "3",
    ]


async def test_a_chunk_whose_pages_bring_nothing_asked_for_ends_with_an_error() -> None:
    def group(i: str) -> dict[str, Any]:
        return {"id": i, "name": f"group {i}"}

    pages: dict[str | None, dict[str, Any] | int] = {
        None: {"items": [group("1"), group("7")], "bookmark": "p1"}
    }
    for n in range(1, 10):  # groups nobody asked for, page after page
        pages[f"p{n}"] = {"items": [group("8")], "bookmark": f"p{n + 1}"}
    upstream = Scripted(pages)
    async with _service(upstream) as service:
        results = await service.product_groups_by_id(TOKEN, ["1", "2"])
    assert isinstance(results[0], Lookup)
    assert results[0].value.id == "1"
    assert type(results[1]) is UpstreamError
    assert len(upstream.requests) == 5  # the first page, then four that brought nothing


@pytest.mark.parametrize("batches_first", [True, False])
async def test_concurrent_lookups_of_the_same_groups_share_the_requests(
    fake: FakePinterest, service: CatalogService, batches_first: bool
) -> None:
    ids = _group_ids(fake)[:6]
    batches = [service.product_groups_by_id(TOKEN, ids) for _ in range(5)]
    singles = [service.product_group(TOKEN, i) for i in ids]
    calls = [*batches, *singles] if batches_first else [*singles, *batches]
    answers = await asyncio.gather(*calls)
    lookups: list[Any] = []
    for answer in answers:
        lookups += answer if isinstance(answer, list) else [answer]
    assert all(isinstance(lookup, Lookup) for lookup in lookups)
    assert len({id(lookup.value) for lookup in lookups}) == len(ids)  # one object per group
    # The first to ask fetches for everyone: the batch's two chunks, or the six singles.
    assert _calls(fake) == ({"product_groups": 2} if batches_first else {"product_group": 6})


# --- Catalogs, feeds, counts, filter values -----------------------------------------------------


async def test_catalog_is_picked_from_the_cached_listing() -> None:
    upstream = Scripted({None: _catalogs("1", "2", bookmark="b2"), "b2": _catalogs("3", "4")})
    async with _service(upstream, page_size=2) as service:
        lookup = await service.catalog(TOKEN, "3")
        assert (lookup.value.id, lookup.value.name) == ("3", "catalog 3")
        assert upstream.bookmarks == [None, "b2"]
        assert (await service.catalog(TOKEN, "1")).outcome == "hit"
        with pytest.raises(UpstreamNotFound):
            await service.catalog(TOKEN, "5")
        listed = await service.entities(TOKEN, Listing("catalogs"), first=4, after=None)
        assert _ids(listed.items) == ["1", "2", "3", "4"]
    assert upstream.bookmarks == [None, "b2"]  # all from the pages read once


async def test_feed_counts_and_filter_values_are_cached(
    fake: FakePinterest, service: CatalogService
) -> None:
    graph = fake.graph
    feed_id, catalog_id = graph.feeds[0]["id"], graph.catalogs[0]["id"]
    for _ in range(2):
        assert (await service.feed(TOKEN, feed_id)).value.id == feed_id
        counts = await service.product_counts(TOKEN, "1")
        assert counts.value.total == len(fake.group_products(graph.product_groups[0]))
        values = await service.available_filter_values(TOKEN, catalog_id=catalog_id)
        assert values.value.catalog_type is m.CatalogType.RETAIL
    assert _calls(fake) == {"feed": 1, "product_counts": 1, "available_filter_values": 1}
    await service.available_filter_values(TOKEN, catalog_id=catalog_id, country="US")
    assert _calls(fake) == {"available_filter_values": 1}  # other arguments, another entry
    with pytest.raises(UpstreamNotFound):
        await service.product_group(TOKEN, "404404")


# --- The ad account, and callers ---------------------------------------------------------------


async def test_what_is_read_with_an_ad_account_carries_it_from_the_cache_too(
    fake: FakePinterest, service: CatalogService
) -> None:
    graph = fake.graph
    catalog_id, feed_id = graph.catalogs[0]["id"], graph.feeds[0]["id"]
    group_ids = _group_ids(fake)[:3]

    async def read(account: str | None) -> list[Any]:
        catalogs = await service.entities(
            TOKEN, Listing("catalogs", ad_account_id=account), first=10, after=None
        )
        feeds = await service.entities(
            TOKEN,
            Listing("feeds", catalog_id=catalog_id, ad_account_id=account),
            first=10,
            after=None,
        )
        groups = await service.entities(
            TOKEN,
            Listing("product_groups", feed_id=feed_id, ad_account_id=account),
            first=10,
            after=None,
        )
        by_id = await service.product_groups_by_id(TOKEN, group_ids, ad_account_id=account)
        single = await service.product_group(TOKEN, "1", ad_account_id=account)
        feed = await service.feed(TOKEN, feed_id, ad_account_id=account)
        catalog = await service.catalog(TOKEN, catalog_id, ad_account_id=account)
        values = [item for part in (catalogs, feeds, groups) for item, _ in part.items]
        values += [r.value for r in by_id if isinstance(r, Lookup)]
        return [*values, single.value, feed.value, catalog.value]

    for _ in range(2):  # fetched, then from the cache
        values = await read("42")
        assert len(values) > 10
        assert {v.ad_account_id for v in values} == {"42"}
    assert all(r.url.params["ad_account_id"] == "42" for r in fake.requests)
    fetched = _calls(fake)
    assert set(fetched) == {"catalogs", "feeds", "product_groups", "feed"}
    fake.requests.clear()
    assert {v.ad_account_id for v in await read(None)} == {None}  # entries of their own
    assert _calls(fake) == fetched
    assert not any("ad_account_id" in r.url.params for r in fake.requests)


async def test_two_callers_never_share_an_entry(
    fake: FakePinterest, service: CatalogService
) -> None:
    graph = fake.graph

    async def everything(token: str) -> None:
        await service.entities(token, Listing("catalogs"), first=2, after=None)
        await service.entities(
            token,
            Listing("product_groups", catalog_id=graph.catalogs[0]["id"]),
            first=2,
            after=None,
        )
        await service.feed(token, graph.feeds[0]["id"])
        await service.product_group(token, "1")
        await service.product_groups_by_id(token, ["1", graph.product_groups[1]["id"]])
        await service.catalog(token, graph.catalogs[0]["id"])
        await service.product_counts(token, "1")
        await service.available_filter_values(token, catalog_id=graph.catalogs[0]["id"])

    await everything("alice")
    alice = _calls(fake)
    await everything("alice")
    assert _calls(fake) == {}
    await everything("bob")
    assert _calls(fake) == alice
    tokens = {r.headers["Authorization"] for r in fake.requests}
    assert tokens == {"Bearer alice", "Bearer bob"}

"""``CatalogService``: pages, slices, Pins and the catalog graph for a caller. Knows nothing
about GraphQL.

It asks the upstream for canonical pages (one page size, set in the settings) and slices them
for the client's ``first``, following bookmarks across pages, so the cost of walking a listing
depends on its length and not on how a client pages through it. Product listings and the
catalog graph's listings (catalogs, feeds, product groups) are walked by the same code
(:meth:`CatalogService._walk`); everything read is cached per caller.

Catalogs, feeds and product groups read with an ad account carry it (``ad_account_id``, set
once when they are fetched, so cached values carry it too): nested listings are read as it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from msgspec.structs import replace

from graphql_api.cache import Lookup, PageCache
from graphql_api.errors import APIError, UpstreamError, UpstreamNotFound
from graphql_api.pagination import START, Position, fingerprint, take
from graphql_api.upstream.client import PinterestClient
from graphql_api.upstream.models import (
    AvailableFilterValues,
    BrokenItem,
    Catalog,
    Feed,
    Page,
    Pin,
    Product,
    ProductCounts,
    ProductGroup,
)
from graphql_api.upstream.models import Listing as EntityPage
from graphql_api.upstream.operations import (
    CATALOGS,
    FEEDS,
    OPERATIONS,
    PRODUCT_GROUP_PRODUCTS,
    PRODUCT_GROUPS,
    PRODUCTS_BY_FILTER,
    Cost,
)
from graphql_api.upstream.resilience import Deadline

__all__ = ["CatalogService", "Entity", "Listing", "ProductSlice", "Slice"]

# Empty upstream pages that still carry a bookmark are followed, but not without end.
_EXTRA_PAGES = 3
# The catalog graph's listings, and the fields of a Listing that select their entities.
_ENTITY_LISTINGS: Mapping[str, frozenset[str]] = {
    CATALOGS.name: frozenset(),
    FEEDS.name: frozenset({"catalog_id"}),
    PRODUCT_GROUPS.name: frozenset({"catalog_id", "feed_id"}),
}

T = TypeVar("T")
_S = TypeVar("_S", Feed, ProductGroup)
Entity = Catalog | Feed | ProductGroup | BrokenItem  # an item of a catalog-graph listing


@dataclass(frozen=True, slots=True)
class Listing:
    """One upstream listing: an operation (by name: a listing of the operations table) and
    everything that selects its items: the product listings' ``product_group_id`` or ``body``,
    the catalog graph's ``catalog_id`` (feeds, product groups) or ``feed_id`` (product groups);
    and the ad account it is read as."""

    operation: str
    product_group_id: str | None = None
    body: Mapping[str, Any] | None = None
    ad_account_id: str | None = None
    catalog_id: str | None = None
    feed_id: str | None = None
    key: str = field(init=False)  # fingerprint: cursors and cache entries belong to one listing

    def __post_init__(self) -> None:
        operation = OPERATIONS.get(self.operation)
        if operation is None or operation.cost is not Cost.PAGES:
            raise ValueError(f"not a listing operation: {self.operation!r}")
        identity = [self.operation, self.product_group_id, self.body, self.ad_account_id]
        if self.catalog_id is not None or self.feed_id is not None:
            # Only the catalog graph's listings have them: the product listings' keys (their
            # cursors and cache entries) stay what they were.
            allowed = _ENTITY_LISTINGS.get(self.operation, frozenset())
            given = {"catalog_id"} if self.catalog_id is not None else set()
            given |= {"feed_id"} if self.feed_id is not None else set()
            if not given <= allowed:
                raise ValueError(f"{self.operation!r} is not selected by {sorted(given)}")
            identity += [self.catalog_id, self.feed_id]
        object.__setattr__(self, "key", fingerprint(identity))


@dataclass(frozen=True)  # no slots: a frozen generic with slots cannot be made as Slice[X](...)
class Slice(Generic[T]):
    """``first`` items of a listing from a position, each with the position just after it."""

    items: list[tuple[T, Position]]
    has_next_page: bool
    has_previous_page: bool
    error: APIError | None = None  # a later page failed: these are the items before it
    sources: tuple[Lookup[Any], ...] = ()  # the cache entries the items came from


ProductSlice = Slice[Product]


def _as_read(value: _S, ad_account_id: str | None) -> _S:
    """``value`` carrying the ad account it was read as (models with that field)."""
    if ad_account_id is None:
        return value
    return replace(value, ad_account_id=ad_account_id)


def _page_as_read(page: EntityPage[Any], ad_account_id: str | None) -> EntityPage[Any]:
    if ad_account_id is None:
        return page
    items = tuple(
        item if type(item) is BrokenItem else replace(item, ad_account_id=ad_account_id)
        for item in page.items
    )
    return EntityPage(items, page.bookmark)


class CatalogService:
    # How many pages of GET /catalogs :meth:`catalog` walks looking for a catalog (there is no
    # GET /catalogs/{id}); an account holds a few catalogs, a page up to the page size.
    catalog_pages = 20

    def __init__(self, client: PinterestClient, cache: PageCache, *, page_size: int) -> None:
        self._client = client
        self._cache = cache
        self.page_size = page_size

    # --- Listings ---------------------------------------------------------------------------

    async def page(
        self,
        token: str,
        listing: Listing,
        bookmark: str | None,
        *,
        pin_metrics: bool,
        deadline: Deadline | None = None,
    ) -> Lookup[Page]:
        """One canonical upstream page of a listing, from the cache when it has it."""
        key = self._cache.key(token, "page", listing.key, self.page_size, bookmark or "")
        return await self._cache.get(
            key,
            lambda: self._fetch(token, listing, bookmark, pin_metrics, deadline),
            metrics=pin_metrics,
        )

    async def _fetch(
        self,
        token: str,
        listing: Listing,
        bookmark: str | None,
        pin_metrics: bool,
        deadline: Deadline | None,
    ) -> Page:
        if listing.operation == PRODUCT_GROUP_PRODUCTS.name:
            assert listing.product_group_id is not None
            return await self._client.list_product_group_products(
                token,
                listing.product_group_id,
                bookmark=bookmark,
                page_size=self.page_size,
                ad_account_id=listing.ad_account_id,
                pin_metrics=pin_metrics,
                deadline=deadline,
            )
        assert listing.operation == PRODUCTS_BY_FILTER.name
        assert listing.body is not None
        return await self._client.list_products_by_filter(
            token,
            listing.body,
            bookmark=bookmark,
            page_size=self.page_size,
            ad_account_id=listing.ad_account_id,
            pin_metrics=pin_metrics,
            deadline=deadline,
        )

    async def entity_page(
        self,
        token: str,
        listing: Listing,
        bookmark: str | None,
        *,
        deadline: Deadline | None = None,
    ) -> Lookup[EntityPage[Any]]:
        """One canonical upstream page of a catalog-graph listing, from the cache when it has
        it (keyed as :meth:`page` keys product pages)."""
        key = self._cache.key(token, "page", listing.key, self.page_size, bookmark or "")
        return await self._cache.get(
            key, lambda: self._fetch_entities(token, listing, bookmark, deadline), metrics=False
        )

    async def _fetch_entities(
        self, token: str, listing: Listing, bookmark: str | None, deadline: Deadline | None
    ) -> EntityPage[Any]:
        client, account = self._client, listing.ad_account_id
        page: EntityPage[Any]
        if listing.operation == CATALOGS.name:
            page = await client.list_catalogs(
                token,
                bookmark=bookmark,
                page_size=self.page_size,
                ad_account_id=account,
                deadline=deadline,
            )
        elif listing.operation == FEEDS.name:
            page = await client.list_feeds(
                token,
                listing.catalog_id,
                bookmark=bookmark,
                page_size=self.page_size,
                ad_account_id=account,
                deadline=deadline,
            )
        else:
            assert listing.operation == PRODUCT_GROUPS.name
            page = await client.list_product_groups(
                token,
                catalog_id=listing.catalog_id,
                feed_id=listing.feed_id,
                bookmark=bookmark,
                page_size=self.page_size,
                ad_account_id=account,
                deadline=deadline,
            )
        return _page_as_read(page, account)

    async def products(
        self,
        token: str,
        listing: Listing,
        *,
        first: int,
        after: Position | None,
        pin_metrics: bool,
        deadline: Deadline | None = None,
    ) -> ProductSlice:
        """``first`` products from ``after`` (or the start), across as many pages as needed
        (the walk's rules: :meth:`_walk`)."""

        def page(bookmark: str | None) -> Awaitable[Lookup[Page]]:
            return self.page(token, listing, bookmark, pin_metrics=pin_metrics, deadline=deadline)

        return await self._walk(page, first=first, after=after)

    async def entities(
        self,
        token: str,
        listing: Listing,
        *,
        first: int,
        after: Position | None,
        deadline: Deadline | None = None,
    ) -> Slice[Entity]:
        """``first`` catalogs, feeds or product groups of a catalog-graph listing from ``after``
        (or the start), walked as :meth:`products` walks products; an item that fits no type is
        a :class:`BrokenItem` in its place."""
        if listing.operation not in _ENTITY_LISTINGS:
            raise ValueError(f"not a catalog-graph listing: {listing.operation!r}")

        def page(bookmark: str | None) -> Awaitable[Lookup[EntityPage[Any]]]:
            return self.entity_page(token, listing, bookmark, deadline=deadline)

        return await self._walk(page, first=first, after=after)

    async def _walk(
        self,
        page: Callable[[str | None], Awaitable[Lookup[Any]]],
        *,
        first: int,
        after: Position | None,
    ) -> Slice[Any]:
        """``first`` items from ``after`` (or the start) of the listing whose pages ``page(
        bookmark)`` looks up (each with ``items`` and the next ``bookmark``).

        If a later page fails, the items already fetched are returned with ``has_next_page``
        and the error, so the client keeps them and resumes after the last one. If the upstream's
        pagination does not advance (a bookmark repeats, or empty pages go on past the budget),
        the items gathered so far are returned with an ``UPSTREAM_ERROR`` and no next page:
        there is nothing to resume. That holds even with nothing gathered yet (an empty
        connection with the error, rather than a null ``data``: sibling fields keep their
        answers, and the error says why the listing ended).
        """
        position = after or START
        items: list[tuple[Any, Position]] = []
        budget = math.ceil(first / self.page_size) + _EXTRA_PAGES
        seen: set[str | None] = set()
        error: APIError | None = None
        sources: list[Lookup[Any]] = []
        while True:
            if position.bookmark in seen or len(seen) >= budget:
                error = UpstreamError("The Pinterest API's pagination does not advance.")
                has_next = False
                break
            seen.add(position.bookmark)
            try:
                lookup = await page(position.bookmark)
            except APIError as exc:
                if not items:
                    raise
                error, has_next = exc, True
                break
            sources.append(lookup)
            value = lookup.value
            part = take(
                value.items,
                page_bookmark=position.bookmark,
                next_bookmark=value.bookmark,
                offset=position.offset,
                count=first - len(items),
            )
            items += part.items
            if len(items) >= first:
                last = items[-1][1] if items else position
                in_page = last.bookmark == position.bookmark and last.offset < len(value.items)
                has_next = in_page or value.bookmark is not None
                break
            if part.next is None:
                has_next = False
                break
            position = part.next
        has_previous = after is not None and after != START
        return Slice(items, has_next, has_previous, error, tuple(sources))

    # --- Single values ----------------------------------------------------------------------

    async def pin(
        self,
        token: str,
        pin_id: str,
        *,
        ad_account_id: str | None = None,
        pin_metrics: bool,
        deadline: Deadline | None = None,
    ) -> Lookup[Pin]:
        """One Pin, through the cache (entity lookups repeat the same ids)."""
        key = self._cache.key(token, "pin", pin_id, ad_account_id or "")
        lookup = await self._cache.get(
            key,
            lambda: self._client.get_pin(
                token,
                pin_id,
                ad_account_id=ad_account_id,
                pin_metrics=pin_metrics,
                deadline=deadline,
            ),
            metrics=pin_metrics,
        )
        return lookup

    async def feed(
        self,
        token: str,
        feed_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Lookup[Feed]:
        """``GET /catalogs/feeds/{feed_id}``, through the cache."""

        async def fetch() -> Feed:
            feed = await self._client.get_feed(
                token, feed_id, ad_account_id=ad_account_id, deadline=deadline
            )
            return _as_read(feed, ad_account_id)

        key = self._cache.key(token, "feed", feed_id, ad_account_id or "")
        return await self._cache.get(key, fetch, metrics=False)

    def _group_key(self, token: str, product_group_id: str, ad_account_id: str | None) -> str:
        return self._cache.key(token, "product_group", product_group_id, ad_account_id or "")

    async def product_group(
        self,
        token: str,
        product_group_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Lookup[ProductGroup]:
        """``GET /catalogs/product_groups/{product_group_id}``, through the cache (the entries
        :meth:`product_groups_by_id` shares); a 404 is the client's ``NOT_FOUND`` error."""

        async def fetch() -> ProductGroup:
            group = await self._client.get_product_group(
                token, product_group_id, ad_account_id=ad_account_id, deadline=deadline
            )
            return _as_read(group, ad_account_id)

        key = self._group_key(token, product_group_id, ad_account_id)
        return await self._cache.get(key, fetch, metrics=False)

    async def product_groups_by_id(
        self,
        token: str,
        ids: Sequence[str],
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> list[Lookup[ProductGroup] | APIError]:
        """Each id's product group (or its error), in order. Groups the cache holds (under
        :meth:`product_group`'s keys) cost nothing; the others are read together with
        ``GET /catalogs/product_groups?id=a,b,c``, in chunks of the page size (read
        concurrently, bookmarks followed), each stored under its own key. An id the upstream
        does not return is ``NOT_FOUND``. An id that is not a number (the spec's ``id`` is a
        list of integers: it would fail its whole chunk) is read alone, as
        :meth:`product_group` reads it."""
        keys = [self._group_key(token, product_group_id, ad_account_id) for product_group_id in ids]
        id_of = dict(zip(keys, ids, strict=True))

        async def fetch(missing: list[str]) -> dict[str, ProductGroup | Exception]:
            found = await self._groups(
                token, [id_of[key] for key in missing], ad_account_id, deadline
            )
            return {key: found[id_of[key]] for key in missing}

        lookups = await self._cache.get_many(keys, fetch)
        results: list[Lookup[ProductGroup] | APIError] = []
        for key in keys:
            result = lookups[key]
            if isinstance(result, Exception) and not isinstance(result, APIError):
                raise result  # a bug, not an answer: masked as any other
            results.append(result)
        return results

    async def _groups(
        self, token: str, ids: list[str], ad_account_id: str | None, deadline: Deadline | None
    ) -> dict[str, ProductGroup | Exception]:
        numbers = [i for i in ids if i.isascii() and i.isdigit()]
        others = [i for i in ids if not (i.isascii() and i.isdigit())]
        size = self.page_size
        chunks = [numbers[start : start + size] for start in range(0, len(numbers), size)]
        answers = await asyncio.gather(
            *(self._chunk(token, chunk, ad_account_id, deadline) for chunk in chunks),
            *(self._alone(token, i, ad_account_id, deadline) for i in others),
        )
        return {i: value for answer in answers for i, value in answer.items()}

    async def _alone(
        self,
        token: str,
        product_group_id: str,
        ad_account_id: str | None,
        deadline: Deadline | None,
    ) -> dict[str, ProductGroup | Exception]:
        try:
            group = await self._client.get_product_group(
                token, product_group_id, ad_account_id=ad_account_id, deadline=deadline
            )
        except APIError as exc:
            return {product_group_id: exc}
        return {product_group_id: _as_read(group, ad_account_id)}

    async def _chunk(
        self, token: str, ids: list[str], ad_account_id: str | None, deadline: Deadline | None
    ) -> dict[str, ProductGroup | Exception]:
        """One chunk of ids (at most a page of them), its pages followed until every id is
        found or the listing ends (or pages go on bringing none of them: past the budget)."""
        wanted = set(ids)
        found: dict[str, ProductGroup] = {}
        broken = False
        bookmark: str | None = None
        seen: set[str | None] = {None}
        idle = 0  # pages in a row that brought no group asked for
        error: Exception | None = None
        while True:
            try:
                page = await self._client.list_product_groups(
                    token,
                    ids=ids,
                    bookmark=bookmark,
                    page_size=self.page_size,
                    ad_account_id=ad_account_id,
                    deadline=deadline,
                )
            except APIError as exc:
                error = exc
                break
            before = len(found)
            for item in page.items:
                if isinstance(item, BrokenItem):
                    broken = True
                elif item.id in wanted and item.id not in found:
                    found[item.id] = _as_read(item, ad_account_id)
            if page.bookmark is None or len(found) == len(wanted):
                break
            idle = 0 if len(found) > before else idle + 1
            if page.bookmark in seen or idle > _EXTRA_PAGES:
                error = UpstreamError("The Pinterest API's pagination does not advance.")
                break
            seen.add(page.bookmark)
            bookmark = page.bookmark
        answers: dict[str, ProductGroup | Exception] = {}
        for product_group_id in ids:
            group = found.get(product_group_id)
            if group is not None:
                answers[product_group_id] = group
            elif error is not None:
                answers[product_group_id] = error
            elif broken:  # perhaps the one that could not be read
                answers[product_group_id] = UpstreamError(
                    "The Pinterest API returned a malformed product group.", upstream_status=200
                )
            else:
                answers[product_group_id] = UpstreamNotFound("No product group has this id.")
        return answers

    async def catalog(
        self,
        token: str,
        catalog_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Lookup[Catalog]:
        """A catalog picked from the (cached) pages of ``GET /catalogs``: there is no
        ``GET /catalogs/{id}``. ``NOT_FOUND`` if no page has it."""
        listing = Listing(CATALOGS.name, ad_account_id=ad_account_id)
        bookmark: str | None = None
        seen: set[str | None] = set()
        while True:
            if bookmark in seen or len(seen) >= self.catalog_pages:
                raise UpstreamError("The Pinterest API's pagination does not advance.")
            seen.add(bookmark)
            lookup = await self.entity_page(token, listing, bookmark, deadline=deadline)
            for item in lookup.value.items:
                if type(item) is Catalog and item.id == catalog_id:
                    return Lookup(
                        item,
                        lookup.stale,
                        lookup.age,
                        lookup.key,
                        lookup.version,
                        lookup.fresh_until,
                        lookup.outcome,
                    )
            bookmark = lookup.value.bookmark
            if bookmark is None:
                raise UpstreamNotFound("No catalog has this id.")

    async def product_counts(
        self,
        token: str,
        product_group_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Lookup[ProductCounts]:
        """``GET /catalogs/product_groups/{product_group_id}/product_counts``, through the
        cache."""
        key = self._cache.key(token, "product_counts", product_group_id, ad_account_id or "")
        return await self._cache.get(
            key,
            lambda: self._client.get_product_counts(
                token, product_group_id, ad_account_id=ad_account_id, deadline=deadline
            ),
            metrics=False,
        )

    async def available_filter_values(
        self,
        token: str,
        *,
        catalog_id: str | None = None,
        feed_id: str | None = None,
        country: str | None = None,
        language: str | None = None,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Lookup[AvailableFilterValues]:
        """``GET /catalogs/available_filter_values``, through the cache."""
        query = fingerprint([catalog_id, feed_id, country, language, ad_account_id])
        key = self._cache.key(token, "filter_values", query)
        return await self._cache.get(
            key,
            lambda: self._client.get_available_filter_values(
                token,
                catalog_id=catalog_id,
                feed_id=feed_id,
                country=country,
                language=language,
                ad_account_id=ad_account_id,
                deadline=deadline,
            ),
            metrics=False,
        )

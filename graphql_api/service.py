"""``CatalogService``: pages, slices and Pins for a caller. Knows nothing about GraphQL.

It asks the upstream for canonical pages (one page size, set in the settings) and slices them
for the client's ``first``, following bookmarks across pages, so the cost of walking a listing
depends on its length and not on how a client pages through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql_api.cache import Lookup, PageCache
from graphql_api.errors import APIError, UpstreamError
from graphql_api.pagination import START, Position, fingerprint, take
from graphql_api.upstream.client import PinterestClient
from graphql_api.upstream.models import Page, Pin, Product
from graphql_api.upstream.operations import (
    OPERATIONS,
    PRODUCT_GROUP_PRODUCTS,
    PRODUCTS_BY_FILTER,
    Cost,
)
from graphql_api.upstream.resilience import Deadline

__all__ = ["CatalogService", "Listing", "ProductSlice"]

# Empty upstream pages that still carry a bookmark are followed, but not without end.
_EXTRA_PAGES = 3


@dataclass(frozen=True, slots=True)
class Listing:
    """One upstream listing: an operation (by name: a listing of the operations table) and
    everything that selects its products."""

    operation: str
    product_group_id: str | None = None
    body: Mapping[str, Any] | None = None
    ad_account_id: str | None = None
    key: str = field(init=False)  # fingerprint: cursors and cache entries belong to one listing

    def __post_init__(self) -> None:
        operation = OPERATIONS.get(self.operation)
        if operation is None or operation.cost is not Cost.PAGES:
            raise ValueError(f"not a listing operation: {self.operation!r}")
        identity = [self.operation, self.product_group_id, self.body, self.ad_account_id]
        object.__setattr__(self, "key", fingerprint(identity))


@dataclass(frozen=True, slots=True)
class ProductSlice:
    items: list[tuple[Product, Position]]
    has_next_page: bool
    has_previous_page: bool
    error: APIError | None = None  # a later page failed: these are the products before it
    sources: tuple[Lookup[Page], ...] = ()  # the cache entries the products came from


class CatalogService:
    def __init__(self, client: PinterestClient, cache: PageCache, *, page_size: int) -> None:
        self._client = client
        self._cache = cache
        self.page_size = page_size

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
        """``first`` products from ``after`` (or the start), across as many pages as needed.

        If a later page fails, the products already fetched are returned with ``has_next_page``
        and the error, so the client keeps them and resumes after the last one. If the upstream's
        pagination does not advance (a bookmark repeats, or empty pages go on past the budget),
        the products gathered so far are returned with an ``UPSTREAM_ERROR`` and no next page:
        there is nothing to resume. That holds even with nothing gathered yet (an empty
        connection with the error, rather than a null ``data``: sibling fields keep their
        answers, and the error says why the listing ended).
        """
        position = after or START
        items: list[tuple[Product, Position]] = []
        budget = math.ceil(first / self.page_size) + _EXTRA_PAGES
        seen: set[str | None] = set()
        error: APIError | None = None
        sources: list[Lookup[Page]] = []
        while True:
            if position.bookmark in seen or len(seen) >= budget:
                error = UpstreamError("The Pinterest API's pagination does not advance.")
                has_next = False
                break
            seen.add(position.bookmark)
            try:
                lookup = await self.page(
                    token, listing, position.bookmark, pin_metrics=pin_metrics, deadline=deadline
                )
            except APIError as exc:
                if not items:
                    raise
                error, has_next = exc, True
                break
            sources.append(lookup)
            page = lookup.value
            part = take(
                page.items,
                page_bookmark=position.bookmark,
                next_bookmark=page.bookmark,
                offset=position.offset,
                count=first - len(items),
            )
            items += part.items
            if len(items) >= first:
                last = items[-1][1] if items else position
                in_page = last.bookmark == position.bookmark and last.offset < len(page.items)
                has_next = in_page or page.bookmark is not None
                break
            if part.next is None:
                has_next = False
                break
            position = part.next
        has_previous = after is not None and after != START
        return ProductSlice(items, has_next, has_previous, error, tuple(sources))

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

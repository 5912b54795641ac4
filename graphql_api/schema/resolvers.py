"""Thin root resolvers: check arguments, read the selection, call the service, map the result."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from graphql_api.cache import Lookup
from graphql_api.cost import batch_directives, counted_by, field_directives
from graphql_api.errors import BadUserInput
from graphql_api.schema.catalog_filters import AvailableFilterValues
from graphql_api.schema.connections import CatalogProductConnection
from graphql_api.schema.graph import CATALOG_LISTING, CatalogConnection, Feed, ProductGroup
from graphql_api.schema.ids import check_id
from graphql_api.schema.inputs import ProductsByFilterInput, to_request_body
from graphql_api.schema.listings import (
    DEFAULT_FIRST,
    PRODUCTS,
    AppInfo,
    connection,
)
from graphql_api.schema.listings import ad_account as _ad_account
from graphql_api.schema.types import Pin
from graphql_api.service import Listing
from graphql_api.upstream.operations import (
    AVAILABLE_FILTER_VALUES,
    CATALOGS,
    FEED,
    PIN,
    PRODUCT_GROUP,
    PRODUCT_GROUP_PRODUCTS,
    PRODUCT_GROUPS,
    PRODUCTS_BY_FILTER,
)

__all__ = ["MAX_IDS", "Query"]

MAX_IDS = 100  # ids one productGroups(ids) may name (its @listSize for a router)
After = Annotated[str | None, strawberry.argument(description="An endCursor or edge cursor.")]
AdAccount = Annotated[
    strawberry.ID | None, strawberry.argument(description="Act as the owner of this ad account.")
]


# Each root field declares the upstream requests of the operation it calls (@cost, @listSize:
# graphql_api.cost), for a router and for the facade's own estimate.
@strawberry.type
class Query:
    @strawberry.field(
        description="Products of one catalog product group.",
        directives=field_directives(PRODUCT_GROUP_PRODUCTS),
    )
    async def product_group_products(
        self,
        info: AppInfo,
        product_group_id: strawberry.ID,
        first: Annotated[
            int | None, strawberry.argument(description="How many products (0..maxFirst).")
        ] = DEFAULT_FIRST,
        after: After = strawberry.UNSET,
        ad_account_id: AdAccount = strawberry.UNSET,
    ) -> CatalogProductConnection:
        listing = Listing(
            PRODUCT_GROUP_PRODUCTS.name,
            product_group_id=check_id(product_group_id, "productGroupId"),
            ad_account_id=_ad_account(ad_account_id),
        )
        result: CatalogProductConnection = await connection(info, listing, first, after, PRODUCTS)
        return result

    @strawberry.field(
        description="Products that match a product group filter.",
        directives=field_directives(PRODUCTS_BY_FILTER),
    )
    async def products_by_filter(
        self,
        info: AppInfo,
        filter: ProductsByFilterInput,
        first: Annotated[
            int | None, strawberry.argument(description="How many products (0..maxFirst).")
        ] = DEFAULT_FIRST,
        after: After = strawberry.UNSET,
        ad_account_id: AdAccount = strawberry.UNSET,
    ) -> CatalogProductConnection:
        listing = Listing(
            PRODUCTS_BY_FILTER.name,
            body=to_request_body(filter),
            ad_account_id=_ad_account(ad_account_id),
        )
        result: CatalogProductConnection = await connection(info, listing, first, after, PRODUCTS)
        return result

    @strawberry.field(
        description="One Pin, by id (null with a NOT_FOUND error if none).",
        directives=field_directives(PIN),
    )
    async def pin(self, info: AppInfo, id: strawberry.ID) -> Pin | None:
        pin = await info.context.load_pin(
            str(id), pin_metrics=info.context.selects(info, "pinMetrics")
        )
        return pin  # type: ignore[return-value]  # the model is the type's source

    # --- The catalog as a graph (issue 18) --------------------------------------------------

    @strawberry.field(
        description="The caller's catalogs (or the ad account's).",
        directives=field_directives(CATALOGS),
    )
    async def catalogs(
        self,
        info: AppInfo,
        first: Annotated[
            int | None, strawberry.argument(description="How many catalogs (0..maxFirst).")
        ] = DEFAULT_FIRST,
        after: After = strawberry.UNSET,
        ad_account_id: AdAccount = strawberry.UNSET,
    ) -> CatalogConnection:
        listing = Listing(CATALOGS.name, ad_account_id=_ad_account(ad_account_id))
        result: CatalogConnection = await connection(info, listing, first, after, CATALOG_LISTING)
        return result

    @strawberry.field(
        description="One feed, by id (null with a NOT_FOUND error if none).",
        directives=field_directives(FEED),
    )
    async def feed(
        self, info: AppInfo, id: strawberry.ID, ad_account_id: AdAccount = strawberry.UNSET
    ) -> Feed | None:
        found: Feed | None = await _by_id(info, info.context.service.feed, id, ad_account_id)
        return found

    @strawberry.field(
        description="One product group, by id (null with a NOT_FOUND error if none).",
        directives=field_directives(PRODUCT_GROUP),
    )
    async def product_group(
        self, info: AppInfo, id: strawberry.ID, ad_account_id: AdAccount = strawberry.UNSET
    ) -> ProductGroup | None:
        found: ProductGroup | None = await _by_id(
            info, info.context.service.product_group, id, ad_account_id
        )
        return found

    # A list of one item an id: the estimate counts them (`counted_by`), a router assumes the
    # most there may be. Fetched in batches (upstream requests: fewer than the ids).
    @strawberry.field(
        description=f"Product groups by id (1..{MAX_IDS}), in the order asked, one request for "
        "many: null with a NOT_FOUND error for an id there is no product group for.",
        directives=batch_directives(PRODUCT_GROUPS, MAX_IDS),
        metadata=counted_by("ids"),
    )
    async def product_groups(
        self,
        info: AppInfo,
        ids: list[strawberry.ID],
        ad_account_id: AdAccount = strawberry.UNSET,
    ) -> list[ProductGroup | None]:
        if not 1 <= len(ids) <= MAX_IDS:
            raise BadUserInput(f"`ids` must name 1 to {MAX_IDS} product groups, not {len(ids)}.")
        checked = [check_id(one, "ids") for one in ids]
        account = _ad_account(ad_account_id)
        load = info.context.load_product_group
        groups: list[Any] = await asyncio.gather(
            *(load(one, ad_account_id=account) for one in checked), return_exceptions=True
        )
        return groups  # an error in its place is that item's error

    @strawberry.field(
        description="The values a filter UI offers for productsByFilter, for a catalog or one "
        "of its feeds (catalogId is required, as the Pinterest API requires it; feedId narrows "
        "it to that feed).",
        directives=field_directives(AVAILABLE_FILTER_VALUES),
    )
    async def available_filter_values(
        self,
        info: AppInfo,
        catalog_id: strawberry.ID | None = strawberry.UNSET,
        feed_id: strawberry.ID | None = strawberry.UNSET,
        country: Annotated[
            str | None, strawberry.argument(description="A country (ISO 3166-1 alpha-2), e.g. US.")
        ] = strawberry.UNSET,
        language: Annotated[
            str | None, strawberry.argument(description="A locale, e.g. en-US.")
        ] = strawberry.UNSET,
        ad_account_id: AdAccount = strawberry.UNSET,
    ) -> AvailableFilterValues | None:
        catalog, feed = _given(catalog_id), _given(feed_id)
        if catalog is None:  # the upstream requires it (retail feeds do not name theirs)
            raise BadUserInput("Give `catalogId` (and `feedId` to narrow it to one of its feeds).")
        ctx = info.context
        lookup = await ctx.service.available_filter_values(
            ctx.token,
            catalog_id=check_id(catalog, "catalogId"),
            feed_id=None if feed is None else check_id(feed, "feedId"),
            country=_matching(_given(country), _COUNTRY, "country", "a country code, e.g. US"),
            language=_matching(_given(language), _LANGUAGE, "language", "a locale, e.g. en-US"),
            ad_account_id=_ad_account(ad_account_id),
            deadline=ctx.deadline,
        )
        ctx.collector.used((lookup,))
        return lookup.value  # type: ignore[return-value]  # the model is the source


async def _by_id(
    info: AppInfo,
    fetch: Callable[..., Awaitable[Lookup[Any]]],
    id: strawberry.ID,
    ad_account: strawberry.ID | None,
) -> Any:
    """One object by id with ``fetch`` (a service method), noted as a source of the response;
    its model is the type's source."""
    ctx = info.context
    lookup = await fetch(
        ctx.token, check_id(id, "id"), ad_account_id=_ad_account(ad_account), deadline=ctx.deadline
    )
    ctx.collector.used((lookup,))
    return lookup.value


# The spec's Country (ISO 3166-1 alpha-2) and CatalogsLocale ("en-US", "es-419", "de") shapes.
_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}(?:-[A-Z]{2}|-419)?")


def _matching(value: str | None, shape: re.Pattern[str], argument: str, what: str) -> str | None:
    """``value`` if it has the shape, else ``BAD_USER_INPUT`` (never echoing it)."""
    if value is not None and not shape.fullmatch(value):
        raise BadUserInput(f"`{argument}` must be {what}.")
    return value


def _given(value: str | None) -> str | None:
    """An optional argument's value: ``None`` when unset or null."""
    return None if value is None or value is strawberry.UNSET else str(value)

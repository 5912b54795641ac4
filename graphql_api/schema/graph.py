"""The catalog as a graph (issue 18): catalogs, feeds, product groups and their product counts,
read from the upstream models (:mod:`graphql_api.upstream.models`) as the product types are
(``is_type_of``: the model each type reads; :func:`graphql_api.schema.types.check_models`
checks them), with the connections between them.

The fields that follow an edge of the graph (``Catalog.feeds``, ``Catalog.productGroups``,
``Feed.productGroups``, ``ProductGroup.products``, ``ProductGroup.productCounts``) have
resolvers: they ask the service as the caller, as the ad account the parent was read as
(``ad_account_id``, set by the service). Each weighs one upstream request a page or a lookup
(``@cost``), so nested connections are counted by the estimate; the nodes and edges of a page
weigh nothing (they came with it), which keeps the entity types' own weight for ``_entities``.
"""

from __future__ import annotations

from typing import Annotated, Any, NewType

import strawberry
from graphql import GraphQLResolveInfo
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.relay import PageInfo
from strawberry.types.scalar import ScalarDefinition

from graphql_api.cost import FREE, entity_directives, field_directives
from graphql_api.errors import UpstreamError
from graphql_api.schema.catalog_filters import ProductGroupFiltersType
from graphql_api.schema.connections import CatalogProductConnection
from graphql_api.schema.listings import (
    DEFAULT_FIRST,
    PRODUCTS,
    AppInfo,
    connection,
    entities,
)
from graphql_api.schema.types import CatalogType, DateTime, ProductAvailability
from graphql_api.service import Listing
from graphql_api.upstream import models as m
from graphql_api.upstream.operations import (
    CATALOGS,
    FEEDS,
    PRODUCT_COUNTS,
    PRODUCT_GROUP,
    PRODUCT_GROUP_PRODUCTS,
    PRODUCT_GROUPS,
)

__all__ = [
    "SCALARS",
    "Catalog",
    "CatalogConnection",
    "CatalogEdge",
    "Feed",
    "FeedConnection",
    "FeedCredentials",
    "FeedEdge",
    "FeedFormat",
    "FeedProcessingSchedule",
    "FeedStatus",
    "ProductCounts",
    "ProductGroup",
    "ProductGroupConnection",
    "ProductGroupEdge",
    "ProductGroupStatus",
    "ProductGroupType",
]

UnixTime = NewType("UnixTime", int)

SCALARS: dict[object, ScalarDefinition] = {
    UnixTime: strawberry.scalar(
        name="UnixTime",
        description="A Unix time, exactly as the Pinterest API sent it (an integer: the spec "
        "says seconds, its examples are milliseconds); beyond Int's 32 bits, exact to 2^53.",
        serialize=int,
        parse_value=int,
    )
}

# The upstream models' enums are the GraphQL enums (unknown upstream values read UNKNOWN).
strawberry.enum(m.FeedStatus, description="Status of a feed (UNKNOWN: a newer value).")
strawberry.enum(m.FeedFormat, description="File format of a feed (UNKNOWN: a newer value).")
strawberry.enum(
    m.ProductGroupStatus, description="Status of a product group (UNKNOWN: a newer value)."
)
strawberry.enum(
    m.ProductGroupType,
    description="Type of a product group: retail's and hotels' (UNKNOWN: a newer value).",
)
FeedStatus = m.FeedStatus
FeedFormat = m.FeedFormat
ProductGroupStatus = m.ProductGroupStatus
ProductGroupType = m.ProductGroupType

First = Annotated[int | None, strawberry.argument(description="How many (0..maxFirst).")]
After = Annotated[str | None, strawberry.argument(description="An endCursor or edge cursor.")]


def _listed(model: type) -> Any:
    """``is_type_of`` for a type whose sources are ``model`` instances, read from listings
    whose items may be :class:`~graphql_api.upstream.models.BrokenItem`: such an item is an
    ``UPSTREAM_ERROR`` at its path (as a malformed product is), never a type mismatch."""

    def is_type_of(cls: type, obj: Any, info: GraphQLResolveInfo[Any]) -> bool:
        if isinstance(obj, m.BrokenItem):
            raise UpstreamError(
                f"The Pinterest API returned a malformed item: {obj.reason}.", upstream_status=200
            )
        return isinstance(obj, model)

    is_type_of.model = model  # type: ignore[attr-defined]  # read by graphql_api.compiled
    return classmethod(is_type_of)


def _key() -> Key:
    # Spelled out (as `keys=["id"]` builds it) to print before the entity's weight.
    return Key(fields=FieldSet("id"), resolvable=strawberry.UNSET)


# --- Feeds --------------------------------------------------------------------------------------


@strawberry.type(description="The username a feed is downloaded with (never its password).")
class FeedCredentials:
    username: str | None
    is_type_of = _listed(m.FeedCredentials)


@strawberry.type(description="The preferred daily time a feed is processed at.")
class FeedProcessingSchedule:
    time: str | None = strawberry.field(description="HH:MM, with a leading zero.")
    timezone: str | None = strawberry.field(description="A tz database name, e.g. Europe/London.")
    is_type_of = _listed(m.FeedProcessingSchedule)


@strawberry.type(description="A catalog's feed: the file Pinterest ingests its products from.")
class Feed:
    id: strawberry.ID
    catalog_type: CatalogType
    catalog_id: strawberry.ID | None = strawberry.field(
        description="Its catalog (retail feeds: not sent by the Pinterest API)."
    )
    name: str | None
    created_at: DateTime | None
    updated_at: DateTime | None
    credentials: FeedCredentials | None
    default_availability: ProductAvailability | None
    default_country: str | None
    default_currency: str | None
    default_locale: str | None
    format: FeedFormat | None
    location: str | None = strawberry.field(
        description="Where the feed is downloaded from (credentials removed)."
    )
    preferred_processing_schedule: FeedProcessingSchedule | None
    status: FeedStatus | None
    is_type_of = _listed(m.Feed)

    @strawberry.field(
        description="The product groups of this feed.",
        directives=field_directives(PRODUCT_GROUPS),
    )
    async def product_groups(
        self, info: AppInfo, first: First = DEFAULT_FIRST, after: After = strawberry.UNSET
    ) -> ProductGroupConnection:
        source: Any = self  # the model is the source
        listing = Listing(
            PRODUCT_GROUPS.name, feed_id=source.id, ad_account_id=source.ad_account_id
        )
        result: ProductGroupConnection = await connection(
            info, listing, first, after, _PRODUCT_GROUPS
        )
        return result


@strawberry.type(description="A feed and the cursor just after it.")
class FeedEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this feed.")
    node: Feed


@strawberry.type(description="A page of feeds, in upstream order.")
class FeedConnection:
    edges: list[FeedEdge]
    nodes: list[Feed]
    page_info: PageInfo


# --- Product groups -----------------------------------------------------------------------------


@strawberry.type(description="How many products a product group holds (per its vertical).")
class ProductCounts:
    catalog_type: CatalogType
    total: int | None
    in_stock: int | None
    out_of_stock: int | None
    preorder: int | None
    videos: int | None
    is_type_of = _listed(m.ProductCounts)


# The key, then the weight of resolving one entity: one upstream request (graphql_api.cost).
@strawberry.federation.type(
    directives=[_key(), *entity_directives(PRODUCT_GROUP)],
    description="A catalog product group: a filter over its catalog's products.",
)
class ProductGroup:
    id: strawberry.ID
    catalog_type: CatalogType
    catalog_id: strawberry.ID | None
    feed_id: strawberry.ID | None
    name: str | None
    description: str | None
    country: str | None
    locale: str | None
    created_at: UnixTime | None
    updated_at: UnixTime | None
    filters: ProductGroupFiltersType | None = strawberry.field(
        description="The products it selects: without its null members, a productsByFilter "
        "filters input."
    )
    is_featured: bool | None = strawberry.field(
        deprecation_reason="Deprecated by the Pinterest API."
    )
    status: ProductGroupStatus | None
    type: ProductGroupType | None
    is_type_of = _listed(m.ProductGroup)

    @strawberry.field(
        description="Its products: the same connection as `productGroupProducts` (the same "
        "cursors, pages and cache entries).",
        directives=field_directives(PRODUCT_GROUP_PRODUCTS),
    )
    async def products(
        self, info: AppInfo, first: First = DEFAULT_FIRST, after: After = strawberry.UNSET
    ) -> CatalogProductConnection:
        source: Any = self
        listing = Listing(
            PRODUCT_GROUP_PRODUCTS.name,
            product_group_id=source.id,
            ad_account_id=source.ad_account_id,
        )
        result: CatalogProductConnection = await connection(info, listing, first, after, PRODUCTS)
        return result

    @strawberry.field(
        description="How many products it holds (null with the error if they cannot be read).",
        directives=field_directives(PRODUCT_COUNTS),
    )
    async def product_counts(self, info: AppInfo) -> ProductCounts | None:
        source: Any = self
        ctx = info.context
        lookup = await ctx.service.product_counts(
            ctx.token, source.id, ad_account_id=source.ad_account_id, deadline=ctx.deadline
        )
        ctx.collector.used((lookup,))
        return lookup.value  # type: ignore[return-value]  # the model is the source

    @classmethod
    def resolve_reference(cls, info: AppInfo, id: strawberry.ID) -> Any:
        """Federation: a ``ProductGroup`` entity, batched per request (one upstream request
        for many ids: ``GET /catalogs/product_groups?id=``)."""
        return info.context.load_product_group(str(id))


@strawberry.type(description="A product group and the cursor just after it.")
class ProductGroupEdge:
    cursor: str = strawberry.field(
        description="Pass as `after` to continue after this product group."
    )
    node: ProductGroup = strawberry.field(directives=[FREE])  # it came with the page


@strawberry.type(description="A page of product groups, in upstream order.")
class ProductGroupConnection:
    edges: list[ProductGroupEdge]
    nodes: list[ProductGroup] = strawberry.field(directives=[FREE])
    page_info: PageInfo


# --- Catalogs -----------------------------------------------------------------------------------


@strawberry.federation.type(
    directives=[_key(), *entity_directives(CATALOGS)],
    description="A catalog: retail products, hotels or creative assets.",
)
class Catalog:
    id: strawberry.ID
    name: str | None
    catalog_type: CatalogType
    created_at: DateTime | None
    updated_at: DateTime | None
    is_type_of = _listed(m.Catalog)

    @strawberry.field(description="Its feeds.", directives=field_directives(FEEDS))
    async def feeds(
        self, info: AppInfo, first: First = DEFAULT_FIRST, after: After = strawberry.UNSET
    ) -> FeedConnection:
        source: Any = self
        listing = Listing(FEEDS.name, catalog_id=source.id, ad_account_id=source.ad_account_id)
        result: FeedConnection = await connection(info, listing, first, after, _FEEDS)
        return result

    @strawberry.field(
        description="Its product groups.", directives=field_directives(PRODUCT_GROUPS)
    )
    async def product_groups(
        self, info: AppInfo, first: First = DEFAULT_FIRST, after: After = strawberry.UNSET
    ) -> ProductGroupConnection:
        source: Any = self
        listing = Listing(
            PRODUCT_GROUPS.name, catalog_id=source.id, ad_account_id=source.ad_account_id
        )
        result: ProductGroupConnection = await connection(
            info, listing, first, after, _PRODUCT_GROUPS
        )
        return result

    @classmethod
    def resolve_reference(cls, info: AppInfo, id: strawberry.ID) -> Any:
        """Federation: a ``Catalog`` entity, from the caller's (cached) ``GET /catalogs``
        pages, batched per request."""
        return info.context.load_catalog(str(id))


@strawberry.type(description="A catalog and the cursor just after it.")
class CatalogEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this catalog.")
    node: Catalog = strawberry.field(directives=[FREE])  # it came with the page


@strawberry.type(description="A page of catalogs, in upstream order.")
class CatalogConnection:
    edges: list[CatalogEdge]
    nodes: list[Catalog] = strawberry.field(directives=[FREE])
    page_info: PageInfo


CATALOG_LISTING = entities(CatalogConnection, CatalogEdge)
_FEEDS = entities(FeedConnection, FeedEdge)
_PRODUCT_GROUPS = entities(ProductGroupConnection, ProductGroupEdge)

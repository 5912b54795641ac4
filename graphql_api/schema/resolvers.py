"""Thin root resolvers: check arguments, read the selection, call the service, map the result."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.relay import PageInfo
from strawberry.types import Info

from graphql_api.cost import field_directives
from graphql_api.internals import raw_info
from graphql_api.pagination import check_first, decode_cursor, encode_cursor
from graphql_api.schema.connections import CatalogProductConnection, CatalogProductEdge
from graphql_api.schema.context import Context
from graphql_api.schema.ids import AD_ACCOUNT_ID_DIGITS, check_id
from graphql_api.schema.inputs import ProductsByFilterInput, to_request_body
from graphql_api.schema.types import Pin
from graphql_api.service import Listing
from graphql_api.upstream.operations import PIN, PRODUCT_GROUP_PRODUCTS, PRODUCTS_BY_FILTER

__all__ = ["Query"]

DEFAULT_FIRST = 25
AppInfo = Info[Context, None]


def _ad_account(ad_account_id: strawberry.ID | None) -> str | None:
    """The ad account to act as: none when unset or null, else a checked id."""
    if ad_account_id is None or ad_account_id is strawberry.UNSET:
        return None
    return check_id(ad_account_id, "adAccountId", digits=AD_ACCOUNT_ID_DIGITS)


async def _connection(
    info: AppInfo, listing: Listing, first: int | None, after: str | None
) -> CatalogProductConnection:
    ctx = info.context
    service = ctx.service
    count = check_first(first, default=DEFAULT_FIRST, maximum=ctx.max_first)
    position = None
    if after is not None and after is not strawberry.UNSET:
        position = decode_cursor(after, query=listing.key, page_size=service.page_size)
    token = ctx.token
    result = await service.products(
        token,
        listing,
        first=count,
        after=position,
        pin_metrics=ctx.selects(info, "pinMetrics"),
        deadline=ctx.deadline,
    )
    ctx.collector.used(result.sources)
    if result.error is not None:
        ctx.collector.partial_error(result.error, raw_info(info).path.as_list())
    items = result.items

    def cursor(index: int) -> str:
        return encode_cursor(items[index][1], query=listing.key, page_size=service.page_size)

    # Edges only when the operation selects them, their cursors only when it selects those
    # (encoding is most of a page's cost).
    edges = []
    if ctx.selects(info, "edges"):
        every_cursor = ctx.selects(info, "cursor")
        edges = [
            CatalogProductEdge(
                cursor=cursor(index) if every_cursor else "",
                node=product,  # type: ignore[arg-type]  # the model is the type's source
            )
            for index, (product, _) in enumerate(items)
        ]
    return CatalogProductConnection(
        edges=edges,
        nodes=[product for product, _ in items],  # type: ignore[misc]  # models are the sources
        page_info=PageInfo(
            has_next_page=result.has_next_page,
            has_previous_page=result.has_previous_page,
            start_cursor=cursor(0) if items else None,
            end_cursor=cursor(-1) if items else None,
        ),
    )


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
        after: Annotated[
            str | None, strawberry.argument(description="An endCursor or edge cursor.")
        ] = strawberry.UNSET,
        ad_account_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Act as the owner of this ad account."),
        ] = strawberry.UNSET,
    ) -> CatalogProductConnection:
        listing = Listing(
            PRODUCT_GROUP_PRODUCTS.name,
            product_group_id=check_id(product_group_id, "productGroupId"),
            ad_account_id=_ad_account(ad_account_id),
        )
        return await _connection(info, listing, first, after)

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
        after: Annotated[
            str | None, strawberry.argument(description="An endCursor or edge cursor.")
        ] = strawberry.UNSET,
        ad_account_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Act as the owner of this ad account."),
        ] = strawberry.UNSET,
    ) -> CatalogProductConnection:
        listing = Listing(
            PRODUCTS_BY_FILTER.name,
            body=to_request_body(filter),
            ad_account_id=_ad_account(ad_account_id),
        )
        return await _connection(info, listing, first, after)

    @strawberry.field(
        description="One Pin, by id (null with a NOT_FOUND error if none).",
        directives=field_directives(PIN),
    )
    async def pin(self, info: AppInfo, id: strawberry.ID) -> Pin | None:
        pin = await info.context.load_pin(
            str(id), pin_metrics=info.context.selects(info, "pinMetrics")
        )
        return pin  # type: ignore[return-value]  # the model is the type's source

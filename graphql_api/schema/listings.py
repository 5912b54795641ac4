"""Connections over upstream listings: one helper for every listing (products, catalogs, feeds,
product groups), so cursors, pages and cache entries of a listing are the same wherever a
field reads it (``productGroupProducts`` and ``ProductGroup.products``: one listing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import strawberry
from strawberry.relay import PageInfo
from strawberry.types import Info

from graphql_api.internals import raw_info
from graphql_api.pagination import Position, check_first, decode_cursor, encode_cursor
from graphql_api.schema.connections import CatalogProductConnection, CatalogProductEdge
from graphql_api.schema.context import Context
from graphql_api.schema.ids import AD_ACCOUNT_ID_DIGITS, check_id
from graphql_api.service import Listing

__all__ = ["DEFAULT_FIRST", "PRODUCTS", "AppInfo", "Shape", "ad_account", "connection", "entities"]

DEFAULT_FIRST = 25
AppInfo = Info[Context, None]
# What a listing's slice is fetched with: (info, listing, first, after) -> the service's slice.
Fetch = Callable[[AppInfo, Listing, int, Position | None], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Shape:
    """A connection type, its edge type, and how its listing's slices are fetched."""

    connection: Callable[..., Any]
    edge: Callable[..., Any]
    fetch: Fetch


def _products(info: AppInfo, listing: Listing, first: int, after: Position | None) -> Any:
    ctx = info.context
    return ctx.service.products(
        ctx.token,
        listing,
        first=first,
        after=after,
        pin_metrics=ctx.selects(info, "pinMetrics"),
        deadline=ctx.deadline,
    )


def _entities(info: AppInfo, listing: Listing, first: int, after: Position | None) -> Any:
    ctx = info.context
    return ctx.service.entities(ctx.token, listing, first=first, after=after, deadline=ctx.deadline)


def ad_account(ad_account_id: strawberry.ID | None) -> str | None:
    """The ad account to act as: none when unset or null, else a checked id."""
    if ad_account_id is None or ad_account_id is strawberry.UNSET:
        return None
    return check_id(ad_account_id, "adAccountId", digits=AD_ACCOUNT_ID_DIGITS)


async def connection(
    info: AppInfo, listing: Listing, first: int | None, after: str | None, shape: Shape
) -> Any:
    """``first`` items of ``listing`` after the ``after`` cursor, as ``shape``'s connection."""
    ctx = info.context
    service = ctx.service
    count = check_first(first, default=DEFAULT_FIRST, maximum=ctx.max_first)
    position = None
    if after is not None and after is not strawberry.UNSET:
        position = decode_cursor(after, query=listing.key, page_size=service.page_size)
    result = await shape.fetch(info, listing, count, position)
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
        edge = shape.edge
        edges = [
            edge(cursor=cursor(index) if every_cursor else "", node=item)
            for index, (item, _) in enumerate(items)
        ]
    return shape.connection(
        edges=edges,
        nodes=[item for item, _ in items],
        page_info=PageInfo(
            has_next_page=result.has_next_page,
            has_previous_page=result.has_previous_page,
            start_cursor=cursor(0) if items else None,
            end_cursor=cursor(-1) if items else None,
        ),
    )


PRODUCTS = Shape(CatalogProductConnection, CatalogProductEdge, _products)


def entities(connection: Callable[..., Any], edge: Callable[..., Any]) -> Shape:
    """The shape of a connection of catalogs, feeds or product groups (``service.entities``)."""
    return Shape(connection, edge, _entities)

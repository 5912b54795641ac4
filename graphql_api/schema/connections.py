"""The Relay-style connection of catalog products."""

from __future__ import annotations

import strawberry
from strawberry.relay import PageInfo

from graphql_api.schema.types import CatalogProduct

__all__ = ["CatalogProductConnection", "CatalogProductEdge", "PageInfo"]


@strawberry.type(description="A catalog product and the cursor just after it.")
class CatalogProductEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this product.")
    node: CatalogProduct


@strawberry.type(description="A page of catalog products, in upstream order.")
class CatalogProductConnection:
    edges: list[CatalogProductEdge]
    nodes: list[CatalogProduct]
    page_info: PageInfo

"""The upstream operations: one table of what this service can ask the Pinterest API.

Everything that needs to know about an operation reads it here: the client builds the request
from it (method, path template) and retries it only if it is idempotent; resilience gives each
one a breaker (and a metrics label) under its name; the service and the schema's resolvers name
the operation a listing walks; the cost estimate (:func:`graphql_api.limits.upstream_cost`)
counts the upstream requests of each root field from :data:`ROOT_FIELDS`. An operation cannot
be declared without its cost (a required field), and a test checks that every request the
client can send and every root field of the schema is in these tables.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "FREE_ROOT_FIELDS",
    "OPERATIONS",
    "PIN",
    "PRODUCTS_BY_FILTER",
    "PRODUCT_GROUP_PRODUCTS",
    "ROOT_FIELDS",
    "Cost",
    "Operation",
]


class Cost(enum.Enum):
    """How many upstream requests one use of an operation can make."""

    ONE = "one"  # one request
    PAGES = "pages"  # one per canonical page the slice spans, plus one if it crosses a boundary


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # its breaker's name and its metrics label
    method: Literal["GET", "POST"]
    path: str  # a template: ``{name}`` parts are filled in, URL-quoted, by the client
    cost: Cost
    idempotent: bool  # retried on transient failures (every GET; a POST only if documented)

    def requests(self, first: int, page_size: int) -> int:
        """The most upstream requests one use can make (``first`` items of a listing)."""
        if self.cost is Cost.PAGES:
            return math.ceil(max(first, 1) / page_size) + 1
        return 1


PRODUCT_GROUP_PRODUCTS = Operation(
    "product_group_products",
    "GET",
    "/catalogs/product_groups/{product_group_id}/products",
    cost=Cost.PAGES,
    idempotent=True,
)
PRODUCTS_BY_FILTER = Operation(
    "products_by_filter",
    "POST",
    "/catalogs/products/get_by_product_group_filters",
    cost=Cost.PAGES,
    idempotent=True,  # documented idempotent by Pinterest
)
PIN = Operation("pin", "GET", "/pins/{pin_id}", cost=Cost.ONE, idempotent=True)

OPERATIONS: Mapping[str, Operation] = {
    operation.name: operation for operation in (PRODUCT_GROUP_PRODUCTS, PRODUCTS_BY_FILTER, PIN)
}

# The schema's root fields that call the upstream, and the operation each calls (``_entities``:
# once per representation, all of them Pins).
ROOT_FIELDS: Mapping[str, Operation] = {
    "productGroupProducts": PRODUCT_GROUP_PRODUCTS,
    "productsByFilter": PRODUCTS_BY_FILTER,
    "pin": PIN,
    "_entities": PIN,
}
# Root fields that never call the upstream (introspection and federation's SDL).
FREE_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type", "_service"})

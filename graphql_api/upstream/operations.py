"""The upstream operations: one table of what this service can ask the Pinterest API.

Everything that needs to know about an operation reads it here: the client builds the request
from it (method, path template) and retries it only if it is idempotent; resilience gives each
one a breaker (and a metrics label) under its name; the service and the schema's resolvers name
the operation a listing walks; the schema's cost directives (``@cost``, ``@listSize``: see
:mod:`graphql_api.cost`) are derived from each root field's operation in :data:`ROOT_FIELDS`,
and the cost estimate reads them back from the schema. An operation cannot be declared without
its cost (a required field), and tests check that every request the client can send and every
root field of the schema is in these tables, and that each root field carries the directives
its operation implies.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "AVAILABLE_FILTER_VALUES",
    "CATALOGS",
    "FEED",
    "FEEDS",
    "FREE_ROOT_FIELDS",
    "OPERATIONS",
    "PIN",
    "PRODUCTS_BY_FILTER",
    "PRODUCT_COUNTS",
    "PRODUCT_GROUP",
    "PRODUCT_GROUPS",
    "PRODUCT_GROUP_PRODUCTS",
    "ROOT_FIELDS",
    "Cost",
    "Operation",
]


class Cost(enum.Enum):
    """How many upstream requests one use of an operation can make."""

    ONE = "one"  # one request
    # One per canonical page the slice spans (one more when it resumes after a cursor: the
    # slice can then cross a page boundary).
    PAGES = "pages"


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # its breaker's name and its metrics label
    method: Literal["GET", "POST"]
    path: str  # a template: ``{name}`` parts are filled in, URL-quoted, by the client
    cost: Cost
    idempotent: bool  # retried on transient failures (every GET; a POST only if documented)


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
# The catalog as a graph (issue 18): the listings are pages over bookmarks, as the products are.
CATALOGS = Operation("catalogs", "GET", "/catalogs", cost=Cost.PAGES, idempotent=True)
FEEDS = Operation("feeds", "GET", "/catalogs/feeds", cost=Cost.PAGES, idempotent=True)
FEED = Operation("feed", "GET", "/catalogs/feeds/{feed_id}", cost=Cost.ONE, idempotent=True)
PRODUCT_GROUPS = Operation(
    "product_groups", "GET", "/catalogs/product_groups", cost=Cost.PAGES, idempotent=True
)
PRODUCT_GROUP = Operation(
    "product_group",
    "GET",
    "/catalogs/product_groups/{product_group_id}",
    cost=Cost.ONE,
    idempotent=True,
)
PRODUCT_COUNTS = Operation(
    "product_counts",
    "GET",
    "/catalogs/product_groups/{product_group_id}/product_counts",
    cost=Cost.ONE,
    idempotent=True,
)
AVAILABLE_FILTER_VALUES = Operation(
    "available_filter_values",
    "GET",
    "/catalogs/available_filter_values",
    cost=Cost.ONE,
    idempotent=True,
)

OPERATIONS: Mapping[str, Operation] = {
    operation.name: operation
    for operation in (
        PRODUCT_GROUP_PRODUCTS,
        PRODUCTS_BY_FILTER,
        PIN,
        CATALOGS,
        FEEDS,
        FEED,
        PRODUCT_GROUPS,
        PRODUCT_GROUP,
        PRODUCT_COUNTS,
        AVAILABLE_FILTER_VALUES,
    )
}

# The schema's root fields that call the upstream, and the operation each calls (``_entities``:
# at most once per representation, Pins one by one; ``productGroups(ids)``: at most once per id,
# many ids a request).
ROOT_FIELDS: Mapping[str, Operation] = {
    "productGroupProducts": PRODUCT_GROUP_PRODUCTS,
    "productsByFilter": PRODUCTS_BY_FILTER,
    "pin": PIN,
    "_entities": PIN,
    "catalogs": CATALOGS,
    "feed": FEED,
    "productGroup": PRODUCT_GROUP,
    "productGroups": PRODUCT_GROUPS,
    "availableFilterValues": AVAILABLE_FILTER_VALUES,
}
# Root fields that never call the upstream (introspection and federation's SDL).
FREE_ROOT_FIELDS = frozenset({"__typename", "__schema", "__type", "_service"})

"""What the page cache holds, and the shared (Redis) form of each kind of value: one table.

A value is written as its kind's name (in the entry's JSON header: see :mod:`graphql_api.cache`)
and a MessagePack body, read back equal. Product pages and Pins keep their own forms and the names
they had (``"page"``, ``"pin"``), so entries of replicas of an earlier version still read; the
catalog graph's values are the models as msgspec writes them, so whatever structs the models hold
(a product group's typed filters, say) are written and read without code here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from graphql_api.upstream.models import (
    AvailableFilterValues,
    Catalog,
    Feed,
    Listing,
    Page,
    Pin,
    ProductCounts,
    ProductGroup,
    dump_listing,
    dump_page,
    dump_pin,
    listing_type,
    load_listing,
    load_page,
    load_pin,
)

__all__ = ["FORMS", "Cached", "dump", "load"]

# Product pages and Pins, and the catalog graph's values (issue 18): a listing page (catalogs,
# feeds or product groups), a feed, a product group, its counts, the filter values.
Cached = Page | Pin | Listing[Any] | Feed | ProductGroup | ProductCounts | AvailableFilterValues

_Form = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]
_STRUCTS = msgspec.msgpack.Encoder()


def _struct(cls: type[Any]) -> _Form:
    return _STRUCTS.encode, msgspec.msgpack.Decoder(cls).decode


# Each kind's name, and how its body is written and read.
FORMS: dict[str, _Form] = {
    "page": (dump_page, load_page),
    "pin": (dump_pin, load_pin),
    "catalogs": (dump_listing, partial(load_listing, Catalog)),
    "feeds": (dump_listing, partial(load_listing, Feed)),
    "product_groups": (dump_listing, partial(load_listing, ProductGroup)),
    "feed": _struct(Feed),
    "product_group": _struct(ProductGroup),
    "product_counts": _struct(ProductCounts),
    "filter_values": _struct(AvailableFilterValues),
}
_KINDS: dict[type, str] = {
    Page: "page",
    Pin: "pin",
    Feed: "feed",
    ProductGroup: "product_group",
    ProductCounts: "product_counts",
    AvailableFilterValues: "filter_values",
}
# A listing page's kind is its entities' (one with none reads back equal as any).
_LISTING_KINDS: dict[type | None, str] = {
    Catalog: "catalogs",
    Feed: "feeds",
    ProductGroup: "product_groups",
    None: "catalogs",
}


def dump(value: Cached) -> tuple[str, bytes]:
    """``value``'s kind and body."""
    kind = _KINDS.get(type(value))
    if kind is None:
        assert isinstance(value, Listing), type(value)
        kind = _LISTING_KINDS[listing_type(value)]
    return kind, FORMS[kind][0](value)


def load(kind: str, body: bytes) -> Cached:
    """The value :func:`dump` wrote; ``KeyError`` for a kind this version does not know,
    ``ValueError`` for a body that is not one of its kind."""
    value: Cached = FORMS[kind][1](body)
    return value

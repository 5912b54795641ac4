"""The ``productsByFilter`` input: the spec's request body, camelCased, ``@oneOf`` where the spec
has a one-of; and its translation back to the upstream JSON body."""

from __future__ import annotations

import enum
from typing import Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from graphql_api.errors import BadUserInput
from graphql_api.schema.ids import check_id
from graphql_api.schema.types import CatalogType

__all__ = ["SCALARS", "ProductsByFilterInput", "to_request_body"]

_UINT32_MAX = 4_294_967_295


def _parse_uint32(value: object) -> int:
    # A GraphQLError (not a ValueError) so the message reaches the client as a request error.
    if type(value) is not int or not 0 <= value <= _UINT32_MAX:
        raise GraphQLError(f"UInt32 must be an integer in 0..{_UINT32_MAX}.")
    return value


UInt32 = NewType("UInt32", int)

SCALARS: dict[object, ScalarDefinition] = {
    UInt32: strawberry.scalar(
        name="UInt32",
        description="An unsigned 32-bit integer (0..4294967295).",
        serialize=int,
        parse_value=_parse_uint32,
    )
}


@strawberry.enum(description="Comparison of a numeric criterion.")
class ComparisonOperator(enum.Enum):
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUALS = "GREATER_THAN_OR_EQUALS"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUALS = "LESS_THAN_OR_EQUALS"


@strawberry.enum(description="How a label criterion matches.")
class FilterOperatorType(enum.Enum):
    IS = "IS"
    CONTAINS = "CONTAINS"


@strawberry.enum
class MediaType(enum.Enum):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"


@strawberry.enum
class Gender(enum.Enum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    UNISEX = "UNISEX"


@strawberry.input(description="MIN_PRICE / MAX_PRICE: a price bound.")
class PricingCriteria:
    values: float
    inclusion: bool = True
    negated: bool = False


@strawberry.input(description="PRICE (hotel): a price comparison in a currency.")
class PricingCurrencyCriteria:
    value: float
    operator: ComparisonOperator
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    negated: bool = False


@strawberry.input(description="CURRENCY: one currency (cannot be negated).")
class CurrencyCriteria:
    values: str = strawberry.field(description="ISO 4217 currency code.")


@strawberry.input(description="A criterion over several strings.")
class MultipleStringCriteria:
    values: list[str]
    negated: bool = False


@strawberry.input(description="A criterion over several category paths.")
class MultipleStringListCriteria:
    values: list[list[str]]
    negated: bool = False


@strawberry.input(description="CUSTOM_LABEL_n: strings matched with IS or CONTAINS.")
class FilterOperatorTypeCriteria:
    values: list[str]
    filter_operator_type: FilterOperatorType = FilterOperatorType.IS
    negated: bool = False


@strawberry.input(description="CUSTOM_NUMBER_n: a numeric comparison.")
class Uint32Criteria:
    operator: ComparisonOperator
    value: UInt32
    negated: bool = False


@strawberry.input(description="MEDIA_TYPE: image or video.")
class MultipleMediaTypesCriteria:
    values: list[MediaType]
    negated: bool = False


@strawberry.input(description="GENDER.")
class MultipleGenderCriteria:
    values: list[Gender]
    negated: bool = False


@strawberry.input(description="COUNTRY (hotel): ISO 3166 country codes.")
class MultipleCountriesCriteria:
    values: list[str]
    negated: bool = False


@strawberry.input(
    one_of=True,
    description="One filter key of the spec (MIN_PRICE: minPrice, CUSTOM_LABEL_0: customLabel0).",
)
class ProductGroupFilterKey:
    min_price: PricingCriteria | None = strawberry.UNSET
    max_price: PricingCriteria | None = strawberry.UNSET
    price: PricingCurrencyCriteria | None = strawberry.UNSET
    currency: CurrencyCriteria | None = strawberry.UNSET
    item_id: MultipleStringCriteria | None = strawberry.UNSET
    item_group_id: MultipleStringCriteria | None = strawberry.UNSET
    availability: MultipleStringCriteria | None = strawberry.UNSET
    brand: MultipleStringCriteria | None = strawberry.UNSET
    condition: MultipleStringCriteria | None = strawberry.UNSET
    gender: MultipleGenderCriteria | None = strawberry.UNSET
    media_type: MultipleMediaTypesCriteria | None = strawberry.UNSET
    title_keywords: MultipleStringCriteria | None = strawberry.UNSET
    product_group: MultipleStringCriteria | None = strawberry.UNSET
    hotel_id: MultipleStringCriteria | None = strawberry.UNSET
    country: MultipleCountriesCriteria | None = strawberry.UNSET
    creative_assets_id: MultipleStringCriteria | None = strawberry.UNSET
    custom_label_0: FilterOperatorTypeCriteria | None = strawberry.UNSET
    custom_label_1: FilterOperatorTypeCriteria | None = strawberry.UNSET
    custom_label_2: FilterOperatorTypeCriteria | None = strawberry.UNSET
    custom_label_3: FilterOperatorTypeCriteria | None = strawberry.UNSET
    custom_label_4: FilterOperatorTypeCriteria | None = strawberry.UNSET
    custom_number_0: Uint32Criteria | None = strawberry.UNSET
    custom_number_1: Uint32Criteria | None = strawberry.UNSET
    custom_number_2: Uint32Criteria | None = strawberry.UNSET
    custom_number_3: Uint32Criteria | None = strawberry.UNSET
    custom_number_4: Uint32Criteria | None = strawberry.UNSET
    product_type_0: MultipleStringListCriteria | None = strawberry.UNSET
    product_type_1: MultipleStringListCriteria | None = strawberry.UNSET
    product_type_2: MultipleStringListCriteria | None = strawberry.UNSET
    product_type_3: MultipleStringListCriteria | None = strawberry.UNSET
    product_type_4: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_0: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_1: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_2: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_3: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_4: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_5: MultipleStringListCriteria | None = strawberry.UNSET
    google_product_category_6: MultipleStringListCriteria | None = strawberry.UNSET


@strawberry.input(one_of=True, description="Products matching any, or all, of the filter keys.")
class ProductGroupFilters:
    any_of: list[ProductGroupFilterKey] | None = strawberry.UNSET
    all_of: list[ProductGroupFilterKey] | None = strawberry.UNSET


@strawberry.input(description="Products of a feed that match the filters.")
class FeedBasedFilterRequest:
    feed_id: strawberry.ID
    filters: ProductGroupFilters


@strawberry.input(
    description="Products of a catalog that match the filters; RETAIL needs country and locale."
)
class CatalogBasedFilterRequest:
    catalog_type: CatalogType
    catalog_id: strawberry.ID
    filters: ProductGroupFilters
    country: str | None = strawberry.UNSET
    locale: str | None = strawberry.UNSET


@strawberry.input(one_of=True, description="The request body of List products by filter.")
class ProductsByFilterInput:
    feed_based: FeedBasedFilterRequest | None = strawberry.UNSET
    catalog_based: CatalogBasedFilterRequest | None = strawberry.UNSET


# Keys the spec allows per kind of request (feed-based requests take the retail keys).
_HOTEL_KEYS = frozenset(
    {"PRICE", "HOTEL_ID", "BRAND", "COUNTRY", "TITLE_KEYWORDS"}
    | {f"CUSTOM_LABEL_{i}" for i in range(5)}
)
_CREATIVE_ASSETS_KEYS = frozenset(
    {"CREATIVE_ASSETS_ID", "MEDIA_TYPE", "TITLE_KEYWORDS"}
    | {f"CUSTOM_LABEL_{i}" for i in range(5)}
    | {f"GOOGLE_PRODUCT_CATEGORY_{i}" for i in range(7)}
)
_RETAIL_KEYS = frozenset(
    {
        "MIN_PRICE",
        "MAX_PRICE",
        "CURRENCY",
        "ITEM_ID",
        "AVAILABILITY",
        "BRAND",
        "CONDITION",
        "ITEM_GROUP_ID",
        "GENDER",
        "MEDIA_TYPE",
        "PRODUCT_GROUP",
        "TITLE_KEYWORDS",
    }
    | {f"CUSTOM_LABEL_{i}" for i in range(5)}
    | {f"CUSTOM_NUMBER_{i}" for i in range(5)}
    | {f"PRODUCT_TYPE_{i}" for i in range(5)}
    | {f"GOOGLE_PRODUCT_CATEGORY_{i}" for i in range(7)}
)
_KEYS_BY_CATALOG = {
    "RETAIL": _RETAIL_KEYS,
    "HOTEL": _HOTEL_KEYS,
    "CREATIVE_ASSETS": _CREATIVE_ASSETS_KEYS,
}


def _json(value: Any) -> Any:
    """A Strawberry input value as upstream JSON: snake_case keys, enum values, UNSET dropped."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_json(v) for v in value]
    if hasattr(value, "__strawberry_definition__"):
        return {
            name: _json(v)
            for name, v in vars(value).items()
            if v is not strawberry.UNSET and v is not None
        }
    return value


def _filters(filters: ProductGroupFilters, allowed: frozenset[str], kind: str) -> dict[str, Any]:
    combinator, keys = ("any_of", filters.any_of) if filters.any_of else ("all_of", filters.all_of)
    if not keys:
        raise BadUserInput("`filters` needs at least one filter key in anyOf or allOf.")
    out = []
    for key in keys:
        ((name, criteria),) = ((n, v) for n, v in vars(key).items() if v)
        upstream_key = name.upper()
        if upstream_key not in allowed:
            raise BadUserInput(f"Filter key {upstream_key} is not available for {kind} requests.")
        out.append({upstream_key: _json(criteria)})
    return {combinator: out}


def to_request_body(value: ProductsByFilterInput) -> dict[str, Any]:
    """The upstream JSON body (``CatalogsListProductsByFilterRequest``) for a filter input."""
    if value.feed_based:
        feed = value.feed_based
        return {
            "feed_id": check_id(feed.feed_id, "feedId"),
            "filters": _filters(feed.filters, _RETAIL_KEYS, "feed-based"),
        }
    catalog = value.catalog_based
    assert catalog  # @oneOf guarantees exactly one member
    catalog_type = catalog.catalog_type.value
    if catalog_type not in _KEYS_BY_CATALOG:
        raise BadUserInput(f"catalogType {catalog_type} cannot be filtered.")
    body: dict[str, Any] = {
        "catalog_type": catalog_type,
        "catalog_id": check_id(catalog.catalog_id, "catalogId"),
        "filters": _filters(catalog.filters, _KEYS_BY_CATALOG[catalog_type], catalog_type),
    }
    if catalog_type == "RETAIL":
        if not catalog.country or not catalog.locale:
            raise BadUserInput("RETAIL catalog-based requests need `country` and `locale`.")
        body["country"] = catalog.country
        body["locale"] = catalog.locale
    elif catalog.country or catalog.locale:
        raise BadUserInput("`country` and `locale` apply to RETAIL catalogs only.")
    return body

"""Output types of a product group's filters (``ProductGroup.filters``) and of the filter values
a filter UI offers (``availableFilterValues``). Their sources are the models'
:class:`~graphql_api.upstream.models.ProductGroupFilters` and
:class:`~graphql_api.upstream.models.AvailableFilterValues`, read as :mod:`.types` reads its
models (plain attributes, ``is_type_of = _reads(model)``).

**Names.** The filters mirror the ``productsByFilter`` input (:mod:`.inputs`), whose types hold
the plain names; each output type or enum is named as the input one it mirrors with ``Output``
appended (``ProductGroupFilters`` → ``ProductGroupFiltersOutput``, ``PricingCriteria`` →
``PricingCriteriaOutput``, ``Gender`` → ``GenderOutput``, ...) and has the same field names. So
a group's filters, read with every field selected, are a valid ``filters`` input once their
``null`` members are left out (an input's ``@oneOf`` takes exactly one member, and a response
cannot leave an unselected field out: ``null`` there means "not this key"), e.g. in JavaScript
``JSON.parse(JSON.stringify(filters, (k, v) => v ?? undefined))``. The two other types,
``AvailableFilterValues`` and ``FilterValues``, mirror no input and keep the spec's names.

**Leniency.** The output enums are the input's plus ``UNKNOWN``, for a value newer than this
API (it cannot be passed back: the input enums refuse it). A key of a group's filters this API
does not know, or a criterion that did not fit, is an entry with every member ``null``, in its
place: passed back, it is refused rather than silently widening or narrowing the filter.
"""

from __future__ import annotations

import strawberry

from graphql_api.schema.inputs import UInt32
from graphql_api.schema.types import CatalogType, _reads
from graphql_api.upstream import models as m

__all__ = [
    "AvailableFilterValues",
    "ComparisonOperatorOutput",
    "FilterOperatorTypeOutput",
    "FilterValues",
    "GenderOutput",
    "MediaTypeOutput",
    "ProductGroupFilterKeyOutput",
    "ProductGroupFiltersType",
]

# The models' enums are the GraphQL enums (unknown upstream values read UNKNOWN).
strawberry.enum(
    m.ComparisonOperator,
    name="ComparisonOperatorOutput",
    description="Comparison of a numeric criterion (UNKNOWN: a newer value).",
)
strawberry.enum(
    m.FilterOperatorType,
    name="FilterOperatorTypeOutput",
    description="How a label criterion matches (UNKNOWN: a newer value).",
)
strawberry.enum(m.Gender, name="GenderOutput", description="Gender (UNKNOWN: a newer value).")
strawberry.enum(
    m.MediaType, name="MediaTypeOutput", description="Media type (UNKNOWN: a newer value)."
)
ComparisonOperatorOutput = m.ComparisonOperator
FilterOperatorTypeOutput = m.FilterOperatorType
GenderOutput = m.Gender
MediaTypeOutput = m.MediaType


# --- Criteria ---------------------------------------------------------------------------------


@strawberry.type(description="MIN_PRICE / MAX_PRICE: a price bound.")
class PricingCriteriaOutput:
    values: float
    inclusion: bool
    negated: bool
    is_type_of = _reads(m.PricingCriteria)


@strawberry.type(description="PRICE (hotel): a price comparison in a currency.")
class PricingCurrencyCriteriaOutput:
    value: float
    operator: ComparisonOperatorOutput
    currency: str = strawberry.field(description="ISO 4217 currency code.")
    negated: bool
    is_type_of = _reads(m.PricingCurrencyCriteria)


@strawberry.type(description="CURRENCY: one currency (never negated).")
class CurrencyCriteriaOutput:
    values: str = strawberry.field(description="ISO 4217 currency code.")
    is_type_of = _reads(m.CurrencyCriteria)


@strawberry.type(description="A criterion over several strings.")
class MultipleStringCriteriaOutput:
    values: list[str]
    negated: bool
    is_type_of = _reads(m.MultipleStringCriteria)


@strawberry.type(description="A criterion over several category paths.")
class MultipleStringListCriteriaOutput:
    values: list[list[str]]
    negated: bool
    is_type_of = _reads(m.MultipleStringListCriteria)


@strawberry.type(description="CUSTOM_LABEL_n: strings matched with IS or CONTAINS.")
class FilterOperatorTypeCriteriaOutput:
    values: list[str]
    filter_operator_type: FilterOperatorTypeOutput
    negated: bool
    is_type_of = _reads(m.FilterOperatorTypeCriteria)


@strawberry.type(description="CUSTOM_NUMBER_n: a numeric comparison.")
class Uint32CriteriaOutput:
    operator: ComparisonOperatorOutput
    value: UInt32
    negated: bool
    is_type_of = _reads(m.Uint32Criteria)


@strawberry.type(description="MEDIA_TYPE: image or video.")
class MultipleMediaTypesCriteriaOutput:
    values: list[MediaTypeOutput]
    negated: bool
    is_type_of = _reads(m.MultipleMediaTypesCriteria)


@strawberry.type(description="GENDER.")
class MultipleGenderCriteriaOutput:
    values: list[GenderOutput]
    negated: bool
    is_type_of = _reads(m.MultipleGenderCriteria)


@strawberry.type(description="COUNTRY (hotel): ISO 3166 country codes.")
class MultipleCountriesCriteriaOutput:
    values: list[str]
    negated: bool
    is_type_of = _reads(m.MultipleCountriesCriteria)


# --- Filters ----------------------------------------------------------------------------------


@strawberry.type(
    description=(
        "One filter key of a product group (MIN_PRICE: minPrice, CUSTOM_LABEL_0: customLabel0): "
        "one member set, the others null; none set: a key this API does not know."
    )
)
class ProductGroupFilterKeyOutput:
    min_price: PricingCriteriaOutput | None
    max_price: PricingCriteriaOutput | None
    price: PricingCurrencyCriteriaOutput | None
    currency: CurrencyCriteriaOutput | None
    item_id: MultipleStringCriteriaOutput | None
    item_group_id: MultipleStringCriteriaOutput | None
    availability: MultipleStringCriteriaOutput | None
    brand: MultipleStringCriteriaOutput | None
    condition: MultipleStringCriteriaOutput | None
    gender: MultipleGenderCriteriaOutput | None
    media_type: MultipleMediaTypesCriteriaOutput | None
    title_keywords: MultipleStringCriteriaOutput | None
    product_group: MultipleStringCriteriaOutput | None
    hotel_id: MultipleStringCriteriaOutput | None
    country: MultipleCountriesCriteriaOutput | None
    creative_assets_id: MultipleStringCriteriaOutput | None
    custom_label_0: FilterOperatorTypeCriteriaOutput | None
    custom_label_1: FilterOperatorTypeCriteriaOutput | None
    custom_label_2: FilterOperatorTypeCriteriaOutput | None
    custom_label_3: FilterOperatorTypeCriteriaOutput | None
    custom_label_4: FilterOperatorTypeCriteriaOutput | None
    custom_number_0: Uint32CriteriaOutput | None
    custom_number_1: Uint32CriteriaOutput | None
    custom_number_2: Uint32CriteriaOutput | None
    custom_number_3: Uint32CriteriaOutput | None
    custom_number_4: Uint32CriteriaOutput | None
    product_type_0: MultipleStringListCriteriaOutput | None
    product_type_1: MultipleStringListCriteriaOutput | None
    product_type_2: MultipleStringListCriteriaOutput | None
    product_type_3: MultipleStringListCriteriaOutput | None
    product_type_4: MultipleStringListCriteriaOutput | None
    google_product_category_0: MultipleStringListCriteriaOutput | None
    google_product_category_1: MultipleStringListCriteriaOutput | None
    google_product_category_2: MultipleStringListCriteriaOutput | None
    google_product_category_3: MultipleStringListCriteriaOutput | None
    google_product_category_4: MultipleStringListCriteriaOutput | None
    google_product_category_5: MultipleStringListCriteriaOutput | None
    google_product_category_6: MultipleStringListCriteriaOutput | None
    is_type_of = _reads(m.ProductGroupFilterKey)


@strawberry.type(
    name="ProductGroupFiltersOutput",
    description=(
        "A product group's filters: products matching any, or all, of the filter keys (one of "
        "the two is set). Without its null members, a productsByFilter filters input."
    ),
)
class ProductGroupFiltersType:
    any_of: list[ProductGroupFilterKeyOutput] | None
    all_of: list[ProductGroupFilterKeyOutput] | None
    is_type_of = _reads(m.ProductGroupFilters)


# --- Filter values ----------------------------------------------------------------------------


@strawberry.type(
    description=(
        "The values each filter key can take, by the ProductGroupFilterKey member they are for "
        "(a key the catalog's vertical lacks is empty)."
    )
)
class FilterValues:
    ad_image_tags: list[str]
    ad_video_tags: list[str]
    availability: list[str] = strawberry.field(
        description="IN_STOCK, OUT_OF_STOCK, PREORDER, UNAVAILABLE, or newer."
    )
    brand: list[str]
    condition: list[str] = strawberry.field(description="NEW, USED, REFURBISHED, or newer.")
    custom_label_0: list[str]
    custom_label_1: list[str]
    custom_label_2: list[str]
    custom_label_3: list[str]
    custom_label_4: list[str]
    gender: list[GenderOutput]
    google_product_category_0: list[str]
    google_product_category_1: list[str]
    google_product_category_2: list[str]
    google_product_category_3: list[str]
    google_product_category_4: list[str]
    google_product_category_5: list[str]
    google_product_category_6: list[str]
    media_type: list[MediaTypeOutput]
    product_type_0: list[str]
    product_type_1: list[str]
    product_type_2: list[str]
    product_type_3: list[str]
    product_type_4: list[str]
    is_type_of = _reads(m.FilterValues)


@strawberry.type(description="The filter values a filter UI offers for productsByFilter.")
class AvailableFilterValues:
    catalog_type: CatalogType
    filter_values: FilterValues
    is_type_of = _reads(m.AvailableFilterValues)

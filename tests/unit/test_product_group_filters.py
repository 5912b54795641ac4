"""A product group's filters as typed models (issue 18): every key and criterion property of the
spec's filters schemas (``tests/data/catalog-graph.openapi.json``, every vertical) is read, and
read leniently: a key or criterion that does not fit leaves its entry empty in its place and
never fails the group; the models' JSON and MessagePack forms read back equal."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from graphql_api.upstream import models as m
from tests.unit.test_catalog_models import (
    SCHEMAS,
    example,
    parse_one,
    resolve,
    variants,
    with_noise,
)

# Each vertical's filters schema (the product group variants' ``filters``).
FILTERS = {
    "RETAIL": "CatalogsProductGroupFilters",
    "HOTEL": "CatalogsHotelProductGroupFilters",
    "CREATIVE_ASSETS": "CatalogsCreativeAssetsProductGroupFilters",
}
# What the spec has that the models leave out, and why.
NOT_KEPT = {("CURRENCY", "negated")}  # the spec's enum is [false]: "cannot be negated"


def _name(ref: dict[str, Any]) -> str:
    return str(ref["$ref"].rpartition("/")[2])


def combinators(filters: str) -> dict[str, str]:
    """``any_of``/``all_of`` of a filters schema, and the name of its keys' schema."""
    out = {}
    for ref in SCHEMAS[filters]["anyOf"]:
        ((combinator, schema),) = resolve(ref)["properties"].items()
        out[combinator] = _name(schema["items"])
    return out


def filter_keys(filters: str) -> dict[str, dict[str, Any]]:
    """The keys (``MIN_PRICE`` ...) of a filters schema, and the schema of each one's criterion."""
    (keys,) = set(combinators(filters).values())
    out = {}
    for ref in SCHEMAS[keys]["anyOf"]:
        ((key, criterion),) = resolve(ref)["properties"].items()
        out[key] = resolve(criterion)
    return out


KEYS = [(vertical, key) for vertical, name in FILTERS.items() for key in filter_keys(name)]
ALL_KEYS = {key: schema for name in FILTERS.values() for key, schema in filter_keys(name).items()}
FIELDS = {info.encode_name: info for info in msgspec.structs.fields(m.ProductGroupFilterKey)}


def entry(key: str) -> dict[str, Any]:
    """The spec's example of one key: its criterion with every property."""
    return {key: example(ALL_KEYS[key])}


def kept(data: dict[str, Any]) -> dict[str, Any]:
    """What the models keep of an entry."""
    return {
        key: {k: v for k, v in criterion.items() if (key, k) not in NOT_KEPT}
        for key, criterion in data.items()
    }


def group(vertical: str, filters: Any) -> m.ProductGroup:
    parsed = parse_one(m.ProductGroup, {"id": "9", "catalog_type": vertical, "filters": filters})
    assert isinstance(parsed, m.ProductGroup)
    assert parsed.id == "9"  # whatever its filters, the group is read
    return parsed


def as_json(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


def test_the_models_have_every_key_and_property_of_the_spec_and_no_other() -> None:
    for name in FILTERS.values():
        assert set(combinators(name)) == set(m.ProductGroupFilters.__struct_fields__)
    assert set(ALL_KEYS) == set(FIELDS)
    for key, schema in ALL_KEYS.items():
        (criterion,) = (a for a in FIELDS[key].type.__args__ if a is not type(None))
        spec = {p for p in schema["properties"] if (key, p) not in NOT_KEPT}
        assert set(criterion.__struct_fields__) == spec, key
        required = {f.name for f in msgspec.structs.fields(criterion) if f.required}
        assert required == set(schema.get("required", ())), key


@pytest.mark.parametrize(("vertical", "key"), KEYS)
@pytest.mark.parametrize("combinator", ["any_of", "all_of"])
def test_every_key_of_the_spec_is_read(vertical: str, key: str, combinator: str) -> None:
    data = entry(key)
    other = {"BRAND": {"values": ["Acme"], "negated": True}}
    parsed = group(vertical, {combinator: [data, other]})
    # Its JSON (and its cache's form) is the upstream's: one key an entry, unset ones left out.
    assert as_json(parsed.filters) == {combinator: [kept(data), other]}
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(parsed), type=m.ProductGroup) == parsed
    assert msgspec.json.decode(msgspec.json.encode(parsed), type=m.ProductGroup) == parsed
    # The lenient reading (an odd field elsewhere sends a group there) reads it alike.
    lenient = {"id": 9, "catalog_type": vertical, "filters": {combinator: [data, other]}}
    assert m.parse_product_group_json(msgspec.json.encode(lenient)) == parsed
    assert group(vertical, with_noise({combinator: [data, other]})) == parsed


def test_a_key_without_its_optional_properties_takes_the_spec_defaults() -> None:
    parsed = group(
        "RETAIL",
        {
            "all_of": [
                {"MIN_PRICE": {"values": 5}},
                {"CUSTOM_LABEL_0": {"values": ["a"]}},
                {"GENDER": {"values": ["MALE"]}},
            ]
        },
    )
    assert parsed.filters == m.ProductGroupFilters(
        all_of=(
            m.ProductGroupFilterKey(min_price=m.PricingCriteria(5.0, True, False)),
            m.ProductGroupFilterKey(
                custom_label_0=m.FilterOperatorTypeCriteria(("a",), m.FilterOperatorType.IS)
            ),
            m.ProductGroupFilterKey(gender=m.MultipleGenderCriteria((m.Gender.MALE,))),
        )
    )


EMPTY = m.ProductGroupFilterKey()
BRAND = m.ProductGroupFilterKey(brand=m.MultipleStringCriteria(("a",)))


@pytest.mark.parametrize(
    ("filters", "read"),
    [
        (None, None),
        ([{"BRAND": {"values": ["a"]}}], None),  # not an object: no filters, not a wrong shape
        ("any_of", None),
        ({}, m.ProductGroupFilters()),
        ({"any_of": "BRAND", "all_of": None}, m.ProductGroupFilters()),
        ({"any_of": []}, m.ProductGroupFilters(any_of=())),
        (
            {"any_of": [{"BRAND": {"values": ["a"]}}], "all_of": [{"BRAND": {"values": ["a"]}}]},
            m.ProductGroupFilters(any_of=(BRAND,), all_of=(BRAND,)),
        ),
        (
            {
                "all_of": [
                    {"BRAND": {"values": ["a"]}},
                    {"NEWER_KEY": {"values": ["a"]}},  # a key this API does not know
                    {"BRAND": {"values": ["a", None]}},  # an item that does not fit
                    {"BRAND": {"values": "a"}},
                    {"BRAND": {}},  # a required property missing
                    {"BRAND": None},
                    {"MIN_PRICE": {"values": "cheap"}},
                    {"CUSTOM_NUMBER_0": {"operator": "LESS_THAN", "value": 2**32}},
                    {"CUSTOM_NUMBER_0": {"operator": "LESS_THAN", "value": -1}},
                    3,
                    [],
                    {"BRAND": {"values": ["a"]}},
                ]
            },
            m.ProductGroupFilters(all_of=(BRAND, *[EMPTY] * 10, BRAND)),
        ),
        (
            # several keys in one entry (the spec allows one): each kept
            {"any_of": [{"BRAND": {"values": ["a"]}, "MIN_PRICE": {"values": 1}}]},
            m.ProductGroupFilters(
                any_of=(
                    m.ProductGroupFilterKey(
                        brand=m.MultipleStringCriteria(("a",)), min_price=m.PricingCriteria(1.0)
                    ),
                )
            ),
        ),
    ],
)
def test_filters_that_do_not_fit_never_fail_the_group(filters: Any, read: Any) -> None:
    assert group("RETAIL", filters).filters == read


@pytest.mark.parametrize(
    ("data", "read"),
    [
        (
            {"MIN_PRICE": {"values": "12.5", "inclusion": "false", "negated": 1}},
            m.ProductGroupFilterKey(min_price=m.PricingCriteria(12.5, False, True)),
        ),
        (
            {"CUSTOM_NUMBER_1": {"operator": "ABOUT", "value": "7", "negated": "no"}},
            m.ProductGroupFilterKey(
                custom_number_1=m.Uint32Criteria(m.ComparisonOperator.UNKNOWN, 7)
            ),
        ),
        (
            {"CUSTOM_NUMBER_2": {"operator": "LESS_THAN", "value": 4294967295}},
            m.ProductGroupFilterKey(
                custom_number_2=m.Uint32Criteria(m.ComparisonOperator.LESS_THAN, 4294967295)
            ),
        ),
        (
            {"CUSTOM_LABEL_3": {"values": ["x", 4], "filter_operator_type": "MATCHES"}},
            m.ProductGroupFilterKey(
                custom_label_3=m.FilterOperatorTypeCriteria(
                    ("x", "4"), m.FilterOperatorType.UNKNOWN
                )
            ),
        ),
        (
            {"GENDER": {"values": ["FEMALE", "NONBINARY"]}},
            m.ProductGroupFilterKey(
                gender=m.MultipleGenderCriteria((m.Gender.FEMALE, m.Gender.UNKNOWN))
            ),
        ),
        (
            {"MEDIA_TYPE": {"values": ["VIDEO", "AR"], "negated": True}},
            m.ProductGroupFilterKey(
                media_type=m.MultipleMediaTypesCriteria(
                    (m.MediaType.VIDEO, m.MediaType.UNKNOWN), True
                )
            ),
        ),
        (
            {"PRICE": {"value": 9, "operator": "GREATER_THAN", "currency": "EUR"}},
            m.ProductGroupFilterKey(
                price=m.PricingCurrencyCriteria(9.0, m.ComparisonOperator.GREATER_THAN, "EUR")
            ),
        ),
        (
            {"PRODUCT_TYPE_0": {"values": [["Home", "Kitchen"], ["Garden"]]}},
            m.ProductGroupFilterKey(
                product_type_0=m.MultipleStringListCriteria((("Home", "Kitchen"), ("Garden",)))
            ),
        ),
        (
            {"CURRENCY": {"values": "USD", "negated": False}},
            m.ProductGroupFilterKey(currency=m.CurrencyCriteria("USD")),
        ),
    ],
)
def test_criteria_are_read_as_the_rest_of_the_models(data: Any, read: Any) -> None:
    """Scalars as pydantic's lax mode reads them, unknown enum values as UNKNOWN."""
    assert group("RETAIL", {"any_of": [data]}).filters == m.ProductGroupFilters(any_of=(read,))


def test_a_group_with_every_key_of_the_spec_reads_back_from_the_caches_forms() -> None:
    filters = {"any_of": [entry(key) for key in ALL_KEYS]}
    parsed = group("RETAIL", filters)
    assert parsed.filters is not None
    assert parsed.filters.any_of is not None
    assert all(e != EMPTY for e in parsed.filters.any_of)
    assert as_json(parsed.filters) == {"any_of": [kept(e) for e in filters["any_of"]]}
    for module in (msgspec.msgpack, msgspec.json):
        assert module.decode(module.encode(parsed), type=m.ProductGroup) == parsed


def test_filter_values_read_gender_and_media_type_as_the_filters_enums() -> None:
    values = m.parse_filter_values_json(
        b'{"catalog_type": "RETAIL", "filter_values": {"gender": ["MALE", "OTHER"],'
        b' "media_type": ["IMAGE", "VIDEO", 3], "availability": ["UNAVAILABLE"],'
        b' "condition": ["NEW", "OPEN_BOX"]}}'
    )
    assert values.filter_values == m.FilterValues(
        gender=(m.Gender.MALE, m.Gender.UNKNOWN),
        media_type=(m.MediaType.IMAGE, m.MediaType.VIDEO, m.MediaType.UNKNOWN),
        availability=("UNAVAILABLE",),
        condition=("NEW", "OPEN_BOX"),
    )
    cached = msgspec.msgpack.encode(values)
    assert msgspec.msgpack.decode(cached, type=m.AvailableFilterValues) == values


@pytest.mark.parametrize("name", variants("CatalogsAvailableFilterValues"))
def test_the_spec_enums_of_filter_values_are_known(name: str) -> None:
    """Every value the spec lists for gender and media_type reads as itself, not UNKNOWN."""
    properties = SCHEMAS[name]["properties"]["filter_values"]["properties"]
    for key, enum in (("gender", m.Gender), ("media_type", m.MediaType)):
        for value in properties.get(key, {}).get("items", {}).get("enum", ()):
            assert enum(value).value == value
    for key, enum in (("GENDER", m.Gender), ("MEDIA_TYPE", m.MediaType)):
        for value in resolve(ALL_KEYS[key]["properties"]["values"]["items"])["enum"]:
            assert enum(value).value == value

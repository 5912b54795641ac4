"""The catalog-graph models (issue 18): every field of the spec's response schemas is read, and
read leniently (extra fields, unknown enum values, numbers for strings, garbage items).

The examples are built from the spec itself (``tests/data/catalog-graph.openapi.json``) by
:func:`example`: each property's ``example``, else its first enum value, else a value of its
type, through ``$ref``, ``allOf`` and ``oneOf``."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest

from graphql_api.upstream import models as m

SPEC = json.loads((Path(__file__).parents[1] / "data" / "catalog-graph.openapi.json").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
SCALARS = {"string": "string", "integer": 7, "number": 3, "boolean": True}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$ref`` followed and its ``allOf`` merged (properties and enums)."""
    if "$ref" in schema:
        return resolve(SCHEMAS[schema["$ref"].rpartition("/")[2]])
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in map(resolve, schema["allOf"]):
            merged["properties"].update(part.get("properties", {}))
        merged["properties"].update(schema.get("properties", {}))
        return merged
    return schema


def example(schema: dict[str, Any]) -> Any:
    schema = resolve(schema)
    if "oneOf" in schema or "anyOf" in schema:
        return example((schema.get("oneOf") or schema["anyOf"])[0])
    if "example" in schema and schema.get("type") != "object":
        return schema["example"]
    if enum := [v for v in schema.get("enum", ()) if v is not None]:
        return enum[0]
    kind = schema.get("type", "object")
    if kind == "array":
        return [example(schema.get("items", {}))]
    if kind == "object":
        return {name: example(s) for name, s in schema.get("properties", {}).items()}
    return SCALARS[kind]


def variants(name: str) -> list[str]:
    """A schema's vertical variants (its ``oneOf``), or itself."""
    schema = SCHEMAS[name]
    return [ref["$ref"].rpartition("/")[2] for ref in schema.get("oneOf", ())] or [name]


# Each response schema and its model.
ENTITIES: dict[type[msgspec.Struct], str] = {
    m.Catalog: "Catalog",
    m.Feed: "CatalogsFeed",
    m.ProductGroup: "CatalogsVerticalProductGroup",
    m.ProductCounts: "CatalogsProductGroupProductCountsVertical",
    m.AvailableFilterValues: "CatalogsAvailableFilterValues",
}
CASES = [(name, cls) for cls, schema in ENTITIES.items() for name in variants(schema)]
LISTINGS: dict[type[msgspec.Struct], Any] = {
    m.Catalog: m.parse_catalogs_json,
    m.Feed: m.parse_feeds_json,
    m.ProductGroup: m.parse_product_groups_json,
}


def _page(item: bytes) -> bytes:
    return b'{"items": [' + item + b'], "bookmark": "b"}'


def parse_one(cls: type[msgspec.Struct], data: Any) -> Any:
    """``data`` read as one ``cls``: alone, and as the only item of a listing if it is one."""
    raw = msgspec.json.encode(data)
    single = {
        m.Feed: m.parse_feed_json,
        m.ProductGroup: m.parse_product_group_json,
        m.ProductCounts: m.parse_product_counts_json,
        m.AvailableFilterValues: m.parse_filter_values_json,
    }.get(cls)
    results = [] if single is None else [single(raw)]
    if cls in LISTINGS:
        page = LISTINGS[cls](_page(raw))
        assert page.bookmark == "b"
        results += list(page.items)
    first, *others = results
    assert all(other == first for other in others)  # both ways read it alike
    return first


def expected(data: Any) -> Any:
    """What the model keeps of ``data``: all of it but a feed's password."""
    if isinstance(data, dict):
        return {k: expected(v) for k, v in data.items() if k != "password"}
    if isinstance(data, list):
        return [expected(v) for v in data]
    return data


@pytest.mark.parametrize(("name", "cls"), CASES)
def test_every_field_of_the_spec_example_is_read(name: str, cls: type[msgspec.Struct]) -> None:
    data = example(SCHEMAS[name])
    parsed = parse_one(cls, data)
    assert type(parsed) is cls
    assert project(json.loads(msgspec.json.encode(parsed)), data) == expected(data)


def project(kept: Any, data: Any) -> Any:
    """``kept`` with only the keys ``data`` has (at every level): what a model read of it."""
    if isinstance(data, dict) and isinstance(kept, dict):
        return {k: project(kept[k], v) for k, v in data.items() if k in kept}
    return kept


def test_the_spec_examples_cover_the_models_fields() -> None:
    """No field of a model is there for nothing: each is a property of some variant."""
    for cls, schema in ENTITIES.items():
        spec_fields = {f for n in variants(schema) for f in example(SCHEMAS[n])}
        assert set(cls.__struct_fields__) - m.LOCAL_FIELDS == spec_fields, cls
    spec_values = {
        key
        for n in variants("CatalogsAvailableFilterValues")
        for key in example(SCHEMAS[n])["filter_values"]
    }
    assert set(m.FilterValues.__struct_fields__) == spec_values


def test_a_feeds_password_is_never_read() -> None:
    feed = m.parse_feed_json(b'{"id": "1", "credentials": {"username": "u", "password": "p"}}')
    assert feed.credentials == m.FeedCredentials("u")
    assert b'"p"' not in msgspec.json.encode(feed)


@pytest.mark.parametrize(
    ("schema", "enum"),
    [
        ("CatalogsType", m.CatalogType),
        ("CatalogsStatus", m.FeedStatus),
        ("CatalogsFormat", m.FeedFormat),
        ("ProductAvailabilityType", m.ProductAvailability),
        ("CatalogsProductGroupStatus", m.ProductGroupStatus),
        ("CatalogsProductGroupType", m.ProductGroupType),
        ("CatalogsHotelProductGroupType", m.ProductGroupType),
    ],
)
def test_every_enum_value_of_the_spec_is_known(schema: str, enum: Any) -> None:
    for value in SCHEMAS[schema]["enum"]:
        if value is not None:
            assert enum(value).value == value


UNKNOWN_ENUMS = [
    (m.Catalog, {"id": "1", "catalog_type": "FLIGHTS"}, "catalog_type"),
    (m.Feed, {"id": "1", "format": "JSONL"}, "format"),
    (m.Feed, {"id": "1", "status": "DELETED"}, "status"),
    (m.Feed, {"id": "1", "default_availability": "SOLD_OUT"}, "default_availability"),
    (m.ProductGroup, {"id": "1", "type": "AI_PICKS"}, "type"),
    (m.ProductGroup, {"id": "1", "status": 3}, "status"),
    (m.ProductCounts, {"catalog_type": "FLIGHTS", "total": 1}, "catalog_type"),
]


@pytest.mark.parametrize(("cls", "data", "key"), UNKNOWN_ENUMS)
def test_unknown_enum_values_read_as_unknown(
    cls: type[msgspec.Struct], data: dict[str, Any], key: str
) -> None:
    assert getattr(parse_one(cls, data), key).value == "UNKNOWN"


def with_noise(value: Any) -> Any:
    """``value`` with a field the spec does not have added to every object."""
    if isinstance(value, dict):
        return {"zz_new": [{"x": 1}], **{k: with_noise(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [with_noise(v) for v in value]
    return value


@pytest.mark.parametrize(("name", "cls"), CASES)
def test_extra_fields_anywhere_change_nothing(name: str, cls: type[msgspec.Struct]) -> None:
    data = example(SCHEMAS[name])
    assert parse_one(cls, with_noise(data)) == parse_one(cls, data)


def test_scalars_are_read_as_pydantic_lax_mode_reads_them() -> None:
    group = parse_one(
        m.ProductGroup,
        {"id": 31, "created_at": "1621350033000", "is_featured": "false", "filters": [1]},
    )
    assert (group.id, group.created_at, group.is_featured) == ("31", 1621350033000, False)
    assert group.filters is None  # not an object: no filters rather than a wrong shape
    counts = parse_one(m.ProductCounts, {"total": 3.0, "in_stock": "2", "videos": None})
    assert (counts.total, counts.in_stock, counts.videos) == (3, 2, None)
    assert counts.catalog_type is m.CatalogType.UNKNOWN  # absent


def test_filter_values_keep_what_reads_as_strings() -> None:
    values = m.parse_filter_values_json(
        b'{"catalog_type": "HOTEL", "filter_values": {"brand": ["a", 1, null, {}],'
        b' "custom_label_0": "not a list"}}'
    )
    assert values.filter_values == m.FilterValues(brand=("a", "1"))
    assert m.parse_filter_values_json(b"{}") == m.AvailableFilterValues()


GARBAGE: list[Any] = [None, 3, "x", [], {}, {"id": None}, {"id": {"a": 1}}, {"name": "no id"}]


@pytest.mark.parametrize("cls", list(LISTINGS))
def test_an_item_that_fits_no_type_is_broken_in_its_place(cls: type[msgspec.Struct]) -> None:
    good = {"id": "1", "catalog_type": "HOTEL"}
    data = {"items": [good, *GARBAGE, good], "bookmark": ""}
    page = LISTINGS[cls](msgspec.json.encode(data))
    first, *broken, last = page.items
    assert first == last == cls(id="1", catalog_type=m.CatalogType.HOTEL)
    assert [type(item) for item in broken] == [m.BrokenItem] * len(GARBAGE)
    assert page.bookmark is None  # an empty bookmark: the last page


@pytest.mark.parametrize("parse", [*LISTINGS.values()])
@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"items": {}}', b'{"items": [], "bookmark": 1}'])
def test_what_is_not_a_page_is_a_value_error(parse: Any, body: bytes) -> None:
    with pytest.raises(ValueError, match="not a page"):
        parse(body)


@pytest.mark.parametrize(
    "parse", [m.parse_feed_json, m.parse_product_group_json, *LISTINGS.values()]
)
def test_what_is_not_json_is_a_decode_error(parse: Any) -> None:
    with pytest.raises(msgspec.DecodeError):
        parse(b"<html>")


@pytest.mark.parametrize("parse", [m.parse_feed_json, m.parse_product_group_json])
@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"id": null}', b'"x"'])
def test_an_object_without_an_id_is_a_value_error(parse: Any, body: bytes) -> None:
    with pytest.raises(ValueError, match="not a"):
        parse(body)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {rng.choice(["id", "name", "x"]): random_json(rng, depth + 1) for _ in range(2)}
    return {"null": None, "bool": True, "int": 5, "float": 1.5, "str": "s"}[kind]


@pytest.mark.parametrize("seed", range(20))
def test_parsing_a_listing_never_fails_for_odd_items(seed: int) -> None:
    rng = random.Random(seed)
    for cls, parse in LISTINGS.items():
        items: list[Any] = []
        for name in variants(ENTITIES[cls]):
            item = example(SCHEMAS[name])
            key = rng.choice(sorted(item))
            item[key] = random_json(rng)
            items.append(item)
        page = parse(msgspec.json.encode({"items": items}))
        assert len(page.items) == len(items)
        assert all(type(item) in (cls, m.BrokenItem) for item in page.items)

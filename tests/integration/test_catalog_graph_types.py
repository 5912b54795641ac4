"""The catalog graph's output types against the spec (``tests/data/catalog-graph.openapi.json``),
as ``test_types.py`` checks the products': every property of the spec's response schemas is a
field of the GraphQL type that exposes it, of a type that can carry its values; and the demo's
whole graph, read with every field selected, comes back as the fake upstream sent it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
)

from graphql_api.internals import graphql_schema
from graphql_api.schema import schema
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import DATA, open_app
from tests.integration.test_types import graphql_name, output_type, select, to_upstream

SPEC = json.loads((DATA / "catalog-graph.openapi.json").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
GQL = graphql_schema(schema)

# Spec schema (each vertical's) -> the GraphQL type that exposes it.
SPEC_TO_GRAPHQL = {
    "Catalog": "Catalog",
    "CatalogsRetailFeed": "Feed",
    "CatalogsHotelFeed": "Feed",
    "CatalogsCreativeAssetsFeed": "Feed",
    "CatalogsFeedCredentials": "FeedCredentials",
    "CatalogsFeedProcessingSchedule": "FeedProcessingSchedule",
    "CatalogsRetailProductGroup": "ProductGroup",
    "CatalogsHotelProductGroup": "ProductGroup",
    "CatalogsCreativeAssetsProductGroup": "ProductGroup",
    "CatalogsRetailProductGroupProductCounts": "ProductCounts",
    "CatalogsHotelProductGroupProductCounts": "ProductCounts",
    "CatalogsCreativeAssetsProductGroupProductCounts": "ProductCounts",
    "CatalogsRetailAvailableFilterValues": "AvailableFilterValues",
    "CatalogsHotelAvailableFilterValues": "AvailableFilterValues",
    "CatalogsCreativeAssetsAvailableFilterValues": "AvailableFilterValues",
}
# Properties deliberately not served, and why.
NOT_SERVED = {("CatalogsFeedCredentials", "password"): "never read: not cached, logged or served"}
# The types a spec property's values may be read as.
SCALARS = {
    "string": {"String", "ID", "DateTime"},
    "integer": {"Int", "UnixTime"},
    "number": {"Int", "Float"},  # counts: numbers in the spec, integers in practice
    "boolean": {"Boolean"},
}


def _ref(prop: dict[str, Any]) -> str | None:
    ref = prop.get("$ref") or next((p.get("$ref") for p in prop.get("allOf", ())), None)
    return None if ref is None else str(ref).rsplit("/", 1)[1]


def properties(name: str) -> tuple[dict[str, Any], set[str]]:
    """A schema's properties and required names, its ``allOf`` parts merged."""
    schema_ = SCHEMAS[name]
    props = dict(schema_.get("properties", {}))
    required = set(schema_.get("required", ()))
    for part in schema_.get("allOf", ()):
        ref = _ref(part) if "$ref" in part else None
        sub = SCHEMAS[ref] if ref is not None else part
        props |= sub.get("properties", {})
        required |= set(sub.get("required", ()))
    return props, required


def _resolved(prop: dict[str, Any]) -> dict[str, Any]:
    ref = _ref(prop)
    return {**SCHEMAS[ref], **{k: v for k, v in prop.items() if k != "$ref"}} if ref else prop


def check_type(where: str, prop: dict[str, Any], type_: GraphQLOutputType) -> None:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    target = _resolved(prop)
    if target.get("type") == "array":
        assert isinstance(type_, GraphQLList), f"{where}: not a list"
        check_type(f"{where}[]", target["items"], type_.of_type)
    elif "enum" in target and isinstance(type_, GraphQLEnumType):
        known = set(target["enum"]) - {"UNKNOWN", None}
        assert known <= set(type_.values), f"{where}: enum values {known - set(type_.values)}"
    elif target.get("type") == "object" or "oneOf" in target or "anyOf" in target:
        assert isinstance(type_, GraphQLObjectType), f"{where}: not an object"
    else:
        assert isinstance(type_, GraphQLScalarType), where
        assert type_.name in SCALARS[target["type"]], f"{where}: {type_} for a {target['type']}"


@pytest.mark.parametrize("spec_name", sorted(SPEC_TO_GRAPHQL))
def test_every_spec_property_is_a_field(spec_name: str) -> None:
    type_ = GQL.get_type(SPEC_TO_GRAPHQL[spec_name])
    assert isinstance(type_, GraphQLObjectType)
    props, required = properties(spec_name)
    assert props
    for prop_name, prop in props.items():
        if (spec_name, prop_name) in NOT_SERVED:
            assert graphql_name(prop_name) not in type_.fields
            continue
        where = f"{type_.name}.{graphql_name(prop_name)} ({spec_name}.{prop_name})"
        assert graphql_name(prop_name) in type_.fields, f"{where} is missing"
        field_type = type_.fields[graphql_name(prop_name)].type
        check_type(where, prop, field_type)
        if isinstance(field_type, GraphQLNonNull) and not isinstance(
            field_type.of_type, GraphQLList
        ):  # non-null only where the upstream must send a value
            assert prop_name in required, f"{where} is non-null, the spec's is optional"
            assert not _resolved(prop).get("nullable"), f"{where} is non-null, the spec's nullable"


def test_filter_values_has_every_key_of_every_vertical() -> None:
    type_ = GQL.get_type("FilterValues")
    assert isinstance(type_, GraphQLObjectType)
    for name in SPEC_TO_GRAPHQL:
        if name.endswith("AvailableFilterValues"):
            values = properties(name)[0]["filter_values"]
            for key, prop in values["properties"].items():
                assert graphql_name(key) in type_.fields, f"FilterValues.{key} ({name})"
                check_type(f"FilterValues.{key}", prop, type_.fields[graphql_name(key)].type)


# Every field of every type of the graph, from the root down (ProductGroup.products' products
# are test_types.py's: their Pins' ids here).
EVERY_FIELD = (
    "{ catalogs(first: 50) { nodes { "
    + select(output_type("Catalog"))
    .strip()[1:-1]
    .replace("products {", "products(first: 1) {")
    .replace(select(output_type("CatalogProduct")), " { __typename pin { id } }")
    + " } } }"
)
GRAPH_KEYS = {"feeds", "product_groups", "products", "product_counts", "filters"}


def _as_sent(answer: dict[str, Any], raw: dict[str, Any], where: str) -> None:
    """Every field of ``answer`` (but the graph's edges) is what ``raw`` holds (null: absent)."""
    for key, value in to_upstream(answer).items():
        if key in GRAPH_KEYS:
            continue
        sent = raw.get(key)
        if isinstance(value, dict) and isinstance(sent, dict):
            _as_sent(value, sent, f"{where}.{key}")
        else:
            assert value == sent, f"{where}.{key}: {value!r} != {sent!r}"


async def test_the_demo_graph_with_every_field_comes_back_as_sent() -> None:
    fake = FakePinterest()
    graph = fake.graph
    async with open_app(fake, max_upstream_cost=10**6) as h:
        result = await h.gql(EVERY_FIELD)
    assert "errors" not in result, result["errors"]
    feeds = {feed["id"]: feed for feed in graph.feeds}
    groups = {group["id"]: group for group in graph.product_groups}
    catalogs = result["data"]["catalogs"]["nodes"]
    assert [c["id"] for c in catalogs] == [c["id"] for c in graph.catalogs]
    for catalog, raw in zip(catalogs, graph.catalogs, strict=True):
        _as_sent(catalog, raw, catalog["id"])
        read = [catalog["productGroups"]["nodes"]]
        for feed in catalog["feeds"]["nodes"]:
            _as_sent(feed, feeds[feed["id"]], feed["id"])
            read.append(feed["productGroups"]["nodes"])
        for group in (g for nodes in read for g in nodes):
            _as_sent(group, groups[group["id"]], group["id"])
            assert group["productCounts"]["total"] == len(fake.group_products(groups[group["id"]]))
            assert group["filters"] is not None
    assert sum(len(c["productGroups"]["nodes"]) for c in catalogs) == len(groups)

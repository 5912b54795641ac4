"""The output types of product group filters and filter values (issue 18,
``graphql_api/schema/catalog_filters.py``), served by a small federation schema over the models:

- they fit their models (``check_models``) and every property of the spec's filters and filter
  values schemas is reachable through them (derived from ``tests/data/catalog-graph.openapi.json``);
- each ``...Output`` type mirrors the ``productsByFilter`` input of its name, field for field, so
  a group's filters read through them are the input that gives the same upstream body as the
  group's own filters (the demo's groups, and one with every key of the spec);
- they are lenient: unknown enum values and unknown keys are served, not errors."""

from __future__ import annotations

from typing import Any, cast

import msgspec
import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLOutputType,
    OperationDefinitionNode,
    get_named_type,
    parse,
)
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig

from graphql_api import compiled
from graphql_api.internals import graphql_schema
from graphql_api.schema import inputs, types
from graphql_api.schema.catalog_filters import AvailableFilterValues, ProductGroupFiltersType
from graphql_api.upstream import models as m
from graphql_api.upstream.fake import FakePinterest
from tests.unit.test_catalog_models import SCHEMAS, example, variants
from tests.unit.test_product_group_filters import (
    ALL_KEYS,
    FILTERS,
    NOT_KEPT,
    combinators,
    filter_keys,
)


@strawberry.type
class Query:
    @strawberry.field
    def group_filters(self, raw: JSON) -> ProductGroupFiltersType | None:
        """The filters of a product group the upstream sent with ``raw`` as its filters."""
        group = m.parse_product_group_json(msgspec.json.encode({"id": "1", "filters": raw}))
        return cast(ProductGroupFiltersType | None, group.filters)

    @strawberry.field
    def filter_values(self, raw: JSON) -> AvailableFilterValues:
        """The filter values of an upstream ``raw`` answer."""
        values = m.parse_filter_values_json(msgspec.json.encode(raw))
        return cast(AvailableFilterValues, values)

    @strawberry.field
    def body(self, input: inputs.ProductsByFilterInput) -> JSON:
        """The upstream body of a ``productsByFilter`` input."""
        return cast(JSON, inputs.to_request_body(input))


SCHEMA = strawberry.federation.Schema(
    query=Query, config=StrawberryConfig(scalar_map={**types.SCALARS, **inputs.SCALARS})
)
TYPES = graphql_schema(SCHEMA).type_map


def test_the_types_fit_their_models() -> None:
    types.check_models(graphql_schema(SCHEMA))


def selection(type_: GraphQLOutputType | GraphQLNamedType) -> str:
    """Every field below ``type_``."""
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType):
        return ""
    return "{ " + " ".join(f"{n} {selection(f.type)}" for n, f in named.fields.items()) + " }"


def run(query: str, **variables: Any) -> Any:
    result = SCHEMA.execute_sync(query, variable_values=variables)
    assert result.errors is None, result.errors
    return result.data


def served_filters(raw: Any) -> Any:
    """``raw`` filters read through the types, every field selected: the JSON a client gets."""
    query = f"query($raw: JSON!) {{ groupFilters(raw: $raw) {selection(TYPES['ProductGroupFiltersOutput'])} }}"  # noqa: E501
    return run(query, raw=raw)["groupFilters"]


def camel(name: str) -> str:
    first, *rest = name.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


def without_nulls(value: Any) -> Any:
    """What a client passes back: the members a response had to fill with null left out."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def as_input(raw: dict[str, Any]) -> dict[str, Any]:
    """Upstream filters written as the input (camelCase; what the input cannot take left out)."""
    return {
        camel(combinator): [
            {
                camel(key): {camel(p): v for p, v in criterion.items() if (key, p) not in NOT_KEPT}
                for key, criterion in entry.items()
            }
            for entry in entries
        ]
        for combinator, entries in raw.items()
    }


def upstream_body(vertical: str, filters: Any) -> Any:
    """The upstream body ``productsByFilter`` sends for ``filters`` in a catalog-based request."""
    request: dict[str, Any] = {"catalogType": vertical, "catalogId": "42", "filters": filters}
    if vertical == "RETAIL":
        request |= {"country": "US", "locale": "en-US"}
    query = "query($input: ProductsByFilterInput!) { body(input: $input) }"
    return run(query, input={"catalogBased": request})["body"]


def assert_round_trips(vertical: str, raw: dict[str, Any]) -> None:
    served = without_nulls(served_filters(raw))
    body = upstream_body(vertical, served)
    assert body == upstream_body(vertical, as_input(raw))  # as if the client wrote them
    model = m.parse_product_group_json(msgspec.json.encode({"id": "1", "filters": raw}))
    assert body["filters"] == msgspec.json.decode(msgspec.json.encode(model.filters))


GROUPS = [g for g in FakePinterest().graph.product_groups if any(g["filters"].values())]


def test_the_demo_has_groups_with_filters_of_every_vertical() -> None:
    assert {g["catalog_type"] for g in GROUPS} == set(FILTERS)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: f"{g['id']}-{g['name']}")
def test_a_demo_groups_filters_read_back_are_the_input_for_its_products(
    group: dict[str, Any],
) -> None:
    assert_round_trips(group["catalog_type"], group["filters"])


@pytest.mark.parametrize("vertical", FILTERS)
@pytest.mark.parametrize("combinator", ["any_of", "all_of"])
def test_every_key_of_the_spec_reads_back_as_its_input(vertical: str, combinator: str) -> None:
    """Every key of the vertical, with every property of its criterion (the spec's example)."""
    raw = {combinator: [{key: example(s)} for key, s in filter_keys(FILTERS[vertical]).items()]}
    assert without_nulls(served_filters(raw)) == as_input(raw)  # every value reached
    assert_round_trips(vertical, raw)


def test_every_property_of_the_spec_filters_is_a_field() -> None:
    """Derived from the spec, not from the examples: each key a field of the filter key type,
    each property of its criterion a field of the criterion's type."""
    filters = cast(GraphQLObjectType, TYPES["ProductGroupFiltersOutput"])
    spec = {camel(c) for name in FILTERS.values() for c in combinators(name)}
    assert set(filters.fields) == spec == {"anyOf", "allOf"}
    key_type = cast(GraphQLObjectType, TYPES["ProductGroupFilterKeyOutput"])
    assert set(key_type.fields) == {camel(key) for key in ALL_KEYS}
    for key, schema in ALL_KEYS.items():
        criterion = get_named_type(key_type.fields[camel(key)].type)
        assert isinstance(criterion, GraphQLObjectType)
        spec = {camel(p) for p in schema["properties"] if (key, p) not in NOT_KEPT}
        assert set(criterion.fields) == spec, key


def test_every_property_of_the_spec_filter_values_is_a_field_and_served() -> None:
    values_type = cast(GraphQLObjectType, TYPES["FilterValues"])
    spec_keys: set[str] = set()
    for name in variants("CatalogsAvailableFilterValues"):
        raw = example(SCHEMAS[name])
        assert set(raw) == {"catalog_type", "filter_values"}
        spec_keys |= set(raw["filter_values"])
        query = f"query($raw: JSON!) {{ filterValues(raw: $raw) {selection(TYPES['AvailableFilterValues'])} }}"  # noqa: E501
        served = run(query, raw=raw)["filterValues"]
        assert served["catalogType"] == raw["catalog_type"]
        for key, values in raw["filter_values"].items():
            assert served["filterValues"][camel(key)] == values, key
    assert set(values_type.fields) == {camel(key) for key in spec_keys}


def test_filter_values_are_named_and_typed_as_the_filter_keys() -> None:
    """A filter UI offers each key's values under the name of the input's member for that key,
    gender and media type as the input's enums (plus UNKNOWN)."""
    values_type = cast(GraphQLObjectType, TYPES["FilterValues"])
    key_input = cast(GraphQLInputObjectType, TYPES["ProductGroupFilterKey"])
    no_key = {"adImageTags", "adVideoTags"}  # values the spec lists, of no filter key
    assert set(values_type.fields) - no_key <= set(key_input.fields)
    for name, input_enum in (("gender", "Gender"), ("mediaType", "MediaType")):
        served = get_named_type(values_type.fields[name].type)
        assert isinstance(served, GraphQLEnumType)
        assert set(served.values) == {*cast(GraphQLEnumType, TYPES[input_enum]).values, "UNKNOWN"}


def test_each_output_type_mirrors_the_input_of_its_name() -> None:
    outputs = [t for name, t in TYPES.items() if name.endswith("Output")]
    assert len(outputs) == 16  # 12 object types, 4 enums
    for output in outputs:
        mirrored = TYPES[output.name.removesuffix("Output")]
        if isinstance(output, GraphQLEnumType):
            assert isinstance(mirrored, GraphQLEnumType)
            assert set(output.values) == {*mirrored.values, "UNKNOWN"}
            continue
        assert isinstance(output, GraphQLObjectType)
        assert isinstance(mirrored, GraphQLInputObjectType)
        assert set(output.fields) == set(mirrored.fields), output.name
        for name, field in output.fields.items():
            theirs = get_named_type(mirrored.fields[name].type).name
            ours = get_named_type(field.type).name
            assert ours in (theirs, f"{theirs}Output"), f"{output.name}.{name}"


def test_unknown_values_and_keys_are_served_and_refused_when_passed_back() -> None:
    raw = {
        "any_of": [
            {"NEWER_KEY": {"values": ["a"]}},
            {"GENDER": {"values": ["MALE", "NONBINARY"]}},
            {"CUSTOM_NUMBER_0": {"operator": "ABOUT", "value": 3}},
        ]
    }
    served = served_filters(raw)
    unknown, gender, number = served["anyOf"]
    assert set(unknown.values()) == {None}  # in its place, no member set
    assert gender["gender"] == {"values": ["MALE", "UNKNOWN"], "negated": False}
    assert number["customNumber0"]["operator"] == "UNKNOWN"
    values = run(
        "query($raw: JSON!) { filterValues(raw: $raw) { filterValues { gender mediaType } } }",
        raw={"catalog_type": "RETAIL", "filter_values": {"gender": ["X"], "media_type": ["AR"]}},
    )
    assert values["filterValues"]["filterValues"] == {
        "gender": ["UNKNOWN"],
        "mediaType": ["UNKNOWN"],
    }
    for entry in without_nulls(served)["anyOf"]:  # none is an input: refused, not widened
        result = SCHEMA.execute_sync(
            "query($input: ProductsByFilterInput!) { body(input: $input) }",
            variable_values={
                "input": {"feedBased": {"feedId": "7", "filters": {"anyOf": [entry]}}}
            },
        )
        assert result.errors
        assert result.data is None


@pytest.mark.parametrize(
    ("root", "type_name", "raw"),
    [
        (
            "groupFilters",
            "ProductGroupFiltersOutput",
            {"all_of": [*({k: example(s)} for k, s in ALL_KEYS.items()), {"NEWER": {}}]},
        ),
        (
            "filterValues",
            "AvailableFilterValues",
            example(SCHEMAS["CatalogsRetailAvailableFilterValues"])
            | {"filter_values": {"gender": ["MALE", "X"], "brand": ["a"]}},
        ),
    ],
)
async def test_compiled_plans_answer_as_graphql_core(root: str, type_name: str, raw: Any) -> None:
    """The app's compiled execution (graphql_api.compiled) completes these types itself, with
    the answer graphql-core gives."""
    query = f"query($raw: JSON!) {{ {root}(raw: $raw) {selection(TYPES[type_name])} }}"
    schema, document = graphql_schema(SCHEMA), parse(query)
    operation = cast(OperationDefinitionNode, document.definitions[0])
    plans = compiled.compile_operation(
        schema, operation, {}, {"raw": raw}, compiled.source_types(schema)
    )
    fallbacks: list[Any] = []
    answer = await compiled.run(
        schema,
        document,
        plans,
        context=None,
        variables={"raw": raw},
        operation_name=None,
        hide_suggestions=False,
        on_fallback=lambda *args: fallbacks.append(args),
    )
    assert (answer.data, answer.errors, fallbacks) == (run(query, raw=raw), None, [])

"""``productsByFilter``: every filter key of the spec goes upstream as a valid request body;
catalog types and filters work end to end; bad input never reaches the upstream; 409s map.

The filter keys, the request kinds that take them and the criteria schemas are all read from
the spec (``tests/data/catalog-products.openapi.json``); bodies are checked with jsonschema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import DATA, Harness, open_app

# --------------------------------------------------------------------------------------------
# The spec: schemas, the filter keys of each kind of request, and a validator for the body.

SPEC_PATH = DATA / "catalog-products.openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SPEC_URI = SPEC_PATH.as_uri()
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
REF_PREFIX = "#/components/schemas/"
REQUEST_SCHEMA = "CatalogsListProductsByFilterRequest"


def schema(ref: str) -> dict[str, Any]:
    """A component schema by name or by ``#/components/schemas/...`` reference."""
    component: dict[str, Any] = SCHEMAS[ref.removeprefix(REF_PREFIX)]
    return component


def resolved(node: dict[str, Any]) -> dict[str, Any]:
    return schema(node["$ref"]) if "$ref" in node else node


def key_criteria(keys_schema: str) -> dict[str, dict[str, Any]]:
    """Filter key -> criteria schema, for a ``...FilterKeys`` schema (anyOf one-key objects)."""
    out = {}
    for branch in schema(keys_schema)["anyOf"]:
        ((key, criteria),) = schema(branch["$ref"])["properties"].items()
        out[key] = resolved(criteria)
    return out


def keys_of_request(request_schema: str) -> list[str]:
    """The filter keys a request schema takes, following its ``filters`` to the key schema."""
    filters = resolved(schema(request_schema)["properties"]["filters"])
    key_sets = []
    for combinator in filters["anyOf"]:  # any_of / all_of: both take the same keys
        ((_, items),) = schema(combinator["$ref"])["properties"].items()
        key_sets.append(list(key_criteria(items["items"]["$ref"])))
    assert all(keys == key_sets[0] for keys in key_sets)
    return key_sets[0]


# The spec's filter keys (what the brief calls "every filter key"), with their criteria schemas.
CRITERIA: dict[str, dict[str, Any]] = {
    **key_criteria("CatalogsProductGroupFilterKeys"),
    **key_criteria("CatalogsHotelProductGroupFilterKeys"),
    **key_criteria("CatalogsCreativeAssetsProductGroupFilterKeys"),
}
ALL_KEYS = sorted(CRITERIA)

# Kind of request ("FEED", or a catalog type) -> the keys it takes, read from the request schema.
_CATALOG_BASED = schema("CatalogsVerticalsListProductsByCatalogBasedFilterRequest")
KINDS: dict[str, list[str]] = {
    "FEED": keys_of_request("CatalogsListProductsByFeedBasedFilter"),
    **{
        catalog_type: keys_of_request(ref)
        for catalog_type, ref in _CATALOG_BASED["discriminator"]["mapping"].items()
    },
}


def reachable_schemas(name: str) -> dict[str, Any]:
    """Every component schema reachable from ``name`` through ``$ref``s, by name."""
    seen: dict[str, Any] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen[current] = SCHEMAS[current]
        stack: list[Any] = [SCHEMAS[current]]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if isinstance(node.get("$ref"), str):
                    todo.append(node["$ref"].removeprefix(REF_PREFIX))
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return seen


def openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``"null"`` type (and
    enum member); ``nullable: false`` is the default and is dropped."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: openapi_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


def request_validator() -> Draft4Validator:
    """Validates against the spec's request schema; ``#/components/...`` refs resolve inside the
    spec document, which is registered under its file URI (OpenAPI 3.0 is draft-4 flavoured)."""
    spec = DRAFT4.create_resource(openapi_to_json_schema(SPEC))
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, spec)
    root = {"$ref": f"{SPEC_URI}{REF_PREFIX}{REQUEST_SCHEMA}"}
    return Draft4Validator(root, registry=registry)


VALIDATOR = request_validator()


def assert_valid_request(body: Any) -> None:
    errors = sorted(VALIDATOR.iter_errors(body), key=str)
    assert not errors, f"{body} is not a {REQUEST_SCHEMA}: {[e.message for e in errors]}"


def changed(base: dict[str, Any], path: str, value: Any = None, *, drop: bool = False) -> Any:
    """A deep copy of ``base`` with the dotted ``path`` (digits index lists) set to ``value``,
    or dropped."""
    out = copy.deepcopy(base)
    *parents, last = (int(name) if name.isdigit() else name for name in path.split("."))
    node: Any = out  # dicts and lists, indexed by the path's names and digits
    for name in parents:
        node = node[name]
    if drop:
        del node[last]
    else:
        node[last] = value
    return out


# --------------------------------------------------------------------------------------------
# GraphQL side: names, literals, and running a query with the filter as a variable or inline.


class Enum(str):
    """An enum value: a bare name in a GraphQL literal, a string in variables and JSON."""


def graphql_name(key: str) -> str:
    """Spec filter key -> ``ProductGroupFilterKey`` member: CUSTOM_LABEL_0 -> customLabel0."""
    first, *rest = key.lower().split("_")
    return first + "".join(part.capitalize() for part in rest)


def literal(value: Any) -> str:
    """A Python value (dicts, lists, str, Enum, numbers, bools, None) as a GraphQL literal."""
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{name}: {literal(v)}" for name, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers, true/false, null


SELECTION = """{
    nodes {
      catalogType
      pin { id title }
      ... on RetailProduct { metadata { availability price currency } }
      ... on HotelProduct { metadata { hotelId } }
      ... on CreativeAssetsProduct { metadata { creativeAssetsId } }
    }
    pageInfo { hasNextPage }
  }"""
BY_VARIABLE = (
    "query ($filter: ProductsByFilterInput!, $first: Int) {\n"
    f"  productsByFilter(filter: $filter, first: $first) {SELECTION}\n}}"
)
STYLES = ["variables", "literal"]


async def products_by_filter(
    h: Harness, filter: dict[str, Any], style: str, first: int = 5
) -> dict[str, Any]:
    """The GraphQL response of ``productsByFilter`` with ``filter`` given as ``style``."""
    if style == "variables":
        return await h.gql(BY_VARIABLE, {"filter": filter, "first": first})
    query = f"{{\n  productsByFilter(filter: {literal(filter)}, first: {first}) {SELECTION}\n}}"
    return await h.gql(query)


CATALOG = build_catalog(300)
FEED_ID = "2680059592705"
CATALOG_ID = "2680059592706"
FILTER_PATH = "/v5/catalogs/products/get_by_product_group_filters"


def filter_input(kind: str, filters: dict[str, Any]) -> dict[str, Any]:
    """A ``ProductsByFilterInput`` of a kind; RETAIL gets country US and locale en-US."""
    if kind == "FEED":
        return {"feedBased": {"feedId": FEED_ID, "filters": filters}}
    request: dict[str, Any] = {"catalogType": Enum(kind), "catalogId": CATALOG_ID}
    if kind == "RETAIL":
        request |= {"country": "US", "locale": "en-US"}
    return {"catalogBased": {**request, "filters": filters}}


def expected_body(kind: str, filters: dict[str, Any]) -> dict[str, Any]:
    """The upstream body the facade should send for ``filter_input(kind, ...)``."""
    if kind == "FEED":
        return {"feed_id": FEED_ID, "filters": filters}
    body: dict[str, Any] = {"catalog_type": kind, "catalog_id": CATALOG_ID, "filters": filters}
    if kind == "RETAIL":
        body |= {"country": "US", "locale": "en-US"}
    return body


def sent_body(h: Harness) -> Any:
    """The body of the one upstream request made, after checking method, path and query."""
    (request,) = h.requests
    assert request.method == "POST"
    assert request.url.path == FILTER_PATH
    assert dict(request.url.params) == {"page_size": "250"}
    assert request.headers["Content-Type"] == "application/json"
    return json.loads(request.content)


# --------------------------------------------------------------------------------------------
# 1. Every filter key, in every kind of request that takes it, goes upstream as a valid body.

# Criteria schema (by title) -> (a valid GraphQL input, what the facade sends for it). The
# inputs follow the schemas: `values` a number >= 0 for pricing, a list of lists of strings
# for string lists, `operator` + UInt32 `value` for CUSTOM_NUMBER_n, and so on. Defaults the
# facade fills in (negated, inclusion, filter_operator_type) are the spec's defaults.
CRITERIA_SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "catalogs_product_group_pricing_criteria": (
        {"values": 12.5},
        {"values": 12.5, "inclusion": True, "negated": False},
    ),
    "catalogs_product_group_pricing_currency_criteria": (
        {"value": 150, "operator": Enum("LESS_THAN_OR_EQUALS"), "currency": "EUR"},
        {"value": 150, "operator": "LESS_THAN_OR_EQUALS", "currency": "EUR", "negated": False},
    ),
    "catalogs_product_group_currency_criteria": ({"values": "USD"}, {"values": "USD"}),
    "catalogs_product_group_multiple_string_criteria": (
        {"values": ["alpha", "beta"]},
        {"values": ["alpha", "beta"], "negated": False},
    ),
    "catalogs_product_group_multiple_string_list_criteria": (
        {"values": [["Home & Garden", "Decor"], ["Apparel"]], "negated": True},
        {"values": [["Home & Garden", "Decor"], ["Apparel"]], "negated": True},
    ),
    "catalogs_product_group_filter_operator_type_criteria": (
        {"values": ["summer"]},
        {"values": ["summer"], "filter_operator_type": "IS", "negated": False},
    ),
    "catalogs_product_group_uint32_criteria": (
        {"operator": Enum("GREATER_THAN_OR_EQUALS"), "value": 4_294_967_295},
        {"operator": "GREATER_THAN_OR_EQUALS", "value": 4_294_967_295, "negated": False},
    ),
    "catalogs_product_group_multiple_media_type_criteria": (
        {"values": [Enum("IMAGE"), Enum("VIDEO")]},
        {"values": ["IMAGE", "VIDEO"], "negated": False},
    ),
    "catalogs_product_group_multiple_gender_criteria": (
        {"values": [Enum("FEMALE"), Enum("MALE"), Enum("UNISEX")], "negated": True},
        {"values": ["FEMALE", "MALE", "UNISEX"], "negated": True},
    ),
    "catalogs_product_group_multiple_country_criteria": (
        {"values": ["US", "FR"]},
        {"values": ["US", "FR"], "negated": False},
    ),
}


def sample(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(GraphQL criteria, upstream criteria) for a spec key, chosen by its criteria schema."""
    return CRITERIA_SAMPLES[CRITERIA[key]["title"]]


KIND_KEYS = [pytest.param(kind, key, id=f"{kind}-{key}") for kind in KINDS for key in KINDS[kind]]
COMBINATORS = [("anyOf", "any_of"), ("allOf", "all_of")]


def test_spec_has_the_expected_request_kinds() -> None:
    assert set(KINDS) == {"FEED", "RETAIL", "HOTEL", "CREATIVE_ASSETS"}
    assert set(ALL_KEYS) == {key for keys in KINDS.values() for key in keys}
    assert KINDS["FEED"] == KINDS["RETAIL"] == list(key_criteria("CatalogsProductGroupFilterKeys"))
    assert {"HOTEL_ID", "PRICE", "COUNTRY"} <= set(KINDS["HOTEL"]) - set(KINDS["FEED"])
    assert "CREATIVE_ASSETS_ID" in set(KINDS["CREATIVE_ASSETS"]) - set(KINDS["FEED"])


def test_every_criteria_schema_has_a_sample() -> None:
    assert {criteria["title"] for criteria in CRITERIA.values()} == set(CRITERIA_SAMPLES)


def test_request_schema_path_has_no_nullable_values() -> None:
    """OpenAPI 3.0 `nullable` is not JSON Schema. On this path only `nullable: false` appears
    (NonNullableCatalogsCurrency), which adds nothing; the validator converts `true` anyway."""
    used = {
        name: node["nullable"]
        for name, node in reachable_schemas(REQUEST_SCHEMA).items()
        if "nullable" in node
    }
    assert set(used.values()) <= {False}, used
    path = json.dumps(list(reachable_schemas(REQUEST_SCHEMA).values()))
    assert path.count('"nullable"') == len(used)  # and none nested inside a schema
    assert openapi_to_json_schema({"type": "string", "nullable": True}) == {
        "type": ["string", "null"]
    }


VALID_FEED = {"feed_id": "1", "filters": {"any_of": [{"BRAND": {"values": ["b"]}}]}}
VALID_HOTEL = {
    "catalog_type": "HOTEL",
    "catalog_id": "2",
    "filters": {"all_of": [{"HOTEL_ID": {"values": ["h"], "negated": True}}]},
}
VALID_RETAIL = {
    "catalog_type": "RETAIL",
    "catalog_id": "3",
    "country": "US",
    "locale": "en-US",
    "filters": {"any_of": [{"MIN_PRICE": {"values": 0}}]},
}
DROP = object()


@pytest.mark.parametrize(
    ("valid", "path", "bad"),
    [
        pytest.param(
            VALID_FEED, "filters.any_of.0", {"HOTEL_ID": {"values": ["h"]}}, id="hotel-key"
        ),
        pytest.param(
            VALID_HOTEL, "filters.all_of.0", {"MIN_PRICE": {"values": 1}}, id="retail-key"
        ),
        pytest.param(VALID_RETAIL, "country", DROP, id="retail-without-country"),
        pytest.param(VALID_RETAIL, "locale", "en_US", id="locale-enum"),
        pytest.param(VALID_HOTEL, "country", "US", id="hotel-with-country"),
        pytest.param(VALID_FEED, "catalog_id", "1", id="feed-and-catalog-id"),
        pytest.param(VALID_FEED, "feed_id", "x1", id="feed_id-pattern"),
        pytest.param(VALID_FEED, "filters.all_of", [], id="any_of-and-all_of"),
        pytest.param(VALID_FEED, "filters.any_of.0.CONDITION", {"values": []}, id="two-keys"),
        pytest.param(VALID_FEED, "filters.any_of.0", {"MIN_PRICE": {"values": -1}}, id="price<0"),
        pytest.param(
            VALID_FEED, "filters.any_of.0", {"CURRENCY": {"values": "XYZ"}}, id="currency"
        ),
        pytest.param(VALID_FEED, "filters.any_of.0.BRAND.values", "b", id="values-not-a-list"),
        pytest.param(VALID_FEED, "filters.any_of.0.BRAND.negated", None, id="negated-null"),
        pytest.param(
            VALID_FEED,
            "filters.any_of.0",
            {"CUSTOM_NUMBER_0": {"operator": "LESS_THAN", "value": 4_294_967_296}},
            id="uint32-range",
        ),
    ],
)
def test_spec_validator_is_not_vacuous(valid: dict[str, Any], path: str, bad: Any) -> None:
    assert_valid_request(valid)
    invalid = changed(valid, path, drop=True) if bad is DROP else changed(valid, path, bad)
    assert not VALIDATOR.is_valid(invalid)


async def test_product_group_filter_key_has_a_member_for_every_spec_key() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(
            '{ __type(name: "ProductGroupFilterKey") { isOneOf inputFields { name } } }'
        )
    members = {field["name"] for field in result["data"]["__type"]["inputFields"]}
    assert result["data"]["__type"]["isOneOf"] is True
    assert {key: graphql_name(key) for key in ALL_KEYS if graphql_name(key) not in members} == {}
    assert members == {graphql_name(key) for key in ALL_KEYS}  # and nothing else
    assert graphql_name("CUSTOM_LABEL_0") == "customLabel0"
    assert graphql_name("GOOGLE_PRODUCT_CATEGORY_6") == "googleProductCategory6"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(("combinator", "upstream_combinator"), COMBINATORS)
@pytest.mark.parametrize(("kind", "key"), KIND_KEYS)
async def test_every_filter_key_sends_a_valid_body(
    kind: str, key: str, combinator: str, upstream_combinator: str, style: str
) -> None:
    criteria, sent = sample(key)
    filters = {combinator: [{graphql_name(key): criteria}]}
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter_input(kind, filters), style)
        assert "errors" not in result, result
        assert isinstance(result["data"]["productsByFilter"]["nodes"], list)
        body = sent_body(h)
    assert body == expected_body(kind, {upstream_combinator: [{key: sent}]})
    assert_valid_request(body)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", list(KINDS))
async def test_all_keys_of_a_kind_together_keep_their_order(kind: str, style: str) -> None:
    keys = KINDS[kind]
    filters = {"allOf": [{graphql_name(key): sample(key)[0]} for key in keys]}
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter_input(kind, filters), style)
        assert "errors" not in result, result
        body = sent_body(h)
    assert body == expected_body(kind, {"all_of": [{key: sample(key)[1]} for key in keys]})
    assert_valid_request(body)


# --------------------------------------------------------------------------------------------
# 2. Feed-based and the three catalog types, end to end against the fake, with visible effects.

Item = dict[str, Any]


def catalog_type(item: Item) -> str:
    return item.get("catalog_type") or "RETAIL"  # older retail items omit it


def ids_of(items: list[Item]) -> list[str]:
    return [item["pin"]["id"] for item in items]


def retail(item: Item) -> bool:
    return catalog_type(item) == "RETAIL"


def hotel_ids(n: int) -> list[str]:
    return [i["metadata"]["hotel_id"] for i in CATALOG if catalog_type(i) == "HOTEL"][:n]


def asset_ids(n: int) -> list[str]:
    return [
        i["metadata"]["creative_assets_id"] for i in CATALOG if catalog_type(i) == "CREATIVE_ASSETS"
    ][:n]


def price(item: Item) -> float:
    return float(item["metadata"].get("price", -1))


# (id, kind, filters, which catalog items should come back, a check of each returned node)
END_TO_END: list[tuple[str, str, dict[str, Any], Callable[[Item], bool], Callable[[Item], bool]]]
END_TO_END = [
    (
        "feed-availability-in-stock",
        "FEED",
        {"anyOf": [{"availability": {"values": ["IN_STOCK"]}}]},
        lambda i: i["metadata"].get("availability") == "IN_STOCK",
        lambda n: n["metadata"]["availability"] == "IN_STOCK",
    ),
    (
        "feed-min-price",
        "FEED",
        {"anyOf": [{"minPrice": {"values": 200}}]},
        lambda i: price(i) >= 200,
        lambda n: n["metadata"]["price"] >= 200,
    ),
    (
        "feed-price-range-all-of",
        "FEED",
        {
            "allOf": [
                {"minPrice": {"values": 100}},
                {"maxPrice": {"values": 150, "inclusion": False}},
            ]
        },
        lambda i: 100 <= price(i) < 150,
        lambda n: 100 <= n["metadata"]["price"] < 150,
    ),
    (
        "feed-price-outside-any-of",
        "FEED",
        {"anyOf": [{"maxPrice": {"values": 30}}, {"minPrice": {"values": 450}}]},
        lambda i: 0 <= price(i) <= 30 or price(i) >= 450,
        lambda n: not 30 < n["metadata"]["price"] < 450,
    ),
    (
        "retail-currency",
        "RETAIL",
        {"anyOf": [{"currency": {"values": "EUR"}}, {"currency": {"values": "GBP"}}]},
        lambda i: retail(i) and i["metadata"].get("currency") in ("EUR", "GBP"),
        lambda n: n["catalogType"] == "RETAIL" and n["metadata"]["currency"] in ("EUR", "GBP"),
    ),
    (
        "retail-not-in-stock",
        "RETAIL",
        {"allOf": [{"availability": {"values": ["IN_STOCK"], "negated": True}}]},
        lambda i: retail(i) and i["metadata"]["availability"] != "IN_STOCK",
        lambda n: n["catalogType"] == "RETAIL" and n["metadata"]["availability"] != "IN_STOCK",
    ),
    (
        "hotel-ids",
        "HOTEL",
        {"anyOf": [{"hotelId": {"values": hotel_ids(3)}}]},
        lambda i: i["metadata"].get("hotel_id") in hotel_ids(3),
        lambda n: n["catalogType"] == "HOTEL" and n["metadata"]["hotelId"] in hotel_ids(3),
    ),
    (
        "hotel-title-keywords",
        "HOTEL",
        {"allOf": [{"titleKeywords": {"values": ["resort"]}}]},
        lambda i: catalog_type(i) == "HOTEL" and "resort" in i["pin"]["title"].lower(),
        lambda n: n["catalogType"] == "HOTEL" and "resort" in n["pin"]["title"].lower(),
    ),
    (
        "hotel-only-hotels",
        "HOTEL",  # the fake has no custom labels: only the type selects
        {"anyOf": [{"customLabel0": {"values": ["x"]}}]},
        lambda i: catalog_type(i) == "HOTEL",
        lambda n: n["catalogType"] == "HOTEL" and n["metadata"]["hotelId"].startswith("HTL-"),
    ),
    (
        "creative-assets-ids",
        "CREATIVE_ASSETS",
        {"anyOf": [{"creativeAssetsId": {"values": asset_ids(4)}}]},
        lambda i: i["metadata"].get("creative_assets_id") in asset_ids(4),
        lambda n: n["metadata"]["creativeAssetsId"] in asset_ids(4),
    ),
    (
        "creative-assets-only-assets",
        "CREATIVE_ASSETS",
        {"allOf": [{"mediaType": {"values": [Enum("IMAGE")]}}]},
        lambda i: catalog_type(i) == "CREATIVE_ASSETS",
        lambda n: n["catalogType"] == "CREATIVE_ASSETS",
    ),
]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("kind", "filters", "wanted", "check"),
    [pytest.param(*case[1:], id=case[0]) for case in END_TO_END],
)
async def test_filters_work_end_to_end(
    kind: str,
    filters: dict[str, Any],
    wanted: Callable[[Item], bool],
    check: Callable[[Item], bool],
    style: str,
) -> None:
    expected = ids_of([item for item in CATALOG if wanted(item)])
    assert 0 < len(expected) < len(CATALOG)  # the filter has a visible effect
    assert len(expected) <= 250  # on one page
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter_input(kind, filters), style, first=250)
        assert_valid_request(sent_body(h))
    assert "errors" not in result, result
    connection = result["data"]["productsByFilter"]
    nodes = connection["nodes"]
    assert [node["pin"]["id"] for node in nodes] == expected
    assert connection["pageInfo"]["hasNextPage"] is False
    assert [node for node in nodes if not check(node)] == []


# --------------------------------------------------------------------------------------------
# 3. Bad input: a GraphQL error with a code, and no upstream request.

BRAND = {"brand": {"values": ["Lumen"]}}
FEED: dict[str, Any] = filter_input("FEED", {"anyOf": [BRAND]})
HOTEL: dict[str, Any] = filter_input("HOTEL", {"anyOf": [BRAND]})
RETAIL: dict[str, Any] = filter_input("RETAIL", {"anyOf": [BRAND]})


def uint(value: float) -> dict[str, Any]:
    criteria = {"customNumber0": {"operator": Enum("LESS_THAN"), "value": value}}
    return filter_input("FEED", {"anyOf": [criteria]})


ONE_OF, SCALAR, SHAPE, RESOLVER = "oneOf", "scalar", "shape", "resolver"
BAD_INPUTS: list[tuple[str, str, dict[str, Any]]] = [
    ("feedBased-and-catalogBased", ONE_OF, {**FEED, **HOTEL}),
    ("anyOf-and-allOf", ONE_OF, changed(FEED, "feedBased.filters.allOf", [BRAND])),
    (
        "two-keys-in-one-filter-key",
        ONE_OF,
        changed(FEED, "feedBased.filters.anyOf.0.condition", {"values": ["new"]}),
    ),
    ("no-filter-key", ONE_OF, changed(FEED, "feedBased.filters.anyOf", [{}])),
    ("null-filter-key-member", ONE_OF, changed(FEED, "feedBased.filters.anyOf.0.brand", None)),
    ("neither-feedBased-nor-catalogBased", ONE_OF, {}),
    ("customNumber0=-1", SCALAR, uint(-1)),
    ("customNumber0=2^32", SCALAR, uint(4_294_967_296)),
    ("customNumber0=1.5", SCALAR, uint(1.5)),
    ("missing-feedId", SHAPE, changed(FEED, "feedBased.feedId", drop=True)),
    ("missing-filters", SHAPE, changed(FEED, "feedBased.filters", drop=True)),
    ("missing-catalogType", SHAPE, changed(HOTEL, "catalogBased.catalogType", drop=True)),
    ("missing-catalogId", SHAPE, changed(HOTEL, "catalogBased.catalogId", drop=True)),
    ("missing-criteria-values", SHAPE, changed(FEED, "feedBased.filters.anyOf.0.brand", {})),
    (
        "missing-uint32-operator",
        SHAPE,
        changed(uint(1), "feedBased.filters.anyOf.0.customNumber0.operator", drop=True),
    ),
    (
        "missing-price-currency",
        SHAPE,
        filter_input("HOTEL", {"anyOf": [{"price": {"value": 1, "operator": Enum("LESS_THAN")}}]}),
    ),
    (
        "unknown-gender",
        SHAPE,
        filter_input("FEED", {"anyOf": [{"gender": {"values": [Enum("OTHER")]}}]}),
    ),
    ("empty-anyOf", RESOLVER, changed(FEED, "feedBased.filters.anyOf", [])),
    ("empty-allOf", RESOLVER, filter_input("FEED", {"allOf": []})),
    (
        "hotel-key-in-feed-based",
        RESOLVER,
        filter_input("FEED", {"anyOf": [{"hotelId": {"values": ["HTL-00019"]}}]}),
    ),
    (
        "retail-key-in-hotel-catalog",
        RESOLVER,
        filter_input("HOTEL", {"allOf": [{"minPrice": {"values": 10}}]}),
    ),
    (
        "retail-without-country-and-locale",
        RESOLVER,
        changed(
            changed(RETAIL, "catalogBased.country", drop=True), "catalogBased.locale", drop=True
        ),
    ),
    ("retail-without-country", RESOLVER, changed(RETAIL, "catalogBased.country", drop=True)),
    ("retail-without-locale", RESOLVER, changed(RETAIL, "catalogBased.locale", drop=True)),
    ("country-on-hotel-catalog", RESOLVER, changed(HOTEL, "catalogBased.country", "US")),
    ("unknown-catalog-type", RESOLVER, changed(HOTEL, "catalogBased.catalogType", Enum("UNKNOWN"))),
]

# Apollo's codes: a bad literal fails validation; a bad variable value is bad user input.
EXPECTED_CODE = {
    ("literal", ONE_OF): "GRAPHQL_VALIDATION_FAILED",
    ("literal", SCALAR): "GRAPHQL_VALIDATION_FAILED",
    ("literal", SHAPE): "GRAPHQL_VALIDATION_FAILED",
    ("variables", ONE_OF): "BAD_USER_INPUT",
    ("variables", SCALAR): "BAD_USER_INPUT",
    ("variables", SHAPE): "BAD_USER_INPUT",
    ("literal", RESOLVER): "BAD_USER_INPUT",
    ("variables", RESOLVER): "BAD_USER_INPUT",
}


def bad_input_params() -> list[Any]:
    params = []
    for name, where, value in BAD_INPUTS:
        for style in STYLES:
            params.append(
                pytest.param(value, style, EXPECTED_CODE[style, where], id=f"{name}-{style}")
            )
    return params


@pytest.mark.parametrize(("filter", "style", "code"), bad_input_params())
async def test_bad_input_is_an_error_without_upstream_request(
    filter: dict[str, Any], style: str, code: str
) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter, style)
        assert h.requests == []
    assert result.get("data") is None
    (error,) = result["errors"]
    assert "Traceback" not in str(result)
    assert error["extensions"]["code"] == code, error


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        pytest.param(kind, key, id=f"{kind}-{key}")
        for kind in KINDS
        for key in ALL_KEYS
        if key not in KINDS[kind]
    ],
)
async def test_keys_a_request_kind_does_not_take_are_bad_user_input(kind: str, key: str) -> None:
    filters = {"anyOf": [{graphql_name(key): sample(key)[0]}]}
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter_input(kind, filters), "variables")
        assert h.requests == []
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert key in error["message"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("value", [0, 4_294_967_295])
async def test_uint32_bounds_are_accepted(value: int, style: str) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, uint(value), style)
        body = sent_body(h)
    assert "errors" not in result, result
    assert body["filters"]["any_of"][0]["CUSTOM_NUMBER_0"]["value"] == value
    assert_valid_request(body)


# --------------------------------------------------------------------------------------------
# 4. The upstream's 409s for filters: CONFLICT with the upstream's status and code.

NEGATIVE_MIN = {"anyOf": [{"minPrice": {"values": -1}}]}
NEGATIVE_MAX = {"allOf": [BRAND, {"maxPrice": {"values": -0.5}}]}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("filter", "upstream_code", "spec_valid"),
    [
        pytest.param(changed(FEED, "feedBased.feedId", "0"), 4182, True, id="feed_id-0"),
        pytest.param(changed(RETAIL, "catalogBased.catalogId", "0"), 4182, True, id="retail-0"),
        pytest.param(changed(HOTEL, "catalogBased.catalogId", "0"), 4182, True, id="hotel-0"),
        pytest.param(filter_input("FEED", NEGATIVE_MIN), 4183, False, id="feed-min-price"),
        pytest.param(filter_input("RETAIL", NEGATIVE_MAX), 4183, False, id="retail-max-price"),
    ],
)
async def test_upstream_conflicts_are_conflict_errors(
    filter: dict[str, Any], upstream_code: int, spec_valid: bool, style: str
) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await products_by_filter(h, filter, style)
        body = sent_body(h)  # exactly one request: a 409 is not retried
    # The facade leaves price bounds (spec: minimum 0) to the upstream, which answers 4183.
    assert VALIDATOR.is_valid(body) is spec_valid
    assert result.get("data") is None
    (error,) = result["errors"]
    assert error["path"] == ["productsByFilter"]
    assert error["extensions"] == {
        "code": "CONFLICT",
        "upstreamStatus": 409,
        "upstreamCode": upstream_code,
    }
    assert "acccess" not in error["message"]  # our message, not the upstream's text

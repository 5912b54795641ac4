"""Output types against the spec: every field reachable, values round-tripped unchanged.

Everything here is derived from ``tests/data/catalog-products.openapi.json`` and from the live
GraphQL schema: the spec's properties are mapped to GraphQL fields by naming rule, the queries
select every field the schema has, and the spec-example page is generated from the spec's
``example``s (``tests/data/types/spec_page.json`` is that page, kept in sync by a test below).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import httpx
import orjson
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)

from graphql_api.internals import graphql_schema
from graphql_api.schema import schema
from tests.helpers import DATA, json_response, open_app

SPEC = json.loads((DATA / "catalog-products.openapi.json").read_text())
SCHEMAS: dict[str, Any] = SPEC["components"]["schemas"]
GQL = graphql_schema(schema)
SEED_PAGE: dict[str, Any] = json.loads((DATA / "seed_page.json").read_text())
SPEC_PAGE_FILE = DATA / "types" / "spec_page.json"

# Spec schema -> GraphQL type that exposes it.
SPEC_TO_GRAPHQL = {
    "CatalogsProduct": "CatalogProduct",
    "CatalogsRetailProduct": "RetailProduct",
    "CatalogsHotelProduct": "HotelProduct",
    "CatalogsCreativeAssetsProduct": "CreativeAssetsProduct",
    "CatalogsRetailProductMetadata": "RetailProductMetadata",
    "CatalogsHotelProductMetadata": "HotelProductMetadata",
    "CatalogsCreativeAssetsProductMetadata": "CreativeAssetsProductMetadata",
    "Pin": "Pin",
    "BoardOwner": "BoardOwner",
    "PinMedia": "PinMedia",
    "PinMediaWithImage": "PinMediaWithImage",
    "PinMediaWithVideo": "PinMediaWithVideo",
    "PinMediaWithImages": "PinMediaWithImages",
    "PinMediaWithVideos": "PinMediaWithVideos",
    "PinMediaWithImageAndVideo": "PinMediaWithImageAndVideo",
    "PinMediaMetadata": "PinMediaItem",
    "ImageMetadata": "ImageMetadata",
    "VideoMetadataWithItemType": "VideoMetadata",
    "ImageSize": "ImageSize",
    "ImageDetails": "ImageDetails",
}
OBJECT_SCHEMAS = [name for name in SPEC_TO_GRAPHQL if "properties" in SCHEMAS[name]]
ABSTRACT_SCHEMAS = [name for name in SPEC_TO_GRAPHQL if "properties" not in SCHEMAS[name]]
PRODUCT_SCHEMAS = ["CatalogsRetailProduct", "CatalogsHotelProduct", "CatalogsCreativeAssetsProduct"]
MEDIA_SCHEMAS = [ref.rsplit("/", 1)[1] for ref in (o["$ref"] for o in SCHEMAS["PinMedia"]["oneOf"])]
PRODUCT_TYPENAME = {
    "RETAIL": "RetailProduct",
    "HOTEL": "HotelProduct",
    "CREATIVE_ASSETS": "CreativeAssetsProduct",
}
MEDIA_TYPENAME = {
    SCHEMAS[name]["properties"]["media_type"]["enum"][0]: SPEC_TO_GRAPHQL[name]
    for name in MEDIA_SCHEMAS
}
ITEM_TYPENAME = {"image": "ImageMetadata", "video": "VideoMetadata"}
# pin_metrics windows (the spec's example keys) -> PinMetrics fields.
METRIC_WINDOWS = {"90d": "last90Days", "lifetime_metrics": "allTime", "all_time": "allTime"}
SCALARS_BY_SPEC_TYPE = {
    "string": {"String", "ID"},
    "integer": {"Int"},
    "number": {"Float"},
    "boolean": {"Boolean"},
}


# --- naming ---------------------------------------------------------------------------------


def graphql_name(prop: str) -> str:
    """The spec's snake_case (or ImageSize ``150x150``) property name -> GraphQL field name."""
    if re.fullmatch(r"\d+x\d*", prop):
        return f"size{prop}"
    head, *rest = prop.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def upstream_name(field: str) -> str:
    """The inverse of :func:`graphql_name`."""
    if match := re.fullmatch(r"size(\d+x\d*)", field):
        return match[1]
    return re.sub(r"([A-Z])", r"_\1", field).lower()


def to_upstream(value: Any) -> Any:
    """A GraphQL answer mapped back to the upstream's JSON (``__typename`` dropped)."""
    if isinstance(value, dict):
        return {upstream_name(k): to_upstream(v) for k, v in value.items() if k != "__typename"}
    if isinstance(value, list):
        return [to_upstream(v) for v in value]
    return value


def assert_identical(got: Any, want: Any, path: str = "$") -> None:
    """Equal, and every scalar of the same JSON type (no "1" for 1, no 1 for True)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: {got!r} is not an object"
        assert set(got) == set(want), f"{path}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            assert_identical(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list), f"{path}: {got!r} is not a list"
        assert len(got) == len(want), f"{path}: {len(got)} items, not {len(want)}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_identical(g, w, f"{path}[{i}]")
    else:
        assert type(got) is type(want), f"{path}: {got!r} is not a {type(want).__name__}"
        assert got == want, f"{path}: {got!r} != {want!r}"


# --- the spec -------------------------------------------------------------------------------


def ref_name(prop: dict[str, Any]) -> str | None:
    """The schema a property refers to, directly or through a one-element ``allOf``."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[1]
    if len(prop.get("allOf", ())) == 1 and "$ref" in prop["allOf"][0]:
        return str(prop["allOf"][0]["$ref"]).rsplit("/", 1)[1]
    return None


def nullable(prop: dict[str, Any]) -> bool:
    ref = ref_name(prop)
    return bool(prop.get("nullable") or (ref and SCHEMAS[ref].get("nullable")))


def sample(name: str, prop: dict[str, Any], n: int, *, nulls: bool) -> Any:
    """A value for property ``name`` from the spec: its example, else one built from its type.
    ``n`` varies the values between items; ``nulls`` sets every nullable property to null."""
    if nulls and nullable(prop):
        return None
    ref = ref_name(prop)
    if ref is not None:
        return sample(name, SCHEMAS[ref], n, nulls=nulls)
    if "oneOf" in prop or "anyOf" in prop:  # PinMedia(Metadata): the caller picks variants
        return sample(name, (prop.get("oneOf") or prop["anyOf"])[0], n, nulls=nulls)
    if "example" in prop and not (nulls and prop.get("type") == "object"):
        return copy.deepcopy(prop["example"])
    if "enum" in prop:
        return prop["enum"][n % len(prop["enum"])]
    kind = prop.get("type")
    if kind == "object":
        return {key: sample(key, sub, n, nulls=nulls) for key, sub in prop["properties"].items()}
    if kind == "array":
        return [sample(name, prop["items"], n + i, nulls=nulls) for i in range(2)]
    if kind == "string":
        if prop.get("format") == "date-time":
            return f"2020-01-{n % 28 + 1:02d}T20:10:40-00:00"
        if prop.get("pattern") == r"^\d+$":
            return str(813744226420795884 + 1000 * n + len(name))
        if name.endswith(("url", "link")):
            return f"https://example.com/{name}/{n}"
        return f"{name} {n} ü"
    if kind == "integer":
        return 100 + 10 * n + len(name)
    if kind == "number":
        return 1000.25 + n + len(name) / 8
    if kind == "boolean":
        return (n + len(name)) % 2 == 0
    raise AssertionError(f"no sample for {name}: {prop}")


def sample_media(schema_name: str, n: int, *, nulls: bool) -> dict[str, Any]:
    media: dict[str, Any] = sample("media", SCHEMAS[schema_name], n, nulls=nulls)
    if schema_name == "PinMediaWithImageAndVideo":  # an anyOf: one item of each kind
        media["items"] = [
            sample("items", SCHEMAS["ImageMetadata"], n, nulls=nulls),
            sample("items", SCHEMAS["VideoMetadataWithItemType"], n + 1, nulls=nulls),
        ]
    for item in media.get("items", ()):
        item["item_type"] = "video" if "video_url" in item else "image"
    return media


def spec_page() -> dict[str, Any]:
    """One product of each catalog type with media of each variant; then the same with every
    nullable field null."""
    items: list[dict[str, Any]] = []
    for nulls in (False, True):
        for product_schema in PRODUCT_SCHEMAS:
            for media_schema in MEDIA_SCHEMAS:
                n = len(items)
                item = sample("item", SCHEMAS[product_schema], n, nulls=nulls)
                item["pin"]["media"] = sample_media(media_schema, n, nulls=nulls)
                items.append(item)
    return {"items": items, "bookmark": None}


SPEC_PAGE = spec_page()


# --- the GraphQL schema ---------------------------------------------------------------------


def select(type_: GraphQLOutputType, inherited: frozenset[str] = frozenset()) -> str:
    """A selection set of every field below ``type_``, with a fragment on every possible type
    of an abstract one (``__typename`` where the type is abstract)."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType | GraphQLEnumType):
        return ""
    parts = []
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        parts += [
            name + select(field.type)
            for name, field in named.fields.items()
            if name not in inherited
        ]
    if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
        own = frozenset(named.fields) if isinstance(named, GraphQLInterfaceType) else frozenset()
        parts.insert(0, "__typename")
        for possible in GQL.get_possible_types(named):
            if fragment := select(possible, own):
                parts.append(f"... on {possible.name}{fragment}")
    return " { " + " ".join(parts) + " }" if parts else ""


def output_type(name: str) -> GraphQLOutputType:
    type_ = GQL.get_type(name)
    assert isinstance(type_, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType), name
    return type_


EVERY_FIELD = f"""query Everything($first: Int) {{
  productGroupProducts(productGroupId: "1", first: $first) {{
    pageInfo {{ hasNextPage }}
    nodes{select(output_type("CatalogProduct"))}
  }}
}}"""
PIN_EVERY_FIELD = f'query {{ pin(id: "1"){select(output_type("Pin"))} }}'


def graphql_type(name: str) -> GraphQLNamedType:
    type_ = GQL.get_type(name)
    assert type_ is not None, f"the schema has no type {name}"
    return type_


def check_field_type(where: str, prop: dict[str, Any], type_: GraphQLOutputType) -> None:
    """The GraphQL type of a field can carry every value the spec allows for the property."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    ref = ref_name(prop)
    if ref is not None and ref in SPEC_TO_GRAPHQL:
        assert get_named_type(type_).name == SPEC_TO_GRAPHQL[ref], where
        return
    target = SCHEMAS[ref] if ref is not None else prop
    if target.get("type") == "array":
        assert isinstance(type_, GraphQLList), f"{where}: not a list"
        check_field_type(f"{where}[]", target["items"], type_.of_type)
        return
    if "enum" in target:  # a GraphQL enum with every spec value, or a pass-through String
        if isinstance(type_, GraphQLEnumType):
            assert set(target["enum"]) <= set(type_.values), f"{where}: enum values"
        else:
            assert isinstance(type_, GraphQLScalarType), where
            assert type_.name == "String", where
        return
    if target.get("type") == "object":  # pin_metrics: checked against its example below
        assert isinstance(type_, GraphQLObjectType), where
        return
    allowed = set(SCALARS_BY_SPEC_TYPE[target["type"]])
    if target.get("format") == "date-time":
        allowed.add("DateTime")
    assert isinstance(type_, GraphQLScalarType), where
    assert type_.name in allowed, f"{where}: {type_} for a spec {target['type']}"


# --- reachability ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec_name", OBJECT_SCHEMAS)
def test_every_spec_property_is_a_field(spec_name: str) -> None:
    spec_schema = SCHEMAS[spec_name]
    type_ = graphql_type(SPEC_TO_GRAPHQL[spec_name])
    assert isinstance(type_, GraphQLObjectType | GraphQLInterfaceType)
    required = set(spec_schema.get("required", ()))
    for prop_name, prop in spec_schema["properties"].items():
        field_name = graphql_name(prop_name)
        where = f"{type_.name}.{field_name} ({spec_name}.{prop_name})"
        assert field_name in type_.fields, f"{where} is missing"
        field_type = type_.fields[field_name].type
        check_field_type(where, prop, field_type)
        if isinstance(field_type, GraphQLNonNull) and not isinstance(
            field_type.of_type, GraphQLList
        ):  # non-null only where the upstream must send a value (lists default to [])
            assert prop_name in required, f"{where} is non-null, the spec's is optional"
            assert not nullable(prop), f"{where} is non-null, the spec's is nullable"


@pytest.mark.parametrize("spec_name", ABSTRACT_SCHEMAS)
def test_every_spec_variant_is_a_possible_type(spec_name: str) -> None:
    spec_schema = SCHEMAS[spec_name]
    variants = spec_schema.get("oneOf") or spec_schema["anyOf"]
    type_ = graphql_type(SPEC_TO_GRAPHQL[spec_name])
    assert isinstance(type_, GraphQLInterfaceType | GraphQLUnionType)
    possible = {t.name for t in GQL.get_possible_types(type_)}
    assert {SPEC_TO_GRAPHQL[ref_name(v) or ""] for v in variants} <= possible


def test_product_discriminator_and_interface() -> None:
    mapping = SCHEMAS["CatalogsProduct"]["discriminator"]["mapping"]
    for catalog_type, ref in mapping.items():
        assert PRODUCT_TYPENAME[catalog_type] == SPEC_TO_GRAPHQL[ref.rsplit("/", 1)[1]]
        enum = graphql_type("CatalogType")
        assert isinstance(enum, GraphQLEnumType)
        assert catalog_type in enum.values
    media_mapping = SCHEMAS["PinMedia"]["discriminator"]["mapping"]
    assert {k: SPEC_TO_GRAPHQL[v.rsplit("/", 1)[1]] for k, v in media_mapping.items()} == (
        MEDIA_TYPENAME
    )


def test_pin_metrics_windows_of_the_spec_example_are_fields() -> None:
    example = SCHEMAS["Pin"]["properties"]["pin_metrics"]["example"]
    metrics = graphql_type("PinMetrics")
    assert isinstance(metrics, GraphQLObjectType)
    assert set(metrics.fields) == {"last90Days", "allTime"}
    for window_key, window in example.items():
        window_type = get_named_type(metrics.fields[METRIC_WINDOWS[window_key]].type)
        assert isinstance(window_type, GraphQLObjectType)
        for key in window:
            assert graphql_name(key) in window_type.fields, f"{window_key}.{key}"
            assert get_named_type(window_type.fields[graphql_name(key)].type).name == "Int"


def test_spec_page_fixture_is_derived_from_the_spec() -> None:
    """``tests/data/types/spec_page.json`` (used by the unit tests) is this module's page."""
    assert json.loads(SPEC_PAGE_FILE.read_text()) == SPEC_PAGE


# --- round trips ----------------------------------------------------------------------------


def window(raw: Any) -> dict[str, Any] | None:
    fields = ("impression", "pin_click", "clickthrough", "reaction", "comment")
    return None if raw is None else {graphql_name(k): raw.get(k) for k in fields}


def split_metrics(node: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """The node in upstream form without pin_metrics, and its pinMetrics answer."""
    metrics = node["pin"]["pinMetrics"]
    upstream = to_upstream(node)
    del upstream["pin"]["pin_metrics"]
    return upstream, metrics


# Pin fields the spec's Pin lacks (the seed sample has ``note``): absent from a spec page, null.
PIN_FIELDS_NOT_IN_SPEC = {
    upstream_name(name)
    for name in GQL.get_type("Pin").fields  # type: ignore[union-attr]
} - set(SCHEMAS["Pin"]["properties"])


def test_only_note_is_a_pin_field_beyond_the_spec() -> None:
    assert {"note"} == PIN_FIELDS_NOT_IN_SPEC
    assert all(name in SEED_PAGE["items"][0]["pin"] for name in PIN_FIELDS_NOT_IN_SPEC)


def expected_pin(raw_pin: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """A spec page's Pin as GraphQL gives it back (fields it lacks read null) without
    pin_metrics, and its pin_metrics."""
    want = copy.deepcopy(raw_pin)
    metrics = want.pop("pin_metrics")
    return {**dict.fromkeys(PIN_FIELDS_NOT_IN_SPEC - {"pin_metrics"}), **want}, metrics


def check_typenames(node: dict[str, Any], item: dict[str, Any]) -> None:
    assert node["__typename"] == PRODUCT_TYPENAME[item.get("catalog_type", "RETAIL")]
    media = item["pin"].get("media")
    if media is None:
        assert node["pin"]["media"] is None
        return
    assert node["pin"]["media"]["__typename"] == MEDIA_TYPENAME.get(
        media["media_type"], "OtherPinMedia"
    )
    if media["media_type"] == "multiple_mixed":  # the only list of an abstract type
        for got, raw in zip(node["pin"]["media"]["items"], media["items"], strict=True):
            assert got["__typename"] == ITEM_TYPENAME[raw["item_type"]]


def json_handler(body: Any) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )

    return handler


async def test_seed_page_round_trips_unchanged() -> None:
    async with open_app(json_response(200, SEED_PAGE)) as h:
        result = await h.gql(EVERY_FIELD, {"first": len(SEED_PAGE["items"])})
    assert "errors" not in result, result
    connection = result["data"]["productGroupProducts"]
    assert connection["pageInfo"]["hasNextPage"] is True  # the seed's bookmark is "string"
    (node,) = connection["nodes"]
    (raw,) = SEED_PAGE["items"]
    check_typenames(node, raw)
    assert node["__typename"] == "RetailProduct"
    assert node["pin"]["media"] == {"__typename": "OtherPinMedia", "mediaType": "string"}
    got, metrics = split_metrics(node)
    want = copy.deepcopy(raw)
    parts = want["pin"].pop("pin_metrics")["pin_metrics"]  # {"pin_metrics": [{...}, null]}
    want["catalog_type"] = "RETAIL"  # absent upstream
    assert_identical(got, want)
    assert metrics == {
        "last90Days": window(parts[0]["90d"]),
        "allTime": window(parts[0]["all_time"]),
    }


async def test_spec_example_page_round_trips_unchanged() -> None:
    async with open_app(json_handler(SPEC_PAGE)) as h:
        result = await h.gql(EVERY_FIELD, {"first": len(SPEC_PAGE["items"])})
    assert "errors" not in result, result
    connection = result["data"]["productGroupProducts"]
    assert connection["pageInfo"]["hasNextPage"] is False
    nodes = connection["nodes"]
    assert len(nodes) == len(SPEC_PAGE["items"])
    seen = set()
    for i, (node, raw) in enumerate(zip(nodes, SPEC_PAGE["items"], strict=True)):
        check_typenames(node, raw)
        seen.add((node["__typename"], node["pin"]["media"]["__typename"]))
        got, metrics = split_metrics(node)
        want = copy.deepcopy(raw)
        want["pin"], raw_metrics = expected_pin(raw["pin"])
        assert_identical(got, want, f"items[{i}]")
        if raw_metrics is None:
            assert metrics is None
        else:
            assert to_upstream(metrics) == {
                "last90_days": to_upstream(window(raw_metrics["90d"])),
                "all_time": to_upstream(window(raw_metrics["lifetime_metrics"])),
            }
    assert seen == {(p, m) for p in PRODUCT_TYPENAME.values() for m in MEDIA_TYPENAME.values()}


@pytest.mark.parametrize("media_schema", MEDIA_SCHEMAS)
async def test_pin_by_id_round_trips_unchanged(media_schema: str) -> None:
    raw = sample("pin", SCHEMAS["Pin"], 3, nulls=False)
    raw["media"] = sample_media(media_schema, 3, nulls=False)
    async with open_app(json_handler(raw)) as h:
        result = await h.gql(PIN_EVERY_FIELD)
    assert "errors" not in result, result
    pin = result["data"]["pin"]
    assert pin["media"]["__typename"] == SPEC_TO_GRAPHQL[media_schema]
    want, raw_metrics = expected_pin(raw)
    got = to_upstream(pin)
    del got["pin_metrics"]
    assert_identical(got, want)
    assert pin["pinMetrics"]["allTime"]["comment"] == raw_metrics["lifetime_metrics"]["comment"]


# --- pin_metrics in every shape ---------------------------------------------------------------

W90 = {"pin_click": 7, "impression": 2, "clickthrough": 3}
WALL = {"pin_click": 17, "impression": 12, "clickthrough": 13, "reaction": 10, "comment": 2}

# shape -> (last90Days, allTime) as the readable values (None: nothing readable).
METRIC_SHAPES: dict[str, tuple[Any, Any, Any]] = {
    "dict lifetime_metrics": ({"90d": W90, "lifetime_metrics": WALL}, W90, WALL),
    "dict all_time": ({"90d": W90, "all_time": WALL}, W90, WALL),
    "dict 90d only": ({"90d": W90}, W90, None),
    "list with null": ([{"90d": W90, "all_time": WALL}, None], W90, WALL),
    "list of windows split": ([None, {"90d": W90}, {"lifetime_metrics": WALL}], W90, WALL),
    "wrapped list": ({"pin_metrics": [{"90d": W90, "all_time": WALL}, None]}, W90, WALL),
    "wrapped dict": ({"pin_metrics": {"90d": W90, "lifetime_metrics": WALL}}, W90, WALL),
    "wrapped null": ({"pin_metrics": None}, None, None),
    "null": (None, None, None),
    "absent": (..., None, None),
    "empty dict": ({}, None, None),
    "empty list": ([], None, None),
    "list of nulls": ([None, None], None, None),
    "string": ("garbage", None, None),
    "number": (42, None, None),
    "boolean": (True, None, None),
    "list of strings": (["a", "b"], None, None),
    "window not an object": ({"90d": "x", "all_time": [1, 2]}, None, None),
    "non-int values": (
        {
            "90d": {
                "impression": "many",
                "pin_click": 7,
                "clickthrough": None,
                "reaction": True,
                "comment": {"n": 1},
            },
            "lifetime_metrics": {"impression": [1], "comment": 2},
        },
        {"pin_click": 7},
        {"comment": 2},
    ),
    "float values": ({"90d": {"impression": 2.0}}, {"impression": 2}, None),
    "extra keys": (
        {"90d": {**W90, "saves": 4}, "30d": W90, "x": 1, "lifetime_metrics": WALL},
        W90,
        WALL,
    ),
}
METRICS_QUERY = """{ productGroupProducts(productGroupId: "1", first: 2) { nodes { pin { id
  pinMetrics { last90Days { impression pinClick clickthrough reaction comment }
               allTime { impression pinClick clickthrough reaction comment } } } } } }"""


def readable(window_answer: dict[str, Any] | None) -> dict[str, Any] | None:
    """A window answer as its non-null values in upstream names; None when nothing is readable
    (a null window and a window of nulls say the same)."""
    values = {upstream_name(k): v for k, v in (window_answer or {}).items() if v is not None}
    return values or None


def retail_item(pin: dict[str, Any], **extra: Any) -> dict[str, Any]:
    metadata = {
        "item_id": "A-1",
        "item_group_id": "A",
        "availability": "IN_STOCK",
        "price": 9.5,
        "sale_price": None,
        "currency": "EUR",
    }
    return {"metadata": metadata, "pin": pin, **extra}


@pytest.mark.parametrize(
    ("shape", "last_90_days", "all_time"), METRIC_SHAPES.values(), ids=METRIC_SHAPES
)
async def test_pin_metrics_in_every_shape(shape: Any, last_90_days: Any, all_time: Any) -> None:
    pin: dict[str, Any] = {"id": "2"} if shape is ... else {"id": "2", "pin_metrics": shape}
    page = {
        "items": [retail_item({"id": "1", "pin_metrics": {"90d": W90}}), retail_item(pin)],
        "bookmark": None,
    }
    async with open_app(json_handler(page)) as h:
        result = await h.gql(METRICS_QUERY)
        assert h.requests[0].url.params["pin_metrics"] == "true"
    assert "errors" not in result, result
    first, second = result["data"]["productGroupProducts"]["nodes"]
    assert readable(first["pin"]["pinMetrics"]["last90Days"]) == W90
    assert second["pin"]["id"] == "2"
    metrics = second["pin"]["pinMetrics"] or {}
    assert readable(metrics.get("last90Days")) == last_90_days
    assert readable(metrics.get("allTime")) == all_time


async def test_pin_metrics_beyond_32_bits_do_not_give_internal_errors() -> None:
    page = {
        "items": [
            retail_item(
                {
                    "id": "1",
                    "pin_metrics": {
                        "90d": W90,
                        "lifetime_metrics": {**WALL, "impression": 3_000_000_000},
                    },
                }
            )
        ]
    }
    async with open_app(json_handler(page)) as h:
        response = await h.post(METRICS_QUERY)
    assert b"INTERNAL_SERVER_ERROR" not in response.content, response.text
    result = orjson.loads(response.content)
    (node,) = result["data"]["productGroupProducts"]["nodes"]
    assert readable(node["pin"]["pinMetrics"]["last90Days"]) == W90


# --- unknown enum values, extra fields --------------------------------------------------------


def noisy(value: dict[str, Any], tag: str) -> dict[str, Any]:
    """``value`` with fields the spec does not have."""
    return {**value, f"unknown_{tag}": {"nested": [1, "x", None]}, "new_flag": True}


LENIENT_QUERY = """query($first: Int) { productGroupProducts(productGroupId: "1", first: $first) {
  nodes { __typename catalogType pin { id title boardOwner { username }
    media { __typename mediaType
      ... on PinMediaWithImage { images { size150x150 { url width height } } }
      ... on PinMediaWithImageAndVideo { items { __typename
        ... on ImageMetadata { itemType title images { size600x { url } } }
        ... on VideoMetadata { itemType videoUrl duration } } } } }
    ... on RetailProduct { metadata { itemId availability price currency } }
    ... on HotelProduct { metadata { hotelId } }
    ... on CreativeAssetsProduct { metadata { creativeAssetsId visibility } } } } }"""

IMAGES = SCHEMAS["ImageSize"]["example"]


def lenient_page() -> dict[str, Any]:
    image_size = noisy({k: noisy(v, "details") for k, v in IMAGES.items()}, "sizes")
    image_media = noisy({"media_type": "image", "images": image_size}, "media")
    mixed_media = noisy(
        {
            "media_type": "multiple_mixed",
            "items": [
                noisy({"item_type": "image", "title": "t", "images": image_size}, "image"),
                noisy({"item_type": "video", "video_url": "https://v", "duration": 1.5}, "video"),
            ],
        },
        "media",
    )
    pin = noisy(
        {
            "id": "10",
            "title": "x",
            "board_owner": noisy({"username": "u"}, "owner"),
            "media": image_media,
        },
        "pin",
    )
    retail = noisy(
        {
            "item_id": "R",
            "item_group_id": None,
            "availability": "IN_STOCK",
            "price": 1.5,
            "sale_price": None,
            "currency": "USD",
        },
        "metadata",
    )
    return noisy(
        {
            "items": [
                noisy(
                    {
                        "catalog_type": "RETAIL",
                        "metadata": {**retail, "availability": "LIMITED"},
                        "pin": pin,
                    },
                    "item",
                ),
                noisy(
                    {
                        "catalog_type": "CREATIVE_ASSETS",
                        "metadata": noisy(
                            {"creative_assets_id": "C", "visibility": "ARCHIVED"}, "md"
                        ),
                        "pin": {**pin, "id": "11", "media": mixed_media},
                    },
                    "item",
                ),
                {"catalog_type": "MARKETPLACE", "metadata": retail, "pin": {**pin, "id": "12"}},
                {"catalog_type": "HOTEL", "metadata": retail, "pin": {**pin, "id": "13"}},
                {
                    "catalog_type": "CREATIVE_ASSETS",
                    "metadata": noisy({"hotel_id": "H"}, "md"),
                    "pin": {**pin, "id": "14"},
                },
                {"catalog_type": None, "metadata": retail, "pin": {**pin, "id": "15"}},
                {
                    "catalog_type": "HOTEL",
                    "metadata": {"hotel_id": "H2"},
                    "pin": {**pin, "id": "16", "media": noisy({"media_type": "carousel"}, "media")},
                },
                {
                    "catalog_type": ["HOTEL"],
                    "metadata": {"hotel_id": "H3"},
                    "pin": {**pin, "id": "17"},
                },
                {"catalog_type": {"v": 1}, "metadata": retail, "pin": {**pin, "id": "18"}},
            ],
            "bookmark": None,
            "total": 9,
        },
        "page",
    )


async def test_unknown_enum_values_and_extra_fields_do_not_fail_the_page() -> None:
    page = lenient_page()
    async with open_app(json_handler(page)) as h:
        result = await h.gql(LENIENT_QUERY, {"first": len(page["items"])})
    assert "errors" not in result, result
    nodes = result["data"]["productGroupProducts"]["nodes"]
    assert [n["pin"]["id"] for n in nodes] == [str(i) for i in range(10, 19)]
    assert [(n["__typename"], n["catalogType"]) for n in nodes] == [
        ("RetailProduct", "RETAIL"),
        ("CreativeAssetsProduct", "CREATIVE_ASSETS"),
        ("RetailProduct", "RETAIL"),  # unknown catalog_type, retail metadata
        ("RetailProduct", "RETAIL"),  # says HOTEL, typed by its (retail) metadata
        ("HotelProduct", "HOTEL"),  # says CREATIVE_ASSETS, typed by its (hotel) metadata
        ("RetailProduct", "RETAIL"),  # catalog_type null
        ("HotelProduct", "HOTEL"),
        ("HotelProduct", "HOTEL"),  # catalog_type a list: garbage, typed by its metadata
        ("RetailProduct", "RETAIL"),  # catalog_type an object
    ]
    assert nodes[0]["metadata"] == {
        "itemId": "R",
        "availability": "UNKNOWN",
        "price": 1.5,
        "currency": "USD",
    }
    assert nodes[1]["metadata"] == {"creativeAssetsId": "C", "visibility": "UNKNOWN"}
    assert nodes[2]["metadata"]["availability"] == "IN_STOCK"
    assert nodes[4]["metadata"] == {"hotelId": "H"}
    assert nodes[0]["pin"]["boardOwner"] == {"username": "u"}
    assert nodes[0]["pin"]["media"] == {
        "__typename": "PinMediaWithImage",
        "mediaType": "image",
        "images": {"size150x150": IMAGES["150x150"]},
    }
    assert nodes[1]["pin"]["media"]["items"] == [
        {
            "__typename": "ImageMetadata",
            "itemType": "image",
            "title": "t",
            "images": {"size600x": {"url": IMAGES["600x"]["url"]}},
        },
        {
            "__typename": "VideoMetadata",
            "itemType": "video",
            "videoUrl": "https://v",
            "duration": 1.5,
        },
    ]
    assert nodes[6]["pin"]["media"] == {"__typename": "OtherPinMedia", "mediaType": "carousel"}


# --- items that fit no type -------------------------------------------------------------------

PIN = {"id": "1", "title": "ok"}
RETAIL_METADATA = retail_item(PIN)["metadata"]
BROKEN_ITEMS = {
    "metadata missing": {"catalog_type": "RETAIL", "pin": PIN},
    "metadata null": {"metadata": None, "pin": PIN},
    "pin missing": {"metadata": RETAIL_METADATA},
    "pin null": {"metadata": RETAIL_METADATA, "pin": None},
    "pin without id": {"metadata": RETAIL_METADATA, "pin": {"title": "x"}},
    "metadata of no type": {"catalog_type": "HOTEL", "metadata": {"name": "x"}, "pin": PIN},
    "retail metadata without price": {
        "metadata": {k: v for k, v in RETAIL_METADATA.items() if k != "price"},
        "pin": PIN,
    },
    "item not an object": "item",
    "item null": None,
    "item a list": [RETAIL_METADATA, PIN],
    "media_type a list": {
        "metadata": RETAIL_METADATA,
        "pin": {**PIN, "media": {"media_type": ["image"]}},
    },
    "media_type an object": {
        "metadata": RETAIL_METADATA,
        "pin": {**PIN, "media": {"media_type": {"v": "video"}}},
    },
}


@pytest.mark.parametrize("item", BROKEN_ITEMS.values(), ids=BROKEN_ITEMS)
@pytest.mark.parametrize(
    ("selection", "path"),
    [
        ("nodes { pin { id } }", ["productGroupProducts", "nodes", 1]),
        ("edges { node { catalogType } }", ["productGroupProducts", "edges", 1, "node"]),
    ],
)
async def test_an_item_that_fits_no_type_is_an_upstream_error_at_its_path(
    item: Any, selection: str, path: list[Any]
) -> None:
    page = {"items": [retail_item(PIN), item, retail_item(PIN)], "bookmark": None}
    query = f'{{ productGroupProducts(productGroupId: "1", first: 3) {{ {selection} }} }}'
    async with open_app(json_handler(page)) as h:
        response = await h.post(query)
    assert response.status_code == 200
    text = response.text
    assert "INTERNAL_SERVER_ERROR" not in text
    for leak in ("Traceback", 'File "', ".py", "TypeError", "ValidationError"):
        assert leak not in text
    result = orjson.loads(response.content)
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert error["path"] == path
    assert result["data"] is None  # non-null all the way up: the connection cannot be partial

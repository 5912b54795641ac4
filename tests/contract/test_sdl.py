"""`schema.graphql` is the subgraph SDL, byte for byte what `_service { sdl }` returns."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema

from graphql_api.sdl import render_sdl
from tests.helpers import open_app

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


async def test_schema_file_is_the_served_sdl() -> None:
    async with open_app() as h:
        result = await h.gql("{ _service { sdl } }", token=None)
    served = result["data"]["_service"]["sdl"]
    assert SCHEMA_FILE.read_bytes() == served.encode(), (
        "schema.graphql is stale: run `python -m graphql_api.sdl > schema.graphql`"
    )
    assert render_sdl() == served


def test_sdl_links_federation_2_and_keys_pin() -> None:
    sdl = SCHEMA_FILE.read_text()
    assert '@link(url: "https://specs.apollo.dev/federation/v2.' in sdl
    assert 'type Pin @key(fields: "id")' in sdl


def test_contract_names_are_in_the_schema() -> None:
    sdl = SCHEMA_FILE.read_text()
    schema = build_schema(
        sdl.replace("@link(", "@link_(").replace("@key(", "@key_("), assume_valid_sdl=True
    )
    query = schema.query_type
    assert query is not None
    args = {
        name: {a: str(arg.type) for a, arg in field.args.items()}
        for name, field in query.fields.items()
    }
    assert args["productGroupProducts"] == {
        "productGroupId": "ID!",
        "first": "Int",
        "after": "String",
        "adAccountId": "ID",
    }
    assert args["productsByFilter"] == {
        "filter": "ProductsByFilterInput!",
        "first": "Int",
        "after": "String",
        "adAccountId": "ID",
    }
    assert args["pin"] == {"id": "ID!"}
    # The catalog graph (DESIGN.md, "Catalog graph").
    assert args["catalogs"] == {"first": "Int", "after": "String", "adAccountId": "ID"}
    assert args["feed"] == args["productGroup"] == {"id": "ID!", "adAccountId": "ID"}
    assert args["productGroups"] == {"ids": "[ID!]!", "adAccountId": "ID"}
    assert args["availableFilterValues"] == {
        "catalogId": "ID",
        "feedId": "ID",
        "country": "String",
        "language": "String",
        "adAccountId": "ID",
    }
    returns = {name: str(field.type) for name, field in query.fields.items()}
    assert returns["catalogs"] == "CatalogConnection!"
    assert returns["feed"] == "Feed"
    assert returns["productGroup"] == "ProductGroup"
    assert returns["productGroups"] == "[ProductGroup]!"
    assert returns["availableFilterValues"] == "AvailableFilterValues"
    nested = {
        ("Catalog", "feeds"): "FeedConnection!",
        ("Catalog", "productGroups"): "ProductGroupConnection!",
        ("Feed", "productGroups"): "ProductGroupConnection!",
        ("ProductGroup", "products"): "CatalogProductConnection!",
    }
    for (type_name, field_name), type_ in nested.items():
        field = schema.get_type(type_name).fields[field_name]  # type: ignore[union-attr]
        assert str(field.type) == type_
        assert {a: str(arg.type) for a, arg in field.args.items()} == {
            "first": "Int",
            "after": "String",
        }
    product_group = schema.get_type("ProductGroup")
    assert str(product_group.fields["productCounts"].type) == "ProductCounts"  # type: ignore[union-attr]
    for entity in ("Catalog", "ProductGroup"):
        assert f'type {entity} @key(fields: "id")' in sdl
    # Every connection's `first` defaults to 25: the three root listings and the four edges.
    assert sdl.count("first: Int = 25") == 7
    assert str(query.fields["pin"].type) == "Pin"
    connection = schema.get_type("CatalogProductConnection")
    assert {n: str(f.type) for n, f in connection.fields.items()} == {  # type: ignore[union-attr]
        "edges": "[CatalogProductEdge!]!",
        "nodes": "[CatalogProduct!]!",
        "pageInfo": "PageInfo!",
    }
    page_info = schema.get_type("PageInfo")
    assert {n: str(f.type) for n, f in page_info.fields.items()} == {  # type: ignore[union-attr]
        "hasNextPage": "Boolean!",
        "hasPreviousPage": "Boolean!",
        "startCursor": "String",
        "endCursor": "String",
    }
    for name in ("ProductsByFilterInput", "ProductGroupFilters", "ProductGroupFilterKey"):
        assert f"input {name} @oneOf" in sdl

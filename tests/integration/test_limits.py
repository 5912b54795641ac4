"""Limits refuse abusive operations before any upstream call; tools' introspection still works."""

from __future__ import annotations

import pytest
from graphql import get_introspection_query

from tests.helpers import open_app

LIST = 'productGroupProducts(productGroupId: "1", first: 1)'
DEEP = f"{{ {LIST} {{ edges {{ node {{ pin {{ media {{ ... on PinMediaWithImage {{ images {{ size150x150 {{ url }} }} }} }} }} }} }} }} }}"  # noqa: E501
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
ROOTS = "{ " + " ".join(f'p{i}: pin(id: "{i}") {{ id }}' for i in range(11)) + " }"
COSTLY = "{ " + " ".join(
    f'l{i}: productGroupProducts(productGroupId: "1", first: 250) {{ nodes {{ catalogType }} }}'
    for i in range(6)
) + " }"  # fmt: skip
CYCLIC = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"


@pytest.mark.parametrize(("query", "settings", "code"), [
    (DEEP, {"max_depth": 5}, "MAX_DEPTH_LIMIT"),
    (ALIASES, {}, "MAX_ALIASES_LIMIT"),
    (ROOTS, {}, "MAX_ROOT_FIELDS_LIMIT"),
    ("{ " + "__typename " * 200 + "}", {"max_tokens": 100}, "MAX_TOKENS_LIMIT"),
    (COSTLY, {"upstream_page_size": 100, "max_upstream_cost": 20}, "COST_ESTIMATED_TOO_EXPENSIVE"),
    (CYCLIC, {}, "GRAPHQL_VALIDATION_FAILED"),
], ids=["depth", "aliases", "root fields", "tokens", "upstream cost",
        "introspection cycle"])  # fmt: skip
async def test_each_limit_refuses_before_any_upstream_call(
    query: str, settings: dict[str, int], code: str
) -> None:
    async with open_app(**settings) as h:  # type: ignore[arg-type]
        response = await h.post(query, headers={"Accept": "application/graphql-response+json"})
        assert response.status_code == 400
        (error, *_) = response.json()["errors"]
        assert error["extensions"]["code"] == code
        assert h.requests == []
    if code.startswith(("MAX_", "COST")):
        assert "limit" in error["message"]


async def test_the_cost_counts_variables() -> None:
    query = """query($n: Int) { a: productGroupProducts(productGroupId: "1", first: $n) {
        nodes { catalogType } } b: productGroupProducts(productGroupId: "2", first: $n) {
        nodes { catalogType } } }"""
    async with open_app(upstream_page_size=10, max_upstream_cost=10) as h:
        small = await h.gql(query, {"n": 10})
        assert "errors" not in small
        large = await h.gql(query, {"n": 100})
        assert large["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"


async def test_the_standard_introspection_queries_keep_working() -> None:
    async with open_app() as h:
        for options in ({}, {"descriptions": True, "specified_by_url": True,
                             "directive_is_repeatable": True, "schema_description": True,
                             "input_value_deprecation": True}):  # fmt: skip
            result = await h.gql(get_introspection_query(**options))
            assert "errors" not in result, result
            assert result["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_queries_within_the_limits_run() -> None:
    async with open_app() as h:
        result = await h.gql(DEEP)
        assert "errors" not in result
        ok = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
        assert "errors" not in await h.gql(ok)

"""Compiled execution gives graphql-core's answers exactly: a property-based differential test
over generated queries (aliases, __typename, named and inline fragments on interfaces and
unions, @skip/@include with variables, merged fields) and generated pages (nulls where the
schema allows them, and upstream data that breaks non-null fields)."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
    is_leaf_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphql_api.cache import MemoryStore, PageCache
from graphql_api.execution import Executor
from graphql_api.limits import Limits
from graphql_api.schema import schema
from graphql_api.schema.context import Context
from graphql_api.service import CatalogService
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.demo_catalog import build_catalog
from tests.helpers import COMPILED_EXECUTION, resilience
from tests.helpers import settings as app_settings

SCHEMA = schema._schema
LIMITS = Limits(50, 500, 50, 100_000, 10**6, 10**6)
POOL = build_catalog(80, seed=3)
ALIASES = ["a", "b", "c"]
EXAMPLES = 2500  # x 4 queries each: 10,000 cases


def _executor(compiled: bool) -> Executor:
    return Executor(SCHEMA, LIMITS, introspection=True, suggestions=True, page_size=250,
                    default_first=25, compiled=compiled)  # fmt: skip


COMPILED, INTERPRETED = _executor(True), _executor(False)


# --- pages ----------------------------------------------------------------------------------


def _break(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """An item with nulls where the schema allows them, or data that breaks a non-null field."""
    item = copy.deepcopy(item)
    pin, metadata = item["pin"], item["metadata"]
    for _ in range(rng.randrange(4)):
        targets = [t for t in (pin, metadata, pin.get("media")) if isinstance(t, dict) and t]
        target = rng.choice(targets)
        target[rng.choice(list(target))] = rng.choice([None, "x", 7, [], {}])
    return item


@st.composite
def pages(draw: st.DrawFn) -> list[dict[str, Any]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    size = draw(st.integers(0, 6))
    items = [rng.choice(POOL) for _ in range(size)]
    return [_break(i, rng) if draw(st.booleans()) else i for i in items]


# --- queries --------------------------------------------------------------------------------


class _Query:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.fragments: list[str] = []
        self.variables: dict[str, bool] = {}

    def directive(self) -> str:
        roll = self.draw(st.integers(0, 9))
        if roll == 0:
            return " @skip(if: true)"
        if roll == 1:
            return " @include(if: false)"
        if roll in (2, 3):
            name = f"v{len(self.variables)}"
            self.variables[name] = self.draw(st.booleans())
            return f" @{'skip' if roll == 2 else 'include'}(if: ${name})"
        return ""

    def fields(self, type_: Any, depth: int) -> str:
        parts: list[str] = []
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            names = list(type_.fields)
            chosen = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
            for name in chosen:
                field_type = get_named_type(type_.fields[name].type)
                alias = f"{self.draw(st.sampled_from(ALIASES))}: " if self.draw(
                    st.integers(0, 4)) == 0 else ""  # fmt: skip
                if is_leaf_type(field_type):
                    parts.append(f"{alias}{name}{self.directive()}")
                elif depth > 0:
                    sub = self.fields(field_type, depth - 1)
                    parts.append(f"{alias}{name}{self.directive()} {{ {sub} }}")
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            for concrete in self.draw(st.lists(st.sampled_from(
                    list(SCHEMA.get_possible_types(type_))), max_size=2)):  # fmt: skip
                sub = self.fields(concrete, depth - 1) if depth > 0 else "__typename"
                if self.draw(st.booleans()):
                    parts.append(f"... on {concrete.name}{self.directive()} {{ {sub} }}")
                else:
                    name = f"F{len(self.fragments)}"
                    self.fragments.append(f"fragment {name} on {concrete.name} {{ {sub} }}")
                    parts.append(f"...{name}{self.directive()}")
        if not parts or self.draw(st.integers(0, 3)) == 0:
            parts.append("__typename")
        return " ".join(parts)


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    query = _Query(draw)
    root = draw(st.sampled_from(["list", "pin"]))
    if root == "list":
        connection = SCHEMA.get_type("CatalogProductConnection")
        body = query.fields(connection, draw(st.integers(1, 6)))
        head = 'productGroupProducts(productGroupId: "1", first: $first)'
    else:
        body = query.fields(SCHEMA.get_type("Pin"), draw(st.integers(1, 5)))
        head = "pin(id: $id)"
    root_variable = "$first: Int" if root == "list" else "$id: ID!"
    declared = "".join(f", ${name}: Boolean!" for name in query.variables)
    text = (f"query Q({root_variable}{declared}) {{ {head} {{ {body} }} }} "
            + " ".join(query.fragments))  # fmt: skip
    variables: dict[str, Any] = dict(query.variables)
    if root == "list":
        variables["first"] = draw(st.integers(0, 8))
    else:
        variables["id"] = "900000000000000001"
    return text, variables


# --- the test -------------------------------------------------------------------------------


class _Upstream:
    """Serves the page (and its first Pin) of the current example."""

    page: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if "/pins/" in request.url.path:
            pin = self.page[0]["pin"] if self.page else {"id": "900000000000000001"}
            return httpx.Response(200, json=pin)
        return httpx.Response(200, json={"items": self.page, "bookmark": None})


UPSTREAM = _Upstream()
RUNNER = asyncio.Runner()
HTTP = build_http_client(app_settings(), httpx.MockTransport(UPSTREAM))
CLIENT = PinterestClient(HTTP, resilience())


async def _run(page: list[dict[str, Any]], cases: list[tuple[str, dict[str, Any]]]) -> None:
    UPSTREAM.page = page
    cache = PageCache(MemoryStore(100), secret=b"k" * 32, fresh_ttl=60, stale_ttl=0)
    service = CatalogService(CLIENT, cache, page_size=250)  # a fresh cache: this page only
    for text, variables in cases:
        results = []
        for executor in (COMPILED, INTERPRETED):
            context = Context(service, "tok", max_first=250)
            outcome = await executor.run(text, variables=variables, operation_name="Q",
                                         context=context, allow_mutations=False)  # fmt: skip
            results.append(outcome.body)
        assert results[0] == results[1], text


@pytest.mark.skipif(
    not COMPILED_EXECUTION, reason="compares both executors: once per CI run is enough"
)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(page=pages(), cases=st.lists(queries(), min_size=4, max_size=4))
def test_compiled_answers_equal_graphql_core(
    page: list[dict[str, Any]], cases: list[tuple[str, dict[str, Any]]]
) -> None:
    RUNNER.run(_run(page, cases))


def test_the_compiled_path_is_taken_for_product_queries() -> None:
    text = ('query Q($first: Int) { productGroupProducts(productGroupId: "1", first: $first) '
            "{ nodes { __typename pin { id } } } }")  # fmt: skip
    RUNNER.run(_run(POOL[:3], [(text, {"first": 3})]))
    plans = [plan for key, plan in COMPILED._plans.items() if key[0] == text]
    assert plans
    assert plans[0] is not None
    completers, selected = plans[0]
    assert "productGroupProducts" in completers
    assert selected["productGroupProducts"] == {"nodes", "__typename", "pin", "id"}

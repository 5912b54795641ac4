"""Compiled execution gives graphql-core's answers exactly: a property-based differential test
over generated queries (aliases, __typename, named and inline fragments on interfaces and
unions, @skip/@include with variables, merged fields) and generated pages (nulls where the
schema allows them, and upstream data that breaks non-null fields)."""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable, Iterator
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
from prometheus_client.parser import text_string_to_metric_families

from graphql_api.cache import MemoryStore, PageCache
from graphql_api.execution import Executor
from graphql_api.internals import graphql_schema
from graphql_api.limits import Limits
from graphql_api.pagination import Position, encode_cursor
from graphql_api.schema import schema
from graphql_api.schema.context import Context
from graphql_api.service import CatalogService, Listing
from graphql_api.upstream import models as m
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.demo_catalog import build_catalog
from tests.helpers import (
    COMPILED_EXECUTION,
    examples,
    open_app,
    resilience,
    thorough,
    without_cost,
)
from tests.helpers import settings as app_settings

SCHEMA = graphql_schema(schema)
LIMITS = Limits(50, 500, 50, 100_000, 10**6, 10**6)
POOL = build_catalog(80, seed=3)
ALIASES = ["a", "b", "c"]
# Examples and queries per example, each requested twice: 10,000 queries in CI's full-strength
# step; in the README's suite a thirty-second (a sixteenth of the examples, half the queries),
# which keeps the suite within its time (each query is answered as data far more often than it
# was before they were all valid).
EXAMPLES = examples(2500) if thorough() else 2500 // 16
QUERIES = 4 if thorough() else 2


def _executor(compiled: bool, on_fallback: Callable[[str], None] | None = None) -> Executor:
    return Executor(
        SCHEMA,
        LIMITS,
        introspection=True,
        suggestions=True,
        page_size=250,
        compiled=compiled,
        on_fallback=on_fallback,
    )


COMPILED, INTERPRETED = _executor(True), _executor(False)


@pytest.fixture(autouse=True, scope="module")
def _release_the_executors_caches() -> Iterator[None]:
    """The differential test fills both executors' caches (a million objects): empty them after
    this module, so the rest of the suite does not carry them (every full GC would walk them)."""
    yield
    for executor in (COMPILED, INTERPRETED):
        executor.clear_caches()


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


# What may stand between two tokens: nothing, or ignored tokens of every kind (white space,
# line breaks, commas, comments): the compiled path must read the document, never its text.
IGNORED = ["", " ", "  ", "\n", "\t", ",", " , ", ",\n\t", " # a comment\n", "#@include(if: $x)\n"]


class _Query:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.fragments: list[str] = []
        self.variables: dict[str, bool] = {}
        self.defaults: dict[str, bool] = {}  # variables with a default value (maybe not given)

    def gap(self) -> str:
        """Ignored tokens between two tokens, mostly one space."""
        return self.draw(st.sampled_from([" "] * 6 + IGNORED))

    def directive(self) -> str:
        roll = self.draw(st.integers(0, 11))
        if roll > 5:
            return ""
        name = self.draw(st.sampled_from(["skip", "include"]))
        if roll == 0:
            value = self.draw(st.sampled_from(["true", "false"]))
        elif roll in (1, 2, 3):
            value = f"$v{len(self.variables)}"
            self.variables[value[1:]] = self.draw(st.booleans())
        else:  # declared with a default, which a request may leave out
            value = f"$d{len(self.defaults)}"
            self.defaults[value[1:]] = self.draw(st.booleans())
        g = self.gap
        return f"{g() or ' '}@{name}{g()}({g()}if{g()}:{g()}{value}{g()}){g()}"

    def fields(self, type_: Any, depth: int) -> str:
        parts: list[str] = []
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            names = list(type_.fields)
            chosen = self.draw(st.lists(st.sampled_from(names), min_size=1, max_size=4))
            for name in chosen:
                field_type = get_named_type(type_.fields[name].type)
                alias = self.alias(name)
                if is_leaf_type(field_type):
                    parts.append(f"{alias}{name}{self.directive()}")
                elif depth > 0:
                    sub = self.fields(field_type, depth - 1)
                    parts.append(f"{alias}{name}{self.directive()} {{ {sub} }}")
            if depth > 0 and self.draw(st.integers(0, 4)) == 0:  # a part under a directive
                sub = self.fields(type_, depth - 1)
                if self.draw(st.booleans()):
                    parts.append(f"...{self.directive() or ' @include(if: true)'} {{ {sub} }}")
                else:
                    name = f"F{len(self.fragments)}"
                    self.fragments.append(f"fragment {name} on {type_.name} {{ {sub} }}")
                    parts.append(f"...{name}{self.directive()}")
        if isinstance(type_, GraphQLInterfaceType | GraphQLUnionType):
            possible = list(SCHEMA.get_possible_types(type_))
            for concrete in self.draw(st.lists(st.sampled_from(possible), max_size=2)):
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

    def alias(self, name: str) -> str:
        """No alias (mostly), one of the field's own, or one shared by several fields (which
        conflict, for validation to report, unless they select the same field)."""
        roll = self.draw(st.integers(0, 9))
        if roll > 1:
            return ""
        alias = self.draw(st.sampled_from(ALIASES))
        return f"{alias}: " if roll == 0 else f"{alias}_{name}: "

    def string(self, value: str) -> str:
        """A string argument's literal: a string, or a block string."""
        return self.draw(st.sampled_from([f'"{value}"', f'"""{value}"""', f'"""\n  {value}\n"""']))

    def argument(self, name: str, value: str) -> str:
        g = self.gap
        return f"{g()}{name}{g()}:{g()}{value}{g()}"


Case = tuple[str, list[dict[str, Any]]]  # an operation, and the variables of each request
LIST_KEY = Listing("product_group_products", product_group_id="1").key
CURSOR = encode_cursor(Position(None, 1), query=LIST_KEY, page_size=250)
FEED = '{feedBased: {feedId: "7", filters: {anyOf: [{minPrice: {values: 0}}]}}}'
# RETAIL without country and locale: the resolver refuses it (BAD_USER_INPUT).
NO_LOCALE = (
    '{catalogBased: {catalogType: RETAIL, catalogId: "1", '
    "filters: {anyOf: [{minPrice: {values: 0}}]}}}"
)
MISSING_PIN = "404"  # the fake upstream answers 404 for it


@st.composite
def queries(draw: st.DrawFn) -> Case:
    """An operation of 1 to 3 root fields (lists, Pins, __typename), with arguments that are
    sometimes refused (a bad `first`, cursor or filter, a missing Pin, variables that do not
    coerce), so errors at the root and their null propagation are compared too; and two sets
    of its variables, one directive's value flipped in the second (whose plan may be cached
    from the first)."""
    query = _Query(draw)
    count = draw(st.sampled_from([1, 1, 1, 2, 3]))
    root_kinds = st.sampled_from(["list", "filter", "pin", "typename"])
    kinds = draw(st.lists(root_kinds, min_size=count, max_size=count))
    connection = SCHEMA.get_type("CatalogProductConnection")
    roots: list[str] = []
    for index, kind in enumerate(kinds):
        alias = f"r{index}: " if len(kinds) > 1 else ""
        depth = draw(st.integers(1, 6 if len(kinds) == 1 else 2))
        if kind == "list":
            arguments = [
                query.argument("productGroupId", query.string("1")),
                query.argument("first", "$first"),
            ]
            if draw(st.booleans()):
                arguments.append(query.argument("after", "$after"))
            head = f"productGroupProducts({','.join(arguments)})"
            roots.append(f"{alias}{head} {{ {query.fields(connection, depth)} }}")
        elif kind == "filter":
            literal = NO_LOCALE if draw(st.integers(0, 4)) == 0 else FEED
            literal = literal.replace('"7"', query.string("7"))
            arguments = [query.argument("filter", literal), query.argument("first", "$first")]
            head = f"productsByFilter({','.join(arguments)})"
            roots.append(f"{alias}{head} {{ {query.fields(connection, depth)} }}")
        elif kind == "pin":
            body = query.fields(SCHEMA.get_type("Pin"), min(depth, 5))
            roots.append(f"{alias}pin({query.argument('id', '$id')}) {{ {body} }}")
        else:
            roots.append(f"{alias}__typename")
    body = " ".join(roots)
    types = {"first": "Int", "after": "String", "id": "ID!"}
    declared = [f"${name}: {type_}" for name, type_ in types.items() if f"${name}" in body]
    declared += [f"${name}: Boolean!" for name in query.variables]
    declared += [
        f"${name}: Boolean = {str(value).lower()}" for name, value in query.defaults.items()
    ]
    # (only the variables it uses: an unused one makes the operation invalid)
    signature = f"({', '.join(declared)})" if declared else ""
    text = f"query Q{signature} {{ {body} }} " + " ".join(query.fragments)
    variables: dict[str, Any] = dict(query.variables)
    for name in query.defaults:  # left out (the default), or given
        given = draw(st.sampled_from([None, True, False]))
        if given is not None:
            variables[name] = given
    variables["first"] = draw(st.one_of(st.integers(0, 8), st.sampled_from([-1, 10**6, "x"])))
    variables["after"] = draw(st.sampled_from([CURSOR, CURSOR, "not-a-cursor", None]))
    variables["id"] = draw(st.sampled_from(["900000000000000001"] * 3 + [MISSING_PIN]))
    # The second request flips one directive variable (a plan keyed on the others only would
    # be reused, wrongly), and leaves out or gives the defaulted ones again.
    again = dict(variables)
    for name in query.defaults:
        again.pop(name, None)
        if (given := draw(st.sampled_from([None, True, False]))) is not None:
            again[name] = given
    if query.variables or query.defaults:
        flipped = draw(st.sampled_from([*query.variables, *query.defaults]))
        again[flipped] = not variables.get(flipped, query.defaults.get(flipped))
    return text, [variables, again]


# --- the test -------------------------------------------------------------------------------


class _Upstream:
    """Serves the page (and its first Pin) of the current example."""

    page: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/pins/{MISSING_PIN}"):
            return httpx.Response(404, json={"code": 3, "message": "Pin not found."})
        if "/pins/" in request.url.path:
            pin = self.page[0]["pin"] if self.page else {"id": "900000000000000001"}
            return httpx.Response(200, json=pin)
        return httpx.Response(200, json={"items": self.page, "bookmark": None})


UPSTREAM = _Upstream()
RUNNER = asyncio.Runner()
HTTP = build_http_client(app_settings(), httpx.MockTransport(UPSTREAM))
CLIENT = PinterestClient(HTTP, resilience())


@pytest.fixture(scope="session", autouse=True)
def _close_the_loop() -> Iterator[None]:
    """The module's client and event loop (one for all examples) closed when the session ends
    (not the module: a worker of pytest-xdist may come back to this module's tests)."""
    yield
    RUNNER.run(HTTP.aclose())
    RUNNER.close()


async def _run(page: list[dict[str, Any]], cases: list[Case]) -> None:
    UPSTREAM.page = page
    cache = PageCache(MemoryStore(100), secret=b"k" * 32, fresh_ttl=60, stale_ttl=0)
    service = CatalogService(CLIENT, cache, page_size=250)  # a fresh cache: this page only
    for text, requests in cases:
        for variables in requests:
            await _compare(service, text, variables)


async def _compare(service: CatalogService, text: str, variables: dict[str, Any]) -> None:
    results = []
    # graphql-core first, unread: both compared runs find the same pages in the cache (which
    # of several root fields' errors is reported depends on whether they wait for I/O).
    for executor in (INTERPRETED, COMPILED, INTERPRETED):
        context = Context(service, "tok", max_first=250)
        outcome = await executor.run(
            text, variables=variables, operation_name="Q", context=context, allow_mutations=False
        )
        results.append(outcome.body)
    assert results[1] == results[2], (text, variables)


@pytest.mark.skipif(
    not COMPILED_EXECUTION, reason="compares both executors: once per CI run is enough"
)
# In quarters of their own examples (each parametrised case has its own seed), so the two
# workers of the suite share the run and neither is left with a long last test.
@pytest.mark.parametrize("quarter", range(4))
@settings(
    max_examples=EXAMPLES // 4,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(page=pages(), cases=st.lists(queries(), min_size=QUERIES, max_size=QUERIES))
def test_compiled_answers_equal_graphql_core(
    quarter: int, page: list[dict[str, Any]], cases: list[Case]
) -> None:
    RUNNER.run(_run(page, cases))


def test_the_compiled_path_is_taken_for_product_queries() -> None:
    text = (
        'query Q($first: Int) { productGroupProducts(productGroupId: "1", first: $first) '
        "{ nodes { __typename pin { id } } } }"
    )
    RUNNER.run(_run(POOL[:3], [(text, [{"first": 3}])]))
    plans = [plan for key, plan in COMPILED._plans.items() if key[0] == text]
    assert plans
    assert plans[0] is not None
    assert "productGroupProducts" in plans[0].plans
    assert plans[0].selected["productGroupProducts"] == {"nodes", "__typename", "pin", "id"}
    assert plans[0].roots is not None  # the root field is resolved without graphql-core


def _count_upstream(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    handler = UPSTREAM.__call__

    def counting(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return handler(request)

    monkeypatch.setattr(_Upstream, "__call__", lambda self, request: counting(request))
    return seen


def test_a_root_field_resolves_without_graphql_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """An operation with one root field (and __typename) that resolves and completes never
    reaches graphql-core's execution; one whose root field failed reaches it once, to report
    the error, without resolving the field again (one upstream request for the missing Pin).
    Several root fields run on graphql-core (their errors' order depends on their timing)."""
    import graphql

    import graphql_api.compiled as compiled

    executions: list[str] = []
    real_execute = graphql.execute

    def spy(*args: Any, **kwargs: Any) -> Any:
        executions.append("execute")
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(compiled, "execute", spy)
    upstream = _count_upstream(monkeypatch)
    UPSTREAM.page = POOL[:3]

    async def one(text: str, pin_id: str = MISSING_PIN) -> dict[str, Any]:
        cache = PageCache(MemoryStore(100), secret=b"k" * 32, fresh_ttl=60, stale_ttl=0)
        context = Context(CatalogService(CLIENT, cache, page_size=250), "tok", max_first=250)
        variables = {"id": pin_id} if "pin(" in text else {}
        outcome = await COMPILED.run(
            text, variables=variables, operation_name="Q", context=context, allow_mutations=False
        )
        return outcome.body

    listing = (
        'query Q($id: ID) { __typename a: productGroupProducts(productGroupId: "1", '
        "first: 2, adAccountId: $id) { nodes { pin { id } } } }"
    )
    body = RUNNER.run(one(listing))
    assert body == {
        "data": {
            "__typename": "Query",
            "a": {"nodes": [{"pin": {"id": item["pin"]["id"]}} for item in POOL[:2]]},
        }
    }
    assert executions == []
    by_filter = f"query Q {{ productsByFilter(filter: {FEED}) {{ nodes {{ __typename }} }} }}"
    assert "errors" not in RUNNER.run(one(by_filter))  # its input converted by Strawberry
    assert executions == []

    pin = "query Q($id: ID!) { b: pin(id: $id) { id } __typename }"
    body = RUNNER.run(one(pin))
    assert body["data"] == {"b": None, "__typename": "Query"}
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [(["b"], "NOT_FOUND")]
    assert executions == ["execute"]
    assert sum(path.endswith(f"/pins/{MISSING_PIN}") for path in upstream) == 1

    executions.clear()
    both = listing.replace("$id: ID", "$id: ID!").replace("__typename", "b: pin(id: $id) { id }")
    assert "errors" in RUNNER.run(one(both))
    assert executions == ["execute"]


# --- traps reproduced by the review (issue 14) ---------------------------------------------


def test_a_comment_inside_a_directive_keys_the_plan_by_its_variable() -> None:
    """The plan compiled for ``v: true`` is not reused for ``v: false`` whatever lies between
    ``@include(if:`` and ``$v`` (a comment, commas, line breaks): the keys come from the AST."""
    text = (
        'query Q($first: Int, $v: Boolean!) { productGroupProducts(productGroupId: "1", '
        "first: $first) { nodes { __typename pin @include(if: # a comment\n , $v) "
        "{ id } } } }"
    )
    RUNNER.run(_run(POOL[:3], [(text, [{"first": 2, "v": True}, {"first": 2, "v": False}])]))


def _fallbacks(text: str) -> dict[str, float]:
    """``graphql_api_compiled_fallbacks_total`` by reason, from /metrics' text (the reasons
    counted: every reason's series is there from the start, at 0)."""
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "graphql_api_compiled_fallbacks"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.value
    }


async def _answers(query: str, variables: dict[str, Any]) -> tuple[Any, Any, dict[str, float]]:
    """The app's answer with compiled execution, graphql-core's, and the fallbacks counted."""
    async with open_app(compiled_execution=False, response_cache=False) as h:
        interpreted = await h.post(query, variables)
    async with open_app(compiled_execution=True, response_cache=False) as h:
        compiled = await h.post(query, variables)
        again = await h.post(query, variables)  # the plan cached
        counted = _fallbacks((await h.client.get("/metrics")).text)
    assert compiled.status_code == interpreted.status_code == again.status_code == 200
    # The same answers: what each request cost upstream aside (the second was answered warm).
    assert without_cost(compiled.json()) == without_cost(again.json())
    return without_cost(compiled.json()), without_cost(interpreted.json()), counted


PIN_ID = "900000000000000001"  # a Pin of the demo catalog
ONE_ROOT = "query Q($id: ID!) { pin(id: $id) { id note title } }"
SEVERAL_ROOTS = (
    "query Q($id: ID!) { a: pin(id: $id) { id note } __typename "
    'b: productGroupProducts(productGroupId: "1", first: 2) '
    "{ nodes { pin { id note } } } }"
)


@pytest.mark.skipif(not COMPILED_EXECUTION, reason="the compiled path is off")
@pytest.mark.parametrize("query", [ONE_ROOT, SEVERAL_ROOTS], ids=["one root", "several roots"])
@pytest.mark.parametrize("bug", ["missing attribute", "raising attribute"])
def test_an_exception_inside_a_plan_falls_back_to_graphql_core(
    monkeypatch: pytest.MonkeyPatch, query: str, bug: str
) -> None:
    """A bug the schema check cannot see (the model loses the attribute a field reads, or
    reading it raises, after the schema was built): graphql-core answers that root field, the
    fallback is counted, and no client sees a 500."""
    pin = SCHEMA.get_type("Pin")
    assert isinstance(pin, GraphQLObjectType)
    note = pin.fields["note"].extensions["strawberry-definition"]
    if bug == "missing attribute":
        monkeypatch.setattr(note, "python_name", "no_such_attribute")
    else:
        monkeypatch.setattr(m.Pin, "raising", property(lambda pin: 1 / 0), raising=False)
        monkeypatch.setattr(note, "python_name", "raising")
    compiled, interpreted, counted = RUNNER.run(_answers(query, {"id": PIN_ID}))
    assert compiled == interpreted
    assert {e["extensions"]["code"] for e in compiled["errors"]} == {"INTERNAL_SERVER_ERROR"}
    # Each request, each root field that reads a Pin: one fallback (the plan is not retried).
    assert counted == {"error": 2 * (1 if query == ONE_ROOT else 2)}


def test_an_exception_while_compiling_runs_the_operation_on_graphql_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import graphql_api.execution as execution

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the compiler")

    monkeypatch.setattr(execution, "compile_operation", broken)
    reasons: list[str] = []
    executor = _executor(True, on_fallback=reasons.append)
    text = (
        'query Q { productGroupProducts(productGroupId: "1", first: 2) '
        "{ nodes { __typename pin { id } } } }"
    )

    async def answers() -> list[dict[str, Any]]:
        UPSTREAM.page = POOL[:3]
        cache = PageCache(MemoryStore(100), secret=b"k" * 32, fresh_ttl=60, stale_ttl=0)
        service = CatalogService(CLIENT, cache, page_size=250)
        bodies = []
        for each in (executor, executor, INTERPRETED):
            outcome = await each.run(
                text,
                variables=None,
                operation_name="Q",
                context=Context(service, "tok", max_first=250),
                allow_mutations=False,
            )
            bodies.append(outcome.body)
        return bodies

    first, second, interpreted = RUNNER.run(answers())
    assert first == second == interpreted
    assert "errors" not in first
    assert reasons == ["compile_error"]  # once: the operation's plan is remembered as none

"""Canaries for the private strawberry-graphql and graphql-core APIs graphql_api relies on (all
of them used in ``graphql_api/internals.py`` only): each fails with what a new release changed
and where to adapt, before the compiled path silently turns itself off or answers wrongly."""

from __future__ import annotations

import inspect
from importlib.metadata import version
from typing import Any

import graphql
import pytest
import strawberry
from graphql import GraphQLObjectType, GraphQLSchema, parse, validate
from graphql.execution import Executor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema_converter import get_arguments
from strawberry.types import Info

from graphql_api import internals
from graphql_api.schema import schema

STRAWBERRY = f"strawberry-graphql {version('strawberry-graphql')}"
GRAPHQL_CORE = f"graphql-core {version('graphql-core')}"
WHERE = "graphql_api/internals.py"
GQL = internals.graphql_schema(schema)


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _expect(library: str, what: str, actual: Any, expected: Any) -> None:
    assert actual == expected, (
        f"{library} changed {what}: {WHERE} relies on {expected!r}, the release has {actual!r}"
    )


def test_the_graphql_core_schema_behind_strawberrys() -> None:
    assert isinstance(getattr(schema, "_schema", None), GraphQLSchema), (
        f"{STRAWBERRY} changed Schema._schema: {WHERE} graphql_schema() reads it"
    )
    assert getattr(GQL, "_strawberry_schema", None) is schema, (
        f"{STRAWBERRY} changed GraphQLSchema._strawberry_schema: {WHERE} reads it for the "
        "exception handlers and the config"
    )


def test_exception_handlers_are_readable() -> None:
    assert internals.exception_handlers(GQL) == (), (
        f"{STRAWBERRY} changed schema_converter._exception_handler_specs (a tuple, empty without "
        f"handlers): {WHERE} exception_handlers(); without it every operation leaves the "
        "compiled lone-root path"
    )


def test_strawberry_definitions_in_extensions() -> None:
    pin = GQL.get_type("Pin")
    assert isinstance(pin, GraphQLObjectType)
    field = internals.strawberry_definition(pin.fields["note"])
    assert isinstance(field, internals.StrawberryField), (
        f'{STRAWBERRY} changed the "strawberry-definition" extension: {WHERE}'
    )
    for attribute in ("python_name", "base_resolver", "extensions"):
        assert hasattr(field, attribute), f"{STRAWBERRY} changed StrawberryField.{attribute}"
    assert field.python_name == "note"
    assert getattr(internals.strawberry_definition(pin), "origin", None) is not None, (
        f"{STRAWBERRY} changed StrawberryObjectDefinition.origin: {WHERE}"
    )
    enum_type = GQL.get_type("CatalogType")
    wrapped = getattr(internals.strawberry_definition(enum_type), "wrapped_cls", None)
    assert isinstance(wrapped, type), f"{STRAWBERRY} changed EnumDefinition.wrapped_cls: {WHERE}"


def test_info_wraps_graphql_cores() -> None:
    _expect(STRAWBERRY, "Info's constructor", _parameters(Info), ["_raw_info", "_field"])
    seen: list[Any] = []

    @strawberry.type
    class Query:
        @strawberry.field
        def x(self, info: strawberry.Info) -> int:
            seen.append(internals.raw_info(info))
            return 1

    result = strawberry.Schema(query=Query).execute_sync("{ x }")
    assert result.errors is None
    assert getattr(seen[0], "field_name", None) == "x", (
        f"{STRAWBERRY} changed Info._raw_info: {WHERE} raw_info()"
    )
    assert isinstance(seen[0].path, Path), f"{STRAWBERRY} changed Info._raw_info: {WHERE}"


def test_graphql_cores_executor() -> None:
    _expect(
        GRAPHQL_CORE,
        "Executor.complete_value's parameters",
        _parameters(Executor.complete_value),
        ["self", "return_type", "field_details_list", "info", "path", "result", "position_context"],
    )
    _expect(
        GRAPHQL_CORE,
        "Executor.build_resolve_info's parameters",
        _parameters(Executor.build_resolve_info),
        ["self", "field_def", "field_nodes", "parent_type", "path"],
    )
    _expect(
        GRAPHQL_CORE,
        "Executor.build's first parameters",
        _parameters(Executor.build)[:6],
        [
            "schema",
            "document",
            "root_value",
            "context_value",
            "raw_variable_values",
            "operation_name",
        ],
    )
    for name in ("hide_suggestions", "custom_args"):
        assert name in _parameters(Executor.build), f"{GRAPHQL_CORE} changed Executor.build"
    assert "executor_class" in _parameters(graphql.execute)
    _expect(
        GRAPHQL_CORE,
        "get_argument_values' parameters",
        _parameters(get_argument_values),
        ["type_def", "node", "variable_values", "fragment_variable_values", "hide_suggestions"],
    )


def test_strawberrys_argument_conversion() -> None:
    _expect(
        STRAWBERRY,
        "schema_converter.get_arguments' parameters",
        _parameters(get_arguments),
        ["field", "source", "info", "kwargs", "config", "scalar_registry"],
    )
    strawberry_schema: Any = getattr(GQL, "_strawberry_schema")  # noqa: B009
    assert hasattr(strawberry_schema.schema_converter, "scalar_registry"), (
        f"{STRAWBERRY} changed schema_converter.scalar_registry: {WHERE} resolve_root()"
    )


@strawberry.type
class Tiny:
    @strawberry.field
    def double(self, info: strawberry.Info, n: int = 1) -> int:
        assert internals.raw_info(info).path.key in ("double", "d")
        return 2 * n

    @strawberry.field
    def other(self) -> str:
        return "other"


TINY = internals.graphql_schema(strawberry.Schema(query=Tiny))


def test_a_root_field_resolved_as_strawberry_does() -> None:
    """The private path of the lone root field: build (variables coerced), resolve info,
    argument coercion and conversion, ``Info``, the resolver."""
    query = TINY.query_type
    assert query is not None
    document = parse("query Q($n: Int!) { d: double(n: $n) }")
    executor = internals.start(TINY, document, None, {"n": 21}, "Q", hide_suggestions=False)
    assert isinstance(executor, Executor), f"{GRAPHQL_CORE} changed Executor.build"
    refused = internals.start(TINY, document, None, {"n": "x"}, "Q", hide_suggestions=False)
    assert isinstance(refused, list), f"{GRAPHQL_CORE} changed Executor.build's errors"
    definition = query.fields["double"]
    operation = document.definitions[0]
    node = operation.selection_set.selections[0]  # type: ignore[attr-defined]
    field = internals.strawberry_definition(definition)
    call = internals.resolve_root(
        TINY,
        executor,
        definition,
        field,
        [node],
        query,
        Path(None, "d", "Query"),
        hide_suggestions=False,
    )
    assert call() == 42, f"{STRAWBERRY}/{GRAPHQL_CORE} changed a root field's resolution: {WHERE}"


def test_root_executor_completes_root_fields() -> None:
    asked: list[tuple[str, Any]] = []

    def complete_root(key: str, value: Any) -> Any:
        asked.append((key, value))
        return "completed" if key == "o" else internals.DEFER

    result = graphql.execute(
        TINY,
        parse("{ o: other double }"),
        executor_class=internals.RootExecutor,
        complete_root=complete_root,
    )
    assert isinstance(result, graphql.ExecutionResult)
    _expect(
        GRAPHQL_CORE,
        "Executor.complete_value (RootExecutor's override)",
        result.data,
        {"o": "completed", "double": 2},
    )
    assert asked == [("o", "other"), ("double", 2)]


def test_strawberrys_one_of_rule() -> None:
    both = "{anyOf: [{minPrice: {values: 0}}], allOf: []}"  # two keys of a @oneOf input
    argument = f'{{feedBased: {{feedId: "1", filters: {both}}}}}'
    document = parse(f"{{ productsByFilter(filter: {argument}) {{ nodes {{ __typename }} }} }}")
    errors = validate(GQL, document, [internals.OneOfInputValidationRule])
    assert errors, f"{STRAWBERRY} changed OneOfInputValidationRule: {WHERE} adds it to the rules"


@pytest.mark.parametrize("name", internals.__all__)
def test_every_export_is_there(name: str) -> None:
    assert getattr(internals, name, None) is not None

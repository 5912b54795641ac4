"""The private APIs of strawberry-graphql and graphql-core this package relies on, in one module.

Everything here reaches past the two libraries' documented interfaces: subclassing
graphql-core's executor and calling its ``build``/``build_resolve_info``/``complete_value``,
its argument coercion, Strawberry's argument conversion, its ``Info`` constructor and the
attributes linking a Strawberry schema to graphql-core's (``_schema``, ``_strawberry_schema``,
``schema_converter._exception_handler_specs``, ``Info._raw_info``), and Strawberry's @oneOf
validation rule. No other module imports them; each has a canary in
``tests/unit/test_internals.py`` that names what a new release changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
)
from graphql.execution import Executor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.schema.schema_converter import get_arguments
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types import Info
from strawberry.types.field import StrawberryField

__all__ = [
    "DEFER",
    "OneOfInputValidationRule",
    "RootExecutor",
    "StrawberryField",
    "exception_handlers",
    "graphql_schema",
    "raw_info",
    "resolve_root",
    "start",
    "strawberry_definition",
]

DEFER = object()  # what ``RootExecutor``'s ``complete_root`` returns to let graphql-core complete


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema a Strawberry schema built (``Schema._schema``)."""
    built: GraphQLSchema = schema._schema
    return built


def strawberry_definition(element: Any) -> Any:
    """What Strawberry built a graphql-core type, field or enum from (its ``StrawberryField``,
    ``StrawberryObjectDefinition`` or ``EnumDefinition``: ``python_name``, ``base_resolver``,
    ``origin``, ``wrapped_cls`` ...), kept in the element's ``extensions``; ``None`` if none."""
    return (element.extensions or {}).get("strawberry-definition")


def raw_info(info: Info[Any, Any]) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind Strawberry's ``Info`` (``Info._raw_info``)."""
    return info._raw_info


def exception_handlers(schema: GraphQLSchema) -> tuple[Any, ...] | None:
    """The exception handlers of the Strawberry schema behind ``schema`` (they turn errors into
    values); ``None`` when that cannot be read (not a Strawberry schema, or a release that moved
    them), which callers take as "there may be some"."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    converter = getattr(strawberry_schema, "schema_converter", None)
    specs = getattr(converter, "_exception_handler_specs", None)
    return specs if isinstance(specs, tuple) else None


class RootExecutor(Executor):  # type: ignore[type-arg]
    """graphql-core's executor asking ``complete_root(response key, value)`` first to complete
    each root field's resolved value, once; it answers :data:`DEFER` to let graphql-core
    complete it. Failed root fields (an exception as the value) go to graphql-core directly."""

    def __init__(self, *args: Any, complete_root: Callable[[str, Any], Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._complete_root = complete_root

    def complete_value(
        self,
        return_type: Any,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        # The root field's own call (not the inner one graphql-core makes for a non-null type).
        if (
            path.prev is None
            and return_type is info.return_type
            and not isinstance(result, Exception)
        ):
            completed = self._complete_root(path.key, result)
            if completed is not DEFER:
                return completed
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )


def start(
    schema: GraphQLSchema,
    document: DocumentNode,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    *,
    hide_suggestions: bool,
) -> Executor | list[GraphQLError]:  # type: ignore[type-arg]
    """graphql-core's executor for an operation, its variables coerced; their errors if they
    do not coerce (``Executor.build``)."""
    return Executor.build(
        schema,
        document,
        None,
        context,
        variables,
        operation_name,
        hide_suggestions=hide_suggestions,
    )


def resolve_root(
    schema: GraphQLSchema,
    executor: Executor,  # type: ignore[type-arg]
    definition: GraphQLField,
    field: StrawberryField,
    nodes: list[FieldNode],
    parent_type: GraphQLObjectType,
    path: Path,
    *,
    hide_suggestions: bool,
) -> Callable[[], Any]:
    """A root field's resolver call as Strawberry's resolver wrapper makes it: graphql-core's
    argument coercion, Strawberry's argument conversion and ``Info``. Raises what either raises
    (arguments that do not coerce or convert); the call returns what the resolver returns."""
    strawberry_schema: Any = getattr(schema, "_strawberry_schema")  # noqa: B009
    config = strawberry_schema.config
    info = config.info_class(
        _raw_info=executor.build_resolve_info(definition, nodes, parent_type, path), _field=field
    )
    node = nodes[0]
    args = (
        get_argument_values(definition, node, executor.variable_values, None, hide_suggestions)
        if definition.args or node.arguments
        else {}
    )
    field_args, field_kwargs = get_arguments(
        field=field,
        source=None,
        info=info,
        kwargs=args,
        config=config,
        scalar_registry=strawberry_schema.schema_converter.scalar_registry,
    )
    return lambda: field.get_result(None, info=info, args=field_args, kwargs=field_kwargs)

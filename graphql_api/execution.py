"""Runs GraphQL operations on graphql-core: parse and validation cached by document (the rules
built once), the limits, the upstream-cost budget (the estimate planned once per operation,
:mod:`graphql_api.cost`), execution, and error masking. The outcome carries the request's cost:
the estimate, and the upstream requests execution made.

Strawberry builds the schema and its resolvers; running them directly on graphql-core keeps the
hot path free of per-request extension machinery.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    ListValueNode,
    MaxIntrospectionDepthRule,
    NoSchemaIntrospectionCustomRule,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    OverlappingFieldsCanBeMergedRule,
    ValueNode,
    VariableNode,
    get_operation_ast,
    parse,
    print_ast,
    specified_rules,
    type_from_ast,
    validate,
    value_from_ast,
)

from graphql_api.boundary import ErrorReporter
from graphql_api.compiled import (
    CompiledOperation,
    NotCompilable,
    compile_operation,
    run,
    source_types,
)
from graphql_api.cost import Estimator, Plan
from graphql_api.internals import OneOfInputValidationRule
from graphql_api.limits import (
    Limits,
    OverlappingFieldsWithinBudget,
    RootFields,
    fragments_of,
    limit_rules,
    root_fields,
)
from graphql_api.schema.context import Context
from graphql_api.schema.masking import mask_errors
from graphql_api.throttle import SPENT, Spent
from graphql_api.upstream.resilience import SYSTEM

__all__ = ["Executor", "Outcome", "Prepared"]

_SUGGESTION = re.compile(r"\s*Did you mean .*$", re.DOTALL)
_NO_COST = Plan(0)
_NO_VARIABLES: Mapping[str, Any] = {}


class _Operation(NamedTuple):
    node: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    label: str  # the root field names, for metrics and logs
    cost: Plan  # the estimate of its upstream requests, run with each request's variables
    defaults: dict[str, Any]  # the variables' default values
    # The variables the directives of the operation and of the fragments it spreads read,
    # sorted: the compiled plans depend on their values (see Executor._plan).
    directive_variables: tuple[str, ...]


class Prepared(NamedTuple):
    document: DocumentNode | None
    errors: list[GraphQLError]
    # The normalised document, when its answers may be kept by the response cache (a valid
    # query that does not introspect); ``None`` otherwise.
    cache_key: str | None = None


def _directive_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    """Names of the variables read by directives (``@skip``/``@include`` and any other) of an
    operation and of the fragments it spreads, however deep, sorted: a walk of the AST."""
    names: set[str] = set()
    spread: set[str] = set()
    stack: list[Any] = [operation]
    while stack:
        node = stack.pop()
        for directive in node.directives or ():
            for argument in directive.arguments or ():
                names.update(_variables_in(argument.value))
        if isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
            spread.add(node.name.value)
            if (fragment := fragments.get(node.name.value)) is not None:
                stack.append(fragment)
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return tuple(sorted(names))


def _variables_in(value: ValueNode) -> Iterator[str]:
    if isinstance(value, VariableNode):
        yield value.name.value
    elif isinstance(value, ListValueNode):
        for item in value.values:
            yield from _variables_in(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _variables_in(field.value)


def _introspects(document: DocumentNode) -> bool:
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        if isinstance(node, FieldNode) and node.name.value in ("__schema", "__type"):
            return True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return False


@dataclass(slots=True)
class Outcome:
    """The response body, and whether it is a request error (no execution, no ``data``)."""

    body: dict[str, Any]
    request_error: bool
    operation: str = "invalid"  # a bounded label: the root fields, for metrics and logs
    forbidden_method: bool = False  # a mutation over GET
    cached: bool = False  # answered by the response cache
    # Its cost in upstream requests (extensions.cost): the estimate (0: nothing was estimated,
    # the document did not get that far), and the requests it made.
    requested: int = 0
    actual: int = 0

    @property
    def label(self) -> str:
        """How the request ended (metrics' and traces' outcome): ``cached`` (the response
        cache answered), ``rejected`` (a request error), ``error`` (errors in the answer) or
        ``ok``."""
        if self.cached:
            return "cached"
        if self.request_error:
            return "rejected"
        return "error" if "errors" in self.body else "ok"


class Executor:
    def __init__(
        self,
        schema: GraphQLSchema,
        limits: Limits,
        *,
        introspection: bool,
        suggestions: bool,
        page_size: int,
        compiled: bool = True,
        cache_size: int = 1024,
        on_fallback: Callable[[str], None] | None = None,
        reporter: ErrorReporter | None = None,
    ) -> None:
        """``on_fallback`` is told why each root field compiled execution left to graphql-core
        (a bounded label: ``incomplete``, a value a plan cannot complete exactly; ``error``, an
        unexpected exception while completing one; ``compile_error``, one while compiling the
        operation); ``reporter`` logs the unexpected exceptions (bugs), once per interval."""
        self._schema = schema
        self._limits = limits
        self._suggestions = suggestions
        self._estimator = Estimator(schema, page_size=page_size)
        # Strawberry checks @oneOf inputs with a rule of its own (its input types do not carry
        # graphql-core's flag), so it joins the specified rules; field merging is checked
        # within a smaller budget than graphql-core's (see limits.OVERLAP_BUDGET).
        budgeted: dict[type[ASTValidationRule], type[ASTValidationRule]] = {
            OverlappingFieldsCanBeMergedRule: OverlappingFieldsWithinBudget
        }
        rules = [
            *(budgeted.get(rule, rule) for rule in specified_rules),
            OneOfInputValidationRule,
            MaxIntrospectionDepthRule,
            *limit_rules(limits),
        ]
        if not introspection:
            rules.append(NoSchemaIntrospectionCustomRule)
        self._rules = tuple(rules)  # built once: the validation cache keys on the document only
        self.prepare = lru_cache(maxsize=cache_size)(self._prepare)  # by document text
        self.operation = lru_cache(maxsize=cache_size)(self._operation)
        self._compiled = compiled
        self._types = source_types(schema)
        self._plans: OrderedDict[tuple[Any, ...], CompiledOperation | None] = OrderedDict()
        self._plans_size = cache_size
        self._on_fallback = on_fallback
        self._reporter = reporter or ErrorReporter(clock=SYSTEM.monotonic)

    def clear_caches(self) -> None:
        """Forget every parsed document, operation and compiled plan (they come back on use)."""
        self.prepare.cache_clear()
        self.operation.cache_clear()
        self._plans.clear()

    def _prepare(self, query: str) -> Prepared:
        """Parse and validate a document once; later requests for it reuse the result."""
        try:
            document = parse(query, max_lexical_tokens=self._limits.max_tokens)
        except GraphQLError as syntax_error:
            if "tokens. Parsing aborted" in syntax_error.message:
                syntax_error.message = (
                    f"The document has more tokens than the limit of {self._limits.max_tokens} "
                    "(max tokens)."
                )
                syntax_error.extensions = {"code": "MAX_TOKENS_LIMIT"}
            return Prepared(None, [syntax_error])
        errors = validate(
            self._schema, document, self._rules, hide_suggestions=not self._suggestions
        )
        if not self._suggestions:
            for error in errors:
                error.message = _SUGGESTION.sub("", error.message)
        cacheable = (
            not errors
            and not _introspects(document)
            and all(
                not isinstance(d, OperationDefinitionNode) or d.operation is OperationType.QUERY
                for d in document.definitions
            )
        )
        return Prepared(document, errors, print_ast(document) if cacheable else None)

    def _operation(self, query: str, operation_name: str | None) -> _Operation | None:
        """What execution needs of a document's operation, once per (document, name)."""
        document, errors, _ = self.prepare(query)
        operation = get_operation_ast(document, operation_name) if document else None
        if document is None or operation is None:
            return None
        fragments = fragments_of(document)
        defaults: dict[str, Any] = {}
        for definition in operation.variable_definitions or ():
            input_type: Any = type_from_ast(self._schema, definition.type)
            if definition.default_value is not None and input_type is not None:
                defaults[definition.variable.name.value] = value_from_ast(
                    definition.default_value, input_type
                )
        # Planned for valid documents only (run refuses the others first).
        cost = _NO_COST if errors else self._estimator.plan(operation, fragments, defaults)
        return _Operation(
            operation,
            fragments,
            _label(root_fields(operation.selection_set, fragments)),
            cost,
            defaults,
            _directive_variables(operation, fragments),
        )

    async def run(
        self,
        query: str,
        *,
        variables: Mapping[str, Any] | None,
        operation_name: str | None,
        context: Context,
        allow_mutations: bool,
    ) -> Outcome:
        document, errors, _ = self.prepare(query)
        if document is None:
            return self._request_error(errors)
        resolved = self.operation(query, operation_name)
        operation = resolved.node if resolved is not None else None
        mutates = operation is not None and operation.operation is not OperationType.QUERY
        if mutates and not allow_mutations:  # whatever else is wrong with it: GET never mutates
            refused = GraphQLError("Only queries run over GET.", extensions={"code": "BAD_REQUEST"})
            outcome = self._request_error([refused])
            outcome.forbidden_method = True
            return outcome
        if errors:
            return self._request_error(errors)
        if resolved is None or operation is None:
            message = (
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "Must provide operation name if query contains multiple operations."
            )
            return self._request_error([GraphQLError(message)])
        label = resolved.label
        cost = resolved.cost.evaluate(variables or _NO_VARIABLES)
        if cost > self._limits.max_upstream_cost:
            error = GraphQLError(
                f"The operation could make {cost} upstream requests; the limit is "
                f"{self._limits.max_upstream_cost} (max upstream cost).",
                operation,
                extensions={"code": "COST_ESTIMATED_TOO_EXPENSIVE"},
            )
            outcome = self._request_error([error], label)
            outcome.requested = cost
            return outcome
        planned = self._plan(query, resolved, variables) if self._compiled else None
        if planned is not None:
            context.collector.planned(planned.selected)
        spent = Spent()  # what the client sends upstream while this runs (tasks included)
        counting = SPENT.set(spent)
        try:
            result = await run(
                self._schema,
                document,
                planned,
                context=context,
                variables=dict(variables) if variables is not None else None,
                operation_name=operation_name,
                hide_suggestions=not self._suggestions,
                on_fallback=self._fell_back,
            )
        finally:
            SPENT.reset(counting)
        outcome = self._finish(result, context, label)
        outcome.requested, outcome.actual = cost, spent.requests
        return outcome

    def _plan(
        self, query: str, resolved: _Operation, variables: Mapping[str, Any] | None
    ) -> CompiledOperation | None:
        """The compiled plans of an operation, once per document, operation and the values of
        the variables its directives read (``None``: not compilable, graphql-core runs it)."""
        operation = resolved.node
        effective = {**resolved.defaults, **(variables or {})}
        values = tuple(repr(effective.get(name)) for name in resolved.directive_variables)
        key = (query, operation.name.value if operation.name else None, values)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        try:
            plans: CompiledOperation | None = compile_operation(
                self._schema, operation, resolved.fragments, effective, self._types
            )
        except NotCompilable:
            plans = None
        except Exception as error:  # a bug: graphql-core runs the operation (not the client's)
            self._fell_back("compile_error", error)
            plans = None
        self._plans[key] = plans
        while len(self._plans) > self._plans_size:
            self._plans.popitem(last=False)
        return plans

    def _fell_back(self, reason: str, error: BaseException) -> None:
        if reason != "incomplete":  # expected: a value graphql-core reports (or completes)
            self._reporter.report(error)
        if self._on_fallback is not None:
            self._on_fallback(reason)

    def _request_error(self, errors: list[GraphQLError], label: str = "invalid") -> Outcome:
        mask_errors(errors)
        return Outcome({"errors": [e.formatted for e in errors]}, True, label)

    def _finish(self, result: ExecutionResult, context: Context, label: str) -> Outcome:
        errors = list(result.errors or ())
        errors += [
            GraphQLError(error.message, path=path, original_error=error)
            for error, path in context.collector.partial_errors
        ]
        if result.data is None and errors and all(e.path is None for e in errors):
            return self._request_error(errors, label)  # variables did not coerce: no execution
        mask_errors(errors)
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = [e.formatted for e in errors]
        extensions: dict[str, Any] = {}
        stale_age = context.collector.stale_age
        if stale_age is not None:
            extensions["cache"] = {"stale": True, "ageSeconds": int(stale_age)}
        if extensions:
            body["extensions"] = extensions
        return Outcome(body, False, label)


def _label(roots: RootFields) -> str:
    """The operation's root field names (bounded by the schema), e.g. ``pin+productsByFilter``."""
    names = sorted({nodes[0].name.value for nodes in roots.values()})
    if names and all(name.startswith("__") for name in names):
        return "introspection"
    return "+".join(names) or "empty"

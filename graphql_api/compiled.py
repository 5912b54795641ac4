"""Compiled execution: an operation's selection below each root field, compiled once into a
plan that projects the cached typed objects straight into the response.

The plan reads plain attributes (the product types have no resolvers below the root; a field
with one, as the catalog graph's edges have, makes its operation run on graphql-core), writes
response keys in graphql-core's order (aliases, ``__typename``, fragments with type conditions on
interfaces and unions, ``@skip``/``@include``, field merging), and serialises leaves as the
schema's types do. Each object type's selection becomes one generated Python function (a dict
display; strings, numbers, booleans and enum members completed inline), as graphql-jit generates
JavaScript.

An operation's lone root field is resolved by :func:`run` itself, as Strawberry's resolver
wrapper would, so graphql-core's execution is not entered at all; with several root fields,
graphql-core runs the resolvers and the plans complete their values
(:class:`~graphql_api.internals.RootExecutor`).

Whatever it cannot answer exactly it does not try: an operation it cannot compile (introspection,
unknown directives, fields with arguments or resolvers below the root) runs on graphql-core as
a whole; a value it cannot complete exactly (a null in a non-null field, an object of no known
type, a leaf that does not serialise) or a failed root field goes to graphql-core, which reports
the error. So does a root field whose plan raised anything else (a bug, e.g. a model without the
attribute a field reads, which ``schema.types.check_models`` should have refused): the caller is
told of each such fallback (``on_fallback``), the client only sees graphql-core's answer.
"""

from __future__ import annotations

import enum
import inspect
import keyword
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    value_from_ast,
)
from graphql.pyutils import Path, Undefined

from graphql_api.internals import (
    DEFER,
    RootExecutor,
    StrawberryField,
    exception_handlers,
    resolve_root,
    start,
    strawberry_definition,
)

__all__ = [
    "CompiledOperation",
    "NotCompilable",
    "OnFallback",
    "compile_operation",
    "run",
    "source_types",
]

_BOOLEAN = GraphQLNonNull(GraphQLBoolean)
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class NotCompilable(Exception):
    """The operation uses something the compiler does not cover: graphql-core runs it."""


class _Fallback(Exception):
    """A value the plan cannot complete exactly: graphql-core completes this root field."""


# Told of each root field a plan did not complete, with why: ``"incomplete"`` (a value the plan
# cannot complete exactly, expected) or ``"error"`` (any other exception: a bug), and the error.
OnFallback = Callable[[str, BaseException], None]


@dataclass(slots=True)
class _Field:
    key: str
    attribute: str | None  # None: __typename
    shape: Any  # how to complete the value: see _complete


@dataclass(slots=True)
class _Object:
    """The selection on one concrete object type."""

    name: str
    fields: list[_Field] = field(default_factory=list)


@dataclass(slots=True)
class _Abstract:
    """The selection on an interface or union, per concrete type name."""

    by_type: dict[str, _Object]


@dataclass(slots=True)
class _List:
    of: Any
    nullable_items: bool


@dataclass(slots=True)
class _Leaf:
    serialize: Callable[[Any], Any]
    kind: str  # string, float, int, bool, enum or other: see _leaf
    # An enum type's Python class and what each member serialises to, by the member's value.
    enum: tuple[type[enum.Enum], dict[Any, Any]] | None = None


@dataclass(slots=True)
class _NonNull:
    of: Any


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.names: set[str] = set()  # every field name selected below the current root

    def included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                raise NotCompilable(f"directive @{name}")
            arguments = list(directive.arguments or [])
            if len(arguments) != 1:
                raise NotCompilable(f"@{name} arguments")
            value = value_from_ast(arguments[0].value, _BOOLEAN, dict(self.variables))
            if bool(value) is (name == "skip"):
                return False
        return True

    def applies(self, condition: Any, concrete: GraphQLObjectType) -> bool:
        if condition is None:
            return True
        target = self.schema.get_type(condition.name.value)
        if target is concrete:
            return True
        return is_abstract_type(target) and self.schema.is_sub_type(target, concrete)

    def collect(
        self,
        concrete: GraphQLObjectType,
        selection_sets: list[SelectionSetNode],
    ) -> dict[str, list[FieldNode]]:
        """graphql-core's field collection: response keys in order, nodes merged per key."""
        grouped: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for node in selection_set.selections:
                if not self.included(node):
                    continue
                if isinstance(node, FieldNode):
                    key = node.alias.value if node.alias else node.name.value
                    grouped.setdefault(key, []).append(node)
                elif isinstance(node, InlineFragmentNode):
                    if self.applies(node.type_condition, concrete):
                        walk(node.selection_set)
                elif isinstance(node, FragmentSpreadNode):
                    name = node.name.value
                    fragment = self.fragments.get(name)
                    if name in visited or fragment is None:
                        continue
                    if self.applies(fragment.type_condition, concrete):
                        visited.add(name)
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        return grouped

    def object(self, concrete: GraphQLObjectType, nodes: list[FieldNode]) -> _Object:
        plan = _Object(concrete.name)
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        for key, field_nodes in self.collect(concrete, selection_sets).items():
            name = field_nodes[0].name.value
            self.names.add(name)
            if name == "__typename":
                plan.fields.append(_Field(key, None, None))
                continue
            if name.startswith("__") or any(n.arguments for n in field_nodes):
                raise NotCompilable(f"field {name}")
            definition = concrete.fields[name]
            strawberry_field = strawberry_definition(definition)
            if strawberry_field is None or strawberry_field.base_resolver is not None:
                raise NotCompilable(f"{concrete.name}.{name} has a resolver")
            attribute = strawberry_field.python_name
            plan.fields.append(_Field(key, attribute, self.shape(definition.type, field_nodes)))
        return plan

    def shape(self, type_: GraphQLOutputType, nodes: list[FieldNode]) -> Any:
        if is_non_null_type(type_):
            return _NonNull(self.shape(type_.of_type, nodes))
        if is_list_type(type_):
            item = type_.of_type
            return _List(self.shape(item, nodes), not is_non_null_type(item))
        if is_leaf_type(type_):
            kinds = {
                GraphQLString: "string",
                GraphQLID: "string",
                GraphQLFloat: "float",
                GraphQLInt: "int",
                GraphQLBoolean: "bool",
            }
            if isinstance(type_, GraphQLEnumType):
                return _Leaf(type_.serialize, "enum", _members(type_))
            return _Leaf(type_.serialize, kinds.get(type_, "other"))
        if is_object_type(type_):
            return self.object(type_, nodes)
        abstract: GraphQLAbstractType = type_  # type: ignore[assignment]
        concretes = self.schema.get_possible_types(abstract)
        return _Abstract({concrete.name: self.object(concrete, nodes) for concrete in concretes})


def source_types(schema: GraphQLSchema) -> dict[type, str]:
    """The object type of each Python class the resolvers return: the Strawberry classes
    themselves, and the models named by ``is_type_of`` (see ``schema.types._reads``)."""
    types: dict[type, str] = {}
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        definition = strawberry_definition(type_)
        if definition is not None:
            types[definition.origin] = type_.name
        model = getattr(getattr(type_.is_type_of, "__func__", None), "model", None)
        if model is not None:
            types[model] = type_.name
    return types


@dataclass(frozen=True, slots=True)
class _Root:
    """A root field the compiled path resolves itself (``field`` ``None``: ``__typename``)."""

    key: str
    nodes: list[FieldNode]
    definition: GraphQLField | None
    field: StrawberryField | None


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    plans: dict[str, Callable[[Any], Any]]  # by root response key: completes its value
    selected: dict[str, frozenset[str]]  # by root response key: the field names below it
    # The root fields in response order when :func:`run` may resolve them itself (one field
    # with a plain Strawberry resolver, and any ``__typename``, in a query without operation
    # directives); ``None``: graphql-core does.
    roots: tuple[_Root, ...] | None


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    types: Mapping[type, str],
) -> CompiledOperation:
    """Completion functions by root response key (``types``: see :func:`source_types`), the
    names of the fields each root field selects below it (what its resolver needs to fetch),
    and the root fields, if :func:`run` may resolve them itself."""
    compiler = _Compiler(schema, fragments, variables)
    root = schema.query_type
    assert root is not None
    plans: dict[str, Any] = {}
    selected: dict[str, frozenset[str]] = {}
    roots: list[_Root] | None = [] if _resolvable(schema, operation) else None
    for key, nodes in compiler.collect(root, [operation.selection_set]).items():
        name = nodes[0].name.value
        if name in ("__schema", "__type"):
            raise NotCompilable("introspection")
        if name == "__typename":
            if roots is not None:
                roots.append(_Root(key, nodes, None, None))
            continue
        compiler.names = set()
        definition = root.fields[name]
        plans[key] = _compile(compiler.shape(definition.type, nodes), types)
        selected[key] = frozenset(compiler.names)
        resolver = strawberry_definition(definition)
        if (
            roots is not None
            and isinstance(resolver, StrawberryField)
            and resolver.base_resolver
            and not resolver.extensions
        ):
            roots.append(_Root(key, nodes, definition, resolver))
        else:
            roots = None
    if roots is not None and sum(r.field is not None for r in roots) != 1:
        # Several root fields run concurrently; which of their errors graphql-core reports
        # when one nulls the whole response depends on their timing: it runs them itself.
        roots = None
    return CompiledOperation(plans, selected, None if roots is None else tuple(roots))


def _resolvable(schema: GraphQLSchema, operation: OperationDefinitionNode) -> bool:
    """Whether :func:`run` may resolve the operation's root fields as Strawberry would: a query
    without directives on the operation, on a Strawberry schema with no exception handlers
    (which would turn errors into values). Strawberry keeps those in a private attribute: should
    it go, this path turns itself off (see :func:`graphql_api.internals.exception_handlers`)."""
    return (
        operation.operation is OperationType.QUERY
        and not operation.directives
        and exception_handlers(schema) == ()
    )


def _none(required: bool) -> None:
    """What a null completes to: null, unless the field is non-null (graphql-core's error)."""
    if required:
        raise _Fallback


def _members(type_: GraphQLEnumType) -> tuple[type[enum.Enum], dict[Any, Any]] | None:
    """The Python enum behind a Strawberry enum type, and what each of its members serialises
    to (by the member's value: a member's hash is a Python call, its value's is not)."""
    definition = strawberry_definition(type_)
    cls = getattr(definition, "wrapped_cls", None)
    if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        return None
    table: dict[Any, Any] = {}
    for member in cls:
        try:
            serialized: Any = type_.serialize(member)
            table[member._value_] = serialized  # an unhashable value: no table
        except Exception:
            return None
        if serialized is None or serialized is Undefined:
            return None
    return cls, table


def _leaf(shape: _Leaf, required: bool) -> Callable[[Any], Any]:
    """Completes a leaf as ``serialize`` would: the common Python types pass as they are (what
    graphql-core's serializers return for them), enum members by their precomputed names."""
    serialize, kind = shape.serialize, shape.kind
    enum_class, names = shape.enum or (None, {})

    def complete(value: Any) -> Any:
        if value is None:
            return _none(required)
        value_type = type(value)
        if kind == "string" and value_type is str:
            return value
        if kind == "float" and value_type is float and math.isfinite(value):
            return value
        if kind == "int" and value_type is int and _INT_MIN <= value <= _INT_MAX:
            return value
        if kind == "bool" and value_type is bool:
            return value
        if value_type is enum_class:
            return names[value._value_]
        try:
            serialized = serialize(value)
        except Exception as error:  # graphql-core reports it as a field error: let it
            raise _Fallback from error
        if serialized is None or serialized is Undefined:
            raise _Fallback
        return serialized

    return complete


def _compile(shape: Any, types: Mapping[type, str], required: bool = False) -> Callable[[Any], Any]:
    """A function completing values of ``shape`` (``required``: the field is non-null):
    closures built once per plan, so completing a value is calls and dict building."""
    if type(shape) is _NonNull:
        return _compile(shape.of, types, required=True)
    if type(shape) is _Leaf:
        return _leaf(shape, required)
    if type(shape) is _List:
        item = _compile(shape.of, types)

        def complete_list(value: Any) -> Any:
            if value is None:
                return _none(required)
            if not isinstance(value, list | tuple):
                raise _Fallback
            return [item(v) for v in value]

        return complete_list
    if type(shape) is _Abstract:
        by_class = {
            cls: _object(shape.by_type[name], types, check=False, required=required)
            for cls, name in types.items()
            if name in shape.by_type
        }

        def complete_abstract(value: Any) -> Any:
            if value is None:
                return _none(required)
            completer = by_class.get(type(value))
            if completer is None:
                raise _Fallback
            return completer(value)

        return complete_abstract
    return _object(shape, types, check=True, required=required)


# The fast path of each leaf kind, as an expression on ``x`` (the value): what passes unchanged.
_PASSES = {
    "string": "type(x) is str",
    "float": "type(x) is float and isfinite(x)",
    "int": f"type(x) is int and {_INT_MIN} <= x <= {_INT_MAX}",
    "bool": "type(x) is bool",
}


def _object(
    shape: _Object, types: Mapping[type, str], *, check: bool, required: bool
) -> Callable[[Any], Any]:
    """A function completing one object type's selection, generated as Python source once per
    plan (as graphql-jit does in JavaScript): a dict display with a line a field, leaves of the
    common types inlined (``type(x) is str``), everything else a call to its own completer.

    Only names go into the source: each response key as a string literal (``repr``; GraphQL
    names are ``[_A-Za-z][_0-9A-Za-z]*`` anyway) and each attribute, an identifier checked
    here; the completers and the accepted classes are passed in the namespace."""
    namespace: dict[str, Any] = {
        "_Fallback": _Fallback,
        "isfinite": math.isfinite,
        "accepted": frozenset(cls for cls, type_name in types.items() if type_name == shape.name),
    }
    entries = []
    for index, f in enumerate(shape.fields):
        if f.attribute is None:
            entries.append(f"{f.key!r}: {shape.name!r}")
            continue
        if not f.attribute.isidentifier() or keyword.iskeyword(f.attribute):
            raise NotCompilable(f"attribute {f.attribute!r}")
        namespace[f"c{index}"] = _compile(f.shape, types)
        read = f"value.{f.attribute}"
        required_leaf = type(f.shape) is _NonNull
        leaf = f.shape.of if required_leaf else f.shape
        passes = _PASSES.get(leaf.kind) if type(leaf) is _Leaf else None
        if type(leaf) is _Leaf and leaf.enum is not None:
            namespace[f"e{index}"], namespace[f"n{index}"] = leaf.enum
            entries.append(
                f"{f.key!r}: (n{index}[x._value_] if type(x := {read}) is e{index} "
                f"else c{index}(x))"
            )
        elif passes is None:
            entries.append(f"{f.key!r}: c{index}({read})")
        else:  # a null passes where the field is nullable; else its completer raises
            passes = f"is not None and {passes}" if required_leaf else f"is None or {passes}"
            entries.append(f"{f.key!r}: (x if (x := {read}) {passes} else c{index}(x))")
    lines = [
        "def complete_object(value):",
        "    if value is None:",
        "        raise _Fallback" if required else "        return None",
    ]
    if check:  # what graphql-core's is_type_of refuses
        lines += ["    if type(value) not in accepted:", "        raise _Fallback"]
    lines += ["    return {", *(f"        {entry}," for entry in entries), "    }"]
    exec(compile("\n".join(lines), f"<compiled {shape.name}>", "exec"), namespace)
    complete: Callable[[Any], Any] = namespace["complete_object"]
    return complete


def _root_completer(
    plans: Mapping[str, Callable[[Any], Any]], on_fallback: OnFallback | None
) -> Callable[[str, Any], Any]:
    """What :class:`~graphql_api.internals.RootExecutor` asks to complete a root field's value:
    its plan, or graphql-core (:data:`~graphql_api.internals.DEFER`) when the plan raises,
    whatever it raises."""

    def complete_root(key: str, value: Any) -> Any:
        complete = plans.get(key)
        if complete is None:
            return DEFER
        try:
            return complete(value)
        except _Fallback as error:
            _fell_back(on_fallback, "incomplete", error)
        except Exception as error:
            _fell_back(on_fallback, "error", error)
        return DEFER

    return complete_root


def _fell_back(on_fallback: OnFallback | None, reason: str, error: BaseException) -> None:
    if on_fallback is not None:
        on_fallback(reason, error)


class _Replay:
    """graphql-core middleware answering the root fields with what :func:`run` resolved (values
    and exceptions alike), so graphql-core reports their errors without resolving them again."""

    def __init__(self, outcomes: Mapping[str, Any]) -> None:
        self._outcomes = outcomes

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **args: Any) -> Any:
        path = info.path
        if path.prev is None and path.key in self._outcomes:
            return self._settled(self._outcomes[path.key])
        return next_(source, info, **args)

    @staticmethod
    async def _settled(outcome: Any) -> Any:  # async, as the resolvers it stands for
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


async def _finished(result: Any) -> ExecutionResult:
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


async def run(
    schema: GraphQLSchema,
    document: DocumentNode,
    compiled: CompiledOperation | None,
    *,
    context: Any,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    hide_suggestions: bool,
    on_fallback: OnFallback | None = None,
) -> ExecutionResult:
    """Executes an operation with its compiled plans (``None``: on graphql-core alone).

    When ``compiled.roots`` allows, its root field is resolved here as Strawberry's resolver
    wrapper would (graphql-core's variable and argument coercion, Strawberry's argument
    conversion, the same ``Info``) and its value completed by the plan: no graphql-core
    execution at all. Whatever this cannot answer exactly goes to graphql-core: variables or
    arguments that do not coerce (before the resolver runs), and a resolver that failed or a
    value the plan cannot complete, whatever the plan raised (the outcome replayed, not resolved
    again). ``on_fallback`` is told of each root field a plan did not complete."""
    options: dict[str, Any] = {
        "context_value": context,
        "variable_values": variables,
        "operation_name": operation_name,
        "hide_suggestions": hide_suggestions,
    }
    if compiled is None:
        return await _finished(execute(schema, document, **options))
    complete_root = _root_completer(compiled.plans, on_fallback)
    planned = {**options, "executor_class": RootExecutor, "complete_root": complete_root}
    query = schema.query_type
    root = next((r for r in compiled.roots or () if r.field is not None), None)
    if query is None or root is None or root.field is None or root.definition is None:
        return await _finished(execute(schema, document, **planned))
    executor = start(
        schema, document, context, variables, operation_name, hide_suggestions=hide_suggestions
    )
    if isinstance(executor, list):  # variables that do not coerce
        return await _finished(execute(schema, document, **planned))
    try:
        call = resolve_root(
            schema,
            executor,
            root.definition,
            root.field,
            root.nodes,
            query,
            Path(None, root.key, query.name),
            hide_suggestions=hide_suggestions,
        )
    except Exception:  # arguments that do not coerce or convert
        return await _finished(execute(schema, document, **planned))
    value: Any
    try:
        value = call()
        if inspect.isawaitable(value):
            value = await value
    except Exception as error:
        value = error
    # Raised or returned, an exception goes to graphql-core, which reports it.
    completed = DEFER if isinstance(value, Exception) else complete_root(root.key, value)
    if completed is DEFER:  # graphql-core alone: the plan is not tried again
        replay = _Replay({root.key: value})
        return await _finished(execute(schema, document, middleware=[replay], **options))
    data = {r.key: query.name if r.field is None else completed for r in compiled.roots or ()}
    return ExecutionResult(data, None)

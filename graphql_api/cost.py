"""The cost estimate: how many upstream requests an operation can make, read from the schema's
``@cost`` and ``@listSize`` directives (the IBM GraphQL cost spec, as Apollo Federation imports
them), before any upstream call.

The directives are derived from the operations table (:func:`field_directives`,
:func:`entity_directives`), printed in the subgraph SDL for a router, and read back here from
the built schema. The rules (docs/cost.md, "Estimate", has worked examples):

- A field weighs its ``@cost``, else its type's, else 0: every other field reads what a request
  already returned. An item of an interface or a union costs as much as its costliest concrete
  type would, its weight and its selections together (the spec: the heaviest member).
- A list field counts its items: the size its ``@listSize`` gives (the largest of its slicing
  arguments, each from a literal, a variable or the argument's default; a null reads as the
  default, as the resolvers do; else its ``assumedSize``), the size of the field above it when
  that one names it in ``sizedFields``, or the number of values of the list argument it is
  counted by (``_entities``: its representations; a field's ``counted_by``: e.g. its ids);
  any other list counts 1 (a schema test keeps every weight away from below such lists).
- A connection (a field whose ``@listSize`` has ``sizedFields``) weighs its ``@cost`` per
  upstream page its slice spans, ``ceil(max(size, 1) / page size)``, one more with ``after``
  (a resumed slice can cross a page boundary): the one extension to the spec, whose weights are
  constants. Below the root as at it: a connection of each item of a page weighs its pages
  once an item (``Catalog.productGroups``: one listing a catalog).
- Fields merged under one response key count once, with the selections of every copy merged
  below them (merged fields have the same arguments), aliased copies each. A fragment on a
  type counts for that type only: an abstract selection costs as much as its costliest
  concrete type.

The walk is linear in the document: each selection set's figures are computed once and
remembered (:class:`graphql_api.limits.BottomUp`), however often fragments spread it. What does
not depend on the variables is computed once per document and operation (:meth:`Estimator.plan`),
folded to a constant when it can be; the rest is a few steps run with each request's variables
(:meth:`Plan.evaluate`). Values saturate at :data:`MAX_COST`, JSON's largest exact integer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInt,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    is_list_type,
    is_non_null_type,
)
from strawberry import UNSET
from strawberry.federation.schema_directives import Cost, ListSize

from graphql_api.internals import strawberry_definition
from graphql_api.limits import BottomUp, Fragments
from graphql_api.upstream import operations
from graphql_api.upstream.operations import Operation

__all__ = [
    "COUNTED_BY",
    "ENTITIES",
    "FREE",
    "MAX_COST",
    "Estimator",
    "FieldCost",
    "Plan",
    "batch_directives",
    "counted_by",
    "entity_directives",
    "field_directives",
]

MAX_COST = 2**53 - 1  # estimates saturate here (JSON's largest exact integer)
ENTITIES = "_entities"  # federation's entity lookup: one item per representation
_WEIGHT = 1  # upstream requests one use, or one page, of an operation makes
FREE = Cost(weight=0)  # a field read from what a request already returned (a page's Pins)


def field_directives(operation: Operation) -> list[object]:
    """The cost directives of a root field that calls ``operation``: one upstream request a
    use, or for a listing one a page, with ``first`` sizing its ``edges`` and ``nodes``
    (``requireOneSlicingArgument: false``: ``first`` has a default)."""
    if operation.cost is operations.Cost.PAGES:
        size = ListSize(
            assumed_size=UNSET,
            slicing_arguments=["first"],
            sized_fields=["edges", "nodes"],
            require_one_slicing_argument=False,
        )
        return [Cost(weight=_WEIGHT), size]
    return [Cost(weight=_WEIGHT)]


def batch_directives(operation: Operation, max_size: int) -> list[object]:
    """The cost directives of a root field that looks up a list of items by id, ``operation``
    fetching them in batches: at most one upstream request an item, and at most ``max_size``
    items (the field refuses more), which a router assumes. The estimate counts the ids given
    (:func:`counted_by`)."""
    size = ListSize(
        assumed_size=max_size,
        slicing_arguments=UNSET,
        sized_fields=UNSET,
        require_one_slicing_argument=UNSET,
    )
    return [Cost(weight=_WEIGHT), size]


COUNTED_BY = "graphql_api.cost.counted_by"  # a field's metadata key (see counted_by)


def counted_by(argument: str) -> dict[str, str]:
    """The metadata of a list field with one item for each value of its list ``argument``
    (``strawberry.field(metadata=...)``): the estimate counts them, as it counts the
    representations of ``_entities``."""
    return {COUNTED_BY: argument}


def entity_directives(operation: Operation) -> list[object]:
    """The cost directive of an entity type resolved with ``operation``: a router charges one
    upstream request for each entity it fetches from this subgraph (a listing's entity: its
    first page, where one page holds the caller's catalogs)."""
    return [Cost(weight=_WEIGHT)]


# --- What the schema says ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What the directives say of one field of an object type."""

    # What one item weighs, by the concrete type it may be (None: a leaf): the field's @cost,
    # else that type's, else 0.
    weights: tuple[tuple[str | None, int], ...]
    is_list: bool
    slicing: tuple[tuple[str, int | None], ...]  # @listSize slicing arguments, their defaults
    assumed_size: int | None
    sized_fields: frozenset[str]  # a connection's lists that its size sizes
    after: int | None  # a connection's ``after``: 1 if its default is a cursor (None: none)
    # The list argument with one value an item (``_entities``' representations, or the
    # field's ``counted_by``), else None.
    counted_by: str | None

    @property
    def weight(self) -> int:
        """Its @cost, else its type's (an interface or a union: its heaviest member), else 0."""
        return max(weight for _, weight in self.weights)

    @property
    def sized(self) -> bool:
        return bool(self.slicing) or self.assumed_size is not None


def _directives(element: Any) -> list[object]:
    """The schema directives Strawberry built a type or a field with."""
    return list(getattr(strawberry_definition(element), "directives", None) or ())


def _cost(element: Any) -> int | None:
    return next((int(d.weight) for d in _directives(element) if isinstance(d, Cost)), None)


def _default(field: GraphQLField, name: str) -> Any:
    argument = field.args.get(name)
    return (
        None if argument is None or argument.default_value is Undefined else argument.default_value
    )


def _read(
    schema: GraphQLSchema, parent: GraphQLObjectType, name: str, field: GraphQLField
) -> FieldCost:
    own = _cost(field)
    named = get_named_type(field.type)
    weights: tuple[tuple[str | None, int], ...] = ((None, own or 0),)
    if is_composite_type(named):
        concrete = schema.get_possible_types(named) if is_abstract_type(named) else [named]
        weights = tuple((t.name, (_cost(t) or 0) if own is None else own) for t in concrete)
    size = next((d for d in _directives(field) if isinstance(d, ListSize)), None)
    slicing: tuple[tuple[str, int | None], ...] = ()
    assumed: int | None = None
    sized_fields: frozenset[str] = frozenset()
    after: int | None = None
    if size is not None:
        names = size.slicing_arguments if isinstance(size.slicing_arguments, list) else []
        slicing = tuple((n, _as_int(_default(field, n))) for n in names)
        assumed = size.assumed_size if isinstance(size.assumed_size, int) else None
        if isinstance(size.sized_fields, list) and size.sized_fields:
            sized_fields = frozenset(size.sized_fields)
            after = int(_default(field, "after") is not None) if "after" in field.args else None
    unwrapped = field.type.of_type if is_non_null_type(field.type) else field.type
    counted: str | None = None
    if parent is schema.query_type and name == ENTITIES:
        counted = "representations"
    else:
        metadata = getattr(strawberry_definition(field), "metadata", None) or {}
        counted = metadata.get(COUNTED_BY)
    return FieldCost(
        weights, is_list_type(unwrapped), slicing, assumed, sized_fields, after, counted
    )


def _as_int(value: Any) -> int | None:
    """A GraphQL ``Int`` as its resolver gets it, at least 0; ``None``: not an ``Int`` (null,
    or a value the coercion of variables refuses later, before any upstream call)."""
    if type(value) is int and -(2**31) <= value < 2**31:  # the usual case, without coercion
        return max(value, 0)
    if value is None:
        return None
    try:
        coerced = GraphQLInt.parse_value(value)
    except GraphQLError:
        return None
    return max(coerced, 0) if isinstance(coerced, int) else None


# --- The plan of an operation --------------------------------------------------------------


class _Ref:
    """A value computed per request: the ``index``-th step of a plan."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


Expr = int | _Ref  # a constant, or a step's value
_MISSING = object()  # a variable neither given nor defaulted
_ARITHMETIC: dict[str, Any] = {
    "add": lambda a, b: min(a + b, MAX_COST),
    "mul": lambda a, b: min(a * b, MAX_COST),
    "max": max,
}


def _pages(weight: int, size: int, after: int, page_size: int) -> int:
    """A connection's weight for each upstream page its slice of ``size`` spans, one more
    page when it resumes ``after`` a cursor."""
    return min(weight * (-(-max(size, 1) // page_size) + after), MAX_COST)


class Plan:
    """An operation's estimate: a constant, or steps run with the request's variables."""

    __slots__ = ("_steps", "constant")

    def __init__(self, constant: int | None, steps: tuple[_Step, ...] = ()) -> None:
        self.constant = constant  # None: it depends on the variables
        self._steps = steps

    def evaluate(self, variables: Mapping[str, Any]) -> int:
        """The estimate with these variables (the operation's defaults fill the missing)."""
        if self.constant is not None:
            return self.constant
        values: list[int] = []
        for step in self._steps:
            values.append(step(values, variables))
        return values[-1]


_Step = Callable[[list[int], Mapping[str, Any]], int]  # a step: earlier values, variables


def _read_int(value: Any, fallback: int) -> int:
    """A slicing argument's value."""
    number = None if value is _MISSING else _as_int(value)
    return fallback if number is None else number


def _read_given(value: Any, fallback: int) -> int:
    """1 if a cursor is given."""
    return fallback if value is _MISSING else int(value is not None)


def _read_length(value: Any, fallback: int) -> int:
    """How many representations (one not in a list is coerced to a list of one)."""
    if value is _MISSING or value is None:
        return fallback
    return min(len(value), MAX_COST) if isinstance(value, list | tuple) else 1


_LEAVES: dict[str, Callable[[Any, int], int]] = {
    "int": _read_int,
    "given": _read_given,
    "length": _read_length,
}


def _compile(kind: str, args: tuple[Any, ...], defaults: Mapping[str, Any]) -> _Step:
    """A step as a function of the values before it and the variables."""
    if kind in _LEAVES:
        read, (name, fallback) = _LEAVES[kind], args

        def leaf(values: list[int], variables: Mapping[str, Any]) -> int:
            value = variables[name] if name in variables else defaults.get(name, _MISSING)
            return read(value, fallback)

        return leaf
    operation = _pages if kind == "pages" else _ARITHMETIC[kind]
    refs = [(position, arg.index) for position, arg in enumerate(args) if isinstance(arg, _Ref)]
    constants = [0 if isinstance(arg, _Ref) else arg for arg in args]

    def combine(values: list[int], variables: Mapping[str, Any]) -> int:
        operands = constants.copy()
        for position, index in refs:
            operands[position] = values[index]
        return operation(*operands)

    return combine


class _Program:
    """Builds a plan's steps, folding constants and sharing identical steps."""

    def __init__(self, page_size: int) -> None:
        self.page_size = page_size
        self._steps: list[tuple[str, tuple[Any, ...]]] = []
        self._known: dict[tuple[Any, ...], _Ref] = {}

    def _step(self, kind: str, *args: Any) -> _Ref:
        key = (kind, *args)  # refs hash by identity: identical steps are one
        ref = self._known.get(key)
        if ref is None:
            ref = self._known[key] = _Ref(len(self._steps))
            self._steps.append((kind, args))
        return ref

    def add(self, a: Expr, b: Expr) -> Expr:
        if isinstance(a, int) and isinstance(b, int):
            return min(a + b, MAX_COST)
        if isinstance(a, int) and a == 0:
            return b
        if isinstance(b, int) and b == 0:
            return a
        return self._step("add", a, b)

    def mul(self, a: Expr, b: Expr) -> Expr:
        if isinstance(a, int) and isinstance(b, int):
            return min(a * b, MAX_COST)
        if isinstance(a, int) and a in (0, 1):
            return 0 if a == 0 else b
        if isinstance(b, int) and b in (0, 1):
            return 0 if b == 0 else a
        return self._step("mul", a, b)

    def max(self, a: Expr, b: Expr) -> Expr:
        if a is b:
            return a
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        if isinstance(a, int) and a == 0:  # every value is at least 0
            return b
        if isinstance(b, int) and b == 0:
            return a
        return self._step("max", a, b)

    def pages(self, weight: int, size: Expr, after: Expr) -> Expr:
        if weight == 0:
            return 0
        if isinstance(size, int) and isinstance(after, int):
            return _pages(weight, size, after, self.page_size)
        return self._step("pages", weight, size, after, self.page_size)

    def leaf(self, kind: str, variable: str, fallback: int) -> Expr:
        return self._step(kind, variable, fallback)

    def plan(self, result: Expr, defaults: Mapping[str, Any]) -> Plan:
        """The plan computing ``result``: the steps it needs, renumbered, in order."""
        if isinstance(result, int):
            return Plan(result)
        needed: set[int] = set()
        stack = [result.index]
        while stack:
            index = stack.pop()
            if index not in needed:
                needed.add(index)
                stack += (a.index for a in self._steps[index][1] if isinstance(a, _Ref))
        order = sorted(needed)  # operands come before the steps that read them
        renumbered = {old: _Ref(new) for new, old in enumerate(order)}
        defaults = dict(defaults)
        steps = tuple(
            _compile(
                kind,
                tuple(renumbered[a.index] if isinstance(a, _Ref) else a for a in args),
                defaults,
            )
            for kind, args in (self._steps[index] for index in order)
        )
        return Plan(None, steps)


Figures = dict[str, dict[str, "_Entry"]]  # by concrete type, by response key (weightless: none)


@dataclass(frozen=True, slots=True)
class _Entry:
    """One response key of a selection set, for one concrete type."""

    name: str  # the field's
    is_list: bool
    count: Expr  # its items (1 unless a list), unless the field above sizes it
    item: Expr  # the weight of one item, with the selections below it
    # What ``item`` is computed from, to compute it again when a copy merges in.
    field: FieldCost
    size: Expr | None
    after: Expr
    below: Figures


class Estimator:
    """Cost plans of operations on one schema, with one upstream page size."""

    def __init__(self, schema: GraphQLSchema, *, page_size: int) -> None:
        self._schema = schema
        self._page_size = page_size
        self._fields: dict[str, dict[str, FieldCost]] = {}
        self._concrete: dict[str, tuple[str, ...]] = {}  # a composite type's possible types
        for named in schema.type_map.values():
            if named.name.startswith("__"):  # introspection: answered without the upstream
                continue
            if isinstance(named, GraphQLObjectType):
                self._fields[named.name] = {
                    name: _read(schema, named, name, field) for name, field in named.fields.items()
                }
                self._concrete[named.name] = (named.name,)
            elif is_abstract_type(named):
                possible = schema.get_possible_types(named)
                self._concrete[named.name] = tuple(t.name for t in possible)

    def field(self, type_name: str, field_name: str) -> FieldCost | None:
        """What the directives say of a field of an object type (``None``: no such field)."""
        return self._fields.get(type_name, {}).get(field_name)

    def plan(
        self,
        operation: OperationDefinitionNode,
        fragments: Fragments,
        defaults: Mapping[str, Any] | None = None,
    ) -> Plan:
        """The plan of an operation of a valid document (``defaults``: its variables' default
        values, coerced)."""
        program = _Program(self._page_size)
        walk = _Walk(self, fragments, _types(self._schema, operation, fragments), program)
        total: Expr = 0
        for entries in walk(operation.selection_set).values():
            total = program.max(total, walk.weigh(entries, None, frozenset()))
        return program.plan(total, defaults or {})


def _types(
    schema: GraphQLSchema, operation: OperationDefinitionNode, fragments: Fragments
) -> dict[int, str]:
    """The type of each selection set of the operation and the fragments (by ``id``): the
    operation's root type, a fragment's type condition, a field's type; a walk of the text."""
    types: dict[int, str] = {}
    stack: list[tuple[SelectionSetNode, GraphQLNamedType | None]] = [
        (operation.selection_set, schema.get_root_type(operation.operation))
    ]
    stack += (
        (f.selection_set, schema.get_type(f.type_condition.name.value)) for f in fragments.values()
    )
    while stack:
        selection_set, named = stack.pop()
        if not is_composite_type(named):
            continue
        assert named is not None
        types[id(selection_set)] = named.name
        fields: dict[str, GraphQLField] = getattr(named, "fields", {})
        for node in selection_set.selections:
            if isinstance(node, FieldNode) and node.selection_set is not None:
                field = fields.get(node.name.value)
                if field is not None:
                    stack.append((node.selection_set, get_named_type(field.type)))
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                below = named if condition is None else schema.get_type(condition.name.value)
                stack.append((node.selection_set, below))
    return types


class _Walk(BottomUp[Figures]):
    """The figures of each selection set of one operation, once each."""

    def __init__(
        self, estimator: Estimator, fragments: Fragments, types: dict[int, str], program: _Program
    ) -> None:
        super().__init__(fragments, {})
        self._estimator = estimator
        self._types = types
        self._program = program

    def _figures(self, selection_set: SelectionSetNode) -> Figures:
        type_name = self._types.get(id(selection_set))
        if type_name is None:  # an unknown type: validation refuses the document
            return {}
        concrete = self._estimator._concrete.get(type_name, ())
        fields = self._estimator._fields
        figures: Figures = {name: {} for name in concrete}
        spread: set[str] = set()
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                name = node.name.value
                key = node.alias.value if node.alias else name
                for type_ in concrete:
                    field = fields[type_].get(name)
                    if field is not None:
                        entry = self._entry(field, node)
                        if entry is not None:
                            self._merge(figures[type_], key, entry)
                continue
            if isinstance(node, FragmentSpreadNode):
                if node.name.value in spread:  # beside itself: merged, as in execution
                    continue
                spread.add(node.name.value)
            for type_, entries in self._of(node).items():
                if type_ in figures:  # the fragment's type condition allows it here
                    for key, entry in entries.items():
                        self._merge(figures[type_], key, entry)
        return figures

    def _merge(self, entries: dict[str, _Entry], key: str, entry: _Entry) -> None:
        """Fields under one response key run once, with the selections of every copy: their
        figures below merge (their arguments are the same: validation)."""
        known = entries.get(key)
        if known is not None and known is not entry:
            program = self._program
            count = program.max(known.count, entry.count)
            below, item = known.below, known.item
            if entry.below is not below:
                below = self._merged(known.below, entry.below)
                item = self._item(known.field, known.size, known.after, below)
            entry = _Entry(
                entry.name, entry.is_list, count, item, known.field, known.size, known.after, below
            )
        entries[key] = entry

    def _merged(self, a: Figures, b: Figures) -> Figures:
        merged: Figures = {type_: dict(entries) for type_, entries in a.items()}
        for type_, entries in b.items():
            into = merged.setdefault(type_, {})
            for key, entry in entries.items():
                self._merge(into, key, entry)
        return merged

    def weigh(self, entries: dict[str, _Entry], size: Expr | None, sized: frozenset[str]) -> Expr:
        """The weight of one concrete type's entries, ``size`` items for the ``sized`` lists."""
        program = self._program
        total: Expr = 0
        for entry in entries.values():
            count = (
                size if size is not None and entry.is_list and entry.name in sized else entry.count
            )
            total = program.add(total, program.mul(count, entry.item))
        return total

    def _entry(self, field: FieldCost, node: FieldNode) -> _Entry | None:
        """A field's entry (``None``: it weighs nothing, with everything below it)."""
        below = self._of(node) if node.selection_set is not None else {}
        if field.weight == 0 and not any(below.values()):  # nothing here or below weighs
            return None
        size = self._size(field, node) if field.sized else None
        after = self._after(field, node) if field.sized_fields else 0
        item = self._item(field, size, after, below)
        if isinstance(item, int) and item == 0:
            return None
        count: Expr = 1
        if field.is_list and field.counted_by is not None:
            count = self._length(node, field.counted_by)
        elif field.is_list and size is not None and not field.sized_fields:
            count = size
        return _Entry(node.name.value, field.is_list, count, item, field, size, after, below)

    def _item(self, field: FieldCost, size: Expr | None, after: Expr, below: Figures) -> Expr:
        """The weight of one item of a field: of its costliest concrete type, its own weight
        (a connection's: per page) and the selections below it."""
        program = self._program
        item: Expr = 0
        for type_name, weight in field.weights:
            own: Expr = weight
            if field.sized_fields:  # a connection: its weight per upstream page
                own = program.pages(weight, 1 if size is None else size, after)
            entries = below.get(type_name, {}) if type_name is not None else {}
            body = self.weigh(entries, size, field.sized_fields)
            item = program.max(item, program.add(own, body))
        return item

    def _arguments(self, node: FieldNode) -> dict[str, ValueNode]:
        return {argument.name.value: argument.value for argument in node.arguments or ()}

    def _size(self, field: FieldCost, node: FieldNode) -> Expr:
        """The largest slicing argument given (or defaulted), else the assumed size, else 1."""
        arguments = self._arguments(node)
        last_resort = field.assumed_size if field.assumed_size is not None else 1
        size: Expr | None = None
        for name, default in field.slicing:
            fallback = default if default is not None else last_resort
            value = arguments.get(name)
            given: Expr
            if isinstance(value, VariableNode):
                given = self._program.leaf("int", value.name.value, fallback)
            elif isinstance(value, IntValueNode):
                literal = _as_int(int(value.value))
                given = fallback if literal is None else literal
            else:  # absent, null (the resolvers read the default), or refused by validation
                given = fallback
            size = given if size is None else self._program.max(size, given)
        return last_resort if size is None else size

    def _after(self, field: FieldCost, node: FieldNode) -> Expr:
        """1 if the connection resumes after a cursor (its ``after`` is given), else 0."""
        if field.after is None:
            return 0
        value = self._arguments(node).get("after")
        fallback = field.after
        if isinstance(value, VariableNode):
            return self._program.leaf("given", value.name.value, fallback)
        if value is None:
            return fallback
        return 0 if isinstance(value, NullValueNode) else 1

    def _length(self, node: FieldNode, argument: str) -> Expr:
        """How many values the list ``argument`` has (one not in a list: coerced to one)."""
        value = self._arguments(node).get(argument)
        if isinstance(value, VariableNode):
            return self._program.leaf("length", value.name.value, 0)
        if isinstance(value, ListValueNode):
            return len(value.values)
        return 0 if value is None or isinstance(value, NullValueNode) else 1

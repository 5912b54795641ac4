"""Limits that refuse abusive operations before any upstream call.

Validation rules (built once per app, so the validation cache keeps hitting) for depth, aliases
and root fields; the token limit is the parser's; the upstream-cost budget is checked per
request, with its variables, from the schema's cost directives (:mod:`graphql_api.cost`, which
walks the document with :class:`BottomUp` too).

Every walk here visits each selection set of the document at most once, whatever the fragments
spread (a fragment spread twice by each of twenty fragments is still walked once), and stops at
fragment cycles (which ``NoFragmentCyclesRule`` reports in the same pass): the work is linear in
the document. Aliases are also counted as if fragments were inlined: a fragment of five aliased
fields spread under each of five aliased fields, five levels down, would ask for thousands of
copies of each object (megabytes from a document of a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionNode,
    SelectionSetNode,
    ValidationContext,
)

__all__ = [
    "OVERLAP_BUDGET",
    "BottomUp",
    "Expansion",
    "Fragments",
    "Limits",
    "OverlappingFieldsWithinBudget",
    "RootKeys",
    "fragments_of",
    "limit_rules",
    "root_fields",
]

T = TypeVar("T")
Fragments = Mapping[str, FragmentDefinitionNode]
RootFields = dict[str, list[FieldNode]]  # by response key: the field nodes that merge into it


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_root_fields: int
    max_tokens: int
    max_body_bytes: int
    max_upstream_cost: int


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """A document's fragment definitions by name."""
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _below(node: SelectionNode, fragments: Fragments) -> SelectionSetNode | None:
    """The selection set a selection leads to: a field's, an inline fragment's, or that of the
    fragment a spread names (``None``: a leaf, or an unknown fragment)."""
    if isinstance(node, FragmentSpreadNode):
        fragment = fragments.get(node.name.value)
        return fragment.selection_set if fragment is not None else None
    selection_set: SelectionSetNode | None = getattr(node, "selection_set", None)
    return selection_set


def root_fields(selection_set: SelectionSetNode, fragments: Fragments) -> RootFields:
    """The fields of a selection set through fragments, grouped by response key as execution
    merges them (graphql-core's field collection, without type conditions and directives, so
    a superset): each fragment is walked once, as execution does."""
    grouped: RootFields = {}
    visited: set[str] = set()
    stack: list[Iterator[SelectionNode]] = [iter(selection_set.selections)]
    while stack:  # depth first, in document order, without recursion
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif isinstance(node, FieldNode):
            key = node.alias.value if node.alias else node.name.value
            grouped.setdefault(key, []).append(node)
        elif isinstance(node, InlineFragmentNode):
            stack.append(iter(node.selection_set.selections))
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in visited:
            visited.add(node.name.value)
            below = _below(node, fragments)
            if below is not None:
                stack.append(iter(below.selections))
    return grouped


class BottomUp(Generic[T]):
    """Figures of selection sets, each computed from those of the selection sets its selections
    lead to (children first, without recursion): every selection set of the document is
    computed once and remembered, so build one per document. A selection set reached again
    while it is being computed (a fragment cycle) counts as ``empty`` there."""

    def __init__(self, fragments: Fragments, empty: T) -> None:
        self._fragments = fragments
        self._empty = empty
        self._done: dict[int, T] = {}  # by id() of a selection set of the document

    def _leads_to(self, node: SelectionNode) -> SelectionSetNode | None:
        return _below(node, self._fragments)

    def _of(self, node: SelectionNode) -> T:
        """The figures of the selection set a selection leads to (``empty``: none, or a
        cycle)."""
        return self._done.get(id(self._leads_to(node)), self._empty)

    def _figures(self, selection_set: SelectionSetNode) -> T:
        raise NotImplementedError

    def __call__(self, selection_set: SelectionSetNode) -> T:
        done = self._done
        open_: set[int] = set()  # being computed: a spread back into one closes a cycle
        stack: list[tuple[SelectionSetNode, bool]] = [(selection_set, False)]
        while stack:  # post-order: the selection sets below first
            current, ready = stack.pop()
            if ready:
                done[id(current)] = self._figures(current)
                open_.discard(id(current))
            elif id(current) not in done and id(current) not in open_:
                open_.add(id(current))
                stack.append((current, True))
                for node in current.selections:
                    below = self._leads_to(node)
                    if below is not None and id(below) not in done:
                        stack.append((below, False))
        return done[id(selection_set)]


class Expansion(BottomUp[tuple[int, int]]):
    """The depth of selection sets (fields nested in one another) and the aliases they select,
    as if their fragments were inlined (a fragment spread twice side by side merges, as in
    execution)."""

    def __init__(self, fragments: Fragments) -> None:
        super().__init__(fragments, (0, 0))

    def _figures(self, selection_set: SelectionSetNode) -> tuple[int, int]:
        depth = aliases = 0
        spread: set[str] = set()
        for node in selection_set.selections:
            if isinstance(node, FragmentSpreadNode):
                if node.name.value in spread:
                    continue
                spread.add(node.name.value)
            depth_below, aliases_below = self._of(node)
            if isinstance(node, FieldNode):
                depth_below += 1
                aliases_below += node.alias is not None
            depth, aliases = max(depth, depth_below), aliases + aliases_below
        return depth, aliases


class RootKeys(BottomUp[frozenset[str]]):
    """The response keys a selection set selects at its own level, through fragments, without
    ``__typename``: the fields execution merges are one."""

    def __init__(self, fragments: Fragments) -> None:
        super().__init__(fragments, frozenset())

    def _leads_to(self, node: SelectionNode) -> SelectionSetNode | None:
        return None if isinstance(node, FieldNode) else _below(node, self._fragments)

    def _figures(self, selection_set: SelectionSetNode) -> frozenset[str]:
        keys: set[str] = set()
        for node in selection_set.selections:
            if not isinstance(node, FieldNode):
                keys.update(self._of(node))
            elif node.name.value != "__typename":
                keys.add(node.alias.value if node.alias else node.name.value)
        return frozenset(keys)


def _error(message: str, code: str, node: Any) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code})


def limit_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The depth, alias and root-field rules for these limits."""

    class OperationLimits(ASTValidationRule):
        fragments: dict[str, FragmentDefinitionNode]
        expansion: Expansion
        root_keys: RootKeys
        aliases: int  # in the document's text

        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            self.fragments = fragments_of(node)
            # Shared by the document's operations: each fragment is computed once.
            self.expansion, self.root_keys = Expansion(self.fragments), RootKeys(self.fragments)
            aliases = 0
            stack: list[Any] = [node]
            while stack:  # every aliased field of the document, fragments included
                current = stack.pop()
                if isinstance(current, FieldNode) and current.alias is not None:
                    aliases += 1
                for key in ("definitions", "selections"):
                    stack.extend(getattr(current, key, None) or ())
                if (selection_set := getattr(current, "selection_set", None)) is not None:
                    stack.append(selection_set)
            self.aliases = aliases
            if aliases > limits.max_aliases:
                self.report_error(
                    _error(
                        f"The document has {aliases} aliases; the limit is {limits.max_aliases} "
                        "(max aliases).",
                        "MAX_ALIASES_LIMIT",
                        node,
                    )
                )

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth, aliases = self.expansion(node.selection_set)
            if depth > limits.max_depth:
                self.report_error(
                    _error(
                        f"The operation is {depth} levels deep; the limit is {limits.max_depth} "
                        "(max depth).",
                        "MAX_DEPTH_LIMIT",
                        node,
                    )
                )
            if aliases > limits.max_aliases >= self.aliases:  # fragments spread many times
                shown = f"{aliases}" if aliases < 10**6 else "over a million"
                self.report_error(
                    _error(
                        f"The operation has {shown} aliases once its fragments are expanded; the "
                        f"limit is {limits.max_aliases} (max aliases).",
                        "MAX_ALIASES_LIMIT",
                        node,
                    )
                )
            roots = self.root_keys(node.selection_set)
            if len(roots) > limits.max_root_fields:
                self.report_error(
                    _error(
                        f"The operation has {len(roots)} root fields; the limit is "
                        f"{limits.max_root_fields} (max root fields).",
                        "MAX_ROOT_FIELDS_LIMIT",
                        node,
                    )
                )

    return (OperationLimits,)


# graphql-core meters OverlappingFieldsCanBeMergedRule's comparisons, which grow with the square
# of the fields sharing a response name, and aborts the validation past 500,000 units: within
# 5,000 tokens that blocked the event loop for up to 0.9 s (at 2 to 3 us a unit comparing nested
# selections). A large UI query spends a few hundred units (every type's fields through
# colocated fragments: 372); 50,000 keep the worst near a tenth of a second.
OVERLAP_BUDGET = 50_000


class OverlappingFieldsWithinBudget(OverlappingFieldsCanBeMergedRule):
    """graphql-core's rule with :data:`OVERLAP_BUDGET`: past it, "Validation aborted."."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = OVERLAP_BUDGET

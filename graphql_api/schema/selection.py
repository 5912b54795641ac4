"""What an operation selects below a field, read from the query document."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLBoolean,
    GraphQLNonNull,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
    value_from_ast,
)

__all__ = ["selects"]

_BOOLEAN = GraphQLNonNull(GraphQLBoolean)


def _included(node: SelectionNode, variables: dict[str, Any]) -> bool:
    """``@skip`` / ``@include`` as execution applies them (``if`` literal or variable)."""
    for directive in node.directives or ():
        name = directive.name.value
        if name in ("skip", "include"):
            (argument,) = directive.arguments or ()
            value = value_from_ast(argument.value, _BOOLEAN, variables)
            if bool(value) is (name == "skip"):
                return False
    return True


def selects(info: GraphQLResolveInfo[Any], field_name: str) -> bool:
    """Whether ``field_name`` is selected anywhere below the current field: through aliases,
    named and inline fragments, honouring ``@skip`` and ``@include``."""
    seen_fragments: set[str] = set()
    # graphql-core 3.3 types these as VariableValues; at run time they may be the plain dict.
    raw: Any = info.variable_values
    variables: dict[str, Any] = getattr(raw, "coerced", raw)

    def walk(selection_set: SelectionSetNode | None) -> bool:
        if selection_set is None:
            return False
        for node in selection_set.selections:
            if not _included(node, variables):
                continue
            if isinstance(node, FieldNode):
                if node.name.value == field_name or walk(node.selection_set):
                    return True
            elif isinstance(node, InlineFragmentNode):
                if walk(node.selection_set):
                    return True
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = info.fragments.get(name)
                if fragment is not None and name not in seen_fragments:
                    seen_fragments.add(name)
                    if walk(fragment.selection_set):
                        return True
        return False

    return any(walk(node.selection_set) for node in info.field_nodes)

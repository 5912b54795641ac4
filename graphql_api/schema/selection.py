"""What an operation selects below a field, read from the query document."""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLResolveInfo,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_directive_values,
)

__all__ = ["selects"]


def _included(node: FieldNode | InlineFragmentNode | FragmentSpreadNode,
              info: GraphQLResolveInfo) -> bool:
    if not node.directives:
        return True
    skip = get_directive_values(GraphQLSkipDirective, node, info.variable_values)
    if skip is not None and skip["if"]:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, info.variable_values)
    return include is None or bool(include["if"])


def selects(info: GraphQLResolveInfo, field_name: str) -> bool:
    """Whether ``field_name`` is selected anywhere below the current field: through aliases,
    named and inline fragments, honouring ``@skip`` and ``@include``."""
    seen_fragments: set[str] = set()

    def walk(selection_set: SelectionSetNode | None) -> bool:
        if selection_set is None:
            return False
        for node in selection_set.selections:
            if not _included(node, info):
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

"""Limits that refuse abusive operations before any upstream call.

Validation rules (built once per app, so the validation cache keeps hitting) for depth, aliases
and root fields; the token limit is the parser's; the upstream-cost budget is checked per
request, with its variables, from the root fields (only they call the upstream).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast,
)

__all__ = ["Limits", "limit_rules", "root_fields", "upstream_cost"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_root_fields: int
    max_tokens: int
    max_body_bytes: int
    max_upstream_cost: int


def root_fields(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str] = frozenset(),
) -> Iterator[FieldNode]:
    """The fields of a selection set, through fragments (each fragment once per path)."""
    for node in selection_set.selections if selection_set else ():
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from root_fields(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                yield from root_fields(fragment.selection_set, fragments, seen | {node.name.value})


def _depth(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> int:
    return max(
        (
            1 + _depth(field.selection_set, fragments)
            for field in root_fields(selection_set, fragments)
        ),
        default=0,
    )


def _error(message: str, code: str, node: Any) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": code})


def limit_rules(limits: Limits) -> tuple[type[ASTValidationRule], ...]:
    """The depth, alias and root-field rules for these limits."""

    class OperationLimits(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {f.name.value: f for f in self.context.document.definitions
                         if isinstance(f, FragmentDefinitionNode)}  # fmt: skip
            depth = _depth(node.selection_set, fragments)
            if depth > limits.max_depth:
                self.report_error(_error(
                    f"The operation is {depth} levels deep; the limit is {limits.max_depth} "
                    "(max depth).", "MAX_DEPTH_LIMIT", node,
                ))  # fmt: skip
            roots = [f for f in root_fields(node.selection_set, fragments)
                     if f.name.value != "__typename"]  # fmt: skip
            if len(roots) > limits.max_root_fields:
                self.report_error(_error(
                    f"The operation has {len(roots)} root fields; the limit is "
                    f"{limits.max_root_fields} (max root fields).", "MAX_ROOT_FIELDS_LIMIT", node,
                ))  # fmt: skip

        def enter_document(self, node: Any, *_: Any) -> None:
            aliases = 0
            stack = [node]
            while stack:  # every aliased field of the document, fragments included
                current = stack.pop()
                if isinstance(current, FieldNode) and current.alias is not None:
                    aliases += 1
                for key in ("definitions", "selections"):
                    stack.extend(getattr(current, key, None) or ())
                if (selection_set := getattr(current, "selection_set", None)) is not None:
                    stack.append(selection_set)
            if aliases > limits.max_aliases:
                self.report_error(_error(
                    f"The document has {aliases} aliases; the limit is {limits.max_aliases} "
                    "(max aliases).", "MAX_ALIASES_LIMIT", node,
                ))  # fmt: skip

    return (OperationLimits,)


_LISTINGS = frozenset({"productGroupProducts", "productsByFilter"})


def upstream_cost(
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
    *,
    page_size: int,
    default_first: int,
) -> int:
    """The most upstream requests the operation can trigger: each listing field its pages (one
    more when the slice crosses a page boundary), each ``pin`` one, each entity one."""
    cost = 0
    for field in root_fields(operation.selection_set, fragments):
        name = field.name.value
        arguments = {arg.name.value: arg.value for arg in field.arguments or ()}
        if name in _LISTINGS:
            first = (
                value_from_ast(arguments["first"], GraphQLInt, variables)
                if "first" in arguments
                else None
            )
            first = first if isinstance(first, int) else default_first
            cost += math.ceil(max(first, 1) / page_size) + 1
        elif name == "pin":
            cost += 1
        elif name == "_entities":
            value = arguments.get("representations")
            if isinstance(value, VariableNode):
                representations = variables.get(value.name.value)
            else:
                representations = value.values if isinstance(value, ListValueNode) else None
            # Not a list: variable coercion refuses it later; a list coerces item by item.
            cost += len(representations) if isinstance(representations, list | tuple) else 1
    return cost

"""The limits' work, and the cost estimate's, is linear in the document, whatever its fragments
spread.

Documents are drawn as fan-out shapes: fragments that spread later ones several times (directly,
in inline fragments, below fields), back edges that close cycles, several operations, on the
query root or in introspection (``__Type``). Work is counted, not timed: the Python lines run
(``sys.settrace``), per document node. A fragment chain of twelve that each spread the next
twice has 4,096 paths through it; walking paths instead of fragments multiplies the lines by
hundreds there, while the bounds below hold for a walk linear in the document.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    parse,
    visit,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import graphql_api.cost
import graphql_api.execution
import graphql_api.limits
from graphql_api.cost import Estimator
from graphql_api.execution import Executor
from graphql_api.internals import graphql_schema
from graphql_api.limits import Expansion, Limits, RootKeys, fragments_of, root_fields
from graphql_api.schema import schema
from tests.helpers import examples

OURS = (graphql_api.limits.__file__, graphql_api.execution.__file__, graphql_api.cost.__file__)
LIMITS = Limits(
    max_depth=15,
    max_aliases=30,
    max_root_fields=10,
    max_tokens=5000,
    max_body_bytes=100_000,
    max_upstream_cost=100,
)

# At most this many lines run per node of the document, beyond those a one-field document runs:
# in our rules, label and cost estimate (measured: up to 55, the estimate's walk about 25 of
# them; walking every path: 840 at ten levels of fragments spreading the next twice, 2,900 at
# twelve), and in the whole validation, graphql-core's rules included (measured: up to 850;
# walking every path: 3,500 at twelve).
OUR_LINES_PER_NODE = 80
ALL_LINES_PER_NODE = 1_500
MINIMAL = "query Q0 { __typename }"

LISTING = 'productGroupProducts(productGroupId: "1", first: 30) { nodes { catalogType } }'
QUERY_LEAVES = (
    'pin(id: "1") { id }',
    "__typename",
    'a: pin(id: "1") { id }',
    "b: __typename",
    LISTING,
)
TYPE_LEAVES = ("name", "a: name", "fields { name }", "ofType { kind }", "b: ofType { name }")


class _TooMuchWork(BaseException):  # not an Exception: nothing on the way catches it
    pass


def _lines(run: Callable[[], object], files: tuple[str, ...] | None, most: int = 10**7) -> int:
    """How many Python lines ``run`` executes (in ``files`` only, if given); past ``most`` it
    is stopped, so that a regression fails at once instead of running for minutes."""
    count = 0

    def trace(frame: FrameType, event: str, _: Any) -> Any:
        nonlocal count
        if event == "call":
            return trace if files is None or frame.f_code.co_filename in files else None
        if event == "line":
            count += 1
            if count > most:
                raise _TooMuchWork
        return trace

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        run()
    except _TooMuchWork:
        pass
    finally:
        sys.settrace(previous)
    return count


def _size(document: DocumentNode) -> int:
    class Count(Visitor):
        nodes = 0

        def enter(self, *_: Any) -> None:
            self.nodes += 1

    counter = Count()
    visit(document, counter)
    return counter.nodes


@st.composite
def fan_outs(draw: st.DrawFn, most: int = 14, widest: int = 3, cycles: bool = True) -> str:
    """A document whose fragments spread the next ones, ``width`` times each."""
    introspection = draw(st.booleans())
    on = "__Type" if introspection else "Query"
    count = draw(st.integers(1, most))
    width = draw(st.integers(1, widest))
    wrappers = ["{}", "... {{ {} }}", f"... on {on} {{{{ {{}} }}}}"]
    if introspection:  # a spread below a field: the depth grows with the fan-out
        wrappers += ["ofType {{ {} }}", "x: ofType {{ {} }}", "fields {{ type {{ {} }} }}"]
    fragments = []
    for i in range(count):
        parts = []
        if i + 1 < count:
            for _ in range(width):
                target = draw(st.sampled_from([i + 1, i + 1, draw(st.integers(i + 1, count - 1))]))
                parts.append(draw(st.sampled_from(wrappers)).format(f"...F{target}"))
        if cycles and draw(st.integers(0, 5)) == 0:  # back: NoFragmentCyclesRule refuses it
            parts.append(f"...F{draw(st.integers(0, i))}")
        if not parts or draw(st.booleans()):
            parts.append(draw(st.sampled_from(TYPE_LEAVES if introspection else QUERY_LEAVES)))
        fragments.append(f"fragment F{i} on {on} {{ {' '.join(parts)} }}")
    top = "{ __schema { types { ...F0 } } }" if introspection else "{ ...F0 }"
    operations = [f"query Q{n} {top}" for n in range(draw(st.integers(1, 3)))]
    return " ".join(operations + fragments)


def _run(query: str, name: str | None = "Q0") -> None:
    """What a request does with a new document: validation, the operation, its cost (planned
    here even when validation refused the document: cycles, for one)."""
    executor = Executor(
        graphql_schema(schema), LIMITS, introspection=True, suggestions=True, page_size=25
    )
    executor.prepare(query)
    resolved = executor.operation(query, name)
    assert resolved is not None
    estimator = Estimator(graphql_schema(schema), page_size=25)
    estimator.plan(resolved.node, resolved.fragments).evaluate({})


@settings(max_examples=examples(60))  # a line trace per example: slow
@given(fan_outs())
def test_the_work_of_the_limits_is_linear_in_the_document(query: str) -> None:
    nodes = _size(parse(query))
    base = _lines(lambda: _run(MINIMAL), OURS)
    ours = _lines(lambda: _run(query), OURS, most=base + OUR_LINES_PER_NODE * nodes) - base
    assert ours <= OUR_LINES_PER_NODE * nodes, (ours, nodes, query)
    base = _lines(lambda: _run(MINIMAL), None)
    everything = _lines(lambda: _run(query), None, most=base + ALL_LINES_PER_NODE * nodes) - base
    assert everything <= ALL_LINES_PER_NODE * nodes, (everything, nodes, query)


def _naive(document: DocumentNode) -> tuple[int, int, set[str]]:
    """Depth, aliases and root keys by walking every path (the previous implementation):
    exponential, for small acyclic documents only."""
    fragments = fragments_of(document)

    def fields(selection_set: SelectionSetNode | None, seen: frozenset[str]) -> list[FieldNode]:
        found: list[FieldNode] = []
        spread: set[str] = set()
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                found.append(node)
            elif isinstance(node, InlineFragmentNode):
                found += fields(node.selection_set, seen)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name not in spread and name not in seen:  # merged beside itself; a cycle
                    spread.add(name)
                    found += fields(fragments[name].selection_set, seen | {name})
        return found

    def depth(selection_set: SelectionSetNode | None) -> int:
        below = fields(selection_set, frozenset())
        return max((1 + depth(f.selection_set) for f in below), default=0)

    def aliases(selection_set: SelectionSetNode | None) -> int:
        below = fields(selection_set, frozenset())
        return sum((f.alias is not None) + aliases(f.selection_set) for f in below)

    (operation, *_) = (d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    top = operation.selection_set
    keys = {
        (f.alias or f.name).value for f in fields(top, frozenset()) if f.name.value != "__typename"
    }
    return depth(top), aliases(top), keys


@settings(max_examples=examples(60))
@given(fan_outs(most=8, widest=2, cycles=False))
def test_memoised_figures_are_those_of_every_path(query: str) -> None:
    document = parse(query)
    fragments = fragments_of(document)
    (operation, *_) = (d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    depth, aliases, keys = _naive(document)
    assert Expansion(fragments)(operation.selection_set) == (depth, aliases)
    assert RootKeys(fragments)(operation.selection_set) == keys
    grouped = root_fields(operation.selection_set, fragments)
    assert {k for k, nodes in grouped.items() if nodes[0].name.value != "__typename"} == keys


def _fan_out(levels: int, leaf: str, on: str = "Query") -> str:
    chain = " ".join(f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"{chain} fragment F{levels} on {on} {{ {leaf} }}"


@pytest.mark.parametrize("levels", [10, 20, 30])
def test_twice_spread_fragments_cost_what_their_text_does(levels: int) -> None:
    """The issue's document: the lines run grow with its levels, not with 2 ** levels."""
    query = "{ ...F0 } " + _fan_out(levels, 'pin(id: "1") { id }')
    base, bound = _lines(lambda: _run(MINIMAL), OURS), OUR_LINES_PER_NODE * _size(parse(query))
    assert _lines(lambda: _run(query, None), OURS, most=base + bound) - base <= bound


def test_root_fields_merged_by_response_key_count_and_cost_once() -> None:
    document = parse(
        '{ ...F ...F a: pin(id: "1") { id } ... { a: pin(id: "1") { id } } } '
        'fragment F on Query { a: pin(id: "1") { id } productGroupProducts(productGroupId: "1",'
        " first: 30) { nodes { catalogType } } }"
    )
    fragments = fragments_of(document)
    (operation, *_) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    grouped = root_fields(operation.selection_set, fragments)
    assert list(grouped) == ["a", "productGroupProducts"]
    assert len(grouped["a"]) == 3  # the fragment's once, the operation's and the inline one's
    assert RootKeys(fragments)(operation.selection_set) == {"a", "productGroupProducts"}
    # a pin once, and 30 products from the start in pages of 25: ceil(30 / 25) = 2 pages
    plan = Estimator(graphql_schema(schema), page_size=25).plan(operation, fragments)
    assert plan.evaluate({}) == 1 + 2


def test_cycles_through_fields_end() -> None:
    document = parse(
        "{ __schema { types { ...T } } } fragment T on __Type { ofType { ...T } ...U } "
        "fragment U on __Type { fields { type { ...T } } }"
    )
    fragments = fragments_of(document)
    (operation, *_) = document.definitions
    assert isinstance(operation, OperationDefinitionNode)
    # __schema, types, then fields and type in U: the spreads back into T count nothing
    assert Expansion(fragments)(operation.selection_set) == (4, 0)
    assert RootKeys(fragments)(operation.selection_set) == {"__schema"}


def test_this_module_counts_lines_of_our_files() -> None:
    assert all(Path(f).name in ("limits.py", "execution.py", "cost.py") for f in OURS)
    assert _lines(lambda: _run("query Q0 { __typename }"), OURS) > 0

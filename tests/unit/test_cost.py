"""The cost estimate (graphql_api.cost) against hand-computed figures, in upstream requests.

Every figure below is worked out by hand in a comment, from the rules of docs/cost.md
("Estimate"): a connection weighs ceil(max(first, 1) / page size) pages, one more with `after`;
`pin(id)` and each `_entities` representation one request; nothing else weighs anything in our
schema. A small schema of its own checks the rules our schema does not exercise (abstract types
of different weights, assumed sizes, nested lists). Then: the work stays linear in the document
(issue 9's fan-outs), the estimate is never below the requests the app really makes, and an
operation over the budget is refused without any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

import pytest
import strawberry
from graphql import (
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
    parse,
    type_from_ast,
    value_from_ast,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry import UNSET
from strawberry.federation.schema_directives import Cost, ListSize

import graphql_api.cost
from graphql_api.cost import MAX_COST, Estimator
from graphql_api.internals import graphql_schema
from graphql_api.limits import fragments_of
from graphql_api.schema import schema
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import examples, open_app
from tests.unit.test_limits import _fan_out, _lines, _size

SCHEMA = graphql_schema(schema)
FILTER = '{feedBased: {feedId: "1", filters: {anyOf: [{minPrice: {values: 1}}]}}}'
NODES = "nodes { __typename pin { id title } }"


def estimate(
    document: str,
    variables: Mapping[str, Any] | None = None,
    *,
    page_size: int = 250,
    on: GraphQLSchema = SCHEMA,
    name: str | None = None,
) -> int:
    """The estimate of a document's operation, as the executor plans and evaluates it."""
    parsed = parse(document)
    (operation,) = (
        d
        for d in parsed.definitions
        if isinstance(d, OperationDefinitionNode)
        and (name is None or (d.name is not None and d.name.value == name))
    )
    defaults = {
        d.variable.name.value: value_from_ast(d.default_value, type_from_ast(on, d.type))  # type: ignore[arg-type]
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    plan = Estimator(on, page_size=page_size).plan(operation, fragments_of(parsed), defaults)
    return plan.evaluate(variables or {})


# --- Connections -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "page_size", "expected"),
    [
        ("", 250, 1),  # first defaults to 25: ceil(25 / 250) = 1
        ("first: 25", 250, 1),  # ceil(25 / 250) = 1
        ('first: 25, after: "c"', 250, 2),  # 1 page, + 1 resumed after a cursor
        ("first: 25, after: null", 250, 1),  # a null cursor: from the start
        ("first: 0", 250, 1),  # ceil(max(0, 1) / 250) = 1: the page is still asked for
        ("first: null", 250, 1),  # null reads as the default 25 (as the resolver does): 1
        ("first: 250", 250, 1),  # ceil(250 / 250) = 1
        ("first: 251", 250, 2),  # ceil(251 / 250) = 2
        ("first: 600", 250, 3),  # ceil(600 / 250) = 3 (the contract's cold walk)
        ('first: 600, after: "c"', 250, 4),  # 3 + 1
        ("", 25, 1),  # ceil(25 / 25) = 1
        ("first: 26", 25, 2),  # ceil(26 / 25) = 2
        ('first: 25, after: "c"', 25, 2),  # 1 + 1
        ("first: 600", 25, 24),  # ceil(600 / 25) = 24
        ('first: 600, after: "c"', 25, 25),  # 24 + 1
    ],
)
@pytest.mark.parametrize("field", ["productsByFilter", "productGroupProducts"])
def test_a_connection_weighs_the_pages_its_slice_spans(
    field: str, arguments: str, page_size: int, expected: int
) -> None:
    selector = f"filter: {FILTER}" if field == "productsByFilter" else 'productGroupId: "1"'
    arguments = f"{selector}, {arguments}" if arguments else selector
    document = f"{{ {field}({arguments}) {{ edges {{ cursor node {{ catalogType }} }} {NODES} }} }}"
    assert estimate(document, page_size=page_size) == expected


LISTING = f"""query Q($n: Int, $after: String) {{
  productGroupProducts(productGroupId: "1", first: $n, after: $after) {{ {NODES} }}
}}"""


@pytest.mark.parametrize(
    ("variables", "page_size", "expected"),
    [
        ({"n": 600}, 250, 3),  # ceil(600 / 250) = 3
        ({"n": 600, "after": "c"}, 250, 4),  # 3 + 1
        ({"n": 600, "after": None}, 250, 3),  # a null cursor: 3
        ({}, 250, 1),  # $n not given: the argument's default 25: 1
        ({"n": None}, 250, 1),  # $n null: the default 25, as the resolver reads it: 1
        ({"n": 26}, 25, 2),  # ceil(26 / 25) = 2
        ({"after": "c"}, 25, 2),  # ceil(25 / 25) + 1 = 2
        ({"n": "many"}, 250, 1),  # not an Int (coercion refuses it later): the default, 1
        ({"n": 2**40}, 250, 1),  # beyond Int (coercion refuses it later): the default, 1
        ({"n": -5}, 250, 1),  # ceil(max(-5, 1) / 250) = 1 (the resolver refuses it)
    ],
)
def test_a_connection_reads_its_slice_from_the_variables(
    variables: dict[str, Any], page_size: int, expected: int
) -> None:
    assert estimate(LISTING, variables, page_size=page_size) == expected


def test_a_variable_default_counts_unless_the_variable_is_given() -> None:
    document = LISTING.replace("$n: Int", "$n: Int = 600")
    assert estimate(document) == 3  # ceil(600 / 250) = 3
    assert estimate(document, {"n": 10}) == 1  # ceil(10 / 250) = 1
    assert estimate(document, {"n": None}) == 1  # null given: the argument's default 25: 1


def test_the_plan_is_a_constant_without_variables_and_steps_with_them() -> None:
    estimator = Estimator(SCHEMA, page_size=250)
    (literal,) = parse('{ pin(id: "1") { id } }').definitions
    assert isinstance(literal, OperationDefinitionNode)
    assert estimator.plan(literal, {}).constant == 1
    variable = parse(LISTING).definitions[0]
    assert isinstance(variable, OperationDefinitionNode)
    plan = estimator.plan(variable, {})
    assert plan.constant is None
    assert plan.evaluate({"n": 600}) == 3  # ceil(600 / 250)
    assert plan.evaluate({"n": 20}) == 1  # the same plan, other variables: ceil(20 / 250)


# --- Pins and entities -----------------------------------------------------------------------


ONE = '{__typename: "Pin", id: "1"}'


def entities(representations: str) -> str:
    selection = "... on Pin { id title media { mediaType } }"
    return f"_entities(representations: {representations}) {{ {selection} }}"


REPRESENTATIONS = (
    '[{__typename: "Pin", id: "1"}, {__typename: "Pin", id: "2"}, {__typename: "Pin", id: "3"}]'
)


@pytest.mark.parametrize(
    ("document", "variables", "expected"),
    [
        ('{ pin(id: "1") { id media { mediaType } } }', {}, 1),  # one request
        ('{ pin(id: "1") { id pinMetrics { allTime { impression } } } }', {}, 1),  # the same
        # Two aliased Pins are two requests; the same Pin twice under one key, one.
        ('{ a: pin(id: "1") { id } b: pin(id: "2") { id } }', {}, 2),
        ('{ pin(id: "1") { id } pin(id: "1") { title } }', {}, 1),
        # Three representations, one request each: 3 * 1 (the Pin's fields weigh nothing).
        (f"{{ {entities(REPRESENTATIONS)} }}", {}, 3),
        (
            f"query Q($r: [_Any!]!) {{ {entities('$r')} }}",
            {"r": [{"__typename": "Pin", "id": str(i)} for i in range(3)]},
            3,  # 3 representations in the variable: 3 * 1
        ),
        (f"{{ {entities('[]')} }}", {}, 0),  # no representation, no request
        # One representation not in a list: coerced as a list of one: 1.
        (f"{{ {entities(ONE)} }}", {}, 1),
        # Entities and a listing: 3 representations + ceil(25 / 250) = 4.
        (
            f"{{ {entities(REPRESENTATIONS)} "
            f'productGroupProducts(productGroupId: "1") {{ {NODES} }} }}',
            {},
            4,
        ),
    ],
)
def test_pins_and_entities_are_one_request_each(
    document: str, variables: dict[str, Any], expected: int
) -> None:
    assert estimate(document, variables) == expected


def test_a_products_pin_overrides_the_pin_types_weight() -> None:
    """The cost spec: a field's weight overrides its type's. Pin weighs 1 (an entity lookup),
    a product's `pin` 0 (it came with the page): 600 products in pages of 250 cost 3, not
    3 + 600."""
    pins = (
        '{ productGroupProducts(productGroupId: "1", first: 600) '
        "{ edges { node { pin { id } ... on RetailProduct { pin { title } } } } } }"
    )
    assert estimate(pins) == 3  # ceil(600 / 250)
    entity = Estimator(SCHEMA, page_size=250)
    assert entity.field("Query", "pin") is not None
    assert entity.field("Query", "pin").weight == 1  # type: ignore[union-attr]
    assert entity.field("RetailProduct", "pin").weight == 0  # type: ignore[union-attr]


# --- Fragments, aliases, merged fields -------------------------------------------------------

CONNECTION = f'productGroupProducts(productGroupId: "1", first: 600) {{ {NODES} }}'


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # A named fragment, an inline one, one without a type condition: 3 pages each time.
        (f"{{ ...Q }} fragment Q on Query {{ {CONNECTION} }}", 3),
        (f"{{ ... on Query {{ {CONNECTION} }} }}", 3),
        (f"{{ ... {{ {CONNECTION} }} }}", 3),
        # The same fragment spread twice, and through two inline fragments: merged, 3.
        (f"{{ ...Q ...Q }} fragment Q on Query {{ {CONNECTION} }}", 3),
        (f"{{ ... {{ ...Q }} ... on Query {{ ...Q }} }} fragment Q on Query {{ {CONNECTION} }}", 3),
        # Fragments on the interface and on its types below the connection weigh nothing:
        # still 3.
        (
            '{ productGroupProducts(productGroupId: "1", first: 600) { nodes { ...P '
            "... on HotelProduct { pin { id } } } } } "
            "fragment P on CatalogProduct { pin { id } "
            "... on RetailProduct { metadata { price } } }",
            3,
        ),
        # Three aliased copies: 3 * 3 = 9.
        ("{ " + " ".join(f"c{i}: {CONNECTION}" for i in range(3)) + " }", 9),
        # Merged under one key (same arguments): 3, whatever each copy selects.
        (f"{{ {CONNECTION} ... {{ {CONNECTION.replace(NODES, 'pageInfo { endCursor }')} }} }}", 3),
        # One aliased copy with `after`, one without: (3 + 1) + 3 = 7.
        (
            f"{{ a: {CONNECTION.replace('first: 600', 'first: 600, after: $c')} b: {CONNECTION} }}",
            7,
        ),
    ],
)
def test_fragments_aliases_and_merged_fields(document: str, expected: int) -> None:
    if "$c" in document:
        document = f"query Q($c: String) {document}"
        assert estimate(document, {"c": "cursor"}) == expected
    else:
        assert estimate(document) == expected


def test_fields_merged_through_fragments_count_once_per_response_key() -> None:
    document = (
        '{ ...F ...F a: pin(id: "1") { id } ... { a: pin(id: "1") { id } } } '
        'fragment F on Query { a: pin(id: "1") { id } productGroupProducts(productGroupId: "1",'
        " first: 30) { nodes { catalogType } } }"
    )
    # `a` once (1) and 30 products from the start in pages of 25: ceil(30 / 25) = 2; 1 + 2 = 3.
    assert estimate(document, page_size=25) == 3


def test_only_the_chosen_operation_counts() -> None:
    document = f'query A {{ {CONNECTION} }} query B {{ pin(id: "1") {{ id }} }}'
    assert estimate(document, name="A") == 3  # ceil(600 / 250)
    assert estimate(document, name="B") == 1


# --- The rules our schema does not exercise, on a schema of their own -------------------------


def _sized(*slicing: str, assumed: int | None = None) -> list[object]:
    return [
        ListSize(
            assumed_size=UNSET if assumed is None else assumed,
            slicing_arguments=list(slicing) if slicing else UNSET,
            sized_fields=UNSET,
            require_one_slicing_argument=False,
        )
    ]


@strawberry.type(directives=[Cost(weight=3)])
class Book:
    title: str
    reviews: int = strawberry.field(directives=[Cost(weight=7)])  # an extra request per book


@strawberry.type(directives=[Cost(weight=5)])
class Film:
    title: str


Media = Annotated[Book | Film, strawberry.union("Media")]


@strawberry.interface
class Animal:
    sound: str


@strawberry.type
class Dog(Animal):
    sound: str = strawberry.field(directives=[Cost(weight=2)])


@strawberry.type
class Cat(Animal):
    sound: str = strawberry.field(directives=[Cost(weight=4)])


def _shelves(first: int = 3) -> list[Shelf]:
    return []


def _media(first: int = 10, last: int | None = None) -> list[Media]:
    return []


@strawberry.type
class Shelf:
    shelves: list[Shelf] = strawberry.field(resolver=_shelves, directives=_sized("first"))
    label: str = strawberry.field(directives=[Cost(weight=1)])


@strawberry.type
class Library:
    media: list[Media] = strawberry.field(resolver=_media, directives=_sized("first", "last"))
    animals: list[Animal] = strawberry.field(directives=_sized(assumed=6))
    unsized: list[Book]
    special: Book = strawberry.field(directives=[Cost(weight=9)])
    book: Book
    shelf: Shelf


LIBRARY = graphql_schema(strawberry.federation.Schema(query=Library, types=[Dog, Cat]))


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # A union's items weigh their heaviest member: 4 * max(Book 3, Film 5) = 20.
        ("{ media(first: 4) { ... on Book { title } ... on Film { title } } }", 20),
        # Each concrete type with its own selections: max(Book 3 + reviews 7, Film 5) = 10,
        # times 4 = 40 (not 5 + 7: a Film has no reviews).
        ("{ media(first: 4) { ... on Book { reviews } } }", 40),
        # The same through a named fragment on the union, and spread twice: 40.
        ("{ media(first: 4) { ...M ...M } } fragment M on Media { ... on Book { reviews } }", 40),
        # The slicing argument's default (10), and the largest of two given: 10 * 5, 7 * 5.
        ("{ media { __typename } }", 50),
        ("{ media(first: 2, last: 7) { __typename } }", 35),
        # An interface's field weighs as on each concrete type: 6 (assumed) * max(2, 4) = 24.
        ("{ animals { sound } }", 24),
        # Only on Dog: 6 * max(Dog 2, Cat 0) = 12.
        ("{ animals { ... on Dog { sound } } }", 12),
        # A field's weight overrides its type's: special 9, not Book's 3; book 3.
        ("{ special { title } }", 9),
        ("{ book { title } }", 3),
        # An unsized list counts one item: 1 * (3 + 7) = 10 (hence the schema test below).
        ("{ unsized { reviews } }", 10),
        # Nested slices multiply: 3 shelves of 3 shelves of labels: 3 * 3 * 1 = 9.
        ("{ shelf { shelves { shelves { label } } } }", 9),
    ],
)
def test_the_cost_specs_rules(document: str, expected: int) -> None:
    assert estimate(document, on=LIBRARY) == expected


def test_huge_estimates_saturate() -> None:
    """Nested slices of 2**31 - 1, 14 levels deep: (2**31 - 1) ** 14 requests, held at
    MAX_COST without ever building the product."""
    big = 2**31 - 1
    nested = "label"
    for _ in range(14):
        nested = f"shelves(first: {big}) {{ {nested} }}"
    assert estimate(f"{{ shelf {{ {nested} }} }}", on=LIBRARY) == MAX_COST
    variables = "query Q($n: Int) { shelf { " + "shelves(first: $n) { " * 14 + "label" + " }" * 16
    assert estimate(variables, {"n": big}, on=LIBRARY) == MAX_COST
    assert estimate(variables, {"n": 2}, on=LIBRARY) == 2**14  # 2 shelves a level


# --- The schema keeps the estimate exact -----------------------------------------------------


def test_no_weight_sits_below_a_list_without_a_size() -> None:
    """An unsized list counts one item: anything weighing below it would be undercounted. A
    walk of the schema from the root, knowing which lists the field above sizes."""
    estimator = Estimator(SCHEMA, page_size=250)
    assert SCHEMA.query_type is not None
    State = tuple[str, frozenset[str], bool]  # a type, the lists sized above it, below unsized?
    seen: set[State] = set()
    stack: list[State] = [(SCHEMA.query_type.name, frozenset(), False)]
    below_unsized_lists = 0
    while stack:
        state = stack.pop()
        if state in seen:
            continue
        seen.add(state)
        type_name, sized_above, below_unsized = state
        named: Any = SCHEMA.type_map[type_name]
        for concrete in SCHEMA.get_possible_types(named) if is_abstract_type(named) else [named]:
            for name, field in concrete.fields.items():
                cost = estimator.field(concrete.name, name)
                assert cost is not None
                unsized = cost.is_list and not cost.sized and cost.counted_by is None
                unsized = below_unsized or (unsized and name not in sized_above)
                if unsized:
                    below_unsized_lists += 1
                    assert cost.weight == 0, f"{concrete.name}.{name} weighs below an unsized list"
                child = get_named_type(field.type)
                if is_composite_type(child):
                    sized = cost.sized_fields if cost.sized else frozenset()
                    stack.append((child.name, sized, unsized))
    assert below_unsized_lists > 10  # the Pin media's lists (items: [...]) were reached


def test_what_weighs_is_a_request_a_use_or_a_page() -> None:
    """The root fields, and below them the edges of the catalog graph (a listing or a lookup
    per parent): nothing else, a page's nodes and a product's Pin included (the entity types'
    weight is for entity lookups)."""
    estimator = Estimator(SCHEMA, page_size=250)
    weighing = {
        f"{named.name}.{name}"
        for named in SCHEMA.type_map.values()
        if not named.name.startswith("__")
        for name in getattr(named, "fields", {})
        if is_composite_type(named)
        if (cost := estimator.field(named.name, name)) is not None and cost.weight
    }
    roots = {"productGroupProducts", "productsByFilter", "pin", "_entities", "catalogs", "feed"}
    roots |= {"productGroup", "productGroups", "availableFilterValues"}
    graph = {
        "Catalog.feeds",
        "Catalog.productGroups",
        "Feed.productGroups",
        "ProductGroup.products",
        "ProductGroup.productCounts",
    }
    assert weighing == {f"Query.{root}" for root in roots} | graph


GRAPH = (
    "{ catalogs(first: 10) { nodes { productGroups(first: 10) { nodes { "
    "products(first: 2) { nodes { pin { id } } } } } } } }"
)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # 1 page of catalogs, a page of groups for each (10), a page of products for each of
        # their 10 groups (100): 111.
        (GRAPH, 111),
        # Through edges as through nodes, and the nodes' own fields weigh nothing.
        (GRAPH.replace("nodes { productGroups", "edges { node { id productGroups") + " }", 111),
        # A group's counts: a request each; 1 + 10 * (1 + 10 * 1) = 111.
        (
            GRAPH.replace("products(first: 2) { nodes { pin { id } } }", "productCounts { total }"),
            111,
        ),
        # 30 groups a catalog in pages of 25 (2 pages): 1 + 10 * (2 + 30 * 1) = 321.
        (GRAPH.replace("productGroups(first: 10)", "productGroups(first: 30)"), 321),
        # Feeds and their groups: 1 + 10 * (1 + 10 * 1) = 111.
        (
            GRAPH.replace("productGroups(first: 10)", "feeds(first: 10)").replace(
                "products(first: 2) { nodes { pin { id } } }",
                "productGroups(first: 1) { nodes { id } }",
            ),
            111,
        ),
        # Merged copies of catalogs, one selecting feeds, one product groups: both run, so
        # both count: 1 + 10 * (1 + 1) = 21 (the heaviest copy alone would be 11).
        (
            "{ catalogs(first: 10) { nodes { feeds(first: 5) { nodes { id } } } } "
            "catalogs(first: 10) { nodes { productGroups(first: 5) { nodes { id } } } } }",
            21,
        ),
        # ... through fragments too, deeper down: 1 + 10 * (1 + 5 * (1 + 1)) = 111.
        (
            "{ catalogs(first: 10) { nodes { ...A ...B } } } "
            "fragment A on Catalog { productGroups(first: 5) { nodes { productCounts "
            "{ total } } } } "
            "fragment B on Catalog { productGroups(first: 5) { nodes { products(first: 1) "
            "{ nodes { catalogType } } } } }",
            111,
        ),
        # Merged copies selecting the same weights: once (1 + 10 * 1).
        (
            "{ catalogs(first: 10) { nodes { feeds { nodes { id } } } } "
            "catalogs(first: 10) { nodes { feeds { nodes { name } } } } }",
            11,
        ),
        # Groups by id: at most a request an id (3), and their products a page each: 3 * 2.
        (
            '{ productGroups(ids: ["1", "2", "3"]) '
            "{ products(first: 2) { nodes { catalogType } } } }",
            6,
        ),
        # Entities: a lookup each, and what they select below.
        (
            "{ _entities(representations: [{}, {}]) { ... on ProductGroup { products "
            "{ nodes { catalogType } } } ... on Catalog { id } } }",
            4,
        ),
    ],
)
def test_the_catalog_graph_weighs_a_request_a_page_or_a_lookup(
    document: str, expected: int
) -> None:
    assert estimate(document, page_size=25 if "first: 30" in document else 250) == expected


def test_ids_are_counted_from_a_variable() -> None:
    document = "query($ids: [ID!]!) { productGroups(ids: $ids) { productCounts { total } } }"
    assert estimate(document, {"ids": ["1", "2", "3", "4"]}) == 8  # 4 * (1 + 1)
    assert estimate(document, {"ids": "1"}) == 2  # one id not in a list: a list of one


# --- Linear in the document ------------------------------------------------------------------

COST_FILE = (graphql_api.cost.__file__,)
# Lines of graphql_api/cost.py run per node of the document, beyond a one-field document's
# (measured: 5 at 10, 20 and 30 levels; walking every path, twice as many at each level).
LINES_PER_NODE = 20


def _plan(document: str) -> None:
    parsed = parse(document)
    operation = parsed.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    Estimator(SCHEMA, page_size=250).plan(operation, fragments_of(parsed)).evaluate({"n": 600})


@pytest.mark.parametrize("levels", [10, 20, 30])
def test_issue_9s_fan_outs_are_planned_in_linear_work(levels: int) -> None:
    """Fragments that spread the next one twice, down to a listing sized by a variable:
    2 ** levels paths, planned in lines proportional to the text (counted, not timed), to the
    estimate of one listing."""
    leaf = f"productsByFilter(filter: {FILTER}, first: $n) {{ nodes {{ pin {{ id }} }} }}"
    document = f"query Q($n: Int) {{ ...F0 }} {_fan_out(levels, leaf)}"
    nodes = _size(parse(document))
    base = _lines(lambda: _plan('query Q($n: Int) { pin(id: "1") { id } }'), COST_FILE)
    bound = LINES_PER_NODE * nodes
    work = _lines(lambda: _plan(document), COST_FILE, most=base + bound) - base
    assert work <= bound, (work, nodes)
    assert estimate(document, {"n": 600}) == 3  # merged: ceil(600 / 250), not 2 ** levels * 3


# --- Never below what the app really asks for ------------------------------------------------


async def _cursor(fake: FakePinterest, page_size: int, position: int) -> str | None:
    """The cursor after ``position`` products (None: the start), from an app of its own."""
    if position == 0:
        return None
    query = 'query($n: Int) { productGroupProducts(productGroupId: "1", first: $n) { pageInfo { endCursor } } }'  # noqa: E501
    async with open_app(fake, upstream_page_size=page_size) as h:
        result = await h.gql(query, {"n": position})
    cursor: str | None = result["data"]["productGroupProducts"]["pageInfo"]["endCursor"]
    return cursor


@settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    total=st.integers(1, 60),
    page_size=st.integers(1, 30),
    first=st.integers(0, 80),
    start=st.integers(0, 60),
    copies=st.integers(1, 2),
)
def test_the_estimate_is_never_below_the_requests_made(
    total: int, page_size: int, first: int, start: int, copies: int
) -> None:
    """A cold app walks `first` products from a random cursor in pages of a random size, in
    one or two aliased copies: it never asks the upstream more often than estimated."""
    fake = FakePinterest(build_catalog(total))
    query = (
        "query($n: Int, $after: String) { "
        + " ".join(
            f'c{i}: productGroupProducts(productGroupId: "1", first: $n, after: $after) '
            "{ edges { cursor node { catalogType } } pageInfo { hasNextPage } }"
            for i in range(copies)
        )
        + " }"
    )

    async def walk() -> tuple[int, dict[str, Any]]:
        after = await _cursor(fake, page_size, min(start, total))
        variables = {"n": first, "after": after}
        async with open_app(fake, upstream_page_size=page_size) as h:
            result = await h.gql(query, variables)
            return len(h.requests), {"result": result, **variables}

    made, seen = asyncio.run(walk())
    assert "errors" not in seen["result"], seen
    estimated = estimate(query, {"n": first, "after": seen["after"]}, page_size=page_size)
    assert made <= estimated, (made, estimated, seen)
    if copies == 1 and seen["after"] is None:  # from the start the estimate is exact, unless
        assert made == min(estimated, -(-total // page_size) or 1)  # the listing ends first


async def test_over_the_budget_is_refused_before_any_upstream_call() -> None:
    """max 2: 500 products in pages of 250 (2) run, and make exactly those 2 requests;
    600 (3) are refused, with no upstream request at all."""
    query = (
        f'query($n: Int) {{ productGroupProducts(productGroupId: "1", first: $n) {{ {NODES} }} }}'
    )
    catalog = FakePinterest(build_catalog(1200))
    async with open_app(catalog, max_upstream_cost=2, max_first=600) as h:
        refused = await h.post(query, {"n": 600})
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
        assert "could make 3 upstream requests; the limit is 2" in error["message"]
        assert h.requests == []
        result = await h.gql(query, {"n": 500})
        assert "errors" not in result, result
        assert len(result["data"]["productGroupProducts"]["nodes"]) == 500
        assert len(h.requests) == 2

"""One table of upstream operations: every request the client can send is in it, every root field
of the schema either calls one of its operations or is known to call none and carries the cost
directives its operation implies (the estimate reads them), and each operation has its
breaker."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
from graphql import GraphQLUnionType, OperationDefinitionNode, parse
from strawberry.federation import schema_directives as federation

from graphql_api.cost import (
    COUNTED_BY,
    Estimator,
    batch_directives,
    entity_directives,
    field_directives,
)
from graphql_api.internals import graphql_schema, strawberry_definition
from graphql_api.schema import schema
from graphql_api.schema.resolvers import MAX_IDS
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.operations import (
    FREE_ROOT_FIELDS,
    OPERATIONS,
    ROOT_FIELDS,
    Cost,
    Operation,
)
from tests.helpers import resilience, settings

PIN = {"id": "1", "title": None, "link": None, "media": None}
PAGE: dict[str, object] = {"items": [], "bookmark": None}
Call = Callable[[PinterestClient], Awaitable[object]]
# Every public call of the client, with arguments (a new one must be added here: the test
# below fails until it is).
CALLS: dict[str, Call] = {
    "list_product_group_products": lambda c: c.list_product_group_products(
        "tok", "a/b 1", bookmark=None, page_size=25
    ),
    "list_products_by_filter": lambda c: c.list_products_by_filter(
        "tok", {"catalog_type": "RETAIL"}, bookmark="bm", page_size=25
    ),
    "get_pin": lambda c: c.get_pin("tok", "7"),
    "list_catalogs": lambda c: c.list_catalogs("tok", bookmark=None, page_size=25),
    "list_feeds": lambda c: c.list_feeds("tok", "1", bookmark=None, page_size=25),
    "get_feed": lambda c: c.get_feed("tok", "a/b 1"),
    "list_product_groups": lambda c: c.list_product_groups(
        "tok", catalog_id="1", bookmark=None, page_size=25
    ),
    "get_product_group": lambda c: c.get_product_group("tok", "a/b 1"),
    "get_product_counts": lambda c: c.get_product_counts("tok", "a/b 1"),
    "get_available_filter_values": lambda c: c.get_available_filter_values("tok", catalog_id="1"),
}


def _template(operation: Operation) -> re.Pattern[str]:
    """The paths ``operation`` can request: its template with any (quoted) part filled in."""
    pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(operation.path))
    return re.compile(f"/v5{pattern}")


async def test_every_request_the_client_can_send_is_in_the_table() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(PinterestClient, inspect.iscoroutinefunction)
        if not name.startswith("_")
    }
    assert public == set(CALLS)
    sent: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        # A single object (a Pin, a feed, a product group, counts, values) or a page.
        single = "/pins/" in request.url.path or not request.url.path.endswith(
            ("/catalogs", "/feeds", "/product_groups", "/products", "_filters")
        )
        return httpx.Response(200, json=PIN if single else PAGE)

    async with build_http_client(settings(), httpx.MockTransport(upstream)) as http:
        client = PinterestClient(http, resilience())
        for call in CALLS.values():
            await call(client)
    assert len(sent) == len(CALLS)
    matched = set()
    for request in sent:
        path = request.url.raw_path.decode().partition("?")[0]  # as sent: parts quoted
        (operation,) = [
            op
            for op in OPERATIONS.values()
            if op.method == request.method and _template(op).fullmatch(path)
        ]
        matched.add(operation.name)
    assert matched == set(OPERATIONS)  # and every operation of the table is used


def test_every_root_field_calls_a_table_operation_or_is_known_to_call_none() -> None:
    fields = set(graphql_schema(schema).query_type.fields)  # type: ignore[union-attr]
    assert fields <= set(ROOT_FIELDS) | FREE_ROOT_FIELDS
    assert not set(ROOT_FIELDS) & FREE_ROOT_FIELDS
    assert set(ROOT_FIELDS) - {"_entities"} <= fields  # the table names no field that is gone


def _directives(element: object) -> list[object]:
    return list(strawberry_definition(element).directives)


@pytest.mark.parametrize("field", sorted(ROOT_FIELDS))
def test_every_root_field_carries_the_cost_directives_its_operation_implies(field: str) -> None:
    built = graphql_schema(schema)
    operation = ROOT_FIELDS[field]
    if field == "_entities":  # one lookup per entity: the entity types carry the weight
        entity = built.type_map["_Entity"]
        assert isinstance(entity, GraphQLUnionType)
        for member in entity.types:
            weights = [d for d in _directives(member) if isinstance(d, federation.Cost)]
            assert weights == entity_directives(operation)
        return
    assert built.query_type is not None
    definition = built.query_type.fields[field]
    declared = [
        d for d in _directives(definition) if isinstance(d, federation.Cost | federation.ListSize)
    ]
    if COUNTED_BY in strawberry_definition(definition).metadata:  # a batch by ids
        assert declared == batch_directives(operation, MAX_IDS)
    else:
        assert declared == field_directives(operation)


def _estimate(document: str, page_size: int) -> int:
    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return Estimator(graphql_schema(schema), page_size=page_size).plan(operation, {}).evaluate({})


@pytest.mark.parametrize("field", sorted(ROOT_FIELDS))
@pytest.mark.parametrize("first", [1, 25, 26, 600])
def test_the_cost_estimate_of_a_root_field_follows_its_operation(field: str, first: int) -> None:
    # Lists counted by an argument: two representations, two ids (at most a request each).
    counted = {"_entities": "(representations: [{}, {}])", "productGroups": '(ids: ["1", "2"])'}
    arguments = counted.get(field, f"(first: {first})")
    cost = _estimate(f"{{ {field}{arguments} {{ __typename }} }}", page_size=25)
    if field in counted:
        assert cost == 2
    elif ROOT_FIELDS[field].cost is Cost.PAGES:  # pages of 25 from the start: 1, 1, 2, 24
        assert cost == {1: 1, 25: 1, 26: 2, 600: 24}[first]
    else:  # one request a use
        assert cost == 1


@pytest.mark.parametrize("field", sorted(FREE_ROOT_FIELDS))
def test_only_a_root_field_known_to_call_nothing_costs_nothing(field: str) -> None:
    assert _estimate(f"{{ {field} }}", page_size=25) == 0


def test_every_operation_has_its_breaker() -> None:
    assert set(resilience().breakers) == set(OPERATIONS)


def test_an_operation_cannot_be_declared_without_its_cost() -> None:
    with pytest.raises(TypeError, match="cost"):
        Operation("pin_boards", "GET", "/pins/{pin_id}/boards", idempotent=True)  # type: ignore[call-arg]

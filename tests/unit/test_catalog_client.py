"""The client's catalog-graph calls (issue 18): method, path, query parameters, parsed answers, and
errors mapped as for the products, through the same resilience (retries, breakers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from graphql_api.errors import (
    UpstreamBadRequest,
    UpstreamError,
    UpstreamForbidden,
    UpstreamNotFound,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from graphql_api.upstream import models as m
from graphql_api.upstream.client import PinterestClient, build_http_client
from tests.helpers import resilience, settings

CATALOG = {"id": "11", "name": "Shoes", "catalog_type": "RETAIL"}
FEED = {"id": "21", "catalog_id": "11", "catalog_type": "RETAIL", "format": "CSV"}
GROUP = {"id": "31", "catalog_id": "11", "catalog_type": "RETAIL", "filters": {"any_of": []}}
COUNTS = {"catalog_type": "RETAIL", "total": 3, "in_stock": 2, "out_of_stock": 1, "preorder": 0}
VALUES = {"catalog_type": "RETAIL", "filter_values": {"brand": ["Acme"]}}

Call = Callable[[PinterestClient], Awaitable[Any]]
# name: (the call, the path it requests, its query, the answer, what it parses to)
CASES: dict[str, tuple[Call, str, dict[str, str], Any, Any]] = {
    "catalogs": (
        lambda c: c.list_catalogs("tok", bookmark="b1", page_size=25, ad_account_id="7"),
        "/v5/catalogs",
        {"bookmark": "b1", "page_size": "25", "ad_account_id": "7"},
        {"items": [CATALOG], "bookmark": "b2"},
        m.Listing((m.Catalog("11", "Shoes", m.CatalogType.RETAIL),), "b2"),
    ),
    "feeds": (
        lambda c: c.list_feeds("tok", "11", bookmark=None, page_size=10),
        "/v5/catalogs/feeds",
        {"page_size": "10", "catalog_id": "11"},
        {"items": [FEED], "bookmark": None},
        m.Listing((m.Feed("21", m.CatalogType.RETAIL, catalog_id="11", format=m.FeedFormat.CSV),)),
    ),
    "feed": (
        lambda c: c.get_feed("tok", "2/1", ad_account_id="7"),
        "/v5/catalogs/feeds/2%2F1",
        {"ad_account_id": "7"},
        FEED,
        m.Feed("21", m.CatalogType.RETAIL, catalog_id="11", format=m.FeedFormat.CSV),
    ),
    "product_groups by catalog": (
        lambda c: c.list_product_groups("tok", catalog_id="11", bookmark=None, page_size=5),
        "/v5/catalogs/product_groups",
        {"page_size": "5", "catalog_id": "11"},
        {"items": [GROUP]},
        m.Listing(
            (
                m.ProductGroup(
                    "31", m.CatalogType.RETAIL, "11", filters=m.ProductGroupFilters(any_of=())
                ),
            )
        ),
    ),
    "product_groups by feed": (
        lambda c: c.list_product_groups("tok", feed_id="21", bookmark="x", page_size=5),
        "/v5/catalogs/product_groups",
        {"bookmark": "x", "page_size": "5", "feed_id": "21"},
        {"items": [], "bookmark": ""},
        m.Listing(()),
    ),
    "product_groups by ids": (
        lambda c: c.list_product_groups("tok", ids=["31", "32"], bookmark=None, page_size=2),
        "/v5/catalogs/product_groups",
        {"page_size": "2", "id": "31,32"},
        {"items": []},
        m.Listing(()),
    ),
    "product_group": (
        lambda c: c.get_product_group("tok", "31"),
        "/v5/catalogs/product_groups/31",
        {},
        GROUP,
        m.ProductGroup("31", m.CatalogType.RETAIL, "11", filters=m.ProductGroupFilters(any_of=())),
    ),
    "product_counts": (
        lambda c: c.get_product_counts("tok", "31"),
        "/v5/catalogs/product_groups/31/product_counts",
        {},
        COUNTS,
        m.ProductCounts(m.CatalogType.RETAIL, 3, 2, 1, 0),
    ),
    "available_filter_values": (
        lambda c: c.get_available_filter_values(
            "tok", catalog_id="11", country="US", language="EN"
        ),
        "/v5/catalogs/available_filter_values",
        {"catalog_id": "11", "country": "US", "language": "EN"},
        VALUES,
        m.AvailableFilterValues(m.CatalogType.RETAIL, m.FilterValues(brand=("Acme",))),
    ),
}


async def _run(
    call: Call, handler: Callable[[httpx.Request], httpx.Response], **values: Any
) -> Any:
    async with build_http_client(settings(), httpx.MockTransport(handler)) as http:
        return await call(PinterestClient(http, resilience(**values)))


@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_call_sends_its_request_and_parses_the_answer(case: str) -> None:
    call, path, query, answer, expected = CASES[case]
    seen: list[httpx.Request] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=answer)

    assert await _run(call, upstream) == expected
    (request,) = seen
    assert request.method == "GET"
    assert request.url.raw_path.decode().partition("?")[0] == path  # as sent: parts quoted
    assert dict(request.url.params) == query
    assert request.headers["authorization"] == "Bearer tok"


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, UpstreamBadRequest),
        (401, UpstreamUnauthorized),
        (403, UpstreamForbidden),
        (404, UpstreamNotFound),
        (500, UpstreamUnavailable),
    ],
)
async def test_error_statuses_map_as_for_the_products(
    case: str, status: int, error: type[UpstreamError]
) -> None:
    call = CASES[case][0]
    with pytest.raises(error) as raised:
        await _run(call, lambda _: httpx.Response(status, json={"code": 1, "message": "no"}))
    assert raised.value.upstream_status == status
    assert raised.value.upstream_code == 1


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("body", [b"<html>", b'"a string"', b"[1, 2]"])
async def test_an_answer_that_is_not_json_or_not_its_shape_is_an_upstream_error(
    case: str, body: bytes
) -> None:
    call = CASES[case][0]
    with pytest.raises(UpstreamError) as raised:
        await _run(call, lambda _: httpx.Response(200, content=body))
    assert type(raised.value) is UpstreamError
    assert raised.value.code == "UPSTREAM_ERROR"


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_transient_failure_is_retried_and_counted_on_the_operations_breaker(
    case: str,
) -> None:
    call, _, _, answer, expected = CASES[case]
    statuses = iter([503, 200])
    client_resilience = resilience()

    def upstream(_: httpx.Request) -> httpx.Response:
        return httpx.Response(next(statuses), json=answer)

    async with build_http_client(settings(), httpx.MockTransport(upstream)) as http:
        assert await call(PinterestClient(http, client_resilience)) == expected
    assert next(statuses, None) is None  # both answers were asked for: one retry
    name = case.partition(" ")[0]
    breakers = {n: len(b) for n, b in client_resilience.breakers.items() if len(b)}
    assert breakers == {name: 3}  # its own breaker only: two requests, one accepted

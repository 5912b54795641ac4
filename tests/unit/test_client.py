"""The upstream client: paths, parameters, body, headers, timeouts and pool limits."""

from __future__ import annotations

import httpx
import orjson

from graphql_api.upstream.client import PinterestClient, build_http_client
from tests.helpers import resilience, settings


def _recorder() -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.startswith("/v5/pins/"):
            return httpx.Response(200, json={"id": "5"})
        return httpx.Response(200, json={"items": [], "bookmark": None})

    return seen, httpx.MockTransport(handler)


async def test_three_operations() -> None:
    seen, transport = _recorder()
    async with build_http_client(settings(), transport) as http:
        client = PinterestClient(http, resilience())
        await client.list_product_group_products(
            "tok", "42", bookmark="b1", page_size=250, ad_account_id="7", pin_metrics=True
        )
        body = {"feed_id": "1", "filters": {"any_of": [{"MIN_PRICE": {"values": 1}}]}}
        await client.list_products_by_filter("tok", body, bookmark=None, page_size=100)
        pin = await client.get_pin("tok", "5", pin_metrics=False)
    assert pin.id == "5"
    group, by_filter, pin_request = seen
    assert (group.method, group.url.path) == ("GET", "/v5/catalogs/product_groups/42/products")
    assert dict(group.url.params) == {
        "bookmark": "b1",
        "page_size": "250",
        "ad_account_id": "7",
        "pin_metrics": "true",
    }
    assert by_filter.method == "POST"
    assert by_filter.url.path == "/v5/catalogs/products/get_by_product_group_filters"
    assert dict(by_filter.url.params) == {"page_size": "100"}
    assert by_filter.headers["content-type"] == "application/json"
    assert orjson.loads(by_filter.content) == body
    assert (pin_request.method, pin_request.url.path) == ("GET", "/v5/pins/5")
    assert dict(pin_request.url.params) == {}
    for request in seen:
        assert request.headers["authorization"] == "Bearer tok"
        assert request.headers["accept"] == "application/json"


def test_timeouts_and_pool_limits_are_explicit() -> None:
    http = build_http_client(
        settings(
            upstream_timeout=7,
            upstream_connect_timeout=2,
            upstream_max_connections=11,
            upstream_max_keepalive=3,
        )
    )
    assert http.timeout == httpx.Timeout(7, connect=2)
    pool = http._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == 11
    assert pool._max_keepalive_connections == 3
    assert str(http.base_url) == "https://api.pinterest.com/v5/"
    assert http.follow_redirects is False

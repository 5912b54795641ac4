"""``PinterestClient``: the three upstream operations over an injected ``httpx.AsyncClient``.

This is the only module that sees httpx: transport failures and error statuses are translated
here, once, into :mod:`graphql_api.errors` (chained with ``from``). Tests and the demo mode
inject the transport; nothing is monkeypatched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from graphql_api import __version__
from graphql_api.config import Settings
from graphql_api.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable, error_for_status
from graphql_api.upstream.models import Page, Pin, parse_page, parse_pin

__all__ = ["PRODUCTS_BY_FILTER", "PRODUCT_GROUP_PRODUCTS", "PinterestClient", "build_http_client"]

PRODUCTS_BY_FILTER = "/catalogs/products/get_by_product_group_filters"
PRODUCT_GROUP_PRODUCTS = "/catalogs/product_groups/{product_group_id}/products"
PIN = "/pins/{pin_id}"


def build_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one pooled client of a process, with explicit timeouts and pool limits."""
    return httpx.AsyncClient(
        base_url=settings.pinterest_api_base_url.rstrip("/"),
        transport=transport,
        timeout=httpx.Timeout(settings.upstream_timeout, connect=settings.upstream_connect_timeout),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_keepalive,
        ),
        headers={"Accept": "application/json", "User-Agent": f"graphql-api/{__version__}"},
        follow_redirects=False,
        trust_env=False,
    )


def _query(
    *,
    bookmark: str | None = None,
    page_size: int | None = None,
    ad_account_id: str | None = None,
    pin_metrics: bool = False,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if bookmark is not None:
        params["bookmark"] = bookmark
    if page_size is not None:
        params["page_size"] = str(page_size)
    if ad_account_id is not None:
        params["ad_account_id"] = ad_account_id
    if pin_metrics:
        params["pin_metrics"] = "true"
    return params


def _upstream_code(response: httpx.Response) -> int | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if type(code) is int else None


class PinterestClient:
    """Typed calls to the Pinterest API v5, authorised with the token given per call."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str],
        json: Any = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        content = None
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method, path, params=params, content=content, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout() from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable() from exc
        if not response.is_success:
            raise error_for_status(
                response.status_code,
                _upstream_code(response),
                response.headers.get("Retry-After"),
            )
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                "The Pinterest API returned a malformed response.",
                upstream_status=response.status_code,
            ) from exc

    @staticmethod
    def _page(data: Any, status: int = 200) -> Page:
        try:
            return parse_page(data)
        except ValueError as exc:
            raise UpstreamError(
                "The Pinterest API returned a malformed page.", upstream_status=status
            ) from exc

    async def list_product_group_products(
        self,
        token: str,
        product_group_id: str,
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
    ) -> Page:
        """``GET /catalogs/product_groups/{product_group_id}/products``."""
        path = PRODUCT_GROUP_PRODUCTS.format(product_group_id=quote(product_group_id, safe=""))
        params = _query(
            bookmark=bookmark,
            page_size=page_size,
            ad_account_id=ad_account_id,
            pin_metrics=pin_metrics,
        )
        return self._page(await self._send("GET", path, token, params=params))

    async def list_products_by_filter(
        self,
        token: str,
        body: Mapping[str, Any],
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
    ) -> Page:
        """``POST /catalogs/products/get_by_product_group_filters`` (idempotent)."""
        params = _query(
            bookmark=bookmark,
            page_size=page_size,
            ad_account_id=ad_account_id,
            pin_metrics=pin_metrics,
        )
        return self._page(
            await self._send("POST", PRODUCTS_BY_FILTER, token, params=params, json=body)
        )

    async def get_pin(
        self,
        token: str,
        pin_id: str,
        *,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
    ) -> Pin:
        """``GET /pins/{pin_id}``."""
        path = PIN.format(pin_id=quote(pin_id, safe=""))
        params = _query(ad_account_id=ad_account_id, pin_metrics=pin_metrics)
        data = await self._send("GET", path, token, params=params)
        try:
            return parse_pin(data)
        except ValueError as exc:
            raise UpstreamError(
                "The Pinterest API returned a malformed Pin.", upstream_status=200
            ) from exc

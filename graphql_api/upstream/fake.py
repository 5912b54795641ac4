"""``FakePinterest``: an in-process fake of the upstream's endpoints, for ``--demo`` and tests.

Mount it with ``httpx.MockTransport(fake.handler)`` under a base URL ending in ``/v5``. It speaks
the upstream's wire format: bearer auth, ``page_size``/``bookmark`` pagination with opaque
bookmarks, product group and filter listings, ``GET /pins/{id}``, and the upstream's error bodies
``{"code", "message"}``. It never raises: every request gets a JSON response.

It also serves the catalog graph of :func:`~graphql_api.upstream.demo_catalog.build_graph`:
``GET /catalogs``, ``/catalogs/feeds`` (``?catalog_id=``), ``/catalogs/feeds/{id}``,
``/catalogs/product_groups`` (``?catalog_id=``, ``feed_id=``, ``id=``: combined, all must hold),
``/catalogs/product_groups/{id}``, ``.../{id}/product_counts`` and
``/catalogs/available_filter_values`` (an unknown ``catalog_id`` is 409 4182, as the spec lists
for this endpoint; an unknown feed 404 4161). A graph group's products are the items its catalog
holds that its filters select; groups ``"1"`` to ``"100"`` list the items at multiples of their
number (group ``"1"``, the first retail catalog's ALL_PRODUCTS group, is the whole demo catalog).

Bookmarks are ``base64url(JSON {"v": 1, "o": offset, "n": page_size, "l": listing})`` without
padding, where ``listing`` is a short hash of what is listed (the product group, or the filter
request body). A bookmark is refused (400) under another page size or for another listing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from typing import Any
from urllib.parse import unquote

import httpx
import orjson

from graphql_api.upstream.demo_catalog import (
    DemoGraph,
    build_catalog,
    build_graph,
    catalog_items,
    filter_values,
    product_counts,
)

__all__ = ["FakePinterest", "asgi_app", "caller_mark"]

Item = dict[str, Any]

_DIGITS = re.compile(r"[0-9]+")
_ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("product_group_products", "GET", re.compile(r"/catalogs/product_groups/([^/]*)/products$")),
    ("products_by_filter", "POST", re.compile(r"/catalogs/products/get_by_product_group_filters$")),
    ("pin", "GET", re.compile(r"/pins/([^/]*)$")),
    ("catalogs", "GET", re.compile(r"/catalogs$")),
    ("feeds", "GET", re.compile(r"/catalogs/feeds$")),
    ("feed", "GET", re.compile(r"/catalogs/feeds/([^/]*)$")),
    ("product_groups", "GET", re.compile(r"/catalogs/product_groups$")),
    ("product_counts", "GET", re.compile(r"/catalogs/product_groups/([^/]*)/product_counts$")),
    ("product_group", "GET", re.compile(r"/catalogs/product_groups/([^/]*)$")),
    ("available_filter_values", "GET", re.compile(r"/catalogs/available_filter_values$")),
)
_CATALOG_TYPES = frozenset({"RETAIL", "HOTEL", "CREATIVE_ASSETS"})
_FEED_KEYS = frozenset({"feed_id", "filters"})
_CATALOG_KEYS = frozenset({"catalog_type", "catalog_id", "filters"})
_RETAIL_EXTRA_KEYS = frozenset({"country", "locale"})  # spec-required for RETAIL; optional here
_STRING_KEYS = {  # filter key -> metadata field, matched against the criterion's ``values``
    "ITEM_ID": "item_id",
    "ITEM_GROUP_ID": "item_group_id",
    "AVAILABILITY": "availability",
    "HOTEL_ID": "hotel_id",
    "CREATIVE_ASSETS_ID": "creative_assets_id",
}
_PRICE_KEYS = frozenset({"MIN_PRICE", "MAX_PRICE"})
_NO_CATALOG = (409, 4182, "Can't acccess this feature without an existing catalog.")
_NO_FEED = (404, 4161, "Sorry! We could not find your catalogs feed.")
_NO_GROUP = (404, 4180, "Sorry! We could not find your catalogs product group.")
_BAD_FILTERS = (
    409,
    4183,
    "Catalog product group filters failed validation, please ensure all filters are set correctly.",
)


_demo_json: bytes | None = None  # the demo catalog, once built in this process


def _demo_catalog() -> list[Item]:
    """A fresh copy of the demo catalog: built the first time (then kept as JSON, before anyone
    can change it), decoded from that JSON after (the tests make hundreds of fakes: decoding
    takes a third of the time building takes)."""
    global _demo_json
    if _demo_json is None:
        items = build_catalog()
        _demo_json = orjson.dumps(items)
        return items
    catalog: list[Item] = orjson.loads(_demo_json)
    return catalog


class _Reject(Exception):
    """An upstream error answer, raised inside the fake and turned into a response."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(status: int, body: Any) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return httpx.Response(status, content=orjson.dumps(body), headers=headers)


def _error(status: int, code: int, message: str) -> httpx.Response:
    return _json(status, {"code": code, "message": message})


def _pattern_error(name: str, value: str) -> _Reject:
    return _Reject(400, 1, f"'{name}' value '{value}' must match the pattern: ^\\d+$")


def _listing_id(identity: Any) -> str:
    canonical = orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def _encode_bookmark(offset: int, page_size: int, listing: str) -> str:
    payload = orjson.dumps({"v": 1, "o": offset, "n": page_size, "l": listing})
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def _decode_bookmark(bookmark: str, page_size: int, listing: str, total: int) -> int:
    """The offset a bookmark of ours points at; raise :class:`_Reject` (400) for any other."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4)))
    except (binascii.Error, ValueError):
        data = None
    if not isinstance(data, dict) or set(data) != {"v", "o", "n", "l"} or data["v"] != 1:
        raise _Reject(400, 1, "Invalid bookmark.")
    if data["n"] != page_size:
        raise _Reject(400, 1, "Invalid bookmark: it was produced with another page_size.")
    if data["l"] != listing:
        raise _Reject(400, 1, "Invalid bookmark: it belongs to another listing.")
    offset = data["o"]
    if type(offset) is not int or not 0 < offset < total:
        raise _Reject(400, 1, "Invalid bookmark.")
    return offset


def _page_size(params: httpx.QueryParams) -> int:
    raw = params.get("page_size", "25")
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= 250:
        raise _Reject(400, 1, f"'page_size' value '{raw}' must be an integer from 1 to 250.")
    return int(raw)


def _criterion_matches(key: str, criterion: Mapping[str, Any], item: Item) -> bool:
    """Whether ``item`` meets one filter. Keys the fake does not model (BRAND, CUSTOM_LABEL_*,
    PRODUCT_TYPE_*, ...) hold no item data here, so they count as matching every item."""
    metadata = item.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    values: Any = criterion.get("values")
    if key in _PRICE_KEYS:
        price = metadata.get("price")
        inclusive = criterion.get("inclusion", True)
        if not isinstance(price, int | float):
            matched = False
        elif key == "MIN_PRICE":
            matched = price >= values if inclusive else price > values
        else:
            matched = price <= values if inclusive else price < values
    elif key == "CURRENCY":
        matched = metadata.get("currency") == values
    elif key in _STRING_KEYS:
        matched = metadata.get(_STRING_KEYS[key]) in values
    elif key == "TITLE_KEYWORDS":
        pin = item.get("pin")
        title = str(pin.get("title") or "").casefold() if isinstance(pin, Mapping) else ""
        matched = any(str(value).casefold() in title for value in values)
    else:
        return True
    return matched != bool(criterion.get("negated", False))


def _valid_criterion(key: str, criterion: Any) -> bool:
    if not isinstance(criterion, Mapping):
        return False
    if any(not isinstance(criterion.get(flag, False), bool) for flag in ("negated", "inclusion")):
        return False
    values = criterion.get("values")
    if key in _PRICE_KEYS:
        return isinstance(values, int | float) and not isinstance(values, bool) and values >= 0
    if key == "CURRENCY":
        return isinstance(values, str) and not criterion.get("negated", False)
    if key in _STRING_KEYS or key == "TITLE_KEYWORDS":
        return isinstance(values, list) and all(isinstance(value, str) for value in values)
    return True


def _parse_filters(filters: Any) -> tuple[Callable[[Any], bool], list[tuple[str, Any]]]:
    """``(any or all, [(key, criterion)])``; raise :class:`_Reject` (409 4183) if malformed."""
    if not isinstance(filters, Mapping) or len(filters) != 1:
        raise _Reject(*_BAD_FILTERS)
    ((mode, entries),) = filters.items()
    if mode not in ("any_of", "all_of") or not isinstance(entries, list):
        raise _Reject(*_BAD_FILTERS)
    criteria: list[tuple[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise _Reject(*_BAD_FILTERS)
        ((key, criterion),) = entry.items()
        if not _valid_criterion(key, criterion):
            raise _Reject(*_BAD_FILTERS)
        criteria.append((key, criterion))
    return (any if mode == "any_of" else all), criteria


def _filter_request(body: Any) -> tuple[str, str | None]:
    """``(feed_id, None)`` or ``(catalog_id, catalog_type)``; raise :class:`_Reject` (400)
    unless ``body`` is a feed based or catalog based ``CatalogsListProductsByFilterRequest``."""
    keys = set(body) if isinstance(body, dict) else set()
    if keys == _FEED_KEYS and isinstance(body["feed_id"], str):
        return body["feed_id"], None
    catalog_type = body.get("catalog_type") if isinstance(body, dict) else None
    if (
        catalog_type in _CATALOG_TYPES
        and _CATALOG_KEYS <= keys <= _CATALOG_KEYS | _RETAIL_EXTRA_KEYS
        and (keys == _CATALOG_KEYS or catalog_type == "RETAIL")
        and isinstance(body["catalog_id"], str)
    ):
        return body["catalog_id"], catalog_type
    raise _Reject(
        400, 1, "Invalid request body: not a feed based or catalog based product filter request."
    )


class FakePinterest:
    """The upstream's endpoints over a fixed list of raw items (default: the demo catalog) and the
    catalog graph built around them (:attr:`graph`).

    ``requests`` holds every request received; ``calls`` counts the requests routed to each
    operation (``products_by_filter``, ``product_group_products``, ``pin``, ``catalogs``,
    ``feeds``, ``feed``, ``product_groups``, ``product_group``, ``product_counts``,
    ``available_filter_values``), failed ones included.
    ``rate_limits`` maps a token to the headers every answer to it carries (``X-RateLimit-*``,
    say; tests change them between requests); other tokens get none.
    """

    def __init__(
        self,
        items: list[Item] | None = None,
        *,
        accept_any_token: bool = True,
        tokens: Collection[str] = (),
        mark_callers: bool = False,
        rate_limits: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.items: list[Item] = _demo_catalog() if items is None else items
        self.accept_any_token = accept_any_token
        self.tokens = frozenset(tokens)
        self.mark_callers = mark_callers  # each Pin's `note` names (a hash of) the caller
        self.rate_limits: dict[str, Mapping[str, str]] = dict(rate_limits or {})
        self.requests: list[httpx.Request] = []
        self.calls: Counter[str] = Counter()
        pins = (item.get("pin") for item in self.items if isinstance(item, dict))
        self._pins = {str(pin["id"]): pin for pin in pins if isinstance(pin, dict) and "id" in pin}
        self._graph: DemoGraph | None = None
        self._group_items: dict[str, list[Item]] = {}

    @property
    def graph(self) -> DemoGraph:
        """The catalog graph around :attr:`items`, built on first use."""
        if self._graph is None:
            self._graph = build_graph(self.items)
        return self._graph

    def group_products(self, group: Item) -> list[Item]:
        """The items a product group of :attr:`graph` holds: those its catalog holds that its
        filters select."""
        products = self._group_items.get(group["id"])
        if products is None:
            catalog = next(c for c in self.graph.catalogs if c["id"] == group["catalog_id"])
            combine, criteria = _parse_filters(group["filters"])
            products = [
                item
                for item in catalog_items(self.graph, catalog, self.items)
                if isinstance(item, dict)
                and combine(_criterion_matches(key, criterion, item) for key, criterion in criteria)
            ]
            self._group_items[group["id"]] = products
        return products

    def handler(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler: answer one request, never raise."""
        self.requests.append(request)
        try:
            response = self._dispatch(request)
        except _Reject as reject:
            response = _error(reject.status, reject.code, reject.message)
        except Exception:  # a bug in the fake must still be an answer, not a transport error
            response = _error(500, 0, "Internal error.")
        if self.rate_limits:
            _, _, token = request.headers.get("Authorization", "").partition(" ")
            response.headers.update(self.rate_limits.get(token.strip(), {}))
        return response

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
        routes = ((op, method, pattern.search(path)) for op, method, pattern in _ROUTES)
        operation, method, match = next((r for r in routes if r[2]), ("", "", None))
        if match is None:
            raise _Reject(404, 404, "Not found.")
        if request.method != method:
            response = _error(405, 405, "Method not allowed.")
            response.headers["Allow"] = method
            return response
        self.calls[operation] += 1
        token = self._authenticate(request)
        mark = caller_mark(token) if self.mark_callers else None
        params = request.url.params
        ad_account_id = params.get("ad_account_id")
        if ad_account_id is not None and not _DIGITS.fullmatch(ad_account_id):
            raise _pattern_error("ad_account_id", ad_account_id)
        metrics = params.get("pin_metrics") == "true"
        if operation not in ("pin", "product_group_products", "products_by_filter"):
            return self._graph_answer(operation, match, params)
        if operation == "pin":
            pin_id = unquote(match.group(1))
            if not _DIGITS.fullmatch(pin_id):
                raise _pattern_error("pin_id", pin_id)
            if (pin := self._pins.get(pin_id)) is None:
                raise _Reject(404, 50, "Pin not found.")
            return _json(200, _pin_out(pin, metrics, mark))
        page_size = _page_size(params)
        if operation == "product_group_products":
            listing, items = self._group(unquote(match.group(1)))
        else:
            listing, items = self._filtered(request.content)
        return _page(items, params, page_size, listing, lambda i: _item_out(i, metrics, mark))

    def _graph_answer(
        self, operation: str, match: re.Match[str], params: httpx.QueryParams
    ) -> httpx.Response:
        """The answer of one of the catalog graph's endpoints."""
        graph = self.graph
        if operation in ("feed", "product_group", "product_counts"):
            name = "feed_id" if operation == "feed" else "product_group_id"
            entity_id = unquote(match.group(1))
            if not _DIGITS.fullmatch(entity_id):
                raise _pattern_error(name, entity_id)
            if operation == "feed":
                return _json(200, self._feed(entity_id))
            group = self._product_group(entity_id)
            if operation == "product_group":
                return _json(200, group)
            return _json(200, product_counts(group["catalog_type"], self.group_products(group)))
        if operation == "available_filter_values":
            return _json(200, self._filter_values(params))
        page_size = _page_size(params)
        catalog_id = _digits_param(params, "catalog_id")
        if operation == "catalogs":
            return _page(graph.catalogs, params, page_size, _listing_id(["catalogs"]))
        if operation == "feeds":
            feeds = [
                feed
                for feed in graph.feeds
                if catalog_id is None or graph.feed_catalog[feed["id"]] == catalog_id
            ]
            return _page(feeds, params, page_size, _listing_id(["feeds", catalog_id]))
        feed_id = _digits_param(params, "feed_id")
        if feed_id is not None:
            self._feed(feed_id)
        ids = _ids_param(params)
        groups = [
            group
            for group in graph.product_groups
            if (catalog_id is None or group["catalog_id"] == catalog_id)
            and (feed_id is None or self._group_feed(group) == feed_id)
            and (ids is None or group["id"] in ids)
        ]
        identity = ["product_groups", catalog_id, feed_id, sorted(ids) if ids else None]
        return _page(groups, params, page_size, _listing_id(identity))

    def _feed(self, feed_id: str) -> Item:
        feed = next((feed for feed in self.graph.feeds if feed["id"] == feed_id), None)
        if feed is None:
            raise _Reject(*_NO_FEED)
        return feed

    def _product_group(self, group_id: str) -> Item:
        groups = self.graph.product_groups
        group = next((group for group in groups if group["id"] == group_id), None)
        if group is None:
            raise _Reject(*_NO_GROUP)
        return group

    def _group_feed(self, group: Item) -> str:
        """A group's feed: named by retail groups, the catalog's (only) feed for the others."""
        if "feed_id" in group:
            return str(group["feed_id"])
        graph = self.graph
        return next(f for f, c in graph.feed_catalog.items() if c == group["catalog_id"])

    def _filter_values(self, params: httpx.QueryParams) -> Item:
        catalog_id = _digits_param(params, "catalog_id")
        if catalog_id is None:
            raise _Reject(400, 1, "Parameter 'catalog_id' is required.")
        for name, allowed in (("country", _COUNTRY), ("language", _LANGUAGE)):
            value = params.get(name)
            if value is not None and not allowed.fullmatch(value):
                raise _Reject(400, 1, f"'{name}' value '{value}' is not valid.")
        graph = self.graph
        catalog = next((c for c in graph.catalogs if c["id"] == catalog_id), None)
        if catalog is None:  # the spec lists no 404 for a catalog here: 409 4182, no catalog
            raise _Reject(*_NO_CATALOG)
        feed_id = _digits_param(params, "feed_id")
        if feed_id is not None and graph.feed_catalog.get(feed_id) != catalog_id:
            raise _Reject(*_NO_FEED)
        items = catalog_items(graph, catalog, self.items)
        return filter_values(catalog["catalog_type"], items)

    def _authenticate(self, request: httpx.Request) -> str:
        header: str = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        accepted = self.accept_any_token or token in self.tokens
        if scheme.lower() != "bearer" or not token or " " in token or not accepted:
            raise _Reject(401, 2, "Authentication failed.")
        return token

    def _group(self, group_id: str) -> tuple[str, list[Item]]:
        """Group 1 is the whole catalog, group ``n`` in 2..100 the items at multiples of ``n``;
        the other groups of :attr:`graph` the items they select."""
        if not _DIGITS.fullmatch(group_id):
            raise _pattern_error("product_group_id", group_id)
        n = int(group_id)
        if 1 <= n <= 100:
            return _listing_id(["group", n]), self.items[::n]
        group = next((g for g in self.graph.product_groups if g["id"] == group_id), None)
        if group is None:
            raise _Reject(404, 4180, "Product group not found.")
        return _listing_id(["group", group_id]), self.group_products(group)

    def _filtered(self, content: bytes) -> tuple[str, list[Item]]:
        try:
            body = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise _Reject(400, 1, "Invalid request body: not JSON.") from None
        owner, catalog_type = _filter_request(body)
        if not _DIGITS.fullmatch(owner):
            raise _pattern_error("feed_id" if catalog_type is None else "catalog_id", owner)
        if int(owner) == 0:
            raise _Reject(*_NO_CATALOG)
        combine, criteria = _parse_filters(body["filters"])
        items = [
            item
            for item in self.items
            if isinstance(item, dict)
            and (catalog_type is None or (item.get("catalog_type") or "RETAIL") == catalog_type)
            and combine(_criterion_matches(key, criterion, item) for key, criterion in criteria)
        ]
        return _listing_id(["filter", body]), items


_COUNTRY = re.compile(r"[A-Z]{2}")
_LANGUAGE = re.compile(r"[a-z]{2}(-[A-Z]{2}|-419)?")


def _digits_param(params: httpx.QueryParams, name: str) -> str | None:
    value: str | None = params.get(name)
    if value is not None and not _DIGITS.fullmatch(value):
        raise _pattern_error(name, value)
    return value


def _ids_param(params: httpx.QueryParams) -> set[str] | None:
    """The ``id`` query parameter: a comma-separated list of 1 to 1000 product group ids."""
    raw = params.get("id")
    if raw is None:
        return None
    ids = raw.split(",")
    if not 1 <= len(ids) <= 1000 or not all(_DIGITS.fullmatch(i) for i in ids):
        raise _Reject(400, 1, f"'id' value '{raw}' must be a comma-separated list of integers.")
    return set(ids)


def _page(
    items: list[Item],
    params: httpx.QueryParams,
    page_size: int,
    listing: str,
    out: Callable[[Item], Item] | None = None,
) -> httpx.Response:
    """One page ``{items, bookmark}`` of ``items``, from the request's ``bookmark``."""
    bookmark = params.get("bookmark")
    offset = _decode_bookmark(bookmark, page_size, listing, len(items)) if bookmark else 0
    end = offset + page_size
    page = items[offset:end]
    return _json(
        200,
        {
            "items": page if out is None else [out(item) for item in page],
            "bookmark": _encode_bookmark(end, page_size, listing) if end < len(items) else None,
        },
    )


def caller_mark(token: str) -> str:
    """What ``mark_callers`` writes in each Pin's ``note``: a hash of the caller's token."""
    return "caller:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def _pin_out(pin: Item, metrics: bool, mark: str | None = None) -> Item:
    """The Pin as returned: with ``pin_metrics`` only when asked for, as upstream does."""
    if metrics and mark is None:
        return pin
    out = pin if metrics else {key: value for key, value in pin.items() if key != "pin_metrics"}
    return out if mark is None else {**out, "note": mark}


def _item_out(item: Item, metrics: bool, mark: str | None = None) -> Item:
    pin = item.get("pin") if isinstance(item, dict) else None
    if not isinstance(pin, dict) or (metrics and mark is None):
        return item
    return {**item, "pin": _pin_out(pin, metrics, mark)}


def asgi_app(fake: FakePinterest, *, latency: float = 0.0) -> Any:
    """The fake as an ASGI application, to serve it over real HTTP (federation tests, the
    benchmark): every request is answered by :meth:`FakePinterest.handler` after ``latency``
    seconds."""
    import asyncio

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        request = httpx.Request(
            scope["method"],
            f"http://fake{(scope.get('raw_path') or scope['path'].encode()).decode()}"
            + (f"?{query}" if query else ""),
            headers=[(k.decode(), v.decode()) for k, v in scope["headers"]],
            content=body,
        )
        if latency:
            await asyncio.sleep(latency)
        response = fake.handler(request)
        headers = [(k.encode(), v.encode()) for k, v in response.headers.items()]
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        await send({"type": "http.response.body", "body": response.content})

    return app

"""The demo catalog and ``FakePinterest``: the upstream's wire behaviour, as the service sees it."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.upstream.client import PinterestClient
from graphql_api.upstream.demo_catalog import SEED_ITEM, build_catalog
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.models import (
    BrokenProduct,
    CatalogType,
    CreativeAssetsProduct,
    HotelProduct,
    PinMediaWithImage,
    PinMediaWithImageAndVideo,
    PinMediaWithImages,
    PinMediaWithVideo,
    PinMediaWithVideos,
    RetailProduct,
    parse_page,
)
from tests.helpers import resilience

BASE_URL = "https://api.pinterest.com/v5"
GROUP = "/catalogs/product_groups/{}/products"
FILTER = "/catalogs/products/get_by_product_group_filters"
AUTH = {"Authorization": "Bearer demo-token"}
CATALOG = build_catalog()


@pytest.fixture
def fake() -> FakePinterest:
    return FakePinterest()


@pytest.fixture
def client(fake: FakePinterest) -> Iterator[httpx.Client]:
    transport = httpx.MockTransport(fake.handler)
    with httpx.Client(transport=transport, base_url=BASE_URL, headers=AUTH) as client:
        yield client


def walk(
    client: httpx.Client, method: str, path: str, *, page_size: int, body: Any = None
) -> list[dict[str, Any]]:
    """Every item of a listing, following bookmarks to the end."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": page_size}
    while True:
        response = client.request(method, path, params=params, json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= page_size
        items += page["items"]
        if page["bookmark"] is None:
            return items
        params["bookmark"] = page["bookmark"]


def pin_ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["pin"]["id"] for item in items]


def by_filter(client: httpx.Client, filters: Any, **extra: Any) -> list[dict[str, Any]]:
    body = (
        {"feed_id": "2680059592705", "filters": filters}
        if not extra
        else {"catalog_id": "2680059592705", "filters": filters, **extra}
    )
    return walk(client, "POST", FILTER, page_size=250, body=body)


def error_of(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


# --- The demo catalog ---------------------------------------------------------------------


def test_catalog_is_deterministic_and_ends_with_the_seed_sample() -> None:
    catalog = build_catalog()
    assert catalog == CATALOG
    assert len(catalog) == 1200
    assert build_catalog(seed=8) != catalog
    seed = catalog[-1]
    assert seed == SEED_ITEM
    assert "catalog_type" not in seed
    assert seed["metadata"]["item_id"] == "DS0294-L"
    assert seed["pin"]["id"] == "813744226420795884"
    assert seed["pin"]["media"] == {"media_type": "string"}
    assert seed["pin"]["pin_metrics"]["pin_metrics"][1] is None
    assert len({item["pin"]["id"] for item in catalog}) == 1200
    assert [item for item in catalog if item["pin"]["title"] == "string"] == [seed]


@pytest.mark.parametrize("size", [1, 2, 3, 40, 1200])
def test_every_catalog_holds_the_seed_sample_once(size: int) -> None:
    catalog = build_catalog(size)
    assert len(catalog) == size
    assert [item for item in catalog if item == SEED_ITEM] == [SEED_ITEM]


def test_catalog_opens_with_real_looking_retail_products() -> None:
    """What a newcomer sees first (GraphiQL's example, the first page of group "1"): retail
    image Pins with a real title, image sizes and a price; no placeholder on the first page."""
    for item in CATALOG[:3]:
        assert item["catalog_type"] == "RETAIL"
        pin, metadata = item["pin"], item["metadata"]
        assert pin["media"]["media_type"] == "image"
        sizes = pin["media"]["images"]
        assert set(sizes) == {"150x150", "400x300", "600x", "1200x"}
        assert all(size["width"] > 0 for size in sizes.values())
        assert all(size["url"].startswith("https://") for size in sizes.values())
        assert metadata["price"] > 0
        assert metadata["currency"] in ("USD", "EUR", "GBP")
        assert len(pin["title"].split()) >= 4
    assert all(item["pin"]["title"] != "string" for item in CATALOG[:250])
    # the rest keep the order they were made in (pin ids rise), each id once
    rest = [int(item["pin"]["id"]) for item in CATALOG[3:-1]]
    assert rest == sorted(rest)


def test_each_fake_has_its_own_copy_of_the_demo_catalog() -> None:
    first, second = FakePinterest(), FakePinterest()
    first.items[0]["pin"]["note"] = "changed"  # by a test, say: no other fake sees it
    del first.items[1:]
    assert second.items == FakePinterest().items == CATALOG
    assert second.items[0] is not first.items[0]


def test_catalog_mix_of_types_is_interleaved() -> None:
    types = [item.get("catalog_type") for item in CATALOG]
    counts = Counter(types)
    assert 0.62 < (counts["RETAIL"] + counts[None]) / 1200 < 0.78
    assert 0.10 < counts["HOTEL"] / 1200 < 0.20
    assert 0.10 < counts["CREATIVE_ASSETS"] / 1200 < 0.20
    assert 20 < counts[None] < 90  # retail items of older responses
    assert {*types[:60]} == {"RETAIL", "HOTEL", "CREATIVE_ASSETS", None}


def test_every_catalog_item_parses_and_covers_all_variants() -> None:
    page = parse_page({"items": CATALOG, "bookmark": None})
    assert not [p for p in page.items if isinstance(p, BrokenProduct)]
    kinds = {type(product) for product in page.items}
    assert kinds == {RetailProduct, HotelProduct, CreativeAssetsProduct}
    media = {type(product.pin.media) for product in page.items[:-1]}  # type: ignore[union-attr]
    assert media == {
        PinMediaWithImage,
        PinMediaWithVideo,
        PinMediaWithImages,
        PinMediaWithVideos,
        PinMediaWithImageAndVideo,
    }
    assert all(p.pin.pin_metrics is not None for p in page.items)  # type: ignore[union-attr]
    for raw, product in zip(CATALOG, page.items, strict=True):
        assert isinstance(product, RetailProduct | HotelProduct | CreativeAssetsProduct)
        assert product.catalog_type.value == raw.get("catalog_type", "RETAIL")
        assert len(raw["pin"]["title"]) <= 100
        if isinstance(product, RetailProduct) and product.metadata.sale_price is not None:
            assert product.metadata.sale_price < product.metadata.price


def test_catalog_holds_every_pin_metrics_shape() -> None:
    shapes = {
        "list" if isinstance(m := item["pin"]["pin_metrics"], list) else ",".join(sorted(m))
        for item in CATALOG
    }
    assert shapes == {"90d,lifetime_metrics", "90d,all_time", "list", "pin_metrics"}


# --- Pagination ---------------------------------------------------------------------------


def test_group_1_walks_every_item_exactly_once(client: httpx.Client, fake: FakePinterest) -> None:
    items = walk(client, "GET", GROUP.format(1), page_size=250)
    assert pin_ids(items) == pin_ids(CATALOG)
    assert fake.calls == Counter(product_group_products=5)
    assert len(fake.requests) == 5


def test_default_page_size_is_25(client: httpx.Client) -> None:
    page = client.get(GROUP.format(1)).json()
    assert len(page["items"]) == 25
    assert isinstance(page["bookmark"], str)
    assert not page["bookmark"].isdigit()


@pytest.mark.parametrize("page_size", ["0", "251", "-1", "ten", "2.5", ""])
def test_bad_page_size_is_400(client: httpx.Client, page_size: str) -> None:
    response = client.get(GROUP.format(1), params={"page_size": page_size})
    assert error_of(response) == (400, 1)


def test_foreign_and_reused_bookmarks_are_400(client: httpx.Client) -> None:
    first = client.get(GROUP.format(1), params={"page_size": 10}).json()["bookmark"]
    forged = base64.urlsafe_b64encode(orjson.dumps({"offset": 10})).decode()
    for bookmark in ("10", "not-a-bookmark!", forged):
        response = client.get(GROUP.format(1), params={"page_size": 10, "bookmark": bookmark})
        assert error_of(response) == (400, 1)
    other_size = client.get(GROUP.format(1), params={"page_size": 20, "bookmark": first})
    assert error_of(other_size) == (400, 1)
    other_group = client.get(GROUP.format(2), params={"page_size": 10, "bookmark": first})
    assert error_of(other_group) == (400, 1)
    ok = client.get(GROUP.format(1), params={"page_size": 10, "bookmark": first})
    assert pin_ids(ok.json()["items"]) == pin_ids(CATALOG[10:20])


def test_group_subsets(client: httpx.Client) -> None:
    for n in (2, 7, 100):
        items = walk(client, "GET", GROUP.format(n), page_size=50)
        assert pin_ids(items) == pin_ids(CATALOG[::n])


@pytest.mark.parametrize(
    ("group", "expected"), [("101", (404, 4180)), ("0", (404, 4180)), ("12x", (400, 1))]
)
def test_unknown_or_malformed_group(
    client: httpx.Client, group: str, expected: tuple[int, int]
) -> None:
    assert error_of(client.get(GROUP.format(group))) == expected


def test_bad_ad_account_id_is_400_and_a_good_one_is_ignored(client: httpx.Client) -> None:
    assert error_of(client.get(GROUP.format(1), params={"ad_account_id": "12a"})) == (400, 1)
    assert client.get(GROUP.format(1), params={"ad_account_id": "549755885175"}).is_success


# --- Auth, routing ------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "demo-token", "Basic abc", "Bearer ", "Bearer a b"])
def test_missing_or_malformed_token_is_401(fake: FakePinterest, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    with httpx.Client(transport=httpx.MockTransport(fake.handler), base_url=BASE_URL) as client:
        assert client.get(GROUP.format(1), headers=headers).json() == {
            "code": 2,
            "message": "Authentication failed.",
        }
        assert client.get(GROUP.format(1), headers=headers).status_code == 401


def test_only_known_tokens_when_not_accepting_any() -> None:
    fake = FakePinterest(CATALOG[:3], accept_any_token=False, tokens={"good"})
    with httpx.Client(transport=httpx.MockTransport(fake.handler), base_url=BASE_URL) as client:
        ok = client.get(GROUP.format(1), headers={"Authorization": "Bearer good"})
        bad = client.get(GROUP.format(1), headers={"Authorization": "Bearer other"})
    assert len(ok.json()["items"]) == 3
    assert bad.status_code == 401


def test_unknown_paths_and_wrong_methods(client: httpx.Client) -> None:
    assert error_of(client.get("/boards")) == (404, 404)
    assert client.post(GROUP.format(1)).status_code == 405
    assert client.get(FILTER).status_code == 405


# --- Filters ------------------------------------------------------------------------------


def meta(item: dict[str, Any]) -> dict[str, Any]:
    return item["metadata"]  # type: ignore[no-any-return]


def test_min_price_and_availability_filters(client: httpx.Client) -> None:
    cheap_or_preorder = by_filter(
        client,
        {"any_of": [{"MIN_PRICE": {"values": 400}}, {"AVAILABILITY": {"values": ["PREORDER"]}}]},
    )
    expected = [
        i
        for i in CATALOG
        if meta(i).get("price", -1) >= 400 or meta(i).get("availability") == "PREORDER"
    ]
    assert pin_ids(cheap_or_preorder) == pin_ids(expected)
    assert expected

    both = by_filter(
        client,
        {
            "all_of": [
                {"MIN_PRICE": {"values": 100, "inclusion": False}},
                {"AVAILABILITY": {"values": ["IN_STOCK"], "negated": True}},
            ]
        },
    )
    expected = [
        i
        for i in CATALOG
        if meta(i).get("price", -1) > 100 and meta(i).get("availability") != "IN_STOCK"
    ]
    assert pin_ids(both) == pin_ids(expected)
    assert expected


def test_max_price_currency_title_and_unmodelled_keys(client: httpx.Client) -> None:
    items = by_filter(
        client,
        {
            "all_of": [
                {"MAX_PRICE": {"values": 50}},
                {"CURRENCY": {"values": "USD"}},
                {"TITLE_KEYWORDS": {"values": ["SHIRT", "sneakers"]}},
                {"BRAND": {"values": ["anything"]}},
            ]
        },
    )
    assert items
    for item in items:
        assert meta(item)["price"] <= 50
        assert meta(item)["currency"] == "USD"
        assert any(word in item["pin"]["title"].lower() for word in ("shirt", "sneakers"))


def test_catalog_based_filters_select_one_catalog_type(client: httpx.Client) -> None:
    any_hotel = {"any_of": [{"HOTEL_ID": {"values": ["HTL-00001"]}}, {"BRAND": {"values": []}}]}
    hotels = by_filter(client, any_hotel, catalog_type="HOTEL")
    assert pin_ids(hotels) == pin_ids([i for i in CATALOG if i.get("catalog_type") == "HOTEL"])
    retail = by_filter(client, {"all_of": []}, catalog_type="RETAIL", country="US", locale="en-US")
    assert pin_ids(retail) == pin_ids(
        [i for i in CATALOG if i.get("catalog_type", "RETAIL") == "RETAIL"]
    )


@pytest.mark.parametrize(
    "filters",
    [
        None,
        [],
        {},
        {"one_of": []},
        {"any_of": {}},
        {"any_of": [{}]},
        {"any_of": [{"MIN_PRICE": {"values": 1}, "MAX_PRICE": {"values": 2}}]},
        {"all_of": [{"MIN_PRICE": {"values": "cheap"}}]},
        {"any_of": [], "all_of": []},
        {"all_of": [{"AVAILABILITY": {"values": "IN_STOCK"}}]},
    ],
)
def test_bad_filters_are_409_4183(client: httpx.Client, filters: Any) -> None:
    body = {"feed_id": "1", "filters": filters}
    assert error_of(client.post(FILTER, json=body)) == (409, 4183)


@pytest.mark.parametrize(
    "body",
    [
        {"feed_id": "0", "filters": {"any_of": []}},
        {"catalog_type": "HOTEL", "catalog_id": "0", "filters": {"any_of": []}},
    ],
)
def test_no_catalog_is_409_4182(client: httpx.Client, body: Any) -> None:
    assert error_of(client.post(FILTER, json=body)) == (409, 4182)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "x",
        {"filters": {"any_of": []}},
        {"feed_id": "1"},
        {"feed_id": "1", "filters": {"any_of": []}, "extra": 1},
        {"catalog_type": "SHOES", "catalog_id": "1", "filters": {"any_of": []}},
        {"catalog_type": "HOTEL", "catalog_id": "1", "filters": {"any_of": []}, "country": "US"},
        {"feed_id": "x1", "filters": {"any_of": []}},
    ],
)
def test_malformed_filter_requests_are_400(client: httpx.Client, body: Any) -> None:
    assert error_of(client.post(FILTER, json=body)) == (400, 1)
    assert error_of(client.post(FILTER, content=b"{not json")) == (400, 1)


def test_filter_bookmark_is_bound_to_its_filter(client: httpx.Client) -> None:
    body = {"feed_id": "1", "filters": {"any_of": [{"CURRENCY": {"values": "USD"}}]}}
    bookmark = client.post(FILTER, json=body, params={"page_size": 5}).json()["bookmark"]
    body["filters"] = {"any_of": [{"CURRENCY": {"values": "EUR"}}]}
    response = client.post(FILTER, json=body, params={"page_size": 5, "bookmark": bookmark})
    assert error_of(response) == (400, 1)


# --- Pins and pin_metrics -----------------------------------------------------------------


def test_pin_lookup(client: httpx.Client, fake: FakePinterest) -> None:
    found = client.get("/pins/900000000000000042")
    assert found.status_code == 200
    (pin,) = (item["pin"] for item in CATALOG if item["pin"]["id"] == "900000000000000042")
    assert found.json() == {k: v for k, v in pin.items() if k != "pin_metrics"}
    assert error_of(client.get("/pins/1")) == (404, 50)
    assert error_of(client.get("/pins/abc")) == (400, 1)
    assert fake.calls == Counter(pin=3)


def test_pin_metrics_only_when_asked(client: httpx.Client) -> None:
    plain = client.get(GROUP.format(1), params={"page_size": 250}).json()["items"]
    assert all("pin_metrics" not in item["pin"] for item in plain)
    asked = client.get(GROUP.format(1), params={"page_size": 250, "pin_metrics": "true"})
    assert asked.json()["items"] == CATALOG[:250]
    assert "pin_metrics" not in client.get(f"/pins/{CATALOG[0]['pin']['id']}").json()
    pin = client.get(f"/pins/{CATALOG[0]['pin']['id']}", params={"pin_metrics": "true"}).json()
    assert pin == CATALOG[0]["pin"]
    assert "pin_metrics" in CATALOG[1]["pin"]  # the fake never mutates its items


async def test_the_real_client_reads_the_fake() -> None:
    fake = FakePinterest()
    transport = httpx.MockTransport(fake.handler)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        client = PinterestClient(http, resilience())
        page = await client.list_product_group_products(
            "token", "1", bookmark=None, page_size=100, pin_metrics=True
        )
        assert len(page.items) == 100
        assert page.bookmark
        nxt = await client.list_products_by_filter(
            "token",
            {"feed_id": "1", "filters": {"any_of": [{"HOTEL_ID": {"values": []}}]}},
            bookmark=None,
            page_size=10,
            ad_account_id="123",
        )
        assert nxt.items == ()
        pin = await client.get_pin("token", "900000000000000003", pin_metrics=True)
        assert pin.pin_metrics is not None
    assert fake.calls == Counter(product_group_products=1, products_by_filter=1, pin=1)
    assert all(r.headers["Authorization"] == "Bearer token" for r in fake.requests)
    assert {p.catalog_type for p in page.items} >= {CatalogType.RETAIL}

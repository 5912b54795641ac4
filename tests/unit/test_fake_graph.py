"""The demo's catalog graph and the fake upstream's catalog, feed and product group endpoints.

Answers are validated against the spec's response schemas (``catalog-graph.openapi.json`` in
``tests/data``, the vertical picked by the ``catalog_type`` discriminator, as the spec says), and
checked for
consistency with the demo's products: a group's products are what its filters select, counts and
filter values describe them, every feed and group belongs to a listed catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

from graphql_api.upstream.demo_catalog import build_catalog, build_graph
from graphql_api.upstream.fake import FakePinterest
from tests.integration.test_filters import openapi_to_json_schema

BASE_URL = "https://api.pinterest.com/v5"
AUTH = {"Authorization": "Bearer demo-token"}
SPEC_PATH = Path(__file__).parent.parent / "data" / "catalog-graph.openapi.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
REGISTRY: Registry[Any] = Registry().with_resource(
    SPEC_PATH.as_uri(), DRAFT4.create_resource(openapi_to_json_schema(SPEC))
)
LISTINGS = ("/catalogs", "/catalogs/feeds", "/catalogs/product_groups")


@pytest.fixture(scope="module")
def fake() -> FakePinterest:
    return FakePinterest()


@pytest.fixture
def client(fake: FakePinterest) -> Iterator[httpx.Client]:
    transport = httpx.MockTransport(fake.handler)
    with httpx.Client(transport=transport, base_url=BASE_URL, headers=AUTH) as client:
        yield client


def assert_valid(schema_name: str, value: Any) -> None:
    """``value`` is valid under the spec's ``schema_name``, or under the schema its
    ``catalog_type`` discriminator maps to (the verticals' schemas overlap, so ``oneOf`` alone
    cannot tell them apart)."""
    schema = SPEC["components"]["schemas"][schema_name]
    if "discriminator" in schema:
        ref = schema["discriminator"]["mapping"][value["catalog_type"]]
    else:
        ref = f"#/components/schemas/{schema_name}"
    validator = Draft4Validator({"$ref": SPEC_PATH.as_uri() + ref}, registry=REGISTRY)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, f"not a {schema_name}: {errors}"


def walk(client: httpx.Client, path: str, page_size: int, **params: str) -> list[dict[str, Any]]:
    """Every item of a listing, following bookmarks to the end."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"page_size": page_size, **params}
    while True:
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "bookmark"}
        assert len(page["items"]) <= page_size
        items += page["items"]
        if page["bookmark"] is None:
            return items
        query["bookmark"] = page["bookmark"]


def error_of(response: httpx.Response) -> tuple[int, int]:
    body = response.json()
    assert set(body) == {"code", "message"}
    return response.status_code, body["code"]


# --- The graph: shape and consistency -----------------------------------------------------


def test_graph_is_deterministic_with_catalogs_of_every_vertical() -> None:
    items = build_catalog()
    graph = build_graph(items)
    assert graph == build_graph(build_catalog())
    verticals = [catalog["catalog_type"] for catalog in graph.catalogs]
    assert sorted(set(verticals)) == ["CREATIVE_ASSETS", "HOTEL", "RETAIL"]
    assert all(verticals.count(v) >= 2 for v in set(verticals))
    ids = [entity["id"] for entity in (*graph.catalogs, *graph.feeds, *graph.product_groups)]
    assert len(ids) == len(set(ids))
    assert build_catalog() == items  # building the graph changes no product


def test_answers_follow_the_spec_schemas(client: httpx.Client, fake: FakePinterest) -> None:
    for catalog in walk(client, "/catalogs", 250):
        assert_valid("Catalog", catalog)
        values = client.get(
            "/catalogs/available_filter_values", params={"catalog_id": catalog["id"]}
        )
        assert_valid("CatalogsAvailableFilterValues", values.json())
    for feed in walk(client, "/catalogs/feeds", 250):
        assert_valid("CatalogsFeed", feed)
        assert client.get(f"/catalogs/feeds/{feed['id']}").json() == feed
    groups = walk(client, "/catalogs/product_groups", 250)
    assert groups == fake.graph.product_groups
    for group in groups:
        assert_valid("CatalogsVerticalProductGroup", group)
        assert client.get(f"/catalogs/product_groups/{group['id']}").json() == group
        counts = client.get(f"/catalogs/product_groups/{group['id']}/product_counts").json()
        assert_valid("CatalogsProductGroupProductCountsVertical", counts)


def test_every_feed_and_group_belongs_to_a_listed_catalog(client: httpx.Client) -> None:
    catalogs = {catalog["id"]: catalog for catalog in walk(client, "/catalogs", 2)}
    feeds = {feed["id"]: feed for feed in walk(client, "/catalogs/feeds", 2)}
    groups = walk(client, "/catalogs/product_groups", 4)
    feeds_seen: set[str] = set()
    groups_seen: list[str] = []
    for catalog_id, catalog in catalogs.items():
        own_feeds = walk(client, "/catalogs/feeds", 3, catalog_id=catalog_id)
        assert own_feeds, f"catalog {catalog_id} has no feed"
        for feed in own_feeds:
            assert feed["catalog_type"] == catalog["catalog_type"]
            assert feed.get("catalog_id", catalog_id) == catalog_id
            assert feeds[feed["id"]] == feed
            feeds_seen.add(feed["id"])
            by_feed = walk(client, "/catalogs/product_groups", 3, feed_id=feed["id"])
            assert all(group["catalog_id"] == catalog_id for group in by_feed)
        own_groups = walk(client, "/catalogs/product_groups", 3, catalog_id=catalog_id)
        for group in own_groups:
            assert group["catalog_id"] == catalog_id
            assert group["catalog_type"] == catalog["catalog_type"]
            assert group.get("feed_id") in (None, *(feed["id"] for feed in own_feeds))
        groups_seen += [group["id"] for group in own_groups]
    assert feeds_seen == set(feeds)
    assert sorted(groups_seen) == sorted(group["id"] for group in groups)


def test_group_one_is_the_whole_first_retail_catalog(
    client: httpx.Client, fake: FakePinterest
) -> None:
    group = client.get("/catalogs/product_groups/1").json()
    first_retail = next(c for c in fake.graph.catalogs if c["catalog_type"] == "RETAIL")
    assert group["catalog_id"] == first_retail["id"]
    assert group["type"] == "ALL_PRODUCTS"
    products = fake.group_products(group)
    assert [item["pin"]["id"] for item in products] == [
        item["pin"]["id"] for item in build_catalog()
    ]


def test_group_one_product_listing_is_unchanged(client: httpx.Client) -> None:
    """What the product listing of group "1" served before the graph: the whole demo catalog,
    in order, with pin metrics only when asked for."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 250}
    while True:
        page = client.get("/catalogs/product_groups/1/products", params=params).json()
        items += page["items"]
        if page["bookmark"] is None:
            break
        params["bookmark"] = page["bookmark"]
    expected = build_catalog()
    for item in expected:
        item["pin"].pop("pin_metrics")
    assert items == expected


def products_of(client: httpx.Client, group_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 100, "pin_metrics": "true"}
    while True:
        response = client.get(f"/catalogs/product_groups/{group_id}/products", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if page["bookmark"] is None:
            return items
        params["bookmark"] = page["bookmark"]


def by_filter(client: httpx.Client, catalog: dict[str, Any], filters: Any) -> list[str]:
    """Pin ids the filter endpoint selects with ``filters`` in ``catalog``'s vertical."""
    body = {
        "catalog_type": catalog["catalog_type"],
        "catalog_id": catalog["id"],
        "filters": filters,
    }
    ids: list[str] = []
    params: dict[str, Any] = {"page_size": 250}
    while True:
        response = client.post(
            "/catalogs/products/get_by_product_group_filters", json=body, params=params
        )
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [item["pin"]["id"] for item in page["items"]]
        if page["bookmark"] is None:
            return ids
        params["bookmark"] = page["bookmark"]


def test_every_group_lists_what_its_filters_select(
    client: httpx.Client, fake: FakePinterest
) -> None:
    catalogs = {catalog["id"]: catalog for catalog in fake.graph.catalogs}
    sizes: dict[str, int] = {}
    for group in fake.graph.product_groups:
        listed = [item["pin"]["id"] for item in products_of(client, group["id"])]
        sizes[group["id"]] = len(listed)
        catalog = catalogs[group["catalog_id"]]
        if catalog["id"] not in fake.graph.holds_items:
            assert listed == [], "a new catalog holds no products yet"
        elif group["id"] != "1":  # group 1 also lists the other verticals' items (see above)
            assert listed == by_filter(client, catalog, group["filters"]), group["name"]
    held = [size for gid, size in sizes.items() if gid != "1" and size]
    assert len(held) >= 8, "most groups hold products"
    assert all(size < sizes["1"] for size in held)


def test_counts_and_filter_values_describe_the_products(
    client: httpx.Client, fake: FakePinterest
) -> None:
    for group in fake.graph.product_groups:
        products = products_of(client, group["id"])
        counts = client.get(f"/catalogs/product_groups/{group['id']}/product_counts").json()
        assert counts["catalog_type"] == group["catalog_type"]
        assert counts["total"] == len(products)
        kinds = [item["pin"]["media"]["media_type"] for item in products]
        if "videos" in counts:
            videos = sum(1 for kind in kinds if "video" in kind or kind == "multiple_mixed")
            assert counts["videos"] == videos
        if group["catalog_type"] == "RETAIL":
            states = [item["metadata"].get("availability") for item in products]
            for state in ("IN_STOCK", "OUT_OF_STOCK", "PREORDER"):
                assert counts[state.lower()] == states.count(state)
    for catalog in fake.graph.catalogs:
        groups = [g for g in fake.graph.product_groups if g["catalog_id"] == catalog["id"]]
        products = [item for g in groups for item in products_of(client, g["id"])]
        for feed_id in (
            None,
            *(f for f, c in fake.graph.feed_catalog.items() if c == catalog["id"]),
        ):
            params = {"catalog_id": catalog["id"], "country": "US", "language": "en-US"}
            if feed_id is not None:
                params["feed_id"] = feed_id
            response = client.get("/catalogs/available_filter_values", params=params)
            assert response.status_code == 200, response.text
            values = response.json()["filter_values"]
            if catalog["catalog_type"] != "HOTEL":
                media = {
                    "VIDEO" if "video" in kind or kind == "multiple_mixed" else "IMAGE"
                    for kind in (item["pin"]["media"]["media_type"] for item in products)
                    if kind != "string"  # the seed sample's placeholder is no media type
                }
                assert media == set(values["media_type"])
            if catalog["catalog_type"] == "RETAIL":
                retail = [
                    item for item in products if item.get("catalog_type", "RETAIL") == "RETAIL"
                ]
                available = {item["metadata"]["availability"] for item in retail}
                assert available == set(values["availability"])
                brands = set(values["brand"])
                titled = [
                    item["pin"]["title"] for item in retail if item["pin"]["title"] != "string"
                ]
                assert all(any(t.startswith(b + " ") for b in brands) for t in titled)


# --- Paging -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("page_size", [1, 2, 5, 250])
def test_listings_page_with_bookmarks(client: httpx.Client, path: str, page_size: int) -> None:
    assert walk(client, path, page_size) == walk(client, path, 250)


def test_a_bookmark_is_refused_by_another_listing_or_page_size(client: httpx.Client) -> None:
    bookmark = client.get("/catalogs", params={"page_size": 2}).json()["bookmark"]
    assert bookmark
    other = client.get("/catalogs/feeds", params={"page_size": 2, "bookmark": bookmark})
    assert error_of(other) == (400, 1)
    resized = client.get("/catalogs", params={"page_size": 3, "bookmark": bookmark})
    assert error_of(resized) == (400, 1)
    garbage = client.get("/catalogs", params={"page_size": 2, "bookmark": "nonsense"})
    assert error_of(garbage) == (400, 1)


def test_product_groups_by_ids(client: httpx.Client, fake: FakePinterest) -> None:
    wanted = [fake.graph.product_groups[i]["id"] for i in (0, 3, 7)]
    listed = walk(client, "/catalogs/product_groups", 2, id=",".join([*wanted, "999"]))
    assert [group["id"] for group in listed] == wanted


# --- Errors and counting -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/catalogs/feeds/12345", {}, (404, 4161)),
        ("/catalogs/feeds/12a", {}, (400, 1)),
        ("/catalogs/product_groups/12345", {}, (404, 4180)),
        ("/catalogs/product_groups/2", {}, (404, 4180)),  # an old listing-only group
        ("/catalogs/product_groups/x", {}, (400, 1)),
        ("/catalogs/product_groups/12345/product_counts", {}, (404, 4180)),
        ("/catalogs/product_groups/12345/products", {}, (404, 4180)),
        ("/catalogs/product_groups", {"feed_id": "12345"}, (404, 4161)),
        ("/catalogs/product_groups", {"catalog_id": "1x"}, (400, 1)),
        ("/catalogs/product_groups", {"id": "1,x"}, (400, 1)),
        ("/catalogs/feeds", {"catalog_id": "-1"}, (400, 1)),
        ("/catalogs", {"page_size": "0"}, (400, 1)),
        ("/catalogs", {"page_size": "251"}, (400, 1)),
        ("/catalogs/available_filter_values", {}, (400, 1)),
        # the spec lists no 404 for a catalog here, only 409 4182 ("no existing catalog")
        ("/catalogs/available_filter_values", {"catalog_id": "12345"}, (409, 4182)),
        ("/catalogs/available_filter_values", {"catalog_id": "12345", "country": "usa"}, (400, 1)),
    ],
)
def test_bad_requests_and_unknown_ids(
    client: httpx.Client, path: str, params: dict[str, str], expected: tuple[int, int]
) -> None:
    assert error_of(client.get(path, params=params)) == expected


def test_a_feed_of_another_catalog_has_no_filter_values(
    client: httpx.Client, fake: FakePinterest
) -> None:
    first, second = fake.graph.catalogs[:2]
    feed_of_second = next(f for f, c in fake.graph.feed_catalog.items() if c == second["id"])
    params = {"catalog_id": first["id"], "feed_id": feed_of_second}
    assert error_of(client.get("/catalogs/available_filter_values", params=params)) == (404, 4161)


def test_unknown_filters_list_nothing_and_need_auth(client: httpx.Client) -> None:
    assert walk(client, "/catalogs/feeds", 5, catalog_id="12345") == []
    assert walk(client, "/catalogs/product_groups", 5, catalog_id="12345") == []
    response = client.get("/catalogs", headers={"Authorization": "Basic x"})
    assert error_of(response) == (401, 2)


def test_calls_are_counted_per_operation() -> None:
    fake = FakePinterest()
    transport = httpx.MockTransport(fake.handler)
    group = fake.graph.product_groups[1]["id"]
    with httpx.Client(transport=transport, base_url=BASE_URL, headers=AUTH) as client:
        client.get("/catalogs")
        client.get("/catalogs/feeds")
        client.get("/catalogs/feeds/1")  # unknown: counted too
        client.get(f"/catalogs/feeds/{fake.graph.feeds[0]['id']}")
        client.get("/catalogs/product_groups")
        client.get(f"/catalogs/product_groups/{group}")
        client.get(f"/catalogs/product_groups/{group}/product_counts")
        client.get(f"/catalogs/product_groups/{group}/products")
        client.get("/catalogs/available_filter_values", params={"catalog_id": "1"})
    assert fake.calls == {
        "catalogs": 1,
        "feeds": 1,
        "feed": 2,
        "product_groups": 1,
        "product_group": 1,
        "product_counts": 1,
        "product_group_products": 1,
        "available_filter_values": 1,
    }

"""`pin(id:)` and `pin_metrics`: asked upstream only when the operation selects them."""

from __future__ import annotations

import httpx
import pytest

from graphql_api.upstream.demo_catalog import SEED_ITEM, build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import open_app

CATALOG = build_catalog(40)
SEED_PIN = SEED_ITEM["pin"]  # the spec's sample, in every demo catalog (its last item)
assert SEED_PIN["id"] == "813744226420795884"
assert SEED_ITEM in CATALOG


async def test_pin_by_id() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql('{ pin(id: "813744226420795884") { id title dominantColor } }')
        assert result == {
            "data": {
                "pin": {
                    "id": SEED_PIN["id"],
                    "title": SEED_PIN["title"],
                    "dominantColor": SEED_PIN["dominant_color"],
                }
            },
            "extensions": {"cost": {"requestedQueryCost": 1, "actualQueryCost": 1}},
        }
        (request,) = h.requests
        assert request.method == "GET"
        assert request.url.path == "/v5/pins/813744226420795884"
        assert "pin_metrics" not in request.url.params


async def test_unknown_pin_is_null_with_not_found() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql('{ pin(id: "1") { id } }')
        assert result["data"] == {"pin": None}
        assert result["errors"][0]["extensions"]["code"] == "NOT_FOUND"


FEED = '{feedBased: {feedId: "%s", filters: {anyOf: [{minPrice: {values: 1}}]}}}'
CATALOG_BASED = (
    '{catalogBased: {catalogType: HOTEL, catalogId: "%s", filters: {anyOf: [{hotelId: {values:'
    ' ["h"]}}]}}}'
)
BAD_IDS = {
    "empty": "",
    "90 KB": "9" * 90_000,
    "33 digits": "1" * 33,
    "a path": "../catalogs/x?y=1",
    "letters": "abc",
    "a sign": "-5",
    "spaces": " 5 ",
    "fullwidth digits": "\uff11\uff12",
}
BAD_ID_FIELDS = {
    "pin(id)": ('{ pin(id: "%s") { id } }', "id", {"pin": None}),
    "productGroupId": (
        '{ productGroupProducts(productGroupId: "%s") { nodes { catalogType } } }',
        "productGroupId",
        None,
    ),
    "adAccountId": (
        '{ productGroupProducts(productGroupId: "1", adAccountId: "%s") '
        "{ nodes { catalogType } } }",
        "adAccountId",
        None,
    ),
    "feedId": (
        "{ productsByFilter(filter: " + FEED + ") { nodes { catalogType } } }",
        "feedId",
        None,
    ),
    "catalogId": (
        "{ productsByFilter(filter: " + CATALOG_BASED + ") { nodes { catalogType } } }",
        "catalogId",
        None,
    ),
}


@pytest.mark.parametrize("field", BAD_ID_FIELDS, ids=BAD_ID_FIELDS.keys())
@pytest.mark.parametrize("bad", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_bad_id_is_bad_user_input_before_any_upstream_call(field: str, bad: str) -> None:
    query, argument, data = BAD_ID_FIELDS[field]
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(query % bad)
    assert result["data"] == data
    (error,) = result["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith(f"`{argument}` must be a Pinterest id: 1 to ")
    assert bad not in error["message"] or not bad
    assert h.requests == []


async def test_an_ad_account_id_is_bounded_by_the_spec() -> None:
    query = (
        '{ productGroupProducts(productGroupId: "1", adAccountId: "%s") { nodes { catalogType } } }'
    )
    async with open_app(FakePinterest(CATALOG)) as h:
        refused = await h.gql(query % ("1" * 19))
        served = await h.gql(query % ("1" * 18))
    assert (
        refused["errors"][0]["message"]
        == "`adAccountId` must be a Pinterest id: 1 to 18 digits (0-9)."
    )
    assert "errors" not in served
    assert [r.url.params["ad_account_id"] for r in h.requests] == ["1" * 18]


LIST = 'productGroupProducts(productGroupId: "1", first: 3)'
WITH_METRICS = {
    "direct": f"{{ {LIST} {{ nodes {{ pin {{ pinMetrics {{ allTime {{ impression }} }} }} }} }} }}",
    "alias": f"{{ {LIST} {{ nodes {{ pin {{ m: pinMetrics {{ last90Days {{ pinClick }} }} }} }} }}"
    " }",
    "named fragment": f"""{{ {LIST} {{ edges {{ node {{ ...P }} }} }} }}
        fragment P on CatalogProduct {{ pin {{ ...M }} }}
        fragment M on Pin {{ pinMetrics {{ allTime {{ comment }} }} }}""",
    "inline fragment": f"""{{ {LIST} {{ nodes {{ ... on RetailProduct {{
        pin {{ ... on Pin {{ pinMetrics {{ allTime {{ reaction }} }} }} }} }} }} }} }}""",
    "include true": f"""query($m: Boolean = true) {{ {LIST} {{ nodes {{ pin {{
        pinMetrics @include(if: $m) {{ allTime {{ impression }} }} }} }} }} }}""",
    "pin field": '{ pin(id: "813744226420795884") { pinMetrics { allTime { comment } } } }',
}
WITHOUT_METRICS = {
    "plain": f"{{ {LIST} {{ nodes {{ pin {{ id title }} }} }} }}",
    "skipped": f"""query($s: Boolean = true) {{ {LIST} {{ nodes {{ pin {{ id
        pinMetrics @skip(if: $s) {{ allTime {{ impression }} }} }} }} }} }}""",
    "include false": f"""{{ {LIST} {{ nodes {{ pin {{ id ...M @include(if: false) }} }} }} }}
        fragment M on Pin {{ pinMetrics {{ allTime {{ comment }} }} }}""",
    "pin field": '{ pin(id: "813744226420795884") { id title } }',
}


@pytest.mark.parametrize("query", WITH_METRICS.values(), ids=WITH_METRICS.keys())
async def test_pin_metrics_asked_when_selected(query: str) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(query)
        assert "errors" not in result, result
        assert [r.url.params.get("pin_metrics") for r in h.requests] == ["true"]
        assert "None" not in str(result) or "pinMetrics" in str(result)


@pytest.mark.parametrize("query", WITHOUT_METRICS.values(), ids=WITHOUT_METRICS.keys())
async def test_pin_metrics_not_asked_otherwise(query: str) -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(query)
        assert "errors" not in result, result
        assert [r.url.params.get("pin_metrics") for r in h.requests] == [None]


async def test_metrics_come_back_through_graphql() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(WITH_METRICS["direct"].replace("first: 3", "first: 1"))
        (node,) = result["data"]["productGroupProducts"]["nodes"]
        all_time = CATALOG[0]["pin"]["pin_metrics"]["all_time"]
        assert node["pin"]["pinMetrics"] == {"allTime": {"impression": all_time["impression"]}}


ENTITIES = """query($representations: [_Any!]!) {
  _entities(representations: $representations) { ... on Pin { id title } } }"""


async def test_entities_batch_with_null_entities_for_unknown_and_forbidden_ids() -> None:
    fake = FakePinterest(CATALOG)

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pins/42"):
            return httpx.Response(403, json={"code": 3, "message": "not yours"})
        return fake.handler(request)

    ids = [CATALOG[1]["pin"]["id"], "1", "42", CATALOG[2]["pin"]["id"], CATALOG[1]["pin"]["id"]]
    representations = [{"__typename": "Pin", "id": pin_id} for pin_id in ids]
    async with open_app(upstream) as h:
        result = await h.gql(ENTITIES, {"representations": representations})
    entities = result["data"]["_entities"]
    assert [e and e["id"] for e in entities] == [ids[0], None, None, ids[3], ids[0]]
    codes = {tuple(e["path"]): e["extensions"]["code"] for e in result["errors"]}
    assert codes == {("_entities", 1): "NOT_FOUND", ("_entities", 2): "FORBIDDEN"}
    assert sorted(r.url.path for r in h.requests) == sorted(
        f"/v5/pins/{i}" for i in set(ids)
    )  # one lookup per distinct id


async def test_an_entity_with_a_bad_id_is_null_with_bad_user_input() -> None:
    ids: list[object] = [CATALOG[1]["pin"]["id"], "", "x" * 50_000, "../pins/5", 12]
    representations = [{"__typename": "Pin", "id": pin_id} for pin_id in ids]
    async with open_app(FakePinterest(CATALOG)) as h:
        result = await h.gql(ENTITIES, {"representations": representations})
    entities = result["data"]["_entities"]
    assert [e and e["id"] for e in entities] == [ids[0], None, None, None, None]
    codes = {tuple(e["path"]): e["extensions"]["code"] for e in result["errors"]}
    assert codes == {
        ("_entities", 1): "BAD_USER_INPUT",
        ("_entities", 2): "BAD_USER_INPUT",
        ("_entities", 3): "BAD_USER_INPUT",
        ("_entities", 4): "NOT_FOUND",
    }
    assert sorted(r.url.path for r in h.requests) == sorted([f"/v5/pins/{ids[0]}", "/v5/pins/12"])

"""`pin(id:)` and `pin_metrics`: asked upstream only when the operation selects them."""

from __future__ import annotations

import httpx
import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import json_response, open_app

CATALOG = build_catalog(40)
SEED_PIN = CATALOG[0]["pin"]


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
            }
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


async def test_pin_id_is_escaped_in_the_path() -> None:
    async with open_app(json_response(404, {"code": 50, "message": "x"})) as h:
        await h.gql('{ pin(id: "../catalogs/x?y=1") { id } }')
        assert h.requests[0].url.raw_path.startswith(b"/v5/pins/..%2Fcatalogs%2Fx%3Fy%3D1")


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
        assert node["pin"]["pinMetrics"] == {"allTime": {"impression": 2}}


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

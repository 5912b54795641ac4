"""``extensions.cost`` in every response (docs/cost.md, "In every response"): the upstream
requests a request made, counted at the client and checked against the fake upstream's own
count (cold, warm, through the response cache, with retries, under single flight), and each
caller's throttle status from the upstream's rate-limit headers, never another caller's."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import httpx
import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Handler, open_app, without_cost

CATALOG = build_catalog(1000)  # about 700 match the filter: three pages of 250
BY_FILTER = """query Walk($first: Int) {
  productsByFilter(first: $first, filter: {feedBased: {feedId: "7",
      filters: {anyOf: [{minPrice: {values: 0}}, {maxPrice: {values: 0}}]}}}) {
    nodes { pin { id } }
  }
}"""
PIN = 'query { pin(id: "%s") { id title } }'
LISTING = """query Q($first: Int) {
  productGroupProducts(productGroupId: "1", first: $first) { nodes { pin { id } } }
}"""
WALK: dict[str, Any] = {"upstream_page_size": 250, "max_first": 600}


def _cost(body: dict[str, Any]) -> dict[str, Any]:
    cost: dict[str, Any] = body["extensions"]["cost"]
    return cost


def _throttle_headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }


async def test_a_cold_walk_costs_its_pages_and_a_warm_one_nothing() -> None:
    fake = FakePinterest(CATALOG)
    async with open_app(fake, response_cache=False, **WALK) as h:
        cold = await h.gql(BY_FILTER, {"first": 600})
        assert len(cold["data"]["productsByFilter"]["nodes"]) == 600
        assert _cost(cold)["actualQueryCost"] == 3 == fake.calls["products_by_filter"]
        assert len(h.requests) == 3
        assert _cost(cold)["requestedQueryCost"] == 3  # 600 from the start: ceil(600 / 250) pages
        warm = await h.gql(BY_FILTER, {"first": 600})  # the page cache answers
        assert without_cost(warm) == without_cost(cold)
        assert _cost(warm) == {**_cost(cold), "actualQueryCost": 0}
        assert len(h.requests) == 3


async def test_an_answer_from_the_response_cache_costs_nothing() -> None:
    fake = FakePinterest(CATALOG)
    async with open_app(fake, **WALK) as h:
        cold = await h.post(BY_FILTER, {"first": 600})
        hit = await h.post(BY_FILTER, {"first": 600})
        assert len(h.requests) == 3
        assert _cost(cold.json())["actualQueryCost"] == 3
        assert _cost(hit.json()) == {**_cost(cold.json()), "actualQueryCost": 0}
        assert without_cost(hit.json()) == without_cost(cold.json())


async def test_the_refused_request_reports_its_estimate_and_no_request() -> None:
    async with open_app(FakePinterest(CATALOG), **WALK) as allowed:
        estimate = _cost(await allowed.gql(BY_FILTER, {"first": 600}))["requestedQueryCost"]
    async with open_app(FakePinterest(CATALOG), max_upstream_cost=estimate - 1, **WALK) as h:
        refused = await h.gql(BY_FILTER, {"first": 600})
        assert refused["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"
        assert "data" not in refused
        assert _cost(refused) == {"requestedQueryCost": estimate, "actualQueryCost": 0}
        assert h.requests == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ pin(id: ", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_document_that_does_not_run_requests_nothing(query: str, code: str) -> None:
    async with open_app() as h:
        body = await h.gql(query)
        assert body["errors"][0]["extensions"]["code"] == code
        assert _cost(body) == {"requestedQueryCost": 0, "actualQueryCost": 0}


async def test_error_answers_keep_their_shape_plus_the_cost() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        anonymous = await h.gql(PIN % CATALOG[0]["pin"]["id"], token=None)
        assert anonymous["data"] == {"pin": None}
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert _cost(anonymous) == {"requestedQueryCost": 1, "actualQueryCost": 0}
        too_many = await h.gql(BY_FILTER, {"first": -1})
        assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert _cost(too_many)["actualQueryCost"] == 0
        not_json = await h.client.post(
            "/graphql", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 400
        assert not_json.json() == {
            "errors": [
                {"message": "The body is not valid JSON.", "extensions": {"code": "BAD_REQUEST"}}
            ],
            "extensions": {"cost": {"requestedQueryCost": 0, "actualQueryCost": 0}},
        }
        assert h.requests == []


async def test_retries_are_counted() -> None:
    """Each attempt that reaches the upstream counts against the caller's rate limit: a 503
    retried twice is three requests."""
    fake = FakePinterest(CATALOG)
    failures = 2

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal failures
        if failures:
            failures -= 1
            return httpx.Response(503, json={"code": 0, "message": "busy"})
        return fake.handler(request)

    async with open_app(flaky, response_cache=False) as h:
        body = await h.gql(PIN % CATALOG[0]["pin"]["id"])
        assert body["data"]["pin"]["id"] == CATALOG[0]["pin"]["id"]
        assert _cost(body) == {"requestedQueryCost": 1, "actualQueryCost": 3}
        assert len(h.requests) == 3


async def test_entity_lookups_count_each_pin_fetched() -> None:
    fake = FakePinterest(CATALOG)
    ids = [item["pin"]["id"] for item in CATALOG[:3]]
    query = "query Q($reps: [_Any!]!) { _entities(representations: $reps) { ... on Pin { id } } }"
    reps = [{"__typename": "Pin", "id": pin_id} for pin_id in [*ids, ids[0]]]  # one repeated
    async with open_app(fake, response_cache=False) as h:
        body = await h.gql(query, {"reps": reps})
        assert [entity["id"] for entity in body["data"]["_entities"]] == [*ids, ids[0]]
        assert _cost(body)["actualQueryCost"] == 3 == fake.calls["pin"]


async def test_single_flight_counts_the_shared_requests_once() -> None:
    """Two identical cold requests at once: the upstream is asked for each page once, and
    the requests' actual costs add up to what it was asked (the one that waited on the other's
    fetch made no request)."""
    fake = FakePinterest(CATALOG)
    joined = asyncio.Event()

    async def gated(request: httpx.Request) -> httpx.Response:
        # The first page waits until the other request has joined its fetch (bounded).
        if not fake.requests:
            async with asyncio.timeout(5):
                await joined.wait()
        return fake.handler(request)

    async with open_app(cast(Handler, gated), response_cache=False, **WALK) as h:
        cache = h.resources.cache

        async def watch() -> None:
            async with asyncio.timeout(5):
                # A counter, not an event: polled, within the timeout.
                while not cache.stats["joins"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
            joined.set()

        watcher = asyncio.create_task(watch())
        one, two = await asyncio.gather(
            h.gql(BY_FILTER, {"first": 600}), h.gql(BY_FILTER, {"first": 600})
        )
        await watcher
        assert without_cost(one) == without_cost(two)
        assert fake.calls["products_by_filter"] == 3
        spent = [_cost(one)["actualQueryCost"], _cost(two)["actualQueryCost"]]
        assert sum(spent) == 3, spent


async def test_each_caller_sees_its_own_throttle_status_only() -> None:
    """Two tokens, different headers from the upstream, requests interleaved at once, cold and
    then from the response cache: each response carries its caller's status; a caller the
    upstream sent nothing for gets none."""
    fake = FakePinterest(
        CATALOG,
        rate_limits={
            "alice": _throttle_headers(100, 97, 30),
            "bob": _throttle_headers(1000, 5, 50),
        },
    )
    expected = {
        "alice": {"maximumAvailable": 100, "currentlyAvailable": 97, "resetSeconds": 30},
        "bob": {"maximumAvailable": 1000, "currentlyAvailable": 5, "resetSeconds": 50},
    }
    clock = Clock()
    rng = random.Random(17)
    async with open_app(fake, clock=clock) as h:

        async def one(token: str, first: int) -> tuple[str, dict[str, Any]]:
            return token, await h.gql(LISTING, {"first": first}, token=token)

        for _ in range(2):  # cold, then from the caches
            tokens = [rng.choice(["alice", "bob", "carol"]) for _ in range(30)]
            calls = [one(token, rng.choice([1, 2, 3])) for token in tokens]
            for token, body in await asyncio.gather(*calls):
                status = _cost(body).get("throttleStatus")
                assert status == expected.get(token), (token, status)
        clock.advance(30)  # alice's limit has reset: what was seen of it says nothing now
        _, body = await one("alice", 1)
        assert "throttleStatus" not in _cost(body)
        _, body = await one("bob", 1)
        assert _cost(body)["throttleStatus"] == {**expected["bob"], "resetSeconds": 20}


@pytest.mark.parametrize("response_cache", [True, False])
async def test_the_first_answer_carries_the_status_it_brought(response_cache: bool) -> None:
    """The status the upstream sent while this request ran is in its own response (whether or
    not the caller's identity was needed before it ran)."""
    fake = FakePinterest(CATALOG, rate_limits={"tok": _throttle_headers(10, 9, 60)})
    async with open_app(fake, response_cache=response_cache) as h:
        body = await h.gql(PIN % CATALOG[0]["pin"]["id"])
        assert _cost(body) == {
            "requestedQueryCost": 1,
            "actualQueryCost": 1,
            "throttleStatus": {"maximumAvailable": 10, "currentlyAvailable": 9, "resetSeconds": 60},
        }


async def test_bad_rate_limit_headers_are_ignored() -> None:
    fake = FakePinterest(
        CATALOG,
        rate_limits={"tok": {"X-RateLimit-Limit": "many", "X-RateLimit-Remaining": "-1"}},
    )
    async with open_app(fake) as h:
        body = await h.gql(PIN % CATALOG[0]["pin"]["id"])
        assert body["data"]["pin"] is not None
        assert _cost(body) == {"requestedQueryCost": 1, "actualQueryCost": 1}


async def test_the_setting_turns_the_extension_off() -> None:
    fake = FakePinterest(CATALOG, rate_limits={"tok": _throttle_headers(100, 99, 30)})
    async with open_app(fake, report_cost=False) as h:
        ok = await h.gql(PIN % CATALOG[0]["pin"]["id"])
        assert "extensions" not in ok
        invalid = await h.gql("{ nope }")
        assert "extensions" not in invalid
        assert invalid["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        cached = await h.gql(PIN % CATALOG[0]["pin"]["id"])
        assert cached == ok
        assert h.resources.throttle is None


async def test_a_stale_answer_refreshed_in_the_background_costs_nothing() -> None:
    """The refresh a stale page starts is nobody's cost: the answer did not wait for it, and
    when it lands after the answer was sent, nothing breaks."""
    fake = FakePinterest(CATALOG)
    clock = Clock()
    async with open_app(fake, clock=clock, response_cache=False, cache_ttl=60) as h:
        pin_id = CATALOG[0]["pin"]["id"]
        assert _cost(await h.gql(PIN % pin_id))["actualQueryCost"] == 1
        clock.advance(61)
        stale = await h.gql(PIN % pin_id)
        assert stale["extensions"]["cache"]["stale"] is True
        assert _cost(stale)["actualQueryCost"] == 0
        await h.settle()
        assert fake.calls["pin"] == 2  # the refresh went upstream all the same
        fresh = await h.gql(PIN % pin_id)
        assert _cost(fresh)["actualQueryCost"] == 0


async def test_get_and_persisted_queries_report_it_too() -> None:
    async with open_app(FakePinterest(CATALOG)) as h:
        response = await h.client.get(
            "/graphql",
            params={"query": PIN % CATALOG[0]["pin"]["id"]},
            headers={"Authorization": "Bearer tok"},
        )
        assert _cost(response.json()) == {"requestedQueryCost": 1, "actualQueryCost": 1}
        unknown = await h.client.post(
            "/graphql",
            json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
            headers={"Authorization": "Bearer tok"},
        )
        body = unknown.json()
        assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        assert _cost(body) == {"requestedQueryCost": 0, "actualQueryCost": 0}

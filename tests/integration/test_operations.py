"""Operations: health, readiness, Prometheus metrics, JSON logs, and no secret anywhere."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import httpx
import orjson
import pytest

from graphql_api.observability import configure_logging
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import json_response, open_app, settings

QUERY = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { catalogType } } }'
CANARY = "tok-canary-5f3a9c1e7b2d4a60"


async def test_healthz_and_readyz() -> None:
    async with open_app() as h:
        assert (await h.client.get("/healthz")).json() == {"status": "ok"}
        ready = await h.client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "cache": "ok"}


async def test_readyz_reports_an_unreachable_redis_as_degraded_not_unready() -> None:
    async with open_app(cache_url="redis://127.0.0.1:1/0") as h:
        ready = await h.client.get("/readyz")
        assert ready.status_code == 200  # still in rotation: the cache is not a dependency
        assert ready.json() == {"status": "degraded", "cache": "unavailable"}
        assert (await h.client.get("/healthz")).status_code == 200


async def test_metrics() -> None:
    async with open_app(FakePinterest(build_catalog(30)), response_cache=False) as h:
        await h.gql(QUERY)
        await h.gql(QUERY)
        await h.gql("{ nope }")
        await h.gql('{ pin(id: "1") { id } }')
        text = (await h.client.get("/metrics")).text
    assert 'graphql_api_requests_total{operation="productGroupProducts",outcome="ok"} 2.0' in text
    assert 'graphql_api_requests_total{operation="invalid",outcome="rejected"} 1.0' in text
    assert 'graphql_api_requests_total{operation="pin",outcome="error"} 1.0' in text
    assert (
        'graphql_api_upstream_requests_total{operation="product_group_products",status="200"} 1.0'
        in text
    )
    assert 'graphql_api_upstream_requests_total{operation="pin",status="404"} 1.0' in text
    assert 'graphql_api_upstream_latency_seconds_count{operation="pin"} 1.0' in text
    assert "graphql_api_cache_hits_total 1.0" in text
    assert "graphql_api_cache_misses_total 2.0" in text
    assert "graphql_api_cache_joins_total 0.0" in text
    assert 'graphql_api_breaker_state{operation="pin"} 0.0' in text


async def test_metrics_report_what_the_caches_hold() -> None:
    groups = ("1", "2", "3")
    async with open_app(FakePinterest(build_catalog(60))) as h:
        assert set((await h.cache_sizes()).values()) == {0}
        for group in groups:
            await h.gql(QUERY.replace('"1"', f'"{group}"'))
        full = await h.cache_sizes()
    assert full["graphql_api_cache_entries", "pages"] == 3
    assert full["graphql_api_cache_entries", "responses"] == 3
    assert full["graphql_api_cache_bytes", "pages"] > 3 * 10_000  # 60, 30 and 20 products
    assert full["graphql_api_cache_bytes", "responses"] > 3 * 100
    bound = int(full["graphql_api_cache_bytes", "pages"]) - 1
    async with open_app(FakePinterest(build_catalog(60)), cache_max_bytes=bound) as h:
        for group in groups:
            await h.gql(QUERY.replace('"1"', f'"{group}"'))
        sizes = await h.cache_sizes()
    assert sizes["graphql_api_cache_entries", "pages"] == 2  # the first went
    assert 0 < sizes["graphql_api_cache_bytes", "pages"] <= bound


async def test_metrics_report_the_in_process_tier_with_redis(redis_server: str) -> None:
    async with open_app(
        FakePinterest(build_catalog(60)), cache_url=redis_server, secret="metrics-tier"
    ) as h:
        await h.gql(QUERY.replace('"1"', '"7"'))
        sizes = await h.cache_sizes()
    assert sizes["graphql_api_cache_entries", "pages"] == 1  # the parsed copy of the page
    assert sizes["graphql_api_cache_bytes", "pages"] > 10_000


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", "json")
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)  # type: ignore[attr-defined]
    for name in ("httpx", "httpcore", "graphql_api", "uvicorn", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.WARNING)


async def test_logs_are_json_lines_with_the_request_id(captured_logs: io.StringIO) -> None:
    async with open_app() as h:
        await h.client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"Authorization": "Bearer t", "X-Request-ID": "req-42"},
        )
    lines = [orjson.loads(line) for line in captured_logs.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "graphql_api.access"]
    assert access[-1]["request_id"] == "req-42"
    assert access[-1]["status"] == 200
    assert access[-1]["path"] == "/graphql"
    upstream = [line for line in lines if "api.pinterest.com" in line["message"]]
    assert upstream
    assert {line["request_id"] for line in upstream} == {"req-42"}


def _fragments(secret: str) -> list[str]:
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


async def test_a_canary_token_never_appears(captured_logs: io.StringIO) -> None:
    seen: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pins/1"):
            raise RuntimeError(f"boom {request.headers['authorization']}")
        return json_response(503, {"message": request.headers["authorization"]})(request)

    async with open_app(upstream, retry_attempts=2) as h:
        for query in (QUERY, '{ pin(id: "1") { id } }', "{ nope }"):
            seen.append((await h.post(query, token=CANARY)).text)
        seen += list(h.resources.cache.in_process)  # the keys of the pages held
        seen.append((await h.client.get("/metrics")).text)
    seen.append(captured_logs.getvalue())
    seen.append(repr(settings(pinterest_access_token=CANARY, secret=CANARY)))
    everything = "\n".join(seen)
    assert CANARY not in everything
    assert not [f for f in _fragments(CANARY) if f in everything]
    assert "Bearer" not in "\n".join(seen[:3])

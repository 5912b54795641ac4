"""Tracing through the app, with the SDK's in-memory exporter: the server span of each request,
its cache outcomes, the upstream attempts as its children (and the ``traceparent`` the upstream
saw), failures, and that no secret reaches any span. The OTLP export over the wire is
tests/e2e/test_tracing_e2e.py's."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from graphql_api.app import create_app
from graphql_api.tracing import Tracing, TracingUnavailable, from_environ
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Running, running, settings

QUERY = """query Products($first: Int, $after: String) {
  productGroupProducts(productGroupId: "1", first: $first, after: $after) {
    nodes { pin { id } } pageInfo { endCursor } } }"""
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class Traced:
    def __init__(self, app: Running, exporter: InMemorySpanExporter, upstream: list[httpx.Request]):
        self.client = app.client
        self.resources = app.resources
        self.exporter = exporter
        self.upstream = upstream  # the requests the upstream received

    async def post(
        self,
        variables: dict[str, Any] | None = None,
        *,
        token: str = "tok",
        headers: dict[str, str] | None = None,
        query: str = QUERY,
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
        )
        result: dict[str, Any] = orjson.loads(response.content)
        return result

    def spans(self, kind: SpanKind) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.kind is kind]


@asynccontextmanager
async def traced(
    handler: Handler | None = None, *, clock: Clock | None = None, **values: Any
) -> AsyncIterator[Traced]:
    """The app over the fake upstream (or ``handler``), traced into memory (a span exported as
    it ends), on a test clock."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    processor = SimpleSpanProcessor(exporter)
    handle = handler or FakePinterest().handler
    seen: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = handle(request)
        return answer if isinstance(answer, httpx.Response) else await answer

    app = create_app(
        settings(**values),
        transport=httpx.MockTransport(upstream),
        timer=(clock or Clock()).timer,
        tracing=Tracing(provider, [processor]),
    )
    async with running(app, "http://testserver") as app_running:
        yield Traced(app_running, exporter, seen)


def _traceparent(request: httpx.Request) -> tuple[str, str]:
    """(trace id, parent span id) of the ``traceparent`` an upstream request carried."""
    _version, trace_id, span_id, _flags = request.headers["traceparent"].split("-")
    return trace_id, span_id


async def test_a_request_has_one_server_span_with_the_operation_and_its_outcome() -> None:
    async with traced(response_cache=False) as t:
        await t.post({"first": 2})
    (server,) = t.spans(SpanKind.SERVER)
    attributes = dict(server.attributes or {})
    assert server.name == "query Products"
    assert attributes["graphql.operation.type"] == "query"
    assert attributes["graphql.operation.name"] == "Products"
    assert len(str(attributes["graphql.document.hash"])) == 64
    assert attributes["graphql_api.outcome"] == "ok"
    assert "graphql_api.error_codes" not in attributes
    assert attributes["http.request.method"] == "POST"
    assert attributes["url.path"] == "/graphql"
    assert attributes["http.response.status_code"] == 200
    assert len(str(attributes["graphql_api.request_id"])) == 32
    assert server.status.status_code is StatusCode.UNSET


def _cache(span: ReadableSpan) -> dict[str, Any]:
    """The span's lookup counts by the key's kind and outcome."""
    prefix = "graphql_api.cache."
    return {k[len(prefix) :]: v for k, v in (span.attributes or {}).items() if k.startswith(prefix)}


async def test_cache_outcomes_are_counted_a_miss_then_a_hit() -> None:
    async with traced(response_cache=False) as t:
        await t.post({"first": 2})
        await t.post({"first": 2})
    first, second = t.spans(SpanKind.SERVER)
    assert [_cache(first), _cache(second)] == [{"page.miss": 1}, {"page.hit": 1}]
    assert not first.events


async def test_pin_lookups_are_counted_by_outcome() -> None:
    query = "query Pins($a: ID!, $b: ID!) { a: pin(id: $a) { id } b: pin(id: $b) { id } }"
    one, other = (str(item["pin"]["id"]) for item in build_catalog()[:2])
    async with traced(response_cache=False) as t:
        await t.post({"a": one, "b": one}, query=query)
        await t.post({"a": one, "b": other}, query=query)
    first, second = t.spans(SpanKind.SERVER)
    assert _cache(first) == {"pin.miss": 1}  # one lookup for the same Pin twice
    assert _cache(second) == {"pin.hit": 1, "pin.miss": 1}


async def test_cache_outcomes_show_a_joined_fetch_and_a_stale_page() -> None:
    clock = Clock()
    release = asyncio.Event()
    fake = FakePinterest()

    async def held(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return fake.handler(request)

    async with traced(held, clock=clock, response_cache=False) as t:
        first = asyncio.create_task(t.post({"first": 2}))
        second = asyncio.create_task(t.post({"first": 3}))  # the same upstream page
        for _ in range(500):  # until the second waits on the first one's fetch
            if t.resources.cache.stats["joins"]:
                break
            await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, second)
        clock.advance(120)  # past freshness (60 s), within the stale window
        await t.post({"first": 2})
        await t.resources.cache.settle()  # the background refresh
    counts = [_cache(span) for span in t.spans(SpanKind.SERVER)]
    assert sorted(counts[:2], key=str) == [{"page.join": 1}, {"page.miss": 1}]
    assert counts[2] == {"page.stale": 1}
    assert len(t.upstream) == 2  # one fetch for the first two, one refresh


async def test_a_response_from_the_response_cache_is_traced_as_cached() -> None:
    async with traced() as t:
        await t.post({"first": 2})
        await t.post({"first": 2})
    outcomes = [dict(s.attributes or {})["graphql_api.outcome"] for s in t.spans(SpanKind.SERVER)]
    assert outcomes == ["ok", "cached"]


async def test_upstream_attempts_are_client_spans_under_the_server_span() -> None:
    async with traced(response_cache=False) as t:
        await t.post({"first": 2}, headers={"traceparent": TRACEPARENT})
    (server,) = t.spans(SpanKind.SERVER)
    (client,) = t.spans(SpanKind.CLIENT)
    # The caller's trace continued: same trace id, the caller's span the parent.
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    assert client.parent is not None
    assert client.parent.span_id == server.context.span_id
    assert client.context.trace_id == server.context.trace_id
    template = "/catalogs/product_groups/{product_group_id}/products"
    assert client.name == f"GET {template}"
    assert dict(client.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": template,
        "graphql_api.upstream.operation": "product_group_products",
        "http.response.status_code": 200,
    }
    # The upstream saw the client span's context.
    (request,) = t.upstream
    assert _traceparent(request) == (TRACE_ID, format(client.context.span_id, "016x"))


async def test_a_retry_is_a_second_client_span_with_its_resend_count() -> None:
    fake = FakePinterest()
    answers = iter([httpx.Response(503, json={"code": 1, "message": "busy"})])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or fake.handler(request)

    async with traced(flaky, response_cache=False) as t:
        result = await t.post({"first": 2})
    assert "errors" not in result
    first, second = t.spans(SpanKind.CLIENT)
    assert dict(first.attributes or {})["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert "http.request.resend_count" not in (first.attributes or {})
    assert dict(second.attributes or {})["http.request.resend_count"] == 1
    assert "error.type" not in (second.attributes or {})
    # Each attempt sent its own span's context.
    assert [_traceparent(r)[1] for r in t.upstream] == [
        format(span.context.span_id, "016x") for span in (first, second)
    ]


@pytest.mark.parametrize(
    ("failure", "error_type", "code"),
    [
        (httpx.Response(404, json={"code": 2, "message": "no"}), "404", "NOT_FOUND"),
        (httpx.ConnectError("refused"), "UPSTREAM_UNAVAILABLE", "UPSTREAM_UNAVAILABLE"),
        (httpx.ReadTimeout("slow"), "UPSTREAM_TIMEOUT", "UPSTREAM_TIMEOUT"),
    ],
)
async def test_an_upstream_failure_is_recorded(
    failure: httpx.Response | Exception, error_type: str, code: str
) -> None:
    def failing(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        return failure

    async with traced(failing, response_cache=False) as t:
        result = await t.post({"first": 2})
    assert [e["extensions"]["code"] for e in result["errors"]] == [code]
    (server,) = t.spans(SpanKind.SERVER)
    assert dict(server.attributes or {})["graphql_api.outcome"] == "error"
    assert dict(server.attributes or {})["graphql_api.error_codes"] == (code,)
    assert server.status.status_code is StatusCode.ERROR
    clients = t.spans(SpanKind.CLIENT)
    assert clients
    assert {dict(c.attributes or {})["error.type"] for c in clients} == {error_type}
    assert all(c.status.status_code is StatusCode.ERROR for c in clients)


async def test_get_and_persisted_queries_are_traced_too() -> None:
    query = 'query Named { productGroupProducts(productGroupId: "1") { nodes { pin { id } } } }'
    digest = hashlib.sha256(query.encode()).hexdigest()
    persisted = orjson.dumps({"persistedQuery": {"version": 1, "sha256Hash": digest}}).decode()
    async with traced() as t:
        headers = {"Authorization": "Bearer tok"}
        await t.client.get("/graphql", params={"query": query}, headers=headers)
        await t.client.post(
            "/graphql",
            json={"query": query, "extensions": orjson.loads(persisted)},
            headers=headers,
        )
        await t.client.get("/graphql", params={"extensions": persisted}, headers=headers)
    spans = t.spans(SpanKind.SERVER)
    assert [span.name for span in spans] == ["query Named"] * 3
    assert [dict(span.attributes or {})["http.request.method"] for span in spans] == [
        "GET",
        "POST",
        "GET",
    ]
    assert {dict(span.attributes or {})["graphql.document.hash"] for span in spans} == {digest}


async def test_a_rejected_request_is_traced_before_and_after_parsing() -> None:
    async with traced() as t:
        await t.post(query="query Broken {")
        await t.post(query="query Bad { nope }")
    broken, bad = t.spans(SpanKind.SERVER)
    assert broken.name == "POST /graphql"  # not parsed: no operation
    assert dict(broken.attributes or {})["graphql_api.error_codes"] == ("GRAPHQL_PARSE_FAILED",)
    assert bad.name == "query Bad"
    assert dict(bad.attributes or {})["graphql_api.outcome"] == "rejected"
    assert dict(bad.attributes or {})["graphql_api.error_codes"] == ("GRAPHQL_VALIDATION_FAILED",)


def _texts(span: ReadableSpan) -> Iterator[str]:
    yield span.name
    for attributes in (
        span.attributes,
        span.resource.attributes,
        *(e.attributes for e in span.events),
    ):
        for key, value in (attributes or {}).items():
            yield key
            yield str(value)
    yield from (e.name for e in span.events)


async def test_no_token_cursor_or_cache_key_in_any_span() -> None:
    canary = "canary-token-8f3a9c"
    async with traced(response_cache=False, upstream_page_size=25) as t:
        page = await t.post({"first": 2}, token=canary)
        cursor = page["data"]["productGroupProducts"]["pageInfo"]["endCursor"]
        await t.post({"first": 2, "after": cursor}, token=canary)
        await t.post({"first": 30}, token=canary)  # a second upstream page: its bookmark
        identity = t.resources.cache.identity(canary)
        keys = list(t.resources.cache.versions)
    assert cursor
    assert keys
    assert all(identity in key for key in keys)
    bookmarks = [r.url.params["bookmark"] for r in t.upstream if "bookmark" in r.url.params]
    assert bookmarks  # the upstream's cursor, in the second page's URL
    secrets = [canary, cursor, identity, *keys, *bookmarks]
    spans = t.exporter.get_finished_spans()
    assert {span.kind for span in spans} == {SpanKind.SERVER, SpanKind.CLIENT}
    leaks = [
        (span.name, s) for span in spans for text in _texts(span) for s in secrets if s in text
    ]
    assert leaks == []


async def test_off_when_the_variables_ask_for_nothing() -> None:
    assert from_environ({}) is None
    assert from_environ({"OTEL_TRACES_EXPORTER": "none"}) is None
    disabled = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    assert from_environ(disabled) is None
    app = create_app(settings(), transport=httpx.MockTransport(FakePinterest().handler))
    async with running(app) as (client, resources, _):
        response = await client.post(
            "/graphql",
            json={"query": QUERY, "variables": {"first": 1}},
            headers={"Authorization": "Bearer t", "traceparent": TRACEPARENT},
        )
        assert response.status_code == 200
        assert resources.client._tracing is None
    # No provider was ever made the global one either.
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


OFF = """
import asyncio, sys
from graphql_api.app import create_app
from graphql_api.config import Settings
from tests.helpers import running

QUERY = '{ productGroupProducts(productGroupId: "1") { nodes { __typename } } }'

async def main() -> None:
    app = create_app(Settings(_env_file=None, demo=True))
    async with running(app) as (client, _, _):
        response = await client.post(
            "/graphql",
            json={"query": QUERY},
            headers={"traceparent": sys.argv[1]},
        )
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    print(*sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk.trace",
        "opentelemetry.exporter"))))

asyncio.run(main())
"""


def test_off_the_tracing_sdk_is_never_imported() -> None:
    # A process of its own: this one has imported the SDK. (FastAPI and redis-py import parts of
    # OpenTelemetry themselves; the tracing SDK and the exporter are the otel extra's.)
    done = subprocess.run(
        [sys.executable, "-c", OFF, TRACEPARENT],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_console_refuses_tracing_it_cannot_give() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graphql_api", "serve", "--demo", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        },
    )
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        "graphql-api: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported"
    )


async def test_the_spans_still_buffered_are_exported_when_the_lifespan_ends() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    processor = BatchSpanProcessor(exporter, schedule_delay_millis=3_600_000)
    app = create_app(
        settings(response_cache=False),
        transport=httpx.MockTransport(FakePinterest().handler),
        timer=Clock().timer,
        tracing=Tracing(provider, [processor]),
    )
    async with running(app) as (client, _, _):
        await client.post(
            "/graphql",
            json={"query": QUERY, "variables": {"first": 1}},
            headers={"Authorization": "Bearer t"},
        )
        assert exporter.get_finished_spans() == ()  # held by the batch (an hour's delay)
    assert {span.kind for span in exporter.get_finished_spans()} == {
        SpanKind.SERVER,
        SpanKind.CLIENT,
    }


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin is not supported"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported",
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
            },
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc is not supported",
        ),
    ],
)
def test_what_cannot_be_done_is_refused_at_startup(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TracingUnavailable, match=message):
        from_environ(environ)


def test_without_the_extra_asking_for_traces_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # import fails
    with pytest.raises(TracingUnavailable, match=r"graphql-api\[otel\]"):
        from_environ({"OTEL_TRACES_EXPORTER": "otlp"})


def test_the_sdk_reads_the_service_name_and_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    named = from_environ({"OTEL_TRACES_EXPORTER": "console"})
    monkeypatch.setenv("OTEL_SERVICE_NAME", "catalog-gateway")
    renamed = from_environ({"OTEL_TRACES_EXPORTER": "console"})
    assert named is not None
    assert renamed is not None
    try:
        assert named.provider.resource.attributes["service.name"] == "graphql-api"
        assert renamed.provider.resource.attributes["service.name"] == "catalog-gateway"
        assert named.provider.sampler.get_description() == "AlwaysOffSampler"
    finally:
        named.shutdown()
        renamed.shutdown()

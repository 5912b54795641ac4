"""As an operator's collector sees it: the real service (`graphql-api serve`, configured by the
standard OTEL_* variables) exporting its traces over OTLP/HTTP (protobuf) to a real receiver on
loopback (tests/otlp.py), over a fake upstream served over HTTP.

A request that comes with a W3C traceparent is continued: its server span is the caller's
span's child, the upstream attempts are the server span's children, and the upstream saw the
same trace. No token, cursor, upstream bookmark or HMAC key reaches the collector (the decoded
export's bytes are searched, not only the attributes). With the variables unset, nothing is
sent. Spans still queued are sent at SIGTERM. A collector that is killed or hangs costs the
callers nothing: every query is still answered."""

from __future__ import annotations

import hashlib
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app
from tests.helpers import Service, http_get, http_post, serve_in_thread, start_cli
from tests.otlp import OtlpReceiver, Span

pytestmark = pytest.mark.e2e
QUERY = """query Products($after: String, $account: ID) {
  productGroupProducts(productGroupId: "1", first: 10, after: $after, adAccountId: $account) {
    nodes { pin { id } } pageInfo { hasNextPage endCursor } } }"""
HMAC_KEY = "e2e-tracing-hmac-key"
SERVICE_NAME = "graphql-api-e2e"


@pytest.fixture
def upstream() -> Iterator[tuple[FakePinterest, str]]:
    fake = FakePinterest(build_catalog(30))
    with serve_in_thread(asgi_app(fake)) as url:
        yield fake, url


@contextmanager
def _service(tmp_path: Path, upstream_url: str, **environment: str) -> Iterator[Service]:
    """The service on the fake upstream, asking it for pages of 10 (so page 2 is asked for with
    page 1's bookmark)."""
    with start_cli(
        tmp_path / "service.log",
        PINTEREST_API_BASE_URL=upstream_url,
        GRAPHQL_API_SECRET=HMAC_KEY,
        GRAPHQL_API_UPSTREAM_PAGE_SIZE="10",
        **environment,
    ) as service:
        yield service


def _tracing(endpoint: str, **more: str) -> dict[str, str]:
    return {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": SERVICE_NAME,
        "OTEL_BSP_SCHEDULE_DELAY": "50",  # ms: spans reach the receiver soon after a request
        **more,
    }


def _ask(
    base: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str = "tok",
    traceparent: str | None = None,
) -> tuple[dict[str, Any], httpx.Response]:
    """One query, answered with data and no error; the connection and the response."""
    headers = {"Authorization": f"Bearer {token}"}
    if traceparent:
        headers["traceparent"] = traceparent
    response = http_post(
        f"{base}/graphql",
        json={"query": QUERY, "variables": variables or {}},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = orjson.loads(response.content)
    assert "errors" not in body, body["errors"]
    connection: dict[str, Any] = body["data"]["productGroupProducts"]
    assert len(connection["nodes"]) == 10
    return connection, response


def _of(trace_id: str, kind: str) -> Callable[[Span], bool]:
    return lambda span: span.trace_id == trace_id and span.kind == kind


def test_the_collector_gets_the_callers_trace_and_no_secret(
    upstream: tuple[FakePinterest, str], tmp_path: Path
) -> None:
    fake, url = upstream
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    canary = f"canary-{secrets.token_hex(12)}"
    with OtlpReceiver() as receiver, _service(tmp_path, url, **_tracing(receiver.url)) as service:
        first, response = _ask(
            service.url, token=canary, traceparent=f"00-{trace_id}-{caller_span}-01"
        )
        # Page 2: the upstream is asked with page 1's bookmark; a trace of its own.
        _ask(service.url, {"after": first["pageInfo"]["endCursor"]}, token=canary)
        (server,) = receiver.wait_for(1, where=_of(trace_id, "SERVER"))
        clients = receiver.wait_for(1, where=_of(trace_id, "CLIENT"))
        receiver.wait_for(2, where=lambda span: span.kind == "SERVER")

    # The server span continues the caller's trace.
    assert server.parent_span_id == caller_span
    assert server.name == "query Products"
    assert server.attributes["graphql.operation.type"] == "query"
    assert server.attributes["graphql.operation.name"] == "Products"
    assert server.attributes["graphql.document.hash"] == hashlib.sha256(QUERY.encode()).hexdigest()
    assert server.attributes["graphql_api.outcome"] == "ok"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["url.path"] == "/graphql"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["graphql_api.request_id"] == response.headers["x-request-id"]
    assert server.resource["service.name"] == SERVICE_NAME
    cache = {k: v for k, v in server.attributes.items() if k.startswith("graphql_api.cache.")}
    assert cache == {"graphql_api.cache.page.miss": 1}
    # One client span per upstream attempt, each the server span's child; the upstream saw it.
    assert len(clients) == 1
    (client,) = clients
    assert client.parent_span_id == server.span_id
    assert client.attributes["http.request.method"] == "GET"
    assert client.attributes["url.template"] == (
        "/catalogs/product_groups/{product_group_id}/products"
    )
    assert client.attributes["http.response.status_code"] == 200
    version, seen_trace, seen_parent, flags = fake.requests[0].headers["traceparent"].split("-")
    assert (version, seen_trace, seen_parent, flags) == ("00", trace_id, client.span_id, "01")
    second_trace = fake.requests[1].headers["traceparent"].split("-")[1]
    assert second_trace != trace_id  # a request without a traceparent starts a trace

    # Nothing secret in the export: not in the attributes, not anywhere in the bytes.
    bookmark = fake.requests[1].url.params["bookmark"]
    assert bookmark
    forbidden = {
        "token": canary,
        "cursor": first["pageInfo"]["endCursor"],
        "upstream bookmark": bookmark,
        "HMAC key": HMAC_KEY,
    }
    decoded = repr([(s.name, s.attributes, s.events, s.resource) for s in receiver.spans])
    payloads = receiver.payloads
    assert payloads
    for what, value in forbidden.items():
        assert value not in decoded, what
        assert all(value.encode() not in payload for payload in payloads), what
    assert all(b"Bearer" not in payload for payload in payloads)
    assert receiver.errors == []


def test_nothing_is_sent_with_the_variables_unset(
    upstream: tuple[FakePinterest, str], tmp_path: Path
) -> None:
    fake, url = upstream
    trace_id = secrets.token_hex(16)
    with OtlpReceiver() as receiver:
        # Where a collector would be, and a service name; but no OTEL_TRACES_EXPORTER.
        endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url, "OTEL_SERVICE_NAME": "x"}
        with _service(tmp_path, url, **endpoint) as service:
            _ask(service.url, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")
            service.stop()  # anything queued would have been sent by now
    assert receiver.requests == 0
    assert receiver.errors == []
    assert "traceparent" not in fake.requests[0].headers


def test_spans_still_queued_are_sent_at_sigterm(
    upstream: tuple[FakePinterest, str], tmp_path: Path
) -> None:
    _, url = upstream
    trace_id = secrets.token_hex(16)
    with OtlpReceiver() as receiver:
        # An hour between scheduled exports: only the shutdown sends these spans.
        hourly = _tracing(receiver.url, OTEL_BSP_SCHEDULE_DELAY="3600000")
        with _service(tmp_path, url, **hourly) as service:
            _ask(service.url, traceparent=f"00-{trace_id}-{secrets.token_hex(8)}-01")
            assert receiver.requests == 0
            service.stop()
        # Received before the service exited.
        assert len(receiver.spans) >= 2
        assert receiver.wait_for(1, timeout=0, where=_of(trace_id, "SERVER"))
        assert receiver.wait_for(1, timeout=0, where=_of(trace_id, "CLIENT"))


@contextmanager
def _hung_collector() -> Iterator[str]:
    """A collector that accepts connections (the kernel does) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("failure", ["killed", "hung"])
def test_queries_are_answered_while_the_collector_is_down(
    failure: str, upstream: tuple[FakePinterest, str], tmp_path: Path
) -> None:
    fake, url = upstream
    with OtlpReceiver() as receiver, _hung_collector() as hung:
        endpoint = receiver.url if failure == "killed" else hung
        # A short export timeout, so the shutdown's last export gives up soon.
        environment = _tracing(endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="2")
        with _service(tmp_path, url, **environment) as service:
            if failure == "killed":
                _ask(service.url, {"account": "1"})
                receiver.wait_for(2)  # the exporter got through (and keeps its connection)
                receiver.stop()
            sent = len(fake.requests)
            for account in range(100, 120):  # each a listing no one fetched: upstream spans
                _ask(service.url, {"account": str(account)})
            assert len(fake.requests) == sent + 20
            assert http_get(f"{service.url}/healthz", timeout=10).status_code == 200
            service.stop(timeout=30)  # the last export gives up: no hang at shutdown
    assert "Traceback" not in (tmp_path / "service.log").read_text()

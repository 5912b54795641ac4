"""graphql_api.tracing_export: the lean OTLP encoder writes, byte for byte, what the SDK's
encoder writes, for any span the SDK can make; and the exporter it plugs into still has the
shape LeanOTLPSpanExporter.export relies on (a canary for a new exporter release)."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode
from opentelemetry.exporter.otlp.proto.http import trace_exporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from graphql_api import tracing_export
from graphql_api.tracing_export import LeanOTLPSpanExporter, encode_spans
from tests.helpers import examples

_text = st.text(max_size=12)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_scalars: list[st.SearchStrategy[Any]] = [_text, st.booleans(), _int64, st.floats()]
_values = st.one_of(*_scalars, *(st.lists(s, max_size=3) for s in _scalars))
_attributes = st.dictionaries(st.text(min_size=1, max_size=8), _values, max_size=6)
_ids = st.tuples(st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1))
_state = st.lists(
    st.tuples(st.sampled_from(["a", "vendor", "k1"]), st.sampled_from(["x", "1", "v-2"])),
    max_size=2,
    unique_by=lambda kv: kv[0],
).map(TraceState)


@st.composite
def _context(draw: st.DrawFn) -> SpanContext:
    trace_id, span_id = draw(_ids)
    return SpanContext(
        trace_id,
        span_id,
        is_remote=draw(st.booleans()),
        trace_flags=TraceFlags(draw(st.sampled_from([0, 1]))),
        trace_state=draw(_state),
    )


@st.composite
def _plans(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Resources and spans to make, as data: the SDK draws random ids as it makes a span, which
    a strategy may not do (the test makes them)."""
    resources = [
        {"service.name": f"s{n}", **draw(_attributes)} for n in range(draw(st.integers(1, 2)))
    ]
    spans = []
    for _ in range(draw(st.integers(1, 4))):
        status = draw(st.sampled_from(list(StatusCode)))
        spans.append(
            {
                "resource": draw(st.integers(0, len(resources) - 1)),
                "scope": draw(st.sampled_from(["graphql_api", "other"])),
                "version": draw(st.sampled_from([None, "1.0"])),
                "schema": draw(st.sampled_from([None, "https://opentelemetry.io/schemas/1.26.0"])),
                "parent": draw(st.none() | _context()),
                "name": draw(_text),
                "kind": draw(st.sampled_from(list(SpanKind))),
                "attributes": draw(_attributes),
                "links": draw(st.lists(st.tuples(_context(), _attributes), max_size=2)),
                "start": draw(st.integers(1, 2**62)),
                "events": draw(
                    st.lists(st.tuples(_text, _attributes, st.integers(0, 2**62)), max_size=2)
                ),
                "status": status,
                "description": draw(_text) if status is StatusCode.ERROR else None,
                "end": draw(st.integers(2**62, 2**63)),
            }
        )
    return resources, spans


def _make(resources: list[dict[str, Any]], plans: list[dict[str, Any]]) -> list[ReadableSpan]:
    """The spans, made by the SDK's own tracer (so cleaned and bounded as in the service)."""
    exporter = InMemorySpanExporter()
    providers = []
    for attributes in resources:
        provider = TracerProvider(resource=Resource(attributes))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(provider)
    for plan in plans:
        tracer = providers[plan["resource"]].get_tracer(
            plan["scope"], plan["version"], schema_url=plan["schema"]
        )
        parent = plan["parent"]
        span = tracer.start_span(
            plan["name"],
            context=set_span_in_context(NonRecordingSpan(parent)) if parent else None,
            kind=plan["kind"],
            attributes=plan["attributes"],
            links=[Link(context, attributes) for context, attributes in plan["links"]],
            start_time=plan["start"],
        )
        for name, attributes, timestamp in plan["events"]:
            span.add_event(name, attributes, timestamp=timestamp)
        span.set_status(plan["status"], plan["description"])
        span.end(end_time=plan["end"])
    for provider in providers:
        provider.shutdown()
    return list(exporter.get_finished_spans())


# 300 examples in CI's full-strength step, an eighth in the README's suite (tests.helpers.examples).
@settings(max_examples=examples(300), deadline=None)
@given(_plans())
def test_the_lean_encoder_writes_what_the_sdk_encoder_writes(
    plan: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    spans = _make(*plan)
    ours = encode_spans(spans)
    theirs = sdk_encode(spans)
    assert ours == theirs.SerializeToString()
    assert ExportTraceServiceRequest.FromString(ours) == theirs


def test_encoded_attributes_are_kept_apart_by_type_and_the_cache_stays_bounded() -> None:
    """True and 1 hash alike: the cache of encoded attributes must not give one for the
    other; and it is emptied when full, not grown."""
    provider = TracerProvider(resource=Resource({"service.name": "t"}))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("graphql_api")
    for value in (1, True, 1, "1", 1.0, 2 * tracing_export._KNOWN_MAX):
        tracer.start_span("s", attributes={"a": value}).end()
    for n in range(2 * tracing_export._KNOWN_MAX):
        tracer.start_span("s", attributes={"request": str(n)}).end()
    spans = exporter.get_finished_spans()
    assert encode_spans(spans) == sdk_encode(spans).SerializeToString()
    assert len(tracing_export._KNOWN) <= tracing_export._KNOWN_MAX


class _Collector(BaseHTTPRequestHandler):
    bodies: list[bytes]
    status = 200

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, type[_Collector]]]:
    handler = type("Handler", (_Collector,), {"bodies": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    finally:
        server.shutdown()
        server.server_close()


def test_the_exporter_posts_the_lean_encoding_and_reports_failures(
    collector: tuple[str, type[_Collector]],
) -> None:
    """Through the SDK exporter's own HTTP client: the collector receives the SDK's encoding
    of the spans; a collector answering 400 (not retried) is a failed export."""
    endpoint, handler = collector
    provider = TracerProvider(resource=Resource({"service.name": "t"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("graphql_api").start_span("query Q", attributes={"a": "b"}).end()
    spans = memory.get_finished_spans()
    exporter = LeanOTLPSpanExporter(endpoint=endpoint, timeout=5)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert handler.bodies == [sdk_encode(spans).SerializeToString()]
    handler.status = 400
    assert exporter.export(spans) is SpanExportResult.FAILURE
    exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK
    assert exporter.export(spans) is SpanExportResult.FAILURE  # after shutdown: refused


def test_canary_the_sdk_exporter_has_the_shape_lean_export_replaces() -> None:
    """LeanOTLPSpanExporter.export is the SDK exporter's export with the encoder replaced. A
    release that changes that method, or the attributes it reads, fails here: compare the new
    OTLPSpanExporter.export with graphql_api/tracing_export.py and follow it."""
    source = inspect.getsource(trace_exporter.OTLPSpanExporter.export)
    for part in (
        "self._shutdown",
        "self._metrics.export_operation(len(spans))",
        "encode_spans(spans).SerializePartialToString()",
        "_is_request_too_large(serialized_data, self._max_request_size)",
        "self._client.export(serialized_data)",
        "export_result.success",
        "export_result.status_code",
    ):
        assert part in source, f"opentelemetry-exporter-otlp-proto-http changed: {part}"
    exporter = LeanOTLPSpanExporter(endpoint="http://127.0.0.1:9/v1/traces")
    assert isinstance(exporter._max_request_size, int)
    assert callable(exporter._client.export)
    exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped in the SDK

"""tests/otlp.py, the OTLP/HTTP receiver the e2e tests and the benchmark use, against the SDK's
own OTLP/HTTP exporter: what the SDK sends, it decodes to the same values (gzip or not), it
refuses what it cannot read, and once stopped the exporter meets a closed port."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.helpers import http_get, http_post
from tests.otlp import Event, OtlpReceiver


def _provider(receiver: OtlpReceiver, compression: Compression) -> TracerProvider:
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.url}/v1/traces", compression=compression, timeout=5
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "otlp-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_decodes_what_the_sdk_exports(compression: Compression) -> None:
    with OtlpReceiver() as receiver:
        provider = _provider(receiver, compression)
        tracer = provider.get_tracer("tests.otlp")
        with tracer.start_as_current_span("query Products", kind=SpanKind.SERVER) as server:
            server.set_attribute("graphql.operation.name", "Products")
            server.set_attribute("graphql_api.error_codes", ["BAD_USER_INPUT", "NOT_FOUND"])
            server.add_event("cache", {"graphql_api.cache.outcome": "hit", "n": 2})
            with tracer.start_as_current_span("GET /x", kind=SpanKind.CLIENT) as client:
                client.set_attribute("http.response.status_code", 503)
                client.set_attribute("ratio", 0.5)
                client.set_attribute("retried", True)
                client.set_status(StatusCode.ERROR)
        provider.shutdown()
        inner, outer = receiver.wait_for(2)

    assert receiver.errors == []
    assert receiver.requests == 2
    assert receiver.span_count == 2
    context = server.get_span_context()
    assert outer.trace_id == inner.trace_id == f"{context.trace_id:032x}"
    assert outer.span_id == f"{context.span_id:016x}"
    assert outer.parent_span_id is None
    assert inner.parent_span_id == outer.span_id
    assert (outer.name, outer.kind, inner.name, inner.kind) == (
        "query Products",
        "SERVER",
        "GET /x",
        "CLIENT",
    )
    assert outer.attributes == {
        "graphql.operation.name": "Products",
        "graphql_api.error_codes": ("BAD_USER_INPUT", "NOT_FOUND"),
    }
    assert outer.events == (Event("cache", {"graphql_api.cache.outcome": "hit", "n": 2}),)
    assert inner.attributes == {"http.response.status_code": 503, "ratio": 0.5, "retried": True}
    assert (inner.status, outer.status) == ("ERROR", "UNSET")
    assert outer.resource["service.name"] == "otlp-test"
    assert outer.scope == "tests.otlp"
    assert outer.end_ns >= inner.end_ns > inner.start_ns >= outer.start_ns > 0
    assert all(b"otlp-test" in payload for payload in receiver.payloads)  # decompressed


def test_refuses_what_it_cannot_read() -> None:
    with OtlpReceiver() as receiver:
        url = f"{receiver.url}/v1/traces"
        as_json = http_post(url, json={"resourceSpans": []})
        garbage = http_post(
            url, content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf"}
        )
        bad_gzip = http_post(
            url,
            content=b"not gzip",
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        elsewhere = http_post(f"{receiver.url}/v1/logs", content=b"")
    assert [r.status_code for r in (as_json, garbage, bad_gzip, elsewhere)] == [415, 400, 400, 404]
    assert len(receiver.errors) == 4
    assert receiver.spans == []
    assert receiver.requests == 0


def test_once_stopped_the_exporter_meets_a_closed_port() -> None:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("t").start_span("one").end()
    spans = memory.get_finished_spans()
    receiver = OtlpReceiver().start()
    exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=2)
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # its connection stays open
    receiver.stop()
    assert exporter.export(spans) == SpanExportResult.FAILURE
    with pytest.raises(httpx.ConnectError):
        http_get(f"{receiver.url}/_stats")
    assert receiver.requests == 1
    assert [span.name for span in receiver.spans] == ["one"]

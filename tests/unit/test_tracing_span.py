"""graphql_api.tracing.RequestTrace makes its SERVER span without the SDK's start_span (which
costs as much as a cached request's execution): the span it hands the processors must be the
one start_span would have made from the same inputs, for every sampler decision and parent."""

from __future__ import annotations

import pytest
from graphql import OperationDefinitionNode, parse
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode
from starlette.requests import Request

from graphql_api import __version__
from graphql_api.tracing import Tracing

RESOURCE = Resource({"service.name": "graphql-api-test"})
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


class _Counting(IdGenerator):
    """Ids in sequence: two providers given one each name their spans alike."""

    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return self.n

    def generate_trace_id(self) -> int:
        self.n += 1
        return 2**100 + self.n


def _request(traceparent: str | None) -> Request:
    headers = [(b"traceparent", traceparent.encode())] if traceparent else []
    return Request({"type": "http", "method": "POST", "path": "/graphql", "headers": headers})


def _operation(query: str) -> OperationDefinitionNode:
    (definition,) = parse(query).definitions
    assert isinstance(definition, OperationDefinitionNode)
    return definition


def _lean(sampler: Sampler, traceparent: str | None, status: int) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, resource=RESOURCE, id_generator=_Counting())
    tracing = Tracing(provider, [SimpleSpanProcessor(exporter)])
    trace = tracing.request(_request(traceparent))
    query = "query Products { productGroupProducts(productGroupId: 1) { nodes { id } } }"
    trace.document(query, _operation(query))
    trace.end(status)
    return list(exporter.get_finished_spans())


def _sdk(
    sampler: Sampler, traceparent: str | None, like: ReadableSpan | None, status: int
) -> list[ReadableSpan]:
    """What start_span makes of the same inputs (the lean span's attributes, times)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler, resource=RESOURCE, id_generator=_Counting())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("graphql_api", __version__)
    span = tracer.start_span(
        like.name if like else "query Products",
        context=extract({"traceparent": traceparent}) if traceparent else None,
        kind=SpanKind.SERVER,
        attributes=dict(like.attributes or {}) if like else None,
        start_time=like.start_time if like else None,
    )
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end(end_time=like.end_time if like else None)
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize(
    "sampler",
    [ALWAYS_ON, ALWAYS_OFF, ParentBased(ALWAYS_ON), ParentBased(TraceIdRatioBased(0.5))],
    ids=["always_on", "always_off", "parentbased_always_on", "parentbased_ratio"],
)
@pytest.mark.parametrize("traceparent", [None, PARENT, UNSAMPLED_PARENT])
@pytest.mark.parametrize("status", [200, 500])
def test_the_lean_server_span_is_the_span_start_span_makes(
    sampler: Sampler, traceparent: str | None, status: int
) -> None:
    lean = _lean(sampler, traceparent, status)
    sdk = _sdk(sampler, traceparent, lean[0] if lean else None, status)
    assert len(lean) == len(sdk)  # sampled, or not, alike
    if lean:
        (ours,), (theirs,) = lean, sdk
        assert encode_spans([ours]) == encode_spans([theirs])
        assert ours.attributes == theirs.attributes
        assert ours.get_span_context() == theirs.get_span_context()
        assert ours.parent == theirs.parent
        assert ours.instrumentation_scope == theirs.instrumentation_scope
        assert ours.status.status_code is theirs.status.status_code
        assert (ours.attributes or {})["graphql.operation.name"] == "Products"

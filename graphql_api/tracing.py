"""OpenTelemetry tracing, set up from the standard ``OTEL_*`` variables (docs/tracing.md).

Off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``), and always off with
``OTEL_SDK_DISABLED=true``. Off, nothing of OpenTelemetry is imported and a request makes no span
object. On, the SDK reads the rest of the variables itself: ``Resource.create`` the service name and
resource attributes, ``TracerProvider`` the sampler, ``OTLPSpanExporter`` the endpoint, headers,
timeout and compression, ``BatchSpanProcessor`` the ``OTEL_BSP_*`` limits, and the global
propagator ``OTEL_PROPAGATORS``. OTLP goes over http/protobuf, each batch encoded by
``graphql_api.tracing_export`` (the SDK's exporter with a leaner encoder); another protocol, an
unknown exporter, or a missing ``otel`` extra is a :class:`TracingUnavailable` at startup.

Per request, :class:`RequestTrace`: one SERVER span (the incoming ``traceparent`` continued) with
the operation, the document's hash, the outcome, the error codes and the count of its page and Pin
lookups by outcome (``graphql_api.cache.page.hit``: attributes, not events: an event costs more
than the rest of the span, to make and to export). Per upstream attempt, :class:`AttemptSpan`:
one CLIENT span, its context sent upstream as ``traceparent``. No span carries a token, a cursor
or a cache key (it holds the caller's HMAC): the client span names the route template, never the
URL (whose query holds the upstream's bookmark).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, MutableMapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from graphql_api import __version__
from graphql_api.observability import request_id
from graphql_api.persisted import sha256

if TYPE_CHECKING:
    from graphql import OperationDefinitionNode
    from opentelemetry.context import Context as OtelContext
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Span, SpanContext
    from starlette.requests import Request

    from graphql_api.cache import Lookup
    from graphql_api.execution import Outcome
    from graphql_api.upstream.operations import Operation

__all__ = [
    "AttemptSpan",
    "RequestTrace",
    "Tracing",
    "TracingUnavailable",
    "from_environ",
]

DEFAULT_SERVICE_NAME = "graphql-api"
_EXPORTERS = ("otlp", "console")
_PROTOCOL = "http/protobuf"
_INSTALL = "pip install 'graphql-api[otel]'"


class TracingUnavailable(ValueError):
    """The ``OTEL_*`` variables ask for tracing this install cannot give (refused at startup)."""


def _exporters(environ: Mapping[str, str]) -> list[str]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",")]
    return [n for n in names if n and n != "none"]


def from_environ(environ: Mapping[str, str] = os.environ) -> Tracing | None:
    """The tracing ``environ`` asks for, or ``None`` (off). Raises :class:`TracingUnavailable`
    when it asks for what cannot be done: an unknown exporter, OTLP over another protocol than
    http/protobuf, or the SDK not installed. ``environ`` holds the variables read here (whether,
    and which exporters); the SDK reads the others from the process's environment."""
    exporters = _exporters(environ)
    if not exporters:
        return None
    unknown = sorted(set(exporters) - set(_EXPORTERS))
    if unknown:
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not supported "
            f"(use {' or '.join(_EXPORTERS)}, or none)."
        )
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = environ.get(name, "").strip()
        if protocol:
            if "otlp" in exporters and protocol != _PROTOCOL:
                raise TracingUnavailable(
                    f"{name}={protocol} is not supported: OTLP is exported over {_PROTOCOL} "
                    "(a collector's port 4318; Jaeger and the OpenTelemetry Collector accept it)."
                )
            break
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        raise TracingUnavailable(
            f"OTEL_TRACES_EXPORTER asks for traces, but OpenTelemetry is not installed: {_INSTALL}."
        ) from None
    if "otlp" in exporters:
        try:
            from graphql_api.tracing_export import LeanOTLPSpanExporter
        except ImportError:
            raise TracingUnavailable(
                f"OTEL_TRACES_EXPORTER=otlp, but the OTLP exporter is not installed: {_INSTALL}."
            ) from None

    resource = Resource({"service.version": __version__}).merge(Resource.create())
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # the sampler: OTEL_TRACES_SAMPLER(_ARG)
    processors = []
    for name in dict.fromkeys(exporters):
        exporter: SpanExporter = LeanOTLPSpanExporter() if name == "otlp" else ConsoleSpanExporter()
        processors.append(BatchSpanProcessor(exporter))
    return Tracing(provider, processors)


class Tracing:
    """A tracer provider (its own, never the global one), the span processors it exports
    through (added to it here), and what the app does with them."""

    def __init__(self, provider: TracerProvider, processors: Sequence[SpanProcessor]) -> None:
        from opentelemetry import propagate, trace
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        for processor in processors:
            provider.add_span_processor(processor)
        self.provider = provider
        self.tracer = provider.get_tracer("graphql_api", __version__)
        # The server span's parts (see RequestTrace): the provider's sampler, ids and resource.
        self._processors = tuple(processors)
        self._sampler = provider.sampler
        self._ids = provider.id_generator
        self._resource = provider.resource
        self._scope = InstrumentationScope("graphql_api", __version__)
        self._readable = ReadableSpan
        self._context = trace.SpanContext
        self._flags = (
            trace.TraceFlags(trace.TraceFlags.DEFAULT),
            trace.TraceFlags(trace.TraceFlags.SAMPLED),
        )
        self._unset = trace.Status(trace.StatusCode.UNSET)
        self._failed = trace.Status(trace.StatusCode.ERROR)
        self._parent_of = trace.get_current_span
        self._in_context = trace.set_span_in_context
        self._non_recording = trace.NonRecordingSpan
        self._extract = propagate.extract
        self._inject = propagate.inject
        # The headers the propagators (OTEL_PROPAGATORS) read: a request without any of them
        # has nothing to extract.
        self._fields = frozenset(f.lower().encode() for f in propagate.get_global_textmap().fields)
        self._server = trace.SpanKind.SERVER
        self._client = trace.SpanKind.CLIENT
        self._error = trace.StatusCode.ERROR

    def request(self, request: Request) -> RequestTrace:
        """The trace of a GraphQL HTTP request, current until :meth:`RequestTrace.end`."""
        fields = self._fields
        parent = (
            self._extract(request.headers)
            if any(name in fields for name, _ in request.scope["headers"])
            else None
        )
        trace = RequestTrace(self, request.method, request.scope["path"], parent)
        trace.token = _current.set(trace)
        return trace

    def attempt(
        self, operation: Operation, attempt: int, headers: MutableMapping[str, str]
    ) -> AttemptSpan:
        """The CLIENT span of one upstream attempt, as an async context manager; entering it
        writes its ``traceparent`` into ``headers``."""
        return AttemptSpan(self, operation, attempt, headers)

    def shutdown(self) -> None:
        """Exports what is still buffered, then stops (the app's lifespan ends)."""
        self.provider.shutdown()


_current: ContextVar[RequestTrace | None] = ContextVar("graphql_api.tracing", default=None)


class RequestTrace:
    """The SERVER span of one request, made lean: the SDK's ``start_span`` costs (it checks
    every attribute, builds locks, bounded lists and an event list) about as much as a page-cache
    hit's execution. This follows what it does for a span made whole at the end: the
    provider's sampler decides when the span's context is first needed (by an upstream attempt,
    as its parent, or at the end), the provider's id generator names it, and at the end one
    ``ReadableSpan`` (the SDK's class for an ended span) with every attribute goes to the span
    processors, which skip it when it is not sampled, as they skip the SDK's own.
    ``tests/integration/test_tracing.py`` holds it equal to the span ``start_span`` would make.
    The request's context (and the tasks it starts) find it in a context variable."""

    __slots__ = (
        "_attributes",
        "_context",
        "_name",
        "_parent",
        "_parent_context",
        "_recording",
        "_started",
        "_tracing",
        "lookups",
        "outcome",
        "token",
    )

    def __init__(
        self, tracing: Tracing, method: str, path: str, parent: OtelContext | None
    ) -> None:
        self._tracing = tracing
        self._parent = parent
        self._started = time.time_ns()
        self._context: SpanContext | None = None
        self._parent_context: SpanContext | None = None
        self._recording = False
        self._name = f"{method} {path}"
        self._attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": path,
            "graphql_api.request_id": request_id.get(),
        }
        self.token: Token[RequestTrace | None] | None = None
        self.outcome: Outcome | None = None
        self.lookups: Sequence[Lookup[Any]] = ()

    def document(self, query: str, operation: OperationDefinitionNode | None) -> None:
        """The document the request runs and its operation (``None``: not parsed, or no such
        operation)."""
        self._attributes["graphql.document.hash"] = sha256(query)
        if operation is not None:
            kind = operation.operation.value
            self._attributes["graphql.operation.type"] = kind
            if operation.name is not None:
                name = operation.name.value
                self._attributes["graphql.operation.name"] = name
                self._name = f"{kind} {name}"
            else:
                self._name = kind

    def context(self) -> SpanContext:
        """The span's context, sampled now if it is not yet (a child needs its parent)."""
        if self._context is None:
            tracing = self._tracing
            parent = tracing._parent_of(self._parent).get_span_context()
            if parent.is_valid:
                self._parent_context, trace_id = parent, parent.trace_id
            else:
                trace_id = tracing._ids.generate_trace_id()
            sampled = tracing._sampler.should_sample(
                self._parent, trace_id, self._name, tracing._server, self._attributes
            )
            decision = sampled.decision
            self._recording = decision.is_recording()  # type: ignore[no-untyped-call]
            if sampled.attributes:
                self._attributes.update(sampled.attributes)
            self._context = tracing._context(
                trace_id,
                tracing._ids.generate_span_id(),
                is_remote=False,
                trace_flags=tracing._flags[decision.is_sampled()],  # type: ignore[no-untyped-call]
                trace_state=sampled.trace_state,
            )
        return self._context

    def parent_of_children(self) -> OtelContext:
        """An OpenTelemetry context whose current span is this one (a child's parent)."""
        tracing = self._tracing
        return tracing._in_context(tracing._non_recording(self.context()))

    def end(self, status: int) -> None:
        """Ends the span with the response's status; the request's context no longer has it."""
        if self.token is not None:
            _current.reset(self.token)
            self.token = None
        attributes = self._attributes
        attributes["http.response.status_code"] = status
        error = status >= 500
        outcome = self.outcome
        if outcome is not None:
            errors = outcome.body.get("errors") or ()
            codes = tuple(  # a tuple, as the SDK keeps a sequence attribute
                sorted(
                    {
                        code
                        for e in errors
                        if isinstance(code := (e.get("extensions") or {}).get("code"), str)
                    }
                )
            )
            label = attributes["graphql_api.outcome"] = outcome.label
            error = error or label == "error"
            if codes:
                attributes["graphql_api.error_codes"] = codes
        for lookup in self.lookups:  # e.g. graphql_api.cache.page.hit: 1 (the key's kind only)
            name = f"graphql_api.cache.{lookup.key.partition(':')[0]}.{lookup.outcome}"
            attributes[name] = attributes.get(name, 0) + 1
        # A background refresh the request started keeps this object (in its context): not the
        # response nor the pages.
        self.outcome, self.lookups = None, ()
        context = self.context()
        if not self._recording:
            return
        tracing = self._tracing
        span = tracing._readable(
            self._name,
            context=context,
            parent=self._parent_context,
            resource=tracing._resource,
            attributes=attributes,
            kind=tracing._server,
            status=tracing._failed if error else tracing._unset,
            start_time=self._started,
            end_time=time.time_ns(),
            instrumentation_scope=tracing._scope,
        )
        for processor in tracing._processors:
            processor.on_end(span)


class AttemptSpan:
    """The CLIENT span of one upstream attempt: ``<METHOD> <route template>``; its error type is
    the status (``"503"``) when the upstream answered with an error, else the error's code
    (``UPSTREAM_TIMEOUT``, ``UPSTREAM_UNAVAILABLE``, ...)."""

    __slots__ = ("_attempt", "_headers", "_operation", "_span", "_tracing")

    def __init__(
        self,
        tracing: Tracing,
        operation: Operation,
        attempt: int,
        headers: MutableMapping[str, str],
    ) -> None:
        self._tracing = tracing
        self._operation = operation
        self._attempt = attempt
        self._headers = headers
        self._span: Span | None = None

    async def __aenter__(self) -> AttemptSpan:
        tracing, operation = self._tracing, self._operation
        attributes: dict[str, Any] = {
            "http.request.method": operation.method,
            "url.template": operation.path,
            "graphql_api.upstream.operation": operation.name,
        }
        if self._attempt > 1:
            attributes["http.request.resend_count"] = self._attempt - 1
        parent = _current.get()
        span = self._span = tracing.tracer.start_span(
            f"{operation.method} {operation.path}",
            context=parent.parent_of_children() if parent else None,
            kind=tracing._client,
            attributes=attributes,
        )
        tracing._inject(self._headers, context=tracing._in_context(span))
        return self

    def answered(self, status: int) -> None:
        """The upstream's status (an error status is the span's error)."""
        span = self._span
        if span is None or not span.is_recording():
            return
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_attribute("error.type", str(status))
            span.set_status(self._tracing._error)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        span = self._span
        if span is None:
            return
        if exc is not None and span.is_recording():
            code = getattr(exc, "code", None)
            kind = code if isinstance(code, str) else type(exc).__qualname__
            span.set_attribute("error.type", kind)
            span.set_status(self._tracing._error, kind)
        span.end()

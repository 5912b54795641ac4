"""OTLP/HTTP span export with a lean protobuf encoder (imported only when tracing is on).

The OpenTelemetry SDK's OTLP exporter builds a protobuf message object for every span, attribute
and value before serialising them: about 70 microseconds a span on our 2-core machines, more
than a page-cache hit's whole GraphQL execution budget allows (docs/benchmarks.md, "Issue 15").
:func:`encode_spans` writes the same ``ExportTraceServiceRequest`` straight to the protobuf wire
format (about a tenth of the time); everything else is the SDK's exporter: the endpoint,
headers, timeout, compression and TLS from the ``OTEL_EXPORTER_OTLP_*`` variables, the HTTP
client, its retries and its size limit. ``tests/unit/test_tracing_export.py`` holds the two
encoders equal (the SDK's ``encode_spans`` and this one decode to the same message) over random
spans, and fails if a release of the exporter changes the part of it that
:class:`LeanOTLPSpanExporter` replaces.
"""

from __future__ import annotations

import logging
import struct
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind

__all__ = ["LeanOTLPSpanExporter", "encode_spans"]

_log = logging.getLogger(__name__)
_KINDS = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200  # SpanFlags
_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack
_FIXED32 = struct.Struct("<I").pack


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF  # int64 as two's complement: ten bytes for a negative
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SIZES = tuple(_varint(n) for n in range(0x4000))  # the length prefixes of up to 16 KiB


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message): its tag, length and payload."""
    n = len(payload)
    return tag + (_SIZES[n] if n < 0x4000 else _varint(n)) + payload


# The tags of the length-delimited fields by number (field << 3 | 2), and of the others used.
_F1, _F2, _F3, _F4, _F5, _F6, _F7 = (bytes((n << 3 | 2,)) for n in range(1, 8))
_F9, _F11, _F13, _F15 = (bytes((n << 3 | 2,)) for n in (9, 11, 13, 15))
_TRACE_ID, _SPAN_ID, _PARENT_ID = b"\x0a\x10", b"\x12\x08", b"\x22\x08"
_KIND, _START, _END = b"\x30", b"\x39", b"\x41"  # varint, fixed64, fixed64
_FLAGS, _LINK_FLAGS = b"\x85\x01", b"\x35"  # fixed32: Span field 16, Link field 6


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` message (the SDK's ``_encode_value``): its value is a oneof, so a
    zero, false or empty value is written too."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _field(_F1, value.encode())
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, bytes):
        return _field(_F7, value)
    if isinstance(value, Sequence):
        return _field(_F5, b"".join(_field(_F1, _any_value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(_F6, b"".join(_field(_F1, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    return (_field(_F1, key.encode()) if key else b"") + _field(_F2, _any_value(value))


# Encoded key-values of strings and ints (length-prefixed, without the tag: the same attribute
# is a field of a resource, a span, an event or a link), by (key, value): most attributes repeat
# from span to span (method, route, operation, outcome, status). Emptied when full.
# ``type(v) is int`` keeps True apart from 1.
_KNOWN: dict[tuple[str, str | int], bytes] = {}
_KNOWN_MAX = 4096


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    known = _KNOWN
    parts = []
    for key, value in attributes.items():
        kind = type(value)
        if kind is str or kind is int:
            encoded = known.get((key, value))
            if encoded is None:
                if len(known) >= _KNOWN_MAX:
                    known.clear()
                encoded = known[key, value] = _field(b"", _key_value(key, value))
            parts.append(tag + encoded)
            continue
        try:
            parts.append(_field(tag, _key_value(key, value)))
        except Exception:  # as the SDK: an attribute that cannot be encoded is left out
            _log.exception("Failed to encode key %s", key)
    return b"".join(parts)


def _count(number: int, value: int) -> bytes:
    return bytes((number << 3,)) + _varint(value) if value else b""


def _span(span: ReadableSpan) -> bytes:
    context = span.get_span_context()
    assert context is not None  # a span the SDK ended has one
    parent = span.parent
    parts = [
        _TRACE_ID + context.trace_id.to_bytes(16, "big"),
        _SPAN_ID + context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        state = ",".join(f"{k}={v}" for k, v in context.trace_state.items())
        parts.append(_field(_F3, state.encode()))
    if parent is not None:
        parts.append(_PARENT_ID + parent.span_id.to_bytes(8, "big"))
    if span.name:
        parts.append(_field(_F5, span.name.encode()))
    parts.append(_KIND + bytes((_KINDS[span.kind],)))
    if span.start_time:
        parts.append(_START + _FIXED64(span.start_time))
    if span.end_time:
        parts.append(_END + _FIXED64(span.end_time))
    parts.append(_attributes(_F9, span.attributes))
    parts.append(_count(10, span.dropped_attributes))
    for event in span.events:
        parts.append(
            _field(
                _F11,
                (b"\x09" + _FIXED64(event.timestamp) if event.timestamp else b"")
                + (_field(_F2, event.name.encode()) if event.name else b"")
                + _attributes(_F3, event.attributes)
                + _count(4, event.dropped_attributes),
            )
        )
    parts.append(_count(12, span.dropped_events))
    for link in span.links:
        linked = link.context  # its trace state is not exported (as the SDK's encoder)
        parts.append(
            _field(
                _F13,
                _TRACE_ID
                + linked.trace_id.to_bytes(16, "big")
                + _SPAN_ID
                + linked.span_id.to_bytes(8, "big")
                + _attributes(_F4, link.attributes)
                + _count(5, link.dropped_attributes)
                + _LINK_FLAGS
                + _FIXED32(_HAS_IS_REMOTE | (_IS_REMOTE if linked.is_remote else 0)),
            )
        )
    parts.append(_count(14, span.dropped_links))
    status = span.status
    message = status.description or ""
    parts.append(
        _field(
            _F15,
            (_field(_F2, message.encode()) if message else b"")
            + _count(3, status.status_code.value),
        )
    )
    remote = parent is not None and parent.is_remote
    parts.append(_FLAGS + _FIXED32(_HAS_IS_REMOTE | (_IS_REMOTE if remote else 0)))
    return b"".join(parts)


def _scope(scope: InstrumentationScope | None) -> bytes:
    if scope is None:
        return b""
    return (
        (_field(_F1, scope.name.encode()) if scope.name else b"")
        + (_field(_F2, scope.version.encode()) if scope.version else b"")
        + _attributes(_F3, scope.attributes)
    )


def encode_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """``spans`` as a serialised ``ExportTraceServiceRequest``, grouped by resource and then by
    instrumentation scope as the SDK's encoder groups them."""
    grouped: defaultdict[Resource, defaultdict[InstrumentationScope | None, list[bytes]]]
    grouped = defaultdict(lambda: defaultdict(list))
    # A Resource hashes by serialising its attributes to JSON: once per resource object (the
    # spans of a batch share one or two), not once per span.
    by_id: dict[int, defaultdict[InstrumentationScope | None, list[bytes]]] = {}
    for span in spans:
        resource = span.resource
        scopes = by_id.get(id(resource))
        if scopes is None:
            scopes = by_id[id(resource)] = grouped[resource]
        scopes[span.instrumentation_scope or None].append(_field(_F2, _span(span)))
    out = []
    for resource, scopes in grouped.items():
        body = [_field(_F1, _attributes(_F1, resource.attributes))]
        for scope, encoded in scopes.items():
            schema = scope.schema_url if scope is not None else ""
            body.append(
                _field(
                    _F2,
                    _field(_F1, _scope(scope))
                    + b"".join(encoded)
                    + (_field(_F3, schema.encode()) if schema else b""),
                )
            )
        if resource.schema_url:
            body.append(_field(_F3, resource.schema_url.encode()))
        out.append(_field(_F1, b"".join(body)))
    return b"".join(out)


class LeanOTLPSpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter (configured by the ``OTEL_EXPORTER_OTLP_*``
    variables), encoding with :func:`encode_spans`. Its ``export`` is the SDK's with the
    encoder replaced; it reads four of the exporter's attributes (``_shutdown``, ``_metrics``,
    ``_max_request_size``, ``_client``), which the canary test checks."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            _log.warning("Exporter already shutdown, ignoring batch")
            return SpanExportResult.FAILURE
        with self._metrics.export_operation(len(spans)) as result:
            try:
                data = encode_spans(spans)
            except Exception as error:
                _log.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            limit = self._max_request_size
            if limit > 0 and len(data) > limit:
                message = (
                    f"Dropping span batch: serialized size {len(data)} bytes exceeds "
                    f"max_request_size {limit} bytes."
                )
                _log.warning(message)
                result.error = OverflowError(message)
                return SpanExportResult.FAILURE
            answer = self._client.export(data)
            if not answer.success:
                result.error = answer.error
                if answer.status_code is not None:
                    result.error_attrs = {"http.response.status_code": answer.status_code}
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

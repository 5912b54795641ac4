"""A small OTLP/HTTP trace receiver on loopback: what a collector sees of the service's traces.

    with OtlpReceiver() as receiver:      # a thread serving POST /v1/traces on a free port
        ...  # OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
        spans = receiver.wait_for(3)      # at least 3 spans, or AssertionError after the timeout

It accepts what the SDK's OTLP/HTTP exporter sends (``application/x-protobuf``, gzip or not),
decodes each ``ExportTraceServiceRequest`` with the generated classes of ``opentelemetry-proto``
and keeps the spans as plain values (:class:`Span`: ids in hex, attributes as Python values,
events, resource attributes) and the decoded request bodies as received (``payloads``: to look
for a secret in the bytes, not only in the attributes the decoder knows). Anything else is
answered 415 or 400 and recorded in ``errors``.

``stop()`` closes the listening socket and every open connection, as a killed collector would
(the exporter then meets "connection refused").

As a process (the benchmark's receiver): ``python -m tests.otlp --port PORT`` counts spans
without keeping them; ``GET /_stats`` answers ``{"requests": N, "spans": M, "errors": E}``.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import signal
import socket
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import TypeAlias

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

__all__ = ["Event", "OtlpReceiver", "Span", "Value", "decode"]

Value: TypeAlias = "str | bool | int | float | bytes | tuple[Value, ...] | dict[str, Value] | None"
TRACES_PATH = "/v1/traces"
_RESPONSE = ExportTraceServiceResponse().SerializeToString()


@dataclass(frozen=True)
class Event:
    name: str
    attributes: dict[str, Value]


@dataclass(frozen=True)
class Span:
    """One received span. Ids are lowercase hex (as in a ``traceparent``); ``kind`` and
    ``status`` without their enum prefixes ("SERVER", "ERROR")."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Value]
    events: tuple[Event, ...]
    status: str
    resource: dict[str, Value]
    scope: str  # the instrumentation scope's name
    start_ns: int
    end_ns: int


def _value(value: AnyValue) -> Value:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    plain: Value = getattr(value, kind)
    return plain


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Value]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _hex(raw: bytes) -> str | None:
    return raw.hex() if raw else None


def decode(request: ExportTraceServiceRequest) -> list[Span]:
    """The spans of one export request, as plain values."""
    spans = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=_hex(span.parent_span_id),
                        name=span.name,
                        kind=ProtoSpan.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        attributes=_attributes(span.attributes),
                        events=tuple(
                            Event(event.name, _attributes(event.attributes))
                            for event in span.events
                        ),
                        status=Status.StatusCode.Name(span.status.code).removeprefix(
                            "STATUS_CODE_"
                        ),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                    )
                )
    return spans


def _count(request: ExportTraceServiceRequest) -> int:
    return sum(
        len(scope_spans.spans)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
    )


_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "": lambda body: body,
    "identity": lambda body: body,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
}


class OtlpReceiver:
    """An OTLP/HTTP (protobuf) trace receiver on ``127.0.0.1``, served by a thread.

    ``keep=False`` keeps counts only (no spans, no payloads): what the benchmark needs."""

    def __init__(self, *, port: int = 0, keep: bool = True) -> None:
        self._keep = keep
        self._changed = threading.Condition()
        self._spans: list[Span] = []
        self._payloads: list[bytes] = []
        self._connections: set[socket.socket] = set()
        self.requests = 0
        self.span_count = 0
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def spans(self) -> list[Span]:
        with self._changed:
            return list(self._spans)

    @property
    def payloads(self) -> list[bytes]:
        """Each export request's body as received, decompressed (protobuf bytes)."""
        with self._changed:
            return list(self._payloads)

    def start(self) -> OtlpReceiver:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop as a killed collector stops: the port refuses connections and the open ones
        are closed."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(
        self,
        count: int,
        timeout: float = 15.0,
        where: Callable[[Span], bool] = lambda span: True,
    ) -> list[Span]:
        """The spans received (those ``where`` accepts) once there are at least ``count``;
        AssertionError if they are not there within ``timeout`` seconds."""

        def matching() -> list[Span]:
            return [span for span in self._spans if where(span)]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise AssertionError(
                    f"{len(matching())} matching span(s) of {count} within {timeout} s "
                    f"(received: {[span.name for span in self._spans]}, errors: {self.errors})"
                )
            return matching()

    def _receive(self, body: bytes, encoding: str) -> HTTPStatus:
        decompress = _DECOMPRESS.get(encoding)
        if decompress is None:
            return self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"encoding {encoding!r}")
        try:
            payload = decompress(body)
            request = ExportTraceServiceRequest.FromString(payload)
        # A broken gzip or deflate stream, or protobuf's DecodeError (google.protobuf has no
        # stubs among the dependencies: not imported by name).
        except Exception as error:
            return self._error(HTTPStatus.BAD_REQUEST, f"undecodable export: {error}")
        spans = decode(request) if self._keep else []
        count = len(spans) if self._keep else _count(request)
        with self._changed:
            self.requests += 1
            self.span_count += count
            if self._keep:
                self._spans += spans
                self._payloads.append(payload)
            self._changed.notify_all()
        return HTTPStatus.OK

    def _error(self, status: HTTPStatus, message: str) -> HTTPStatus:
        with self._changed:
            self.errors.append(message)
            self._changed.notify_all()
        return status

    def _stats(self) -> bytes:
        with self._changed:
            counts = {"requests": self.requests, "spans": self.span_count}
            return json.dumps({**counts, "errors": len(self.errors)}).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

            def setup(self) -> None:
                super().setup()
                with receiver._changed:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._changed:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = self.headers.get("Content-Type", "").split(";")[0].strip()
                if self.path != TRACES_PATH:
                    status = receiver._error(HTTPStatus.NOT_FOUND, f"POST {self.path}")
                elif content_type != "application/x-protobuf":
                    status = receiver._error(
                        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"content type {content_type!r}"
                    )
                else:
                    encoding = self.headers.get("Content-Encoding", "").strip().lower()
                    status = receiver._receive(body, encoding)
                self._answer(status, _RESPONSE if status == HTTPStatus.OK else b"")

            def do_GET(self) -> None:
                if self.path == "/_stats":
                    self._answer(HTTPStatus.OK, receiver._stats(), "application/json")
                else:
                    self._answer(HTTPStatus.NOT_FOUND, b"")

            def _answer(
                self, status: HTTPStatus, body: bytes, kind: str = "application/x-protobuf"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: tests and the benchmark read the counts, not a log

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="An OTLP/HTTP trace receiver that counts spans.")
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args(argv)
    receiver = OtlpReceiver(port=args.port, keep=False)
    stopped = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with receiver:
        print(f"OTLP receiver on {receiver.url}{TRACES_PATH}", flush=True)
        stopped.wait()


if __name__ == "__main__":
    main()

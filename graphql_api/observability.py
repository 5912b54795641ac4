"""Operations: Prometheus metrics, JSON logs that carry the request id, and the request-id
middleware. Metrics are recorded per request and per upstream call (counters and a histogram:
no per-field hooks); cache and breaker figures are read from their objects at scrape time."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.cache import PageCache
from graphql_api.execution import Outcome
from graphql_api.response_cache import ResponseCache
from graphql_api.upstream.resilience import BreakerState, Resilience

__all__ = [
    "Metrics",
    "RequestIdMiddleware",
    "configure_logging",
    "current_token",
    "redact",
    "request_id",
]

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_INCOMING_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_BREAKER_STATES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
_access = logging.getLogger("graphql_api.access")


# The upstream token of the request being served, so log lines can be scrubbed of it.
current_token: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_token", default=None
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without bearer tokens, the current caller's token or the given secrets."""
    text = _BEARER.sub(r"\1[redacted]", text)
    for secret in (current_token.get(), *secrets):
        if secret and len(secret) >= 8:  # a shorter "token" is no secret, and would mangle text
            text = text.replace(secret, "[redacted]")
    return text


# ANSI escape sequences (CSI: colours, cursor moves; OSC: titles, links), and the lone escape.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?)?")
# What a text line shows escaped: control characters (a forged line, a terminal escape).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_BARE = re.compile(r'[^\s"=\x00-\x1f\x7f]+')  # a logfmt value that needs no quotes
# Loggers below WARNING whatever the level: httpx's "HTTP Request: GET <url>" (a line per
# upstream request, its query and cursor included: failures have our WARNING, and metrics
# count the rest) and aiocache's debug lines (a line per cache operation, its key holding a
# cursor). uvicorn's start and stop lines are quieted too but come back at debug (the startup
# line of graphql_api.server says what they said).
_QUIETED = ("httpx", "aiocache")
_UVICORN = "uvicorn.error"
# Record attributes that are not a line's fields: logging's own, and uvicorn's colour copy of
# the message (escape codes).
_NOT_FIELDS = frozenset({*RESERVED_ATTRS, "request_id", "color_message"})


class _ContextFilter(logging.Filter):
    """Adds the request id and scrubs tokens (and terminal escapes) from the message and
    traceback of every record."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        message = redact(record.getMessage(), self._secrets)
        record.msg, record.args = _ANSI.sub("", message) if "\x1b" in message else message, None
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text, record.exc_info = redact(formatted, self._secrets), None
        return True


def _fields(record: logging.LogRecord) -> Iterator[tuple[str, object]]:
    """The fields a line carries besides its message (``extra=`` of the logging call)."""
    return ((k, v) for k, v in record.__dict__.items() if k not in _NOT_FIELDS)


class _JSONFormatter(OrjsonFormatter):
    """One JSON object a line: time, level, logger, message, request id and the fields; no
    string in it holds a terminal escape."""

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for key, value in log_data.items():
            if type(value) is str and "\x1b" in value:
                log_data[key] = _ANSI.sub("", value)
        return log_data


class _TextFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value ...``: the fields as logfmt pairs
    (a value quoted when it has a space, a quote or a control character), no colours."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _UNSAFE.sub(_escaped, record.message)
        line = super().formatMessage(record)
        pairs = [f"{key}={_logfmt(value)}" for key, value in _fields(record)]
        return " ".join([line, *pairs]) if pairs else line


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def _logfmt(value: object) -> str:
    if type(value) is str:
        value = _ANSI.sub("", value) if "\x1b" in value else value
        if _BARE.fullmatch(value):
            return value
    return orjson.dumps(value, default=str).decode()


def configure_logging(level: str, fmt: str, secrets: tuple[str, ...] = ()) -> None:
    """The root logger: one JSON object a line (or text), each with the request id, and no
    token (bearer tokens, the caller's, and ``secrets``) in any message or traceback.
    docs/logging.md describes the lines."""
    handler = logging.StreamHandler()
    handler.addFilter(_ContextFilter(tuple(s for s in secrets if s)))
    if fmt == "json":
        handler.setFormatter(
            _JSONFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                reserved_attrs=sorted(_NOT_FIELDS),
            )
        )
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIETED:
        logging.getLogger(name).setLevel(logging.WARNING)
    debug = root.level <= logging.DEBUG
    logging.getLogger(_UVICORN).setLevel(logging.NOTSET if debug else logging.WARNING)


class RequestIdMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` when it is sane), returns it in
    the response, puts it on every log line, and logs one access line per request."""

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float]) -> None:
        self.app = app
        self._clock = clock  # monotonic seconds (the app's ``Timer.monotonic``): the duration

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _INCOMING_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        started = self._clock()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((self._clock() - started) * 1000, 2)
            _access.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
            request_id.reset(token)


class Watched(Protocol):
    """What the metrics read of the app's lifespan resources (``graphql_api.app.Resources``)."""

    @property
    def cache(self) -> PageCache: ...

    @property
    def resilience(self) -> Resilience: ...

    @property
    def responses(self) -> ResponseCache | None: ...


class _LiveFigures(Collector):
    """Cache and breaker figures, read from their objects when Prometheus scrapes."""

    def __init__(self, resources: Watched) -> None:
        self._resources = resources

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        cache = self._resources.cache
        for name, help_text in (
            ("hits", "Cache lookups answered from a fresh entry."),
            ("stale", "Cache lookups answered from a stale entry."),
            ("misses", "Cache lookups that went upstream."),
            ("joins", "Misses that joined an upstream fetch already under way."),
        ):
            family = CounterMetricFamily(f"graphql_api_cache_{name}", help_text)
            family.add_metric([], cache.stats[name])
            yield family
        yield from _sizes(cache, self._resources.responses)
        gauge = GaugeMetricFamily(
            "graphql_api_breaker_state",
            "Breaker (adaptive throttling) state per upstream operation: 0 closed (nothing "
            "refused), 1 half-open (a share refused), 2 open (no success in the window).",
            labels=["operation"],
        )
        for name, breaker in self._resources.resilience.breakers.items():
            gauge.add_metric([name], _BREAKER_STATES[breaker.state])
        yield gauge


def _sizes(cache: PageCache, responses: ResponseCache | None) -> Iterator[GaugeMetricFamily]:
    """Entries and bytes the caches of this process hold: the pages (with Redis, its
    in-process tier) and the responses."""
    entries = GaugeMetricFamily(
        "graphql_api_cache_entries", "Entries a cache holds in this process.", labels=["cache"]
    )
    held = GaugeMetricFamily(
        "graphql_api_cache_bytes",
        "Bytes a cache holds in this process, as counted against its byte bound.",
        labels=["cache"],
    )
    pages = cache.in_process  # with Redis: its in-process tier
    entries.add_metric(["pages"], len(pages))
    held.add_metric(["pages"], pages.nbytes)
    if responses is not None:
        entries.add_metric(["responses"], len(responses))
        held.add_metric(["responses"], responses.nbytes)
    yield entries
    yield held


class Metrics:
    """The app's metrics, in a registry of its own (several apps can live in one process).
    Request and upstream counters from the start; cache and breaker figures while the app's
    lifespan resources are :meth:`watching`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "graphql_api_requests",
            "GraphQL requests by operation (root fields) and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self.upstream = Counter(
            "graphql_api_upstream_requests",
            "Upstream requests by operation and status.",
            ["operation", "status"],
            registry=self.registry,
        )
        self.upstream_latency = Histogram(
            "graphql_api_upstream_latency_seconds",
            "Upstream request latency.",
            ["operation"],
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.compiled_fallbacks = Counter(
            "graphql_api_compiled_fallbacks",
            "Root fields compiled execution left to graphql-core, by reason (incomplete: "
            "expected; error, compile_error: a bug, logged).",
            ["reason"],
            registry=self.registry,
        )

    @contextlib.contextmanager
    def watching(self, resources: Watched) -> Iterator[None]:
        """The figures of ``resources`` in the registry while the block runs (the lifespan)."""
        live = _LiveFigures(resources)
        self.registry.register(live)
        try:
            yield
        finally:
            self.registry.unregister(live)

    async def respond(self, request: Request) -> Response:
        """``GET /metrics``: the registry in Prometheus' text format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    def observe_request(self, outcome: Outcome) -> None:
        if outcome.cached:
            result = "cached"
        elif outcome.request_error:
            result = "rejected"
        elif "errors" in outcome.body:
            result = "error"
        else:
            result = "ok"
        self.requests.labels(outcome.operation, result).inc()

    def observe_fallback(self, reason: str) -> None:
        self.compiled_fallbacks.labels(reason).inc()

    def observe_upstream(self, operation: str, status: str, seconds: float) -> None:
        self.upstream.labels(operation, status).inc()
        self.upstream_latency.labels(operation).observe(seconds)

"""Operations: Prometheus metrics, JSON logs that carry the request id, and the request-id
middleware. Metrics are recorded per request and per upstream call (counters and a histogram:
no per-field hooks); the figures of the caches, the Redis link and the resilience objects are
plain integers those objects keep, read when Prometheus scrapes (docs/metrics.md lists them).

With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set), a scrape of any of them
answers with all of theirs, summed: :mod:`graphql_api.multiprocess_metrics`."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
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

from graphql_api import multiprocess_metrics
from graphql_api.cache import PageCache, RedisStore
from graphql_api.execution import Outcome
from graphql_api.redis_link import RESULTS, LinkState, RedisLink
from graphql_api.response_cache import ResponseCache
from graphql_api.upstream.resilience import SYSTEM, BreakerState, Resilience

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
_log = logging.getLogger("graphql_api.metrics")


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
                    "pid": os.getpid(),  # which worker answered (--workers N)
                },
            )
            request_id.reset(token)


# Why compiled execution left a root field to graphql-core (graphql_api.compiled).
FALLBACK_REASONS = ("incomplete", "error", "compile_error")
# How a request ended (graphql_api_requests_total's and the durations' outcome label).
OUTCOMES = ("ok", "error", "rejected", "cached")
# The outcome the request being timed reported (set by Metrics.observe_request).
_outcome: contextvars.ContextVar[str | None] = contextvars.ContextVar("outcome", default=None)
Endpoint = Callable[[Request], Awaitable[Response]]


class Watched(Protocol):
    """What the metrics read of the app's lifespan resources (``graphql_api.app.Resources``)."""

    @property
    def cache(self) -> PageCache: ...

    @property
    def resilience(self) -> Resilience: ...

    @property
    def responses(self) -> ResponseCache | None: ...

    @property
    def redis(self) -> RedisLink | None: ...


Family = CounterMetricFamily | GaugeMetricFamily


class _LiveFigures(Collector):
    """The figures the app's objects keep (caches, Redis link, resilience), read when
    Prometheus scrapes: nothing is recorded for them on the request path but a plain integer
    added to by the object itself."""

    def __init__(self, resources: Watched) -> None:
        self._resources = resources

    def collect(self) -> Iterator[Family]:
        resources = self._resources
        cache = resources.cache
        for name, help_text in (
            ("hits", "Cache lookups answered from a fresh entry."),
            ("stale", "Cache lookups answered from a stale entry."),
            ("misses", "Cache lookups that went upstream."),
            ("joins", "Misses that joined an upstream fetch already under way."),
        ):
            yield CounterMetricFamily(
                f"graphql_api_cache_{name}", help_text, value=cache.stats[name]
            )
        yield from _sizes(cache, resources.responses)
        yield from _tiers(cache)
        if resources.redis is not None:
            yield from _redis(resources.redis, cache)
        yield from _resilience(resources.resilience)


def _tiers(cache: PageCache) -> Iterator[Family]:
    """Where the page cache's lookups were answered; with Redis, what happened to the copies
    this process holds."""
    lookups = CounterMetricFamily(
        "graphql_api_cache_lookups",
        "Page cache lookups by the tier that answered (memory: the memory:// store; process: "
        "a parsed copy in this process; redis: read from Redis and parsed) and whether it held "
        "an entry.",
        labels=["tier", "result"],
    )
    store = cache.store
    if isinstance(store, RedisStore):
        counts = store.counts
        lookups.add_metric(["process", "found"], counts.process_found)
        lookups.add_metric(["process", "absent"], counts.process_absent)
        lookups.add_metric(["redis", "found"], counts.redis_found)
        lookups.add_metric(["redis", "absent"], counts.redis_absent)
    else:
        memory = cache.in_process
        lookups.add_metric(["memory", "found"], memory.found)
        lookups.add_metric(["memory", "absent"], memory.absent)
    yield lookups
    yield CounterMetricFamily(
        "graphql_api_cache_evictions",
        "Pages this process let go to stay within its entry and byte bounds.",
        value=cache.in_process.evicted,
    )
    if not isinstance(store, RedisStore):
        return
    yield _counter(
        "graphql_api_cache_revalidations",
        "Copies in this process checked against Redis (past their freshness, or while the "
        "subscription is not confirmed): kept (the same version, not parsed again), replaced "
        "(a newer one read), gone (Redis no longer holds it: dropped here).",
        "result",
        {"kept": counts.kept, "replaced": counts.replaced, "gone": counts.gone},
    )
    yield _counter(
        "graphql_api_cache_invalidations",
        "Copies in this process dropped: a replica stored a newer version (newer) or dropped "
        "the entry on a 401/403 (dropped), as its message said; or the subscription was "
        "confirmed again and they may have missed a message (resubscribed).",
        "reason",
        {"newer": counts.newer, "dropped": counts.dropped, "resubscribed": counts.resubscribed},
    )


def _counter(
    name: str, help_text: str, label: str, values: dict[str, float]
) -> CounterMetricFamily:
    """A counter family of one label, a sample for each of ``values``."""
    family = CounterMetricFamily(name, help_text, labels=[label])
    for value, count in values.items():
        family.add_metric([value], count)
    return family


def _redis(link: RedisLink, cache: PageCache) -> Iterator[Family]:
    """The Redis link: whether it is up, and how its operations ended."""
    yield GaugeMetricFamily(
        "graphql_api_redis_up",
        "1 while operations go to Redis; 0 while its guard is open (Redis away: every "
        "operation answers its fallback at once, a PING probe watches for its return).",
        value=1 if link.state is LinkState.UP else 0,
    )
    store = cache.store
    yield GaugeMetricFamily(
        "graphql_api_redis_subscribed",
        "1 while the page cache's subscription to the replicas' messages is confirmed "
        "(fresh copies are served without asking Redis); 0 while it is lost or renewed.",
        value=1 if isinstance(store, RedisStore) and store.live else 0,
    )
    operations = CounterMetricFamily(
        "graphql_api_redis_operations",
        "Redis operations by name and result: ok, or the fallback answered instead (error: "
        "it failed; timeout: out of time; skipped: not sent, Redis away).",
        labels=["operation", "result"],
    )
    for name, counts in list(link.results.items()):
        for result, count in zip(RESULTS, counts, strict=True):
            operations.add_metric([name, result], count)
    yield operations
    yield CounterMetricFamily(
        "graphql_api_redis_outages",
        "Times the guard opened and Redis did not answer the probe at once (each logged).",
        value=link.outages,
    )
    yield CounterMetricFamily(
        "graphql_api_redis_blips",
        "Times the guard opened on timeouts alone and an immediate PING was answered (this "
        "host short of CPU rather than Redis away).",
        value=link.blips,
    )
    yield CounterMetricFamily(
        "graphql_api_cache_messages",
        "Messages heard from the replicas (a page stored or dropped on one of them).",
        value=store.heard if isinstance(store, RedisStore) else 0,
    )


def _resilience(resilience: Resilience) -> Iterator[Family]:
    """The breakers, the bulkhead, the retry budget and the holds."""
    gauge = GaugeMetricFamily(
        "graphql_api_breaker_state",
        "Breaker (adaptive throttling) state per upstream operation: 0 closed (nothing "
        "refused), 1 half-open (a share refused), 2 open (no success in the window).",
        labels=["operation"],
    )
    for name, breaker in resilience.breakers.items():
        gauge.add_metric([name], _BREAKER_STATES[breaker.state])
    yield gauge
    yield _counter(
        "graphql_api_upstream_refused",
        "Upstream requests not sent: refused by a breaker (UPSTREAM_UNAVAILABLE), by the "
        "bulkhead after the queue timeout, retries the retry budget did not allow, or "
        "requests of a caller held after a 429 for longer than the hold wait (RATE_LIMITED).",
        "reason",
        {
            "breaker": sum(b.refused for b in resilience.breakers.values()),
            "bulkhead": resilience.bulkhead.refused,
            "retry_budget": resilience.budget.denied,
            "hold": resilience.holds.refused,
        },
    )
    yield GaugeMetricFamily(
        "graphql_api_upstream_in_flight",
        "Upstream requests under way in this process (holding a bulkhead slot).",
        value=resilience.bulkhead.in_flight,
    )
    yield GaugeMetricFamily(
        "graphql_api_upstream_retry_budget",
        "Retries the retry budget allows now (it refills with the requests of its window).",
        value=resilience.budget.remaining(),
    )
    yield GaugeMetricFamily(
        "graphql_api_upstream_held_callers",
        "Callers this process holds now after a 429 (or a rate-limit reset hint).",
        value=resilience.holds.active(),
    )


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
    Request and upstream counters from the start; cache, Redis and resilience figures while
    the app's lifespan resources are :meth:`watching`. ``clock``: monotonic seconds (the app's
    ``Timer.monotonic``), for request durations.

    ``multiprocess`` (the directory of ``PROMETHEUS_MULTIPROC_DIR``): /metrics answers with the
    figures of every process writing there, summed (:mod:`graphql_api.multiprocess_metrics`);
    the live figures are copied there every ``sync_interval`` seconds (``sleep``: the app's
    ``Timer.sleep``) and before this process answers a scrape. One app per process then: the
    metrics of two apps in one process would be the same values in its files, each app holding
    its own copy and writing it back over the other's (counts lost). Worker processes serve
    one app each; tests that build many apps in one process leave multiprocess mode off."""

    def __init__(
        self,
        clock: Callable[[], float] = SYSTEM.monotonic,
        *,
        multiprocess: str | None = None,
        sleep: Callable[[float], Awaitable[None]] = SYSTEM.sleep,
        sync_interval: float = 1.0,
    ) -> None:
        if multiprocess is not None:
            multiprocess_metrics.enable()  # before the metrics below are made
            self._scraped = multiprocess_metrics.collector_registry(multiprocess)
        self._multiprocess = multiprocess
        self._sleep = sleep
        self._sync_interval = sync_interval
        self._bridge: multiprocess_metrics.Bridge | None = None
        self.registry = CollectorRegistry()
        self._clock = clock
        self.requests = Counter(
            "graphql_api_requests",
            "GraphQL requests by operation (root fields) and outcome.",
            ["operation", "outcome"],
            registry=self.registry,
        )
        duration = Histogram(
            "graphql_api_request_duration_seconds",
            "Time to answer a GraphQL request (POST or GET /graphql), by outcome.",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._durations = {outcome: duration.labels(outcome) for outcome in OUTCOMES}
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
        for reason in FALLBACK_REASONS:  # each series from the start, at 0
            self.compiled_fallbacks.labels(reason)

    @contextlib.asynccontextmanager
    async def watching(self, resources: Watched) -> AsyncIterator[None]:
        """The figures of ``resources`` in the registry while the block runs (the lifespan);
        in multiprocess mode, copied to the files every ``sync_interval`` seconds, and once
        more as the block ends (the counters outlive the process in the sum)."""
        live = _LiveFigures(resources)
        if self._multiprocess is None:
            self.registry.register(live)
            try:
                yield
            finally:
                self.registry.unregister(live)
            return
        bridge = multiprocess_metrics.Bridge(live)
        bridge.sync()
        self._bridge = bridge
        syncing = asyncio.create_task(self._syncing(bridge))
        try:
            yield
        finally:
            syncing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            self._bridge = None
            bridge.sync()

    async def _syncing(self, bridge: multiprocess_metrics.Bridge) -> None:
        logged = False
        while True:
            await self._sleep(self._sync_interval)
            try:
                bridge.sync()
            except Exception:  # a bug: said once, and the next copies tried all the same
                if not logged:
                    _log.exception("copying the live figures to the metric files failed")
                    logged = True

    async def respond(self, request: Request) -> Response:
        """``GET /metrics``: the registry in Prometheus' text format (in multiprocess mode,
        every process's files, this one's live figures copied first)."""
        if self._multiprocess is None:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
        if self._bridge is not None:
            self._bridge.sync()
        # Reading and summing the files takes milliseconds (more with many exited workers'):
        # off the event loop, which goes on serving meanwhile.
        body = await asyncio.to_thread(generate_latest, self._scraped)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def timed(self, endpoint: Callable[[Request], Awaitable[Response]]) -> Endpoint:
        """``endpoint`` (``/graphql``), its duration observed by the outcome it reported to
        :meth:`observe_request` (a request it answered without one, GraphiQL's page, is not).
        ``inspect.unwrap`` finds ``endpoint`` (bench.cold reaches the endpoint's object so)."""

        @functools.wraps(endpoint)
        async def timed(request: Request) -> Response:
            started = self._clock()
            reported = _outcome.set(None)
            try:
                return await endpoint(request)
            finally:
                outcome = _outcome.get()
                _outcome.reset(reported)
                if outcome is not None:
                    self._durations[outcome].observe(self._clock() - started)

        return timed

    def observe_request(self, outcome: Outcome) -> None:
        label = outcome.label
        self.requests.labels(outcome.operation, label).inc()
        _outcome.set(label)

    def observe_fallback(self, reason: str) -> None:
        self.compiled_fallbacks.labels(reason).inc()

    def observe_upstream(self, operation: str, status: str, seconds: float) -> None:
        self.upstream.labels(operation, status).inc()
        self.upstream_latency.labels(operation).observe(seconds)

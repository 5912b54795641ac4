"""``create_app``: the FastAPI application. Read it top to bottom: the settings, then the
:class:`Resources` its lifespan builds from them (and closes), then the routes, which find those
resources in ``request.state`` (Starlette's lifespan state)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, NotRequired, TypedDict

import httpx
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from graphql_api import __version__
from graphql_api.boundary import ErrorBoundary, ErrorReporter
from graphql_api.cache import MemoryStore, PageCache, RedisStore, Store
from graphql_api.config import Settings
from graphql_api.execution import Executor
from graphql_api.graphiql import CSP, EXAMPLE_QUERY, STATIC_DIR, STATIC_PATH, render_graphiql
from graphql_api.http import GraphQLHTTP
from graphql_api.internals import graphql_schema
from graphql_api.limits import Limits
from graphql_api.multiprocess_metrics import multiprocess_dir
from graphql_api.observability import Metrics, RequestIdMiddleware, current_token
from graphql_api.persisted import AutomaticPersistedQueries, load_manifest
from graphql_api.redis_link import RedisLink, open_redis
from graphql_api.response_cache import ResponseCache
from graphql_api.schema import schema
from graphql_api.schema.context import Context, bearer_token
from graphql_api.service import CatalogService
from graphql_api.throttle import Throttle
from graphql_api.tracing import Tracing, from_environ
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import Deadline, Resilience, Timer, build_resilience

__all__ = ["EXAMPLE_QUERY", "Resources", "State", "create_app", "resources_of"]

DEMO_TOKEN = "demo"
_READYZ_CACHE_SECONDS = 0.5  # /readyz answers within a second, whatever the cache does


@dataclass(slots=True)
class Resources:
    """What the lifespan builds from the settings and closes at shutdown: everything a request
    reads. Routes find it as ``request.state.resources`` (Starlette's lifespan state)."""

    cache: PageCache
    service: CatalogService
    resilience: Resilience
    redis: RedisLink | None  # the one Redis link (None with memory://), for /readyz and metrics
    responses: ResponseCache | None
    apq: AutomaticPersistedQueries | None
    client: PinterestClient  # the upstream API, over ``http``
    http: httpx.AsyncClient  # the pooled upstream client
    # Each caller's last upstream rate-limit status, for extensions.cost (None: not reported).
    throttle: Throttle | None = None
    serving: bool = True  # false once the lifespan has closed them


class State(TypedDict):
    """The lifespan's state: a copy of it is every request's ``request.state``. ``draining`` is
    set by the server on SIGTERM (:class:`graphql_api.server.Server`): /readyz then answers 503."""

    resources: Resources
    draining: NotRequired[bool]


def resources_of(request: Request) -> Resources | None:
    """The resources of the app serving ``request``; ``None`` before its lifespan or after."""
    resources: Resources | None = getattr(request.state, "resources", None)
    return resources if resources is not None and resources.serving else None


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timer: Timer | None = None,
    tracing: Tracing | Literal["environ"] | None = "environ",
) -> FastAPI:
    """The application. ``transport`` replaces the network (tests; demo mode uses the fake);
    ``timer`` the clocks and sleep (tests); ``tracing`` what the ``OTEL_*`` variables ask for
    (:func:`graphql_api.tracing.from_environ`: refused at startup with a
    :class:`~graphql_api.tracing.TracingUnavailable`), unless given (tests)."""
    if tracing == "environ":
        tracing = from_environ()
    if transport is None and settings.demo:
        transport = httpx.MockTransport(FakePinterest().handler)
    timer = timer or Timer()
    service_token = settings.pinterest_access_token
    default_token = DEMO_TOKEN if settings.demo else None
    secret = settings.secret.get_secret_value().encode() if settings.secret else os.urandom(32)

    metrics = Metrics(timer.monotonic, multiprocess=multiprocess_dir(), sleep=timer.sleep)
    # One per app: a kind of bug is logged once per interval.
    reporter = ErrorReporter(clock=timer.monotonic)
    executor = Executor(
        graphql_schema(schema),
        Limits(
            max_depth=settings.max_depth,
            max_aliases=settings.max_aliases,
            max_root_fields=settings.max_root_fields,
            max_tokens=settings.max_tokens,
            max_body_bytes=settings.max_body_bytes,
            max_upstream_cost=settings.max_upstream_cost,
        ),
        introspection=settings.introspection_enabled,
        suggestions=not settings.production,
        page_size=settings.upstream_page_size,
        compiled=settings.compiled_execution,
        on_fallback=metrics.observe_fallback,
        reporter=reporter,
    )
    allowlist = (
        load_manifest(settings.operations_allowlist) if settings.operations_allowlist else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[State]:
        # The one Redis client of the process (None with memory://): the page cache, the holds
        # and APQ all go through it and its guard.
        redis = open_redis(settings)
        max_entries, max_bytes = settings.cache_max_entries, settings.cache_max_bytes
        store: Store = (
            RedisStore(redis, max_entries=max_entries, max_bytes=max_bytes)
            if redis
            else MemoryStore(max_entries, max_bytes=max_bytes)
        )
        if isinstance(store, RedisStore):  # its first connections before the first requests
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.redis_timeout):
                    await store.subscribed()
        cache = PageCache(
            store,
            secret=secret,
            fresh_ttl=settings.cache_ttl,
            stale_ttl=settings.cache_stale_ttl,
            clock=timer.wall,
        )
        resilience = build_resilience(
            settings, timer, cache.identity, redis=redis, observe=metrics.observe_upstream
        )
        responses = None
        if settings.response_cache:
            responses = ResponseCache(
                settings.response_cache_max_entries,
                max_bytes=settings.response_cache_max_bytes,
                clock=timer.wall,
                versions=cache.versions,
            )
        apq = AutomaticPersistedQueries(redis=redis) if settings.persisted_queries else None
        throttle = Throttle(clock=timer.wall) if settings.report_cost else None
        async with build_http_client(settings, transport) as http:
            client = PinterestClient(http, resilience, tracing=tracing, throttle=throttle)
            resources = Resources(
                cache=cache,
                service=CatalogService(client, cache, page_size=settings.upstream_page_size),
                resilience=resilience,
                redis=redis,
                responses=responses,
                apq=apq,
                client=client,
                http=http,
                throttle=throttle,
            )
            # What import and startup made lives as long as the app: out of the collector's
            # sight while it serves, a full collection no longer walks it (the schema, the
            # libraries, the tracing SDK); given back at shutdown (tests start many apps).
            gc.freeze()
            try:
                async with metrics.watching(resources):
                    yield {"resources": resources}
            finally:
                gc.unfreeze()
                resources.serving = False
                await cache.close()
                await resilience.holds.close()
                if apq is not None:
                    await apq.close()
                if redis is not None:
                    await redis.close()
                if tracing is not None:  # exports what the batch still holds
                    await asyncio.to_thread(tracing.shutdown)

    def token_of(request: Request) -> str | None:
        if service_token is not None:
            return service_token.get_secret_value()
        return bearer_token(request.headers.get("authorization")) or default_token

    def caller(request: Request, resources: Resources) -> str | None:
        token = token_of(request)
        return None if token is None else resources.cache.identity(token)

    async def context(request: Request, resources: Resources) -> Context:
        token = token_of(request)
        current_token.set(token)  # so log lines of this request can be scrubbed of it
        return Context(
            resources.service,
            token,
            max_first=settings.max_first,
            deadline=Deadline.after(settings.request_deadline, timer),
            pin_concurrency=settings.upstream_max_concurrency_per_token,
        )

    def graphiql(request: Request) -> HTMLResponse:
        page = render_graphiql(endpoint=request.url.path, default_query=EXAMPLE_QUERY)
        return HTMLResponse(page, headers={"Content-Security-Policy": CSP})

    endpoint = GraphQLHTTP(
        executor,
        resources=resources_of,
        context=context,
        max_body_bytes=settings.max_body_bytes,
        allowlist=allowlist,
        graphiql=graphiql if settings.graphiql_enabled else None,
        observe=metrics.observe_request,
        caller=caller,
        reporter=reporter,
        tracing=tracing,
        report_cost=settings.report_cost,
    )

    app = FastAPI(
        title="graphql_api",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's own OpenTelemetry (0.142+) asks for the global providers on every request,
        # and would add a second server span under a global one: our spans are graphql_api's
        # (graphql_api/tracing.py), with a provider of their own.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    # Plain Starlette routes: the endpoints read the request themselves (no FastAPI
    # dependencies), and bound methods keep no closure in FastAPI's process-wide caches.
    app.add_route(
        "/graphql",
        metrics.timed(endpoint.__call__),
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        include_in_schema=False,
    )
    app.add_route("/metrics", metrics.respond, methods=["GET"], include_in_schema=False)
    if settings.graphiql_enabled:
        app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="graphiql-static")
    origins = [origin.strip() for origin in settings.cors_origins.split(",") if origin.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        )

    app.add_middleware(ErrorBoundary, reporter=reporter)  # inside: the access line sees the 500
    app.add_middleware(RequestIdMiddleware, clock=timer.monotonic)

    # Module-level endpoints: FastAPI caches facts about each endpoint function process-wide
    # (4,096 of them), so closures here would keep every app ever built alive (tests build
    # hundreds).
    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    return app


async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


async def readyz(request: Request) -> Response:
    """Readiness: settings loaded and lifespan done. A Redis that is away makes the replica
    ``degraded``, still ready (200): every replica shares that Redis, so failing readiness
    would turn a cache outage into a full outage. Bounded by the Redis timeout. Draining (after
    a SIGTERM, until the server stops accepting): 503 ``draining``."""
    if getattr(request.state, "draining", False):
        return JSONResponse({"status": "draining"}, status_code=503)
    resources = resources_of(request)
    if resources is None:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    cache_ok = False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_READYZ_CACHE_SECONDS):  # whatever the Redis timeout
            cache_ok = await resources.cache.ping()
    body = {
        "status": "ready" if cache_ok else "degraded",
        "cache": "ok" if cache_ok else "unavailable",
    }
    return JSONResponse(body, status_code=200)

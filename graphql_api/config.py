"""Typed settings, read from the environment (and the CLI flags built from the same fields).

Nothing here is instantiated at import time: ``Settings()`` is built once by the CLI (or by a test)
and passed in explicitly.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "DEMO_MAX_UPSTREAM_COST",
    "CacheURL",
    "Settings",
    "check_cache_url",
    "parse_cache_url",
]

DEMO_MAX_UPSTREAM_COST = 1000  # the demo's default budget (max_upstream_cost unset)

_PAGE_SIZE_MAX = 250  # the upstream's maximum page_size


class Settings(BaseSettings):
    """Every setting, with its environment variable (``GRAPHQL_API_<NAME>`` unless given)."""

    model_config = SettingsConfigDict(
        env_prefix="GRAPHQL_API_",
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    host: str = Field(
        "127.0.0.1", description="Interface to bind (0.0.0.0: every interface, as in the image)."
    )
    port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8000, description="TCP port to bind (0: a free port the system picks)."
    )
    demo: bool = Field(
        False,
        description="Serve the embedded demo catalog: an in-process fake of the upstream REST API "
        "with real bookmarks, 1,200 products (product group 1 holds all of them, ids 2..100 "
        "subsets); any token, or none, is accepted.",
    )
    pinterest_api_base_url: str = Field(
        "https://api.pinterest.com/v5",
        validation_alias=AliasChoices("PINTEREST_API_BASE_URL", "pinterest_api_base_url"),
        description="Base URL of the Pinterest API v5 (the upstream).",
    )
    pinterest_access_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("PINTEREST_ACCESS_TOKEN", "pinterest_access_token"),
        description="Service token used for every upstream call; unset: the caller's "
        "`Authorization: Bearer` token is forwarded.",
    )
    cache_url: str = Field(
        "memory://",
        repr=False,  # it may hold a Redis password
        description="Page cache backend: `memory://`, `redis://[user:password@]host[:port][/db]` "
        "(an ACL user, or a password alone as `redis://:password@host`) or `rediss://...` for "
        "TLS, with redis-py's ssl_ca_certs, ssl_ca_path, ssl_certfile, ssl_keyfile, "
        "ssl_cert_reqs, ssl_check_hostname and ssl_ciphers in the query; anything else stops "
        "the process.",
    )
    cache_ttl: Annotated[float, Field(gt=0)] = Field(
        60.0,
        description="Seconds an upstream page stays fresh in the cache (less a random 0-10%, so "
        "pages fetched together do not expire together).",
    )
    cache_stale_ttl: Annotated[float, Field(ge=0)] = Field(
        300.0,
        description="Seconds past freshness a page is still served (marked stale) while it is "
        "refreshed in the background, or while the upstream fails (0: never).",
    )
    cache_max_entries: Annotated[int, Field(ge=1)] = Field(
        4096,
        description="Most pages and Pins a process holds (least recently used out first): a "
        "second bound, after GRAPHQL_API_CACHE_MAX_BYTES (a parsed page of 250 rich products "
        "is about 1 MiB, a Pin a few KiB).",
    )
    # 192 + 64 MiB of caches and a 78 MiB process fit a 512 MiB container with room for the
    # requests in flight (measured: docs/caching.md, "Sizing the caches").
    cache_max_bytes: Annotated[int, Field(ge=0)] = Field(
        192 * 2**20,
        description="Most bytes of parsed pages and Pins one process holds (least recently used "
        "out first); with Redis, the in-process tier in front of it (0: none, every hit reads "
        "Redis).",
    )
    redis_timeout: Annotated[float, Field(gt=0, le=1)] = Field(
        0.05,
        description="Seconds one Redis operation may take, connecting included; a slower or "
        "failing one is answered without Redis, and 3 in a row open the guard (no Redis "
        "operation until Redis answers a PING again).",
    )
    redis_probe_interval: Annotated[float, Field(gt=0)] = Field(
        1.0,
        description="Seconds between PINGs while Redis is away (the first answer resumes "
        "sharing), and on a quiet cache subscription (no answer within one: it is lost).",
    )
    redis_max_connections: Annotated[int, Field(ge=1)] = Field(
        32,
        description="Most connections to Redis per process (one pool for the page cache, "
        "the rate-limit holds and APQ).",
    )
    secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC that names callers in cache keys (unset: random per "
        "process); set the same value on every replica sharing a Redis cache, or each keeps to "
        "its own pages.",
    )
    upstream_page_size: Annotated[int, Field(ge=1, le=_PAGE_SIZE_MAX)] = Field(
        _PAGE_SIZE_MAX,
        description="The one page_size the upstream is asked with, whatever `first` a client "
        "asks for (canonical pages, sliced for the client; 250 is the upstream's maximum).",
    )
    max_first: Annotated[int, Field(ge=_PAGE_SIZE_MAX)] = Field(
        _PAGE_SIZE_MAX,
        description="Largest `first` a client may ask for (never below 250; beyond it: "
        "BAD_USER_INPUT).",
    )
    upstream_timeout: Annotated[float, Field(gt=0)] = Field(
        4.0,
        description="Seconds one upstream attempt may take, whole answer included (under half "
        "the request deadline, so a retry still fits after a silent attempt).",
    )
    request_deadline: Annotated[float, Field(gt=0)] = Field(
        10.0,
        description="Seconds a GraphQL request may spend on the upstream, retries and waits "
        "included (sized for a UI: an answer or an error within 10 s).",
    )
    retry_attempts: Annotated[int, Field(ge=1, le=5)] = Field(
        3,
        description="Most attempts of one idempotent upstream request (1: no retries); only "
        "429, 502, 503, 504, connection failures and timeouts are retried.",
    )
    retry_backoff: Annotated[float, Field(ge=0)] = Field(
        0.2, description="First backoff window, seconds (full jitter, doubling each retry)."
    )
    retry_backoff_max: Annotated[float, Field(ge=0)] = Field(
        5.0, description="Largest backoff window, seconds."
    )
    hold_wait: Annotated[float, Field(ge=0)] = Field(
        1.0,
        description="Longest wait for a caller's rate-limit hold (after a 429 or an exhausted "
        "X-RateLimit-Remaining); a longer hold answers RATE_LIMITED with retryAfter at once.",
    )
    retry_budget_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1,
        description="Retries may add at most this share of the recent upstream requests (plus "
        "3), so a storm of failures does not multiply the upstream's traffic.",
    )
    retry_budget_window: Annotated[float, Field(gt=0)] = Field(
        60.0, description="Seconds of history the retry budget counts."
    )
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = Field(
        0.6,
        description="Upstream failure rate an operation tolerates before its breaker (adaptive "
        "throttling) refuses calls; above it only the excess over what the upstream accepts is "
        "refused (above 0.5, so a half-failing upstream is never throttled).",
    )
    breaker_window: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Seconds of requests and successes the breaker counts."
    )
    breaker_min_calls: Annotated[int, Field(ge=1)] = Field(
        20, description="Fewest requests in the window before the breaker may refuse a call."
    )
    upstream_max_concurrency: Annotated[int, Field(ge=1)] = Field(
        64,
        description="Most concurrent upstream requests per process (bulkhead; past it, after "
        "the queue timeout: UPSTREAM_UNAVAILABLE).",
    )
    upstream_max_concurrency_per_token: Annotated[int, Field(ge=1)] = Field(
        8,
        description="Most concurrent upstream requests per caller token (bulkhead; past it, "
        "after the queue timeout: RATE_LIMITED); also bounds a request's entity lookups.",
    )
    upstream_queue_timeout: Annotated[float, Field(ge=0)] = Field(
        2.0, description="Seconds a request waits for a bulkhead slot before it fails."
    )
    upstream_connect_timeout: Annotated[float, Field(gt=0)] = Field(
        2.0,
        description="Seconds to wait for an upstream connection (bounded by the attempt's "
        "timeout too).",
    )
    upstream_max_connections: Annotated[int, Field(ge=1)] = Field(
        100, description="Upstream connection pool size: most connections per process."
    )
    upstream_max_keepalive: Annotated[int, Field(ge=0)] = Field(
        20, description="Idle upstream connections kept open per process (keep-alive)."
    )
    log_level: str = Field(
        "info", description="Log level of the server: debug, info, warning, error or critical."
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines as JSON objects, one a line, each with the request id (json), or "
        "plain text for a terminal (text).",
    )
    env: Literal["development", "production"] = Field(
        "development",
        description='Profile; production: introspection, GraphiQL and "did you mean" '
        "suggestions in validation errors are off unless enabled.",
    )
    introspection: bool | None = Field(
        None, description="Allow introspection (unset: on in development, off in production)."
    )
    graphiql: bool | None = Field(
        None,
        description="Serve GraphiQL to browsers opening /graphql (unset: on in development, off "
        "in production).",
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS (empty: CORS closed)."
    )
    max_depth: Annotated[int, Field(ge=1)] = Field(
        15,
        description="Deepest operation (MAX_DEPTH_LIMIT; the standard introspection query is "
        "13 deep).",
    )
    max_aliases: Annotated[int, Field(ge=0)] = Field(
        30,
        description="Most aliases in a document, and in an operation with its fragments "
        "expanded (MAX_ALIASES_LIMIT).",
    )
    max_root_fields: Annotated[int, Field(ge=1)] = Field(
        10,
        description="Most root fields an operation may select (MAX_ROOT_FIELDS_LIMIT; "
        "__typename not counted).",
    )
    max_tokens: Annotated[int, Field(ge=100)] = Field(
        5000, description="Most lexical tokens a document may have (MAX_TOKENS_LIMIT)."
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        100_000, description="Largest request body in bytes (REQUEST_TOO_LARGE, HTTP 413)."
    )
    max_upstream_cost: Annotated[int, Field(ge=1)] = Field(
        100,
        description="Most upstream requests one operation may trigger: pages, Pins and entity "
        "lookups (COST_ESTIMATED_TOO_EXPENSIVE). Unset with `demo`: 1000 (the demo's upstream is "
        "in-process, and its catalog graph is explored with nested connections' defaults).",
    )
    response_cache: bool = Field(
        True,
        description="Answer a repeated operation (same document, operation name, variables "
        "and caller) from its earlier response while the pages it used are fresh.",
    )
    response_cache_max_entries: Annotated[int, Field(ge=1)] = Field(
        1000, description="Most responses the response cache holds (per process)."
    )
    response_cache_max_bytes: Annotated[int, Field(ge=0)] = Field(
        64 * 2**20,
        description="Most bytes of responses (with their keys) the response cache holds per "
        "process, least recently used out first; a larger response is not kept.",
    )
    compiled_execution: bool = Field(
        True,
        description="Complete product queries with compiled plans instead of graphql-core's "
        "per-field execution (identical answers; off: graphql-core only).",
    )
    report_cost: bool = Field(
        True,
        description="Report each response's cost in extensions.cost: the estimate and the "
        "upstream requests made, and the caller's upstream rate-limit status when known "
        "(docs/cost.md).",
    )
    persisted_queries: bool = Field(
        True,
        description="Accept automatic persisted queries (Apollo APQ, "
        "extensions.persistedQuery.sha256Hash; shared through Redis when it is the cache).",
    )
    operations_allowlist: Path | None = Field(
        None,
        description="Path of a persisted query manifest (Apollo's JSON format): when set, only "
        "its operations run, by id or exact text (others: PERSISTED_QUERY_NOT_IN_LIST).",
    )
    idle_timeout: Annotated[float, Field(gt=0)] = Field(
        5.0,
        description="Seconds a client connection may stay open without sending a whole request "
        "(on opening, and between requests on keep-alive): idle and trickling connections are "
        "closed.",
    )
    workers: Annotated[int, Field(ge=1)] = Field(
        1,
        description="Worker processes serving the one port (about one per core), each with its "
        "own in-process caches (size GRAPHQL_API_CACHE_MAX_BYTES per worker) and the shared "
        "Redis when configured; 1: a single process, no supervisor.",
    )
    drain_delay: Annotated[float, Field(ge=0)] = Field(
        5.0,
        description="Seconds the service keeps serving after a SIGTERM while /readyz answers 503 "
        "draining and responses carry Connection: close, so a load balancer or Kubernetes "
        "stops sending it work first; then it stops accepting. SIGINT or a second SIGTERM "
        "skips it.",
    )
    shutdown_timeout: Annotated[float, Field(gt=0)] = Field(
        20.0,
        description="Seconds in-flight requests may take to finish once the service stops "
        "accepting (after the drain); connections still open then are closed. Kubernetes: "
        "terminationGracePeriodSeconds >= drain delay + this + 5.",
    )

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def cache(self) -> CacheURL:
        """``cache_url``, parsed (it was checked when the settings were read)."""
        return parse_cache_url(self.cache_url)

    @model_validator(mode="after")
    def _demo_cost(self) -> Settings:
        """The demo's upstream costs nothing: its default budget lets GraphiQL walk the whole
        catalog graph with the connections' defaults (the nested query of docs/api.md)."""
        if self.demo and "max_upstream_cost" not in self.model_fields_set:
            object.__setattr__(self, "max_upstream_cost", DEMO_MAX_UPSTREAM_COST)  # frozen
        return self

    @field_validator("cache_url")
    @classmethod
    def _valid_cache_url(cls, url: str) -> str:
        return check_cache_url(url)

    @field_validator("log_level")
    @classmethod
    def _valid_log_level(cls, level: str) -> str:
        if level.lower() not in _LOG_LEVELS:
            raise ValueError(f"use one of {', '.join(_LOG_LEVELS)}")
        return level.lower()


_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_CACHE_URLS = "use memory://, redis://[user:password@]host[:port][/db] or rediss://..."
# URL query options passed to redis-py (timeouts and the pool are settings of their own).
_SSL_OPTIONS = (
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "ssl_ciphers",
)
_SSL_FILES = ("ssl_ca_certs", "ssl_ca_path", "ssl_certfile", "ssl_keyfile")
_CERT_REQS = ("none", "optional", "required")
_BOOLEANS = ("true", "false", "yes", "no", "1", "0")


@dataclass(frozen=True, slots=True)
class CacheURL:
    """A checked cache URL: ``memory://`` or a Redis one (``redis://``, ``rediss://``)."""

    url: str
    scheme: Literal["memory", "redis", "rediss"]
    password: str | None  # a secret to scrub from logs

    @property
    def redis(self) -> bool:
        return self.scheme != "memory"

    @property
    def shown(self) -> str:
        """The cache as a log may show it: ``memory``, or the Redis server and database,
        without user, password or TLS options."""
        if not self.redis:
            return "memory"
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{host}:{parts.port or 6379}/{parts.path.strip('/') or 0}"


def check_cache_url(url: str) -> str:
    """``url`` if it is a cache URL this service can use, else a ``ValueError`` saying what
    is allowed (never echoing the URL: it may hold a password)."""
    return parse_cache_url(url).url


def parse_cache_url(url: str) -> CacheURL:
    """The one parser of cache URLs: ``url`` parsed if this service can use it, else a
    ``ValueError`` as :func:`check_cache_url` raises."""
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        raise ValueError(f"not a URL: {_CACHE_URLS}") from None
    try:
        port = parsed.port  # parses it: ValueError when it is not a port
    except ValueError:
        raise ValueError("the Redis port must be a number, 1..65535") from None
    if parsed.scheme == "memory":
        if url != "memory://":
            raise ValueError("memory:// takes no host, path or options")
        return CacheURL(url, "memory", None)
    if parsed.scheme not in ("redis", "rediss"):
        raise ValueError(_CACHE_URLS)
    if not parsed.hostname:
        raise ValueError(f"a Redis URL needs a host: {_CACHE_URLS}")
    if port == 0:
        raise ValueError("the Redis port must be a number, 1..65535")
    if parsed.path not in ("", "/") and not parsed.path[1:].isdigit():
        raise ValueError("the Redis database (the URL's path) must be a number, like /0")
    options = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    for name, values in options.items():
        value = values[-1]
        if name not in _SSL_OPTIONS:
            raise ValueError(
                f"unsupported Redis URL option {name!r}: use {', '.join(_SSL_OPTIONS)} "
                "(timeouts and the pool are GRAPHQL_API_REDIS_* settings)"
            )
        if parsed.scheme != "rediss":
            raise ValueError(f"{name} needs a rediss:// URL (TLS)")
        if name in _SSL_FILES and not Path(value).exists():
            raise ValueError(f"{name}: no such file or directory")
        if name == "ssl_cert_reqs" and value.lower() not in _CERT_REQS:
            raise ValueError(f"ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")
        if name == "ssl_check_hostname" and value.lower() not in _BOOLEANS:
            raise ValueError("ssl_check_hostname must be true or false")
    scheme: Literal["redis", "rediss"] = "rediss" if parsed.scheme == "rediss" else "redis"
    return CacheURL(url, scheme, parsed.password)

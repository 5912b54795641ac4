"""Typed settings, read from the environment (and the CLI flags built from the same fields).

Nothing here is instantiated at import time: ``Settings()`` is built once by the CLI (or by a test)
and passed in explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

_PAGE_SIZE_MAX = 250  # the upstream's maximum page_size


class Settings(BaseSettings):
    """Every setting, with its environment variable (``GRAPHQL_API_<NAME>`` unless given)."""

    model_config = SettingsConfigDict(
        env_prefix="GRAPHQL_API_",
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    host: str = Field("127.0.0.1", description="Interface to bind.")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(8000, description="Port to bind.")
    demo: bool = Field(
        False,
        description="Serve the embedded demo catalog (an in-process fake of the upstream).",
    )
    pinterest_api_base_url: str = Field(
        "https://api.pinterest.com/v5",
        validation_alias=AliasChoices("PINTEREST_API_BASE_URL", "pinterest_api_base_url"),
        description="Base URL of the Pinterest API v5.",
    )
    pinterest_access_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("PINTEREST_ACCESS_TOKEN", "pinterest_access_token"),
        description="Service token; when unset the caller's bearer token is forwarded.",
    )
    cache_url: str = Field(
        "memory://",
        description="Page cache backend: memory:// or redis://host:port/db.",
    )
    cache_ttl: Annotated[float, Field(gt=0)] = Field(
        60.0, description="Seconds an upstream page stays fresh in the cache (less up to 10%)."
    )
    cache_stale_ttl: Annotated[float, Field(ge=0)] = Field(
        300.0,
        description="Seconds past freshness a page is still served (marked stale) while it is "
        "refreshed in the background, or while the upstream fails.",
    )
    cache_max_entries: Annotated[int, Field(ge=1)] = Field(
        128, description="Most pages the memory cache holds (least recently used out first)."
    )
    secret: SecretStr | None = Field(
        None,
        description="Key of the HMAC that names callers in cache keys (random per process if "
        "unset; set the same value on every replica sharing a Redis cache).",
    )
    upstream_page_size: Annotated[int, Field(ge=1, le=_PAGE_SIZE_MAX)] = Field(
        _PAGE_SIZE_MAX,
        description="The one page_size the upstream is asked with (canonical pages).",
    )
    max_first: Annotated[int, Field(ge=_PAGE_SIZE_MAX)] = Field(
        _PAGE_SIZE_MAX,
        description="Largest `first` a client may ask for (never below 250).",
    )
    upstream_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0, description="Seconds one upstream attempt may take, whole answer included."
    )
    request_deadline: Annotated[float, Field(gt=0)] = Field(
        30.0,
        description="Seconds a GraphQL request may spend on the upstream, retries and waits "
        "included.",
    )
    retry_attempts: Annotated[int, Field(ge=1, le=5)] = Field(
        3, description="Most attempts of one upstream request (1: no retries)."
    )
    retry_backoff: Annotated[float, Field(ge=0)] = Field(
        0.2, description="First backoff window in seconds (full jitter, doubling each retry)."
    )
    retry_backoff_max: Annotated[float, Field(ge=0)] = Field(
        5.0, description="Largest backoff window in seconds."
    )
    retry_budget_ratio: Annotated[float, Field(ge=0, le=1)] = Field(
        0.1, description="Retries may add at most this share of the recent upstream requests."
    )
    retry_budget_window: Annotated[float, Field(gt=0)] = Field(
        60.0, description="Seconds of history the retry budget counts."
    )
    breaker_failure_rate: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="Failure rate that opens an operation's circuit breaker."
    )
    breaker_window: Annotated[float, Field(gt=0)] = Field(
        30.0, description="Seconds of outcomes the circuit breaker counts."
    )
    breaker_min_calls: Annotated[int, Field(ge=1)] = Field(
        20, description="Fewest outcomes in the window before the breaker may open."
    )
    breaker_open_seconds: Annotated[float, Field(gt=0)] = Field(
        15.0, description="Seconds an open breaker fails fast before it lets probes through."
    )
    breaker_probes: Annotated[int, Field(ge=1)] = Field(
        2, description="Calls let through by a half-open breaker."
    )
    upstream_max_concurrency: Annotated[int, Field(ge=1)] = Field(
        64, description="Most concurrent upstream requests per process (bulkhead)."
    )
    upstream_max_concurrency_per_token: Annotated[int, Field(ge=1)] = Field(
        8, description="Most concurrent upstream requests per caller token (bulkhead)."
    )
    upstream_queue_timeout: Annotated[float, Field(ge=0)] = Field(
        2.0, description="Seconds a request waits for a bulkhead slot before it fails."
    )
    upstream_connect_timeout: Annotated[float, Field(gt=0)] = Field(
        5.0, description="Seconds to wait for an upstream connection."
    )
    upstream_max_connections: Annotated[int, Field(ge=1)] = Field(
        100, description="Most concurrent upstream connections per process."
    )
    upstream_max_keepalive: Annotated[int, Field(ge=0)] = Field(
        20, description="Idle upstream connections kept open per process."
    )
    log_level: str = Field("info", description="Log level of the server.")
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines as JSON objects (with the request id) or plain text."
    )
    env: Literal["development", "production"] = Field(
        "development",
        description="production: introspection, GraphiQL and suggestions off unless enabled.",
    )
    introspection: bool | None = Field(
        None, description="Allow introspection (default: on in development, off in production)."
    )
    graphiql: bool | None = Field(
        None, description="Serve GraphiQL (default: on in development, off in production)."
    )
    cors_origins: str = Field(
        "", description="Comma-separated origins allowed by CORS (none by default)."
    )
    max_depth: Annotated[int, Field(ge=1)] = Field(
        15, description="Deepest operation (the standard introspection query is 13 deep)."
    )
    max_aliases: Annotated[int, Field(ge=0)] = Field(
        30,
        description="Most aliases a document may use (an operation's counted with its "
        "fragments expanded).",
    )
    max_root_fields: Annotated[int, Field(ge=1)] = Field(
        10, description="Most root fields an operation may select."
    )
    max_tokens: Annotated[int, Field(ge=100)] = Field(
        5000, description="Most lexical tokens a document may have."
    )
    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        100_000, description="Largest request body, in bytes."
    )
    max_upstream_cost: Annotated[int, Field(ge=1)] = Field(
        100, description="Most upstream requests one operation may trigger (pages, Pins)."
    )
    response_cache: bool = Field(
        True,
        description="Answer a repeated operation (same document, variables and caller) from "
        "its earlier response while the pages it used are fresh.",
    )
    response_cache_max_entries: Annotated[int, Field(ge=1)] = Field(
        1000, description="Most responses the response cache holds."
    )
    compiled_execution: bool = Field(
        True,
        description="Complete product queries with compiled plans instead of graphql-core's "
        "per-field execution (identical answers; off: graphql-core only).",
    )
    persisted_queries: bool = Field(
        True, description="Accept automatic persisted queries (Apollo APQ, sha256Hash)."
    )
    operations_allowlist: Path | None = Field(
        None,
        description="A persisted query manifest (Apollo's JSON format): when set, only its "
        "operations run.",
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

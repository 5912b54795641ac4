"""``PinterestClient``: the upstream operations over an injected ``httpx.AsyncClient``.

This is the only module that sees httpx: transport failures and error statuses are translated
here, once, into :mod:`graphql_api.errors` (chained with ``from``). Around each request it applies
:mod:`~graphql_api.upstream.resilience`: the caller's rate-limit hold, the operation's circuit
breaker, the bulkhead, a per-attempt timeout within the request's deadline, and retries (tenacity:
full-jitter backoff, only for idempotent operations and transient failures, within the budget).
Every attempt that reaches the upstream counts into the running request's cost, and each
answer's rate-limit headers into its caller's throttle status (:mod:`graphql_api.throttle`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import httpx
import msgspec
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from graphql_api import __version__
from graphql_api.config import Settings
from graphql_api.errors import (
    MAX_RETRY_AFTER,
    UpstreamConnectionFailed,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)
from graphql_api.throttle import Throttle, sent
from graphql_api.upstream.models import (
    AvailableFilterValues,
    Catalog,
    Feed,
    Listing,
    Page,
    Pin,
    ProductCounts,
    ProductGroup,
    parse_catalogs_json,
    parse_feed_json,
    parse_feeds_json,
    parse_filter_values_json,
    parse_page_json,
    parse_pin_json,
    parse_product_counts_json,
    parse_product_group_json,
    parse_product_groups_json,
)
from graphql_api.upstream.operations import (
    AVAILABLE_FILTER_VALUES,
    CATALOGS,
    FEED,
    FEEDS,
    PIN,
    PRODUCT_COUNTS,
    PRODUCT_GROUP,
    PRODUCT_GROUP_PRODUCTS,
    PRODUCT_GROUPS,
    PRODUCTS_BY_FILTER,
    Operation,
)
from graphql_api.upstream.resilience import Deadline, Resilience

if TYPE_CHECKING:
    from graphql_api.tracing import AttemptSpan, Tracing

__all__ = [
    "PinterestClient",
    "build_http_client",
    "is_retryable",
]

_T = TypeVar("_T")

_RETRY_STATUSES = frozenset({502, 503, 504})
# Answers about the caller's request, not failures of the upstream: logged at INFO.
_CALLERS_STATUSES = frozenset({400, 404, 409})
_log = logging.getLogger("graphql_api.upstream")


@dataclass(slots=True)
class _Tried:
    """The attempt under way, for its log line: its number, and the seconds its upstream
    request took (None while nothing went upstream: a hold, the breaker or the bulkhead refused
    it, or the deadline was spent)."""

    number: int = 0
    seconds: float | None = None


def _log_failure(
    operation: str, error: BaseException | None, tried: _Tried, *, will_retry: bool
) -> None:
    """One line per failed upstream attempt (docs/logging.md): never the URL, its query (a
    cursor) or a header; the request id comes with the log filter."""
    if tried.seconds is None or not isinstance(error, UpstreamError):
        return  # refused before the upstream: no attempt
    status = error.upstream_status
    if isinstance(error, UpstreamTimeout):
        failure = "timeout"
    elif isinstance(error, UpstreamConnectionFailed):
        failure = "connection_error"
    elif status is None or status < 400:
        failure = "malformed"  # a body that does not decode, or is not what it should be
    else:
        failure = "status"
    level = logging.INFO if status in _CALLERS_STATUSES else logging.WARNING
    _log.log(
        level,
        "upstream attempt failed",
        extra={
            "operation": operation,
            "failure": failure,
            "status": status,
            "error": error.code,
            "pinterest_code": error.upstream_code,
            "attempt": tried.number,
            "duration_ms": round(tried.seconds * 1000, 2),
            "will_retry": will_retry,
        },
    )


def build_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one pooled client of a process, with explicit timeouts and pool limits."""
    return httpx.AsyncClient(
        base_url=settings.pinterest_api_base_url.rstrip("/"),
        transport=transport,
        timeout=httpx.Timeout(settings.upstream_timeout, connect=settings.upstream_connect_timeout),
        limits=httpx.Limits(
            max_connections=settings.upstream_max_connections,
            max_keepalive_connections=settings.upstream_max_keepalive,
        ),
        headers={"Accept": "application/json", "User-Agent": f"graphql-api/{__version__}"},
        follow_redirects=False,
        trust_env=False,
    )


def _query(
    *,
    bookmark: str | None = None,
    page_size: int | None = None,
    ad_account_id: str | None = None,
    pin_metrics: bool = False,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if bookmark is not None:
        params["bookmark"] = bookmark
    if page_size is not None:
        params["page_size"] = str(page_size)
    if ad_account_id is not None:
        params["ad_account_id"] = ad_account_id
    if pin_metrics:
        params["pin_metrics"] = "true"
    return params


def _given(**params: str | None) -> dict[str, str]:
    """The query parameters that are given (not None)."""
    return {name: value for name, value in params.items() if value is not None}


def _upstream_code(response: httpx.Response) -> int | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if type(code) is int else None


def _reset_hint(response: httpx.Response) -> float | None:
    """Seconds until the rate limit resets, from ``X-RateLimit-Reset`` (seconds or epoch)."""
    try:
        reset = float(response.headers.get("x-ratelimit-reset", ""))
    except ValueError:
        return None
    # Seconds, believed up to a day; an epoch time or anything else is no usable hint.
    return reset if math.isfinite(reset) and 0 < reset <= MAX_RETRY_AFTER else None


def is_retryable(error: BaseException) -> bool:
    """Transient failures: 429, 502, 503, 504, connection failures and timeouts."""
    if isinstance(error, UpstreamRateLimited):
        return error.upstream_status == 429
    if isinstance(error, UpstreamConnectionFailed | UpstreamTimeout):
        return True
    return isinstance(error, UpstreamUnavailable) and error.upstream_status in _RETRY_STATUSES


class PinterestClient:
    """Typed calls to the Pinterest API v5, authorised with the token given per call."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        resilience: Resilience,
        *,
        tracing: Tracing | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self._http = http
        self._r = resilience
        self._tracing = tracing  # a CLIENT span per attempt, when tracing is on
        self._throttle = throttle  # notes each caller's rate-limit headers (None: not read)
        self._jitter = wait_random_exponential(
            multiplier=resilience.backoff, max=resilience.backoff_max
        )

    async def _send(
        self,
        operation: Operation,
        token: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, str],
        json: Any = None,
        deadline: Deadline | None,
        parse: Callable[[tuple[bytes, int]], _T],
    ) -> _T:
        """``operation`` (its path template filled with ``path``, each part URL-quoted), its
        answer parsed; retried on transient failures if it is idempotent. Each failed attempt
        that reached the upstream is logged, saying whether it will be retried."""
        r = self._r
        deadline = deadline or Deadline.after(r.default_deadline, r.timer)
        url = operation.path.format_map({k: quote(v, safe="") for k, v in (path or {}).items()})
        idempotent = operation.idempotent

        def retryable(error: BaseException) -> bool:
            if not (idempotent and is_retryable(error)):
                return False
            # A 429 is retried only when its hold is one worth waiting for.
            return not isinstance(error, UpstreamRateLimited) or (
                error.retry_after is not None and error.retry_after <= r.hold_wait
            )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            if isinstance(error, UpstreamRateLimited) and error.retry_after is not None:
                return error.retry_after  # the hold, within the hold wait (see retryable)
            return self._jitter(state)

        def stop(state: RetryCallState) -> bool:
            return (
                state.attempt_number >= r.attempts
                or state.upcoming_sleep >= deadline.remaining()
                or not r.budget.can_retry()
            )

        tried = _Tried()

        def retrying_after(state: RetryCallState) -> None:  # tenacity: a retry is decided
            error = state.outcome.exception() if state.outcome is not None else None
            _log_failure(operation.name, error, tried, will_retry=True)

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=wait,
            stop=stop,
            sleep=r.timer.sleep,
            before_sleep=retrying_after,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    tried.number, tried.seconds = attempt.retry_state.attempt_number, None
                    answer = await self._attempt(
                        operation,
                        url,
                        token,
                        params=params,
                        json=json,
                        deadline=deadline,
                        attempt=tried.number,
                        tried=tried,
                    )
                    return parse(answer)
        except UpstreamError as error:  # the last attempt's: not retried
            _log_failure(operation.name, error, tried, will_retry=False)
            raise
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        operation: Operation,
        url: str,
        token: str,
        *,
        params: Mapping[str, str],
        json: Any,
        deadline: Deadline,
        attempt: int,
        tried: _Tried,
    ) -> tuple[bytes, int]:
        """One attempt. Only an attempt that reaches the upstream is recorded (retry budget,
        breaker): a hold, the breaker, the bulkhead or a spent deadline refuse it before."""
        r = self._r
        caller = r.identify(token)
        wait = await r.holds.until(caller) - r.timer.wall()
        if wait > 0:  # the upstream asked this caller to wait (429): no request before then
            if wait > r.hold_wait or wait >= deadline.remaining():
                # Tell the caller at once rather than sleep through its deadline.
                r.holds.refused += 1
                raise UpstreamRateLimited(upstream_status=None, retry_after=wait)
            await r.timer.sleep(wait)
        breaker = r.breakers[operation.name]
        breaker.before_call()
        headers = {"Authorization": f"Bearer {token}"}
        content = None
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        traced: contextlib.AbstractAsyncContextManager[AttemptSpan | None] = (
            self._tracing.attempt(operation, attempt, headers)
            if self._tracing is not None
            else contextlib.nullcontext()
        )
        async with r.bulkhead.slot(caller), traced as span:
            budget = min(r.try_timeout, deadline.remaining())
            if budget <= 0:  # the deadline is spent: no request, and no upstream failure
                raise UpstreamTimeout()
            (r.budget.retry if attempt > 1 else r.budget.request)()
            sent()  # the request's cost: every attempt that reaches the upstream
            started = r.timer.monotonic()

            def observe(status: str) -> None:
                tried.seconds = r.timer.monotonic() - started
                r.observe(operation.name, status, tried.seconds)

            try:
                async with asyncio.timeout(budget):
                    response = await self._http.request(
                        operation.method, url, params=params, content=content, headers=headers
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                breaker.record(success=False)
                observe("timeout")
                raise UpstreamTimeout() from exc
            except httpx.TransportError as exc:
                breaker.record(success=False)
                observe("connection_error")
                raise UpstreamConnectionFailed() from exc
            except httpx.HTTPError as exc:  # e.g. a body that does not decode (bad gzip)
                breaker.record(success=False)
                observe("malformed")
                raise UpstreamError(
                    "The Pinterest API returned a malformed response.", upstream_status=None
                ) from exc
            if span is not None:
                span.answered(response.status_code)
        status = response.status_code
        observe(str(status))
        if self._throttle is not None:
            self._throttle.observe(caller, response.headers)
        if status != 429:  # a 429 is this caller's limit, not the upstream's health
            breaker.record(success=status < 500)
        hint = _reset_hint(response)
        if status == 429:
            error = error_for_status(
                status,
                _upstream_code(response),
                response.headers.get("Retry-After"),
                now=r.timer.wall(),
            )
            assert isinstance(error, UpstreamRateLimited)
            seconds = error.retry_after if error.retry_after is not None else hint or 1.0
            error.retry_after = seconds
            await r.holds.hold(caller, seconds)
            raise error
        if hint is not None and response.headers.get("x-ratelimit-remaining") == "0":
            await r.holds.hold(caller, hint)  # the next request would be refused: wait first
        if not response.is_success:
            raise error_for_status(status, _upstream_code(response))
        return response.content, status

    @staticmethod
    def _parsed(answer: tuple[bytes, int], parse: Callable[[bytes], _T], what: str) -> _T:
        """The answer's body parsed straight from its bytes (see ``models.parse_page_json``):
        one that is not JSON, or not ``what`` it should be, is an upstream error."""
        body, status = answer
        try:
            return parse(body)
        except msgspec.DecodeError as exc:  # not JSON (a ValidationError is not raised here)
            raise UpstreamError(
                "The Pinterest API returned a malformed response.", upstream_status=status
            ) from exc
        except ValueError as exc:
            raise UpstreamError(
                f"The Pinterest API returned a malformed {what}.", upstream_status=200
            ) from exc

    @classmethod
    def _page(cls, answer: tuple[bytes, int]) -> Page:
        return cls._parsed(answer, parse_page_json, "page")

    @classmethod
    def _pin(cls, answer: tuple[bytes, int]) -> Pin:
        return cls._parsed(answer, parse_pin_json, "Pin")

    async def list_product_group_products(
        self,
        token: str,
        product_group_id: str,
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
        deadline: Deadline | None = None,
    ) -> Page:
        """``GET /catalogs/product_groups/{product_group_id}/products``."""
        params = _query(
            bookmark=bookmark,
            page_size=page_size,
            ad_account_id=ad_account_id,
            pin_metrics=pin_metrics,
        )
        return await self._send(
            PRODUCT_GROUP_PRODUCTS,
            token,
            path={"product_group_id": product_group_id},
            params=params,
            deadline=deadline,
            parse=self._page,
        )

    async def list_products_by_filter(
        self,
        token: str,
        body: Mapping[str, Any],
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
        deadline: Deadline | None = None,
    ) -> Page:
        """``POST /catalogs/products/get_by_product_group_filters`` (idempotent)."""
        params = _query(
            bookmark=bookmark,
            page_size=page_size,
            ad_account_id=ad_account_id,
            pin_metrics=pin_metrics,
        )
        return await self._send(
            PRODUCTS_BY_FILTER,
            token,
            params=params,
            json=body,
            deadline=deadline,
            parse=self._page,
        )

    async def get_pin(
        self,
        token: str,
        pin_id: str,
        *,
        ad_account_id: str | None = None,
        pin_metrics: bool = False,
        deadline: Deadline | None = None,
    ) -> Pin:
        """``GET /pins/{pin_id}``."""
        params = _query(ad_account_id=ad_account_id, pin_metrics=pin_metrics)
        return await self._send(
            PIN, token, path={"pin_id": pin_id}, params=params, deadline=deadline, parse=self._pin
        )

    # --- The catalog as a graph (issue 18) ------------------------------------------------

    async def list_catalogs(
        self,
        token: str,
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Listing[Catalog]:
        """``GET /catalogs``."""
        params = _query(bookmark=bookmark, page_size=page_size, ad_account_id=ad_account_id)
        return await self._send(
            CATALOGS,
            token,
            params=params,
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_catalogs_json, "page"),
        )

    async def list_feeds(
        self,
        token: str,
        catalog_id: str | None,
        *,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Listing[Feed]:
        """``GET /catalogs/feeds?catalog_id=`` (every feed of the account without one)."""
        params = _query(bookmark=bookmark, page_size=page_size, ad_account_id=ad_account_id)
        params |= _given(catalog_id=catalog_id)
        return await self._send(
            FEEDS,
            token,
            params=params,
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_feeds_json, "page"),
        )

    async def get_feed(
        self,
        token: str,
        feed_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Feed:
        """``GET /catalogs/feeds/{feed_id}``."""
        return await self._send(
            FEED,
            token,
            path={"feed_id": feed_id},
            params=_query(ad_account_id=ad_account_id),
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_feed_json, "feed"),
        )

    async def list_product_groups(
        self,
        token: str,
        *,
        catalog_id: str | None = None,
        feed_id: str | None = None,
        ids: Sequence[str] | None = None,
        bookmark: str | None,
        page_size: int,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> Listing[ProductGroup]:
        """``GET /catalogs/product_groups?catalog_id=|feed_id=|id=`` (``id``: the ids,
        comma-separated, as the spec's ``explode: false`` has it)."""
        params = _query(bookmark=bookmark, page_size=page_size, ad_account_id=ad_account_id)
        params |= _given(
            catalog_id=catalog_id, feed_id=feed_id, id=None if ids is None else ",".join(ids)
        )
        return await self._send(
            PRODUCT_GROUPS,
            token,
            params=params,
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_product_groups_json, "page"),
        )

    async def get_product_group(
        self,
        token: str,
        product_group_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> ProductGroup:
        """``GET /catalogs/product_groups/{product_group_id}``."""
        return await self._send(
            PRODUCT_GROUP,
            token,
            path={"product_group_id": product_group_id},
            params=_query(ad_account_id=ad_account_id),
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_product_group_json, "product group"),
        )

    async def get_product_counts(
        self,
        token: str,
        product_group_id: str,
        *,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> ProductCounts:
        """``GET /catalogs/product_groups/{product_group_id}/product_counts``."""
        return await self._send(
            PRODUCT_COUNTS,
            token,
            path={"product_group_id": product_group_id},
            params=_query(ad_account_id=ad_account_id),
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_product_counts_json, "product counts"),
        )

    async def get_available_filter_values(
        self,
        token: str,
        *,
        catalog_id: str | None = None,
        feed_id: str | None = None,
        country: str | None = None,
        language: str | None = None,
        ad_account_id: str | None = None,
        deadline: Deadline | None = None,
    ) -> AvailableFilterValues:
        """``GET /catalogs/available_filter_values?catalog_id=|feed_id=&country=&language=``."""
        params = _query(ad_account_id=ad_account_id)
        params |= _given(catalog_id=catalog_id, feed_id=feed_id, country=country, language=language)
        return await self._send(
            AVAILABLE_FILTER_VALUES,
            token,
            params=params,
            deadline=deadline,
            parse=lambda answer: self._parsed(answer, parse_filter_values_json, "filter values"),
        )

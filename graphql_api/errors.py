"""The errors a client can see, each with a stable ``extensions.code``.

Only these reach a client with their message; anything else is masked as
``INTERNAL_SERVER_ERROR`` by :mod:`graphql_api.schema.masking`.

    APIError                      (INTERNAL_SERVER_ERROR)
    ├── BadUserInput              (BAD_USER_INPUT)     bad first, cursor or filter
    ├── Unauthenticated           (UNAUTHENTICATED)    no token at all, no upstream call made
    └── UpstreamError             (UPSTREAM_ERROR)     garbage, or a status without its own code
        ├── UpstreamBadRequest    (BAD_USER_INPUT)     400
        ├── UpstreamUnauthorized  (UNAUTHENTICATED)    401
        ├── UpstreamForbidden     (FORBIDDEN)          403
        ├── UpstreamNotFound      (NOT_FOUND)          404
        ├── UpstreamConflict      (CONFLICT)           409 (4182 no catalog, 4183 invalid filters)
        ├── UpstreamRateLimited   (RATE_LIMITED)       429 (or a hold or the per-token bulkhead
        │                                               after one), with retryAfter when known
        ├── UpstreamUnavailable   (UPSTREAM_UNAVAILABLE) 5xx, breaker open, bulkhead full
        │   └── UpstreamConnectionFailed                   no connection, or a broken one
        └── UpstreamTimeout       (UPSTREAM_TIMEOUT)   no answer in time

Upstream errors carry ``upstreamStatus`` and ``upstreamCode`` (Pinterest's numeric code) when known.
Messages are ours, never the upstream's text, URL or headers.
"""

from __future__ import annotations

import email.utils
import math
from typing import Any, ClassVar

__all__ = [
    "MAX_RETRY_AFTER",
    "APIError",
    "BadUserInput",
    "Unauthenticated",
    "UpstreamBadRequest",
    "UpstreamConflict",
    "UpstreamConnectionFailed",
    "UpstreamError",
    "UpstreamForbidden",
    "UpstreamNotFound",
    "UpstreamRateLimited",
    "UpstreamTimeout",
    "UpstreamUnauthorized",
    "UpstreamUnavailable",
    "error_for_status",
    "parse_retry_after",
]


class APIError(Exception):
    """Base of the errors whose message and ``extensions`` a client may see."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"
    default_message: ClassVar[str] = "Unexpected error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def extensions(self) -> dict[str, Any]:
        return {"code": self.code}


class BadUserInput(APIError):
    code = "BAD_USER_INPUT"
    default_message = "Invalid argument."


class Unauthenticated(APIError):
    code = "UNAUTHENTICATED"
    default_message = "No access token: send 'Authorization: Bearer <token>'."


class UpstreamError(APIError):
    code = "UPSTREAM_ERROR"
    default_message = "The Pinterest API returned an unexpected response."

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream_status: int | None = None,
        upstream_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status
        self.upstream_code = upstream_code

    @property
    def extensions(self) -> dict[str, Any]:
        ext = super().extensions
        if self.upstream_status is not None:
            ext["upstreamStatus"] = self.upstream_status
        if self.upstream_code is not None:
            ext["upstreamCode"] = self.upstream_code
        return ext


class UpstreamBadRequest(UpstreamError):
    code = "BAD_USER_INPUT"
    default_message = "The Pinterest API rejected the request's parameters."


class UpstreamUnauthorized(UpstreamError):
    code = "UNAUTHENTICATED"
    default_message = "The Pinterest API did not accept the access token."


class UpstreamForbidden(UpstreamError):
    code = "FORBIDDEN"
    default_message = "The access token may not read this resource."


class UpstreamNotFound(UpstreamError):
    code = "NOT_FOUND"
    default_message = "The Pinterest API found no such resource."


class UpstreamConflict(UpstreamError):
    code = "CONFLICT"
    default_message = "The Pinterest API could not list these products."
    messages: ClassVar[dict[int, str]] = {
        4182: "There is no catalog for this account yet.",
        4183: "The product group filters failed the Pinterest API's validation.",
    }


class UpstreamRateLimited(UpstreamError):
    code = "RATE_LIMITED"
    default_message = "The Pinterest API rate limit was reached; retry later."

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream_status: int | None = 429,
        upstream_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, upstream_status=upstream_status, upstream_code=upstream_code)
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, Any]:
        ext = super().extensions
        if self.retry_after is not None and math.isfinite(self.retry_after):
            ext["retryAfter"] = math.ceil(min(max(self.retry_after, 0.0), MAX_RETRY_AFTER))
        return ext


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"
    default_message = "The Pinterest API is unavailable; retry later."


class UpstreamConnectionFailed(UpstreamUnavailable):
    """No connection, or it broke: worth a retry (unlike a breaker or bulkhead refusal)."""


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    default_message = "The Pinterest API did not answer in time."


_BY_STATUS: dict[int, type[UpstreamError]] = {
    400: UpstreamBadRequest,
    401: UpstreamUnauthorized,
    403: UpstreamForbidden,
    404: UpstreamNotFound,
    409: UpstreamConflict,
    429: UpstreamRateLimited,
}


# Longer waits are not believed: a day at most (also keeps retryAfter a sane JSON number).
MAX_RETRY_AFTER = 86_400.0


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date). An HTTP
    date counts from ``now`` (the caller's wall clock, ``Timer.wall``): without it, a date is
    not believed (``None``); this module reads no clock."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None or now is None:
        return None
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER)


def error_for_status(
    status: int,
    upstream_code: int | None,
    retry_after: str | None = None,
    *,
    now: float | None = None,
) -> UpstreamError:
    """The one status → error table; any other 5xx is unavailable, any other status an error."""
    cls = _BY_STATUS.get(status, UpstreamUnavailable if status >= 500 else UpstreamError)
    if cls is UpstreamRateLimited:
        return UpstreamRateLimited(
            upstream_code=upstream_code, retry_after=parse_retry_after(retry_after, now=now)
        )
    message = None
    if cls is UpstreamConflict and upstream_code is not None:
        message = UpstreamConflict.messages.get(upstream_code)
    return cls(message, upstream_status=status, upstream_code=upstream_code)

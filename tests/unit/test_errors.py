"""The status table and Retry-After parsing."""

from __future__ import annotations

import pytest

from graphql_api.errors import (
    UpstreamConflict,
    UpstreamRateLimited,
    error_for_status,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BAD_USER_INPUT"),
        (401, "UNAUTHENTICATED"),
        (403, "FORBIDDEN"),
        (404, "NOT_FOUND"),
        (409, "CONFLICT"),
        (429, "RATE_LIMITED"),
        (500, "UPSTREAM_UNAVAILABLE"),
        (502, "UPSTREAM_UNAVAILABLE"),
        (503, "UPSTREAM_UNAVAILABLE"),
        (504, "UPSTREAM_UNAVAILABLE"),
        (405, "UPSTREAM_ERROR"),
        (302, "UPSTREAM_ERROR"),
    ],
)
def test_status_table(status: int, code: str) -> None:
    error = error_for_status(status, 77)
    assert error.extensions["code"] == code
    assert error.extensions["upstreamStatus"] == status
    assert error.extensions["upstreamCode"] == 77


def test_conflict_messages_name_the_pinterest_code() -> None:
    assert "no catalog" in error_for_status(409, 4182).message
    assert "filters" in error_for_status(409, 4183).message
    assert error_for_status(409, 1).message == UpstreamConflict.default_message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0.0),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=40.0) == seconds


def test_rate_limited_rounds_retry_after_up() -> None:
    assert UpstreamRateLimited(retry_after=1.2).extensions["retryAfter"] == 2

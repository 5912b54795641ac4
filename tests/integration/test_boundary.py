"""The HTTP edge never answers without a code: a bug anywhere becomes a JSON
``INTERNAL_SERVER_ERROR`` (never a text/plain 500), and its traceback is logged once per kind."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from graphql_api.boundary import ErrorReporter
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import Timer
from tests.helpers import Clock, open_app

QUERY = '{ productGroupProducts(productGroupId: "1", first: 1) { nodes { pin { id } } } }'


class FailingClock(Clock):
    """A clock that breaks (as a bug would) once ``broken`` is set."""

    broken = False

    def __call__(self) -> float:
        if self.broken:
            raise RuntimeError("clock is broken: /secret/path token=abc")
        return super().__call__()

    @property
    def timer(self) -> Timer:
        """Only the wall clock (the caches') breaks: the edge's own monotonic clock (the error
        reporter's, the access log's) is the one that reports the bug."""
        return Timer(monotonic=lambda: self.now, wall=self, sleep=self.sleep)


def _assert_internal(response: httpx.Response, media: str) -> None:
    assert response.status_code == 500
    assert response.headers["content-type"].startswith(media)
    body = orjson.loads(response.content)
    error = {"message": "Unexpected error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
    assert body == {"errors": [error]}
    assert b"RuntimeError" not in response.content
    assert b"secret" not in response.content


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        ("application/json", "application/json"),
        ("application/graphql-response+json", "application/graphql-response+json"),
    ],
)
async def test_a_bug_while_serving_graphql_is_a_json_internal_error(
    accept: str, media: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FailingClock()
    async with open_app(FakePinterest(), clock=clock) as h:
        assert (await h.gql(QUERY))["data"]["productGroupProducts"]["nodes"]
        clock.broken = True
        caplog.set_level(logging.ERROR, logger="graphql_api.errors")
        for _ in range(5):
            _assert_internal(await h.post(QUERY, headers={"Accept": accept}), media)
        clock.broken = False
        assert (await h.gql(QUERY))["data"]["productGroupProducts"]["nodes"]
        metrics = (await h.client.get("/metrics")).text
    # One traceback for five identical failures.
    records = [r for r in caplog.records if r.name == "graphql_api.errors"]
    assert len(records) == 1
    # The traceback (exc_text once the log filter of configure_logging has scrubbed it).
    assert records[0].exc_info is not None or "Traceback" in (records[0].exc_text or "")
    assert 'graphql_api_requests_total{operation="failed",outcome="error"} 5.0' in metrics


async def test_a_bug_outside_graphql_is_a_json_internal_error_with_a_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with open_app(FakePinterest()) as h:
        app = h.app

        async def broken(request: Request) -> Response:
            raise KeyError("secret")

        app.add_route("/broken", broken)
        caplog.set_level(logging.ERROR, logger="graphql_api.errors")
        response = await h.client.get("/broken", headers={"X-Request-ID": "abc-1"})
        _assert_internal(response, "application/json")
        assert response.headers["x-request-id"] == "abc-1"
        assert (await h.client.get("/healthz")).status_code == 200
    assert len([r for r in caplog.records if r.name == "graphql_api.errors"]) == 1


def test_reporter_logs_a_kind_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    reporter = ErrorReporter(interval=60, clock=clock)
    caplog.set_level(logging.ERROR, logger="graphql_api.errors")

    def fail(error: Exception) -> Exception:
        try:
            raise error
        except Exception as raised:
            return raised

    for _ in range(3):
        reporter.report(fail(ValueError("a")))
    reporter.report(fail(TypeError("b")))  # another kind is logged at once
    assert [r.getMessage() for r in caplog.records] == [
        "unexpected error: ValueError",
        "unexpected error: TypeError",
    ]
    clock.advance(61)
    reporter.report(fail(ValueError("a")))
    last = caplog.records[-1].getMessage()
    assert last == "unexpected error: ValueError (2 more since, not logged)"

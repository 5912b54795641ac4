"""Time only through the app's timer: the access log's duration, the error reporter's interval
and the caches' windows read the clock the app was given (here a fake one), never the system's."""

from __future__ import annotations

import logging

import httpx
import pytest

from graphql_api.config import CacheURL
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, open_app, settings

QUERY = '{ productGroupProducts(productGroupId: "1", first: 1) { nodes { pin { id } } } }'


async def test_the_access_log_times_a_request_with_the_apps_clock(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakePinterest()
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503) if calls == 1 else fake.handler(request)

    clock = Clock()
    caplog.set_level(logging.INFO, logger="graphql_api.access")
    async with open_app(flaky, clock=clock) as h:
        assert "errors" not in await h.gql(QUERY)
    assert clock.sleeps  # the retry's backoff slept on the fake clock, and nothing else moved it
    (line,) = [r for r in caplog.records if r.name == "graphql_api.access"]
    assert line.__dict__["duration_ms"] == round(sum(clock.sleeps) * 1000, 2)


def test_the_cache_url_is_parsed_in_one_place() -> None:
    assert settings().cache == CacheURL("memory://", "memory", None)
    cache = settings(cache_url="rediss://user:s3cret@cache.internal:6380/2").cache
    assert (cache.scheme, cache.password, cache.redis) == ("rediss", "s3cret", True)
    assert settings(cache_url="redis://cache:6379/0").cache.password is None

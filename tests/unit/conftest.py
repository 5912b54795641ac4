"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from graphql_api.cache import MemoryStore, RedisStore, Store
from tests.helpers import redis_link


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        yield MemoryStore(max_entries=100)
        return
    link = redis_link(request.getfixturevalue("redis_url"))
    s = RedisStore(link, max_entries=100)
    yield s
    await s.close()
    await link.close()

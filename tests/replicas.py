"""Pieces shared by the tests that run several replicas of the real service on one Redis
(tests/e2e/test_replicas.py, tests/e2e/test_balanced.py): the fake upstream over real HTTP,
with tokens and caller marks, and the settings every replica runs with."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import httpx
import orjson

from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app

__all__ = ["Upstream", "replica_environment"]


class Upstream:
    """The fake Pinterest over real HTTP (serve ``app``, e.g. with ``serve_in_thread``) that
    accepts only ``tokens`` and marks each Pin's ``note`` with its caller
    (:func:`~graphql_api.upstream.fake.caller_mark`); the test can change it, revoke a token of
    it, or make it fail (503)."""

    def __init__(self, tokens: Collection[str], products: int = 30) -> None:
        self.fake = FakePinterest(
            build_catalog(products), accept_any_token=False, tokens=tokens, mark_callers=True
        )
        self.failing = False
        inner = asgi_app(self.fake)

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and self.failing:
                self.fake.requests.append(httpx.Request("GET", "http://fake/failed"))
                body = orjson.dumps({"code": 503, "message": "Unavailable."})
                headers = [(b"content-type", b"application/json")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await inner(scope, receive, send)

        self.app = app

    @property
    def requests(self) -> int:
        return len(self.fake.requests)

    def requests_of(self, token: str) -> int:
        """How many requests the upstream received with ``token``."""
        header = f"Bearer {token}"
        return sum(request.headers.get("Authorization") == header for request in self.fake.requests)

    def retitle(self, title: str) -> None:
        self.fake.items[0]["pin"]["title"] = title

    def revoke(self, token: str) -> None:
        self.fake.tokens = self.fake.tokens - {token}


def replica_environment(redis_url: str, upstream_url: str, **environment: str) -> dict[str, str]:
    """The settings of a replica on the shared Redis, over the fake upstream at
    ``upstream_url`` (more settings, or others, in ``environment``)."""
    return {
        "GRAPHQL_API_CACHE_URL": redis_url,
        "GRAPHQL_API_SECRET": "replicas-secret",  # the same on every replica: shared pages
        "PINTEREST_API_BASE_URL": upstream_url,
        "GRAPHQL_API_REDIS_TIMEOUT": "0.5",
        "GRAPHQL_API_RETRY_ATTEMPTS": "1",
        **environment,
    }

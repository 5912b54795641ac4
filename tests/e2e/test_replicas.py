"""Two replicas of the real service (`graphql-api serve`, two processes) on one real Redis and
one fake upstream served over HTTP: what one replica fetches, refreshes or drops, the other
serves, refreshes or drops too (see graphql_api/cache.py for the coherence rules)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
import pytest

from graphql_api.upstream.fake import caller_mark
from tests.helpers import RedisProcess, http_post, serve_cli, serve_in_thread
from tests.replicas import Upstream, replica_environment

pytestmark = pytest.mark.e2e
LIST = """{ productGroupProducts(productGroupId: "1", first: 3) {
  nodes { pin { id title note } } } }"""
WITH_METRICS = """{ productGroupProducts(productGroupId: "1", first: 3) {
  nodes { pin { id pinMetrics { allTime { impression } } } } } }"""
TOKENS = ("alice-token", "bob-token")


@pytest.fixture
def upstream() -> Iterator[tuple[Upstream, str]]:
    fake = Upstream(TOKENS)
    with serve_in_thread(fake.app) as url:
        yield fake, url


def _replicas(
    tmp_path: Path, redis_url: str, upstream_url: str, **environment: str
) -> Callable[[ExitStack], tuple[str, str]]:
    def start(stack: ExitStack) -> tuple[str, str]:
        env = replica_environment(redis_url, upstream_url, **environment)
        return (
            stack.enter_context(serve_cli(tmp_path / "a.log", demo=False, **env)),
            stack.enter_context(serve_cli(tmp_path / "b.log", demo=False, **env)),
        )

    return start


def _ask(base: str, token: str, query: str = LIST) -> dict[str, Any]:
    response = http_post(
        f"{base}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = orjson.loads(response.content)
    return body


def _nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    assert "errors" not in body, body["errors"]
    nodes: list[dict[str, Any]] = body["data"]["productGroupProducts"]["nodes"]
    return nodes


def _code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


def _until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Poll ``condition`` until true (at most ``seconds``); the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    pytest.fail(f"{what}: not within {seconds} s")


def test_replicas_share_pages_and_drops_keep_callers_apart(
    own_redis: RedisProcess, upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    fake, url = upstream
    alice, bob = TOKENS
    with ExitStack() as stack:
        # Fresh for a minute: anything B stops serving below, it stops because A told it.
        a, b = _replicas(tmp_path, own_redis.url, url, GRAPHQL_API_CACHE_TTL="60")(stack)
        first = _nodes(_ask(a, alice))
        assert fake.requests == 1
        # (a) B's first query: A's page, from Redis, no upstream request.
        assert _nodes(_ask(b, alice)) == first
        assert _nodes(_ask(b, alice)) == first  # from B's own tier (or response cache)
        assert fake.requests == 1
        # (e) Another caller on B: never A's page for alice.
        bobs = _nodes(_ask(b, bob))
        assert fake.requests == 2
        assert {node["pin"]["note"] for node in bobs} == {caller_mark(bob)}
        assert {node["pin"]["note"] for node in first} == {caller_mark(alice)}

        # (c) alice's token is revoked; A meets the 401 (a query with metrics misses the
        # cached page) and drops alice's page: B, holding it fresh, stops serving it.
        fake.revoke(alice)
        assert _code(_ask(a, alice, WITH_METRICS)) == "UNAUTHENTICATED"
        sent = fake.requests
        _until(lambda: _code(_ask(b, alice)) == "UNAUTHENTICATED", 5, "B drops alice's page")
        assert fake.requests > sent  # B asked the upstream: nothing served from its caches
        assert _nodes(_ask(b, bob)) == bobs  # bob's page is not affected
        assert _code(_ask(a, alice)) == "UNAUTHENTICATED"


def test_replicas_pick_up_refreshes_and_serve_nothing_past_the_stale_window(
    own_redis: RedisProcess, upstream: tuple[Upstream, str], tmp_path: Path
) -> None:
    fake, url = upstream
    alice = TOKENS[0]
    ttl, stale = 1.0, 1.0
    with ExitStack() as stack:
        a, b = _replicas(
            tmp_path,
            own_redis.url,
            url,
            GRAPHQL_API_CACHE_TTL=str(ttl),
            GRAPHQL_API_CACHE_STALE_TTL=str(stale),
        )(stack)
        assert _nodes(_ask(a, alice))[0]["pin"]["title"] != "Retitled"
        _nodes(_ask(b, alice))

        # (b) The upstream changes; A refreshes (stale first, then fresh): B serves the new
        # page at once (A told it, or B's copy was no longer fresh and Redis has A's).
        fake.retitle("Retitled")
        _until(lambda: _nodes(_ask(a, alice))[0]["pin"]["title"] == "Retitled", 10, "A refreshes")
        assert _nodes(_ask(b, alice))[0]["pin"]["title"] == "Retitled"

        # (d) The upstream fails: pages are served stale until their window ends, then never.
        fake.failing = True
        fetched = time.monotonic()  # no page is stored from now: each ends by ttl + stale
        late: list[tuple[float, str | None]] = []
        while time.monotonic() - fetched < ttl + stale + 2:
            for base in (a, b):
                sent = time.monotonic() - fetched
                late.append((sent, _code(_ask(base, alice))))
            time.sleep(0.05)
        # (a refresh the upstream answered just before it failed may be stored a bit later)
        past = [code for sent, code in late if sent > ttl + stale + 0.5]
        assert past, late
        assert all(code is not None for code in past), late

"""Redis is a cache, never a dependency: a real redis-server killed, hung (SIGSTOP), flapping
and restarted under the app. Every query is answered, no request waits on Redis for long, the
guard stops asking a Redis that is away, /readyz says `degraded` at once, one warning down and
one back, and sharing resumes by itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import trustme

from graphql_api.cache import RedisStore
from graphql_api.persisted import sha256
from graphql_api.redis_link import LinkState, RedisLink
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest
from tests.helpers import Clock, Harness, RedisProcess, open_app

CATALOG = build_catalog(60)
LIST = """query($group: ID!, $first: Int) {
  productGroupProducts(productGroupId: $group, first: $first) { nodes { pin { id } } } }"""
SECRET = "shared-secret-for-replicas"
# The guard's settings in these tests: the default timeout, a quick probe.
GUARD = {"redis_timeout": 0.05, "redis_probe_interval": 0.1, "response_cache": False}
BOUND = 2.5  # seconds any request may take here, on a busy machine (a hung Redis made it 5 s)


def _link(h: Harness) -> RedisLink:
    link = h.resources.redis
    assert link is not None
    return link


async def _query(h: Harness, group: str = "1", token: str = "tok") -> dict[str, Any]:
    """One query that must be answered with data within BOUND seconds."""
    started = time.perf_counter()
    result = await h.gql(LIST, {"group": group, "first": 5}, token=token)
    assert time.perf_counter() - started < BOUND
    assert "errors" not in result, result["errors"]
    assert len(result["data"]["productGroupProducts"]["nodes"]) == 5
    return result


async def _readyz(h: Harness) -> dict[str, str]:
    started = time.perf_counter()
    response = await h.client.get("/readyz")
    assert time.perf_counter() - started < BOUND
    assert response.status_code == 200  # degraded or not, the replica stays in rotation
    body: dict[str, str] = response.json()
    return body


async def _until_ready(*harnesses: Harness) -> None:
    """Wait (bounded) until every app sees Redis again."""
    for _ in range(100):
        statuses = [(await _readyz(h))["status"] for h in harnesses]
        if statuses == ["ready"] * len(harnesses):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("Redis did not come back")


def _redis_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "graphql_api.redis" and r.levelno >= logging.WARNING
    ]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG, logger="graphql_api"):
        yield caplog


@asynccontextmanager
async def _app(url: str, upstream: Any = None, **values: Any) -> AsyncIterator[Harness]:
    settings = {**GUARD, **values}
    async with open_app(
        upstream or FakePinterest(CATALOG), cache_url=url, secret=SECRET, **settings
    ) as h:
        yield h


@pytest.mark.parametrize("failure", ["killed", "hung"])
async def test_redis_away_every_query_answered_and_the_guard_stops_asking(
    failure: str, own_redis: RedisProcess, logs: pytest.LogCaptureFixture
) -> None:
    async with _app(own_redis.url) as h:
        await _query(h, "1")
        assert await _readyz(h) == {"status": "ready", "cache": "ok"}
        link = _link(h)
        own_redis.kill() if failure == "killed" else own_redis.stop()

        await _query(h, "2")  # pays the failures that open the guard: tens of ms each
        assert link.state is LinkState.DOWN
        attempts, sent = link.attempts, len(h.requests)
        for group in ["2", "3", "4", "2", "3", "4"]:
            await _query(h, group)
        assert await _readyz(h) == {"status": "degraded", "cache": "unavailable"}
        assert link.attempts == attempts  # the open guard asked Redis nothing
        assert link.skipped > 0
        # The process' own memory kept what it fetched meanwhile: no more upstream requests
        # than memory:// would make.
        assert len(h.requests) == sent + 2
        for _ in range(100):  # an immediate PING confirms an outage of timeouts alone
            if link.outages:
                break
            await asyncio.sleep(0.01)

        own_redis.restart() if failure == "killed" else own_redis.cont()
        await _until_ready(h)
        # mypy keeps an earlier assert's narrowing of .state across the calls that change it
        assert link.state is LinkState.UP  # type: ignore[comparison-overlap]
        await _query(h, "5")
        assert link.attempts > attempts
    warnings = _redis_warnings(logs)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("Redis is unavailable (")
    assert warnings[1] == "Redis is back: sharing the cache again"
    assert not [r for r in logs.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_redis_flapping_every_query_answered(
    own_redis: RedisProcess, logs: pytest.LogCaptureFixture
) -> None:
    async with _app(own_redis.url) as h:
        link = _link(h)

        async def flap() -> None:
            for _ in range(3):
                await asyncio.sleep(0.15)
                await asyncio.to_thread(own_redis.kill)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(own_redis.start)

        flapping = asyncio.create_task(flap())
        answered = 0
        while not flapping.done():
            await asyncio.gather(*(_query(h, str(g), token=f"t{g % 3}") for g in range(1, 9)))
            answered += 8
            await asyncio.sleep(0.01)
        await flapping
        await _until_ready(h)
        await _query(h, "9")
        assert answered >= 40
        assert link.outages >= 1
    warnings = _redis_warnings(logs)
    # One line per change: down, back, down, back...
    assert warnings == [
        "Redis is back: sharing the cache again" if i % 2 else warnings[i]
        for i in range(2 * link.outages)
    ]
    assert all(w.startswith("Redis is unavailable") for w in warnings[::2])
    assert not [r for r in logs.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_holds_are_honoured_in_the_process_while_redis_is_away(
    own_redis: RedisProcess,
) -> None:
    limited = httpx.Response(
        429, json={"code": 8, "message": "slow down"}, headers={"Retry-After": "60"}
    )
    async with _app(own_redis.url, lambda request: limited, clock=Clock()) as h:
        own_redis.kill()
        first = await h.gql(LIST, {"group": "1", "first": 5}, token="alice")
        assert first["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        sent = len(h.requests)
        again = await h.gql(LIST, {"group": "2", "first": 5}, token="alice")
        assert again["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert 0 < again["errors"][0]["extensions"]["retryAfter"] <= 60
        assert len(h.requests) == sent  # held here: no upstream request
        assert _link(h).state is LinkState.DOWN


async def test_apq_registers_and_serves_with_redis_away(own_redis: RedisProcess) -> None:
    query = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { pin { id } } } }'
    apq = {"persistedQuery": {"version": 1, "sha256Hash": sha256(query)}}
    async with _app(own_redis.url, redis_timeout=0.5) as h:
        h.client.headers["Authorization"] = "Bearer tok"
        own_redis.kill()
        unknown = (await h.client.post("/graphql", json={"extensions": apq})).json()
        assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await h.client.post("/graphql", json={"query": query, "extensions": apq})
        assert registered.status_code == 200
        assert registered.json()["data"]["productGroupProducts"]["nodes"]
        by_hash = await h.client.post("/graphql", json={"extensions": apq})
        assert by_hash.status_code == 200
        assert by_hash.json()["data"] == registered.json()["data"]
        assert _link(h).state is LinkState.DOWN


async def test_sharing_resumes_after_redis_restarts(own_redis: RedisProcess) -> None:
    # A timeout generous enough that a busy test machine does not skip a write meant to share.
    async with (
        _app(own_redis.url, redis_timeout=0.25) as one,
        _app(own_redis.url, redis_timeout=0.25) as two,
    ):
        own_redis.kill()
        await _query(one, "1")
        await _query(two, "1")  # no sharing while Redis is away: each fetched it
        assert (len(one.requests), len(two.requests)) == (1, 1)
        own_redis.restart()
        await _until_ready(one, two)
        await _query(one, "2")
        await _query(two, "2")
        assert len(two.requests) == 1  # served from Redis: the page app one fetched


def _tls_files(directory: Path) -> dict[str, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    files = {
        "ca": directory / "ca.pem",
        "cert": directory / "cert.pem",
        "key": directory / "key.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


@pytest.fixture
def tls_redis(redis_binary: str, tmp_path: Path) -> Iterator[tuple[RedisProcess, Path]]:
    """A redis-server speaking only TLS, with a certificate of a CA made for this test."""
    files = _tls_files(tmp_path)
    # Not formatted: a command line, flags beside their values.
    server = RedisProcess(redis_binary, "--port", "0", "--tls-port", "{port}",
                          "--tls-cert-file", str(files["cert"]), "--tls-key-file",
                          str(files["key"]), "--tls-ca-cert-file", str(files["ca"]),
                          "--tls-auth-clients", "no")  # fmt: skip
    server.start(
        lambda port: redis.Redis(
            host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(files["ca"])
        )
    )
    try:
        yield server, files["ca"]
    finally:
        server.kill()


async def test_rediss_shares_pages_over_tls(tls_redis: tuple[RedisProcess, Path]) -> None:
    server, ca = tls_redis
    url = f"rediss://127.0.0.1:{server.port}/0?ssl_ca_certs={ca}"
    async with _app(url, redis_timeout=0.5) as one:
        await _query(one)
    async with _app(url, redis_timeout=0.5) as two:
        await _query(two)
        assert two.requests == []  # app one's page, through TLS
        assert await _readyz(two) == {"status": "ready", "cache": "ok"}


async def test_rediss_with_an_untrusted_certificate_is_redis_away(
    tls_redis: tuple[RedisProcess, Path], logs: pytest.LogCaptureFixture
) -> None:
    server, _ = tls_redis
    async with _app(f"rediss://127.0.0.1:{server.port}/0") as h:  # the system's CAs only
        for group in "123":
            await _query(h, group)
        assert await _readyz(h) == {"status": "degraded", "cache": "unavailable"}
    warnings = _redis_warnings(logs)
    assert len(warnings) == 1
    assert "certificate" in warnings[0].lower()


@pytest.fixture
def acl_user(own_redis: RedisProcess) -> str:
    """An ACL user of ``own_redis`` allowed the commands the service uses, on every key and
    on the page cache's channel."""
    admin = redis.Redis(port=own_redis.port)
    admin.acl_setuser(
        "app",
        enabled=True,
        passwords=["+pw-app-1"],
        keys=["*"],
        channels=["graphql_api:cache"],
        commands=["+@read", "+@write", "+@connection", "+@keyspace", "+publish", "+subscribe"],
    )
    admin.close()
    return "app"


async def test_an_acl_user_shares_pages(own_redis: RedisProcess, acl_user: str) -> None:
    url = f"redis://{acl_user}:pw-app-1@127.0.0.1:{own_redis.port}/0"
    async with _app(url, redis_timeout=0.5) as one:
        await _query(one)
    async with _app(url, redis_timeout=0.5) as two:
        await _query(two)
        assert two.requests == []
        store = two.resources.cache.store
        assert isinstance(store, RedisStore)
        for _ in range(300):  # subscribed to the replicas' messages: the in-process tier serves
            if store.live:
                break
            await asyncio.sleep(0.01)
        assert store.live
        assert _link(two).state is LinkState.UP
    admin = redis.Redis(port=own_redis.port)
    assert admin.keys("page:*")
    admin.close()


async def test_a_wrong_password_is_redis_away(
    own_redis: RedisProcess, acl_user: str, logs: pytest.LogCaptureFixture
) -> None:
    url = f"redis://{acl_user}:wrong-canary@127.0.0.1:{own_redis.port}/0"
    async with _app(url) as h:
        for group in "1231":
            await _query(h, group)
        assert len(h.requests) == 3  # the process' memory served the repeat
        assert await _readyz(h) == {"status": "degraded", "cache": "unavailable"}
    warnings = _redis_warnings(logs)
    assert len(warnings) == 1
    assert "AuthenticationError" in warnings[0]
    assert "canary" not in logs.text


async def test_readyz_answers_within_a_second_whatever_the_redis_timeout(
    own_redis: RedisProcess,
) -> None:
    async with _app(own_redis.url, redis_timeout=1.0) as h:
        own_redis.stop()
        assert await _readyz(h) == {"status": "degraded", "cache": "unavailable"}

"""Deadlines against real loopback servers that never answer, or trickle a byte a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import orjson
import pytest

from graphql_api.app import create_app
from graphql_api.config import Settings
from graphql_api.errors import APIError
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.resilience import Deadline, Timer, build_resilience
from tests.helpers import running, settings

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def _server(serve: Serve) -> AsyncIterator[tuple[str, list[asyncio.StreamReader]]]:
    """A raw TCP server on a loopback port; yields its URL and the connections it accepted."""
    connections: list[asyncio.StreamReader] = []
    handlers: list[asyncio.Task[None]] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(reader)
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await serve(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v5", connections
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def _never_answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await reader.read()  # until the client goes away


async def _trickles(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    while True:  # a byte a second: each read is quick enough, the answer never ends
        writer.write(b" ")
        await writer.drain()
        await asyncio.sleep(1)


@pytest.mark.parametrize("serve", [_never_answers, _trickles], ids=["silent", "trickle"])
async def test_slow_upstreams_time_out_within_the_deadline(serve: Serve) -> None:
    deadline_seconds = 1.5
    values = {"upstream_timeout": 0.6, "retry_backoff": 0.01, "request_deadline": deadline_seconds}
    async with _server(serve) as (url, connections):
        timer = Timer()
        resilience = build_resilience(settings(**values), timer, lambda token: token)
        http = build_http_client(settings(pinterest_api_base_url=url, **values))
        client = PinterestClient(http, resilience)
        before = {t for t in asyncio.all_tasks()}
        started = time.monotonic()
        with pytest.raises(APIError) as raised:
            await client.get_pin("tok", "5", deadline=Deadline.after(deadline_seconds, timer))
        elapsed = time.monotonic() - started
        assert raised.value.extensions["code"] == "UPSTREAM_TIMEOUT"
        assert elapsed <= deadline_seconds + 0.5
        assert len(connections) >= 2  # the per-attempt timeout left time for a retry
        for reader in connections:  # every connection the client opened is closed already
            assert await asyncio.wait_for(reader.read(), timeout=2) == b""
        await http.aclose()
        await asyncio.sleep(0)
        leftover = {t for t in asyncio.all_tasks() if not t.done()} - before
        assert {t for t in leftover if "accept" not in repr(t.get_coro())} == set()


def test_the_default_timeouts_leave_room_for_a_retry_within_a_ui_deadline() -> None:
    s = Settings(_env_file=None)  # the shipped defaults
    assert s.request_deadline <= 10  # an answer or an error within 10 s
    assert s.retry_attempts >= 2
    first_backoff = s.retry_backoff  # full jitter: the first wait is at most this
    assert 2 * s.upstream_timeout + first_backoff < s.request_deadline  # a silent attempt and
    assert s.upstream_connect_timeout <= s.upstream_timeout  # its retry fit in the deadline
    assert s.hold_wait <= 1


# The defaults' time settings, scaled down tenfold so the test takes a second, not ten.
_SCALE = 0.1
_DEFAULTS = Settings(_env_file=None)
_SCALED = {
    name: getattr(_DEFAULTS, name) * _SCALE
    for name in (
        "request_deadline",
        "upstream_timeout",
        "upstream_connect_timeout",
        "retry_backoff",
        "retry_backoff_max",
        "hold_wait",
    )
}


async def test_a_silent_upstream_gives_upstream_timeout_within_the_default_deadline() -> None:
    deadline = _SCALED["request_deadline"]
    async with _server(_never_answers) as (url, connections):
        app = create_app(
            settings(pinterest_api_base_url=url, pinterest_access_token="tok", **_SCALED)
        )
        async with running(app) as (client, _, _):
            started = time.monotonic()
            response = await client.post("/graphql", json={"query": '{ pin(id: "5") { id } }'})
            elapsed = time.monotonic() - started
    (error,) = orjson.loads(response.content)["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    assert elapsed <= deadline + 0.5  # 10 s at the real defaults (it was 30 s: 3 x 10 s)
    assert len(connections) >= 2  # and a retry fitted in


async def _rate_limited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"code": 8, "message": "slow down"}'
        writer.write(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()


async def test_a_held_caller_is_told_at_once_with_the_default_settings() -> None:
    async with _server(_rate_limited) as (url, connections):
        values = settings(pinterest_api_base_url=url)
        resilience = build_resilience(values, Timer(), lambda token: token)
        async with build_http_client(values) as http:
            client = PinterestClient(http, resilience)
            started = time.monotonic()
            with pytest.raises(APIError) as first:  # a 5 s hold: not retried, not slept
                await client.get_pin("tok", "5")
            with pytest.raises(APIError) as held:  # the hold: answered without a request
                await client.get_pin("tok", "6")
            elapsed = time.monotonic() - started
    assert first.value.extensions["retryAfter"] == 5
    assert held.value.extensions == {"code": "RATE_LIMITED", "retryAfter": 5}
    assert elapsed < 1  # it slept up to the deadline (10 s) before
    assert len(connections) == 1

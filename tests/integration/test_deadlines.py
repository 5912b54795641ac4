"""Deadlines against real loopback servers that never answer, or trickle a byte a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from graphql_api.errors import APIError
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.resilience import Deadline, Timer, build_resilience
from tests.helpers import settings

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

"""The real CLI stopping as an orchestrator stops it, and under ``--workers N``.

The drain (graphql_api/server.py): on SIGTERM /readyz answers 503 at once while every request
is still served (with ``Connection: close``); ``GRAPHQL_API_DRAIN_DELAY`` seconds later the
listening socket closes, in-flight requests finish, and the process exits 0. SIGINT or a second
SIGTERM skip it. The in-flight request is held by an upstream served over HTTP that answers a
gated product group only when the test opens the gate, so nothing here depends on speed: the
figures the tests measure (SIGTERM to readyz 503, to the socket closed, to exit) are printed
(``pytest -s``), and only the contract's lower bound (the socket stays open for the drain) is
asserted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from graphql_api.server import Server
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app
from tests.helpers import serve_in_thread, start_cli

pytestmark = pytest.mark.e2e
GATED = "7"  # the product group whose upstream answer waits for the test's gate
QUERY = """query($group: ID!) { productGroupProducts(productGroupId: $group, first: 2) {
  nodes { pin { id } } } }"""
WAIT = 20.0  # seconds any one wait may take on a loaded machine before the test fails


@dataclass
class GatedUpstream:
    """The fake Pinterest over HTTP; a request for product group ``GATED`` is answered once the
    gate is open (``arrived`` is set when one is waiting)."""

    url: str = ""
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def upstream() -> Iterator[GatedUpstream]:
    gated = GatedUpstream()
    inner = asgi_app(FakePinterest(build_catalog(30)))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and f"/product_groups/{GATED}/" in scope["path"]:
            gated.arrived.set()
            for _ in range(int(WAIT * 100)):
                if gated.gate.is_set():
                    break
                await asyncio.sleep(0.01)
        await inner(scope, receive, send)

    with serve_in_thread(app) as url:
        gated.url = url
        try:
            yield gated
        finally:
            gated.gate.set()  # never leave a request hanging


def _environment(upstream: GatedUpstream, **more: str) -> dict[str, str]:
    return {
        "PINTEREST_API_BASE_URL": upstream.url,
        "GRAPHQL_API_RETRY_ATTEMPTS": "1",
        "GRAPHQL_API_UPSTREAM_TIMEOUT": str(WAIT),
        "GRAPHQL_API_REQUEST_DEADLINE": str(3 * WAIT),
        **more,
    }


def _query(base: str, group: str, client: httpx.Client | None = None) -> httpx.Response:
    body = {"query": QUERY, "variables": {"group": group}}
    headers = {"Authorization": "Bearer tok"}
    if client is not None:
        return client.post(f"{base}/graphql", json=body, headers=headers)
    return httpx.post(f"{base}/graphql", json=body, headers=headers, timeout=3 * WAIT)


def _answered(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response


def _in_flight(pool: ThreadPoolExecutor, base: str, upstream: GatedUpstream) -> Future[Any]:
    """A GraphQL request held at the upstream until the gate opens."""
    pending = pool.submit(_query, base, GATED)
    assert upstream.arrived.wait(WAIT), "the request did not reach the upstream"
    return pending


def _until(check: Any, what: str) -> float:
    """Polls ``check()`` until true (bounded); the monotonic time it became true."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {WAIT} s")


def _draining(base: str) -> bool:
    response = httpx.get(f"{base}/readyz", timeout=5)
    if response.status_code == 200:
        return False
    assert (response.status_code, response.json()) == (503, {"status": "draining"})
    return True


def _refused(base: str) -> bool:
    port = int(base.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _messages(path: Path, logger: str = "graphql_api.server") -> list[str]:
    return [line["message"] for line in _log(path) if line["logger"] == logger]


def _report(what: str, **seconds: float) -> None:
    print(f"\n{what}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items()))


# --- the drain -----------------------------------------------------------------------------


def test_sigterm_drains_while_serving_and_a_second_sigterm_ends_it(
    tmp_path: Path, upstream: GatedUpstream
) -> None:
    log = tmp_path / "service.log"
    environment = _environment(upstream, GRAPHQL_API_DRAIN_DELAY="120")
    with (
        start_cli(log, **environment) as service,
        ThreadPoolExecutor(2) as pool,
        httpx.Client(timeout=WAIT) as kept_alive,
    ):
        assert _query(service.url, "1", kept_alive).headers.get("connection") != "close"
        pending = _in_flight(pool, service.url, upstream)
        sent = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        not_ready = _until(lambda: _draining(service.url), "readyz 503 draining")
        # Still serving everything, each response closing its connection.
        assert httpx.get(f"{service.url}/healthz").status_code == 200
        fresh = _query(service.url, "1")
        assert _answered(fresh).headers["connection"] == "close"
        reused = _query(service.url, "1", kept_alive)  # on the connection opened before
        assert _answered(reused).headers["connection"] == "close"
        assert service.process.poll() is None
        assert not _refused(service.url)
        upstream.gate.set()
        _answered(pending.result(timeout=WAIT))
        service.process.send_signal(signal.SIGTERM)  # a second one: stop now
        assert service.process.wait(timeout=WAIT) == 0
        stopped = time.monotonic()
    _report("drain ended by a second SIGTERM", readyz_503=not_ready - sent, exit=stopped - sent)
    assert _messages(log)[-2:] == ["graphql-api draining: not ready, still serving",
                                   "graphql-api stopped"]  # fmt: skip
    (draining,) = [line for line in _log(log) if line["message"].startswith("graphql-api drain")]
    assert draining["drain_delay"] == 120


def test_after_the_drain_it_stops_accepting_finishes_in_flight_requests_and_exits_0(
    tmp_path: Path, upstream: GatedUpstream
) -> None:
    drain = 1.0
    log = tmp_path / "service.log"
    environment = _environment(upstream, GRAPHQL_API_DRAIN_DELAY=str(drain))
    with start_cli(log, **environment) as service, ThreadPoolExecutor(1) as pool:
        pending = _in_flight(pool, service.url, upstream)
        sent = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        not_ready = _until(lambda: _draining(service.url), "readyz 503 draining")
        closed = _until(lambda: _refused(service.url), "the listening socket closed")
        assert closed - sent >= drain  # never before the drain is over
        assert service.process.poll() is None  # waiting for the request in flight
        upstream.gate.set()
        _answered(pending.result(timeout=WAIT))
        assert service.process.wait(timeout=WAIT) == 0
        stopped = time.monotonic()
    _report(
        f"drain of {drain} s",
        readyz_503=not_ready - sent,
        socket_closed=closed - sent,
        exit_after_the_gate=stopped - sent,
    )
    assert _messages(log)[-2:] == ["graphql-api draining: not ready, still serving",
                                   "graphql-api stopped"]  # fmt: skip


def test_sigint_skips_the_drain(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    with start_cli(log, "--demo", GRAPHQL_API_DRAIN_DELAY="120") as service:
        service.process.send_signal(signal.SIGINT)
        assert service.process.wait(timeout=WAIT) == 0  # well within the 120 s drain
    assert "graphql-api stopped" in _messages(log)
    assert not any(message.startswith("graphql-api drain") for message in _messages(log))


def test_a_port_taken_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "graphql_api", "serve", "--demo", "--port", str(port)],
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr


def test_the_uvicorn_internals_the_drain_relies_on() -> None:
    """uvicorn's Server calls ``handle_exit(sig, frame)`` from the signal handlers that
    ``capture_signals`` installs, ``on_tick(counter)`` from ``main_loop`` (its result ends the
    loop), and builds each response's headers from ``server_state.default_headers``, refreshed
    from ``config.encoded_headers``; the lifespan state is copied into each request's scope."""
    source = inspect.getsource(uvicorn.Server)
    assert "with self.capture_signals():" in source
    assert "signal.signal(sig, self.handle_exit)" in source
    assert "should_exit = await self.on_tick(counter)" in source
    assert "self.server_state.default_headers = date_header + self.config.encoded_headers" in (
        source
    )
    for name in ("handle_exit", "on_tick", "capture_signals", "startup", "shutdown"):
        ours, theirs = getattr(Server, name), getattr(uvicorn.Server, name)
        assert inspect.signature(ours).parameters == inspect.signature(theirs).parameters, name
    from uvicorn.protocols.http import httptools_impl

    protocol = inspect.getsource(httptools_impl)
    assert "default_headers=self.server_state.default_headers" in protocol
    assert '"state": self.app_state.copy()' in protocol
    assert "app_state=self.lifespan.state" in source

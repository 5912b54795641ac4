"""Shared test helpers: settings without the environment, and the app driven in-process."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, cast

import httpx
import hypothesis
import orjson
import pytest
import redis
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from graphql_api.app import Resources, State, create_app
from graphql_api.config import Settings
from graphql_api.redis_link import RedisLink
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import Resilience, Timer, build_resilience

DATA = Path(__file__).parent / "data"
Handler = Callable[[httpx.Request], httpx.Response]


# CI runs the suite twice: with compiled execution (the default) and with
# GRAPHQL_API_COMPILED_EXECUTION=off. Read here, at import, before tests clean the environment.
COMPILED_EXECUTION = os.environ.get("GRAPHQL_API_COMPILED_EXECUTION", "on") != "off"


def thorough() -> bool:
    """Whether the thorough ("ci") Hypothesis profile is loaded (tests/conftest.py)."""
    return hypothesis.settings.get_current_profile_name() == "ci"


def examples(full: int) -> int:
    """How many examples a property test runs: ``full`` under the "ci" Hypothesis profile,
    an eighth under the others (the profiles are in tests/conftest.py, loaded before any test
    module, so this is right when called in a decorator)."""
    return full if thorough() else max(25, full // 8)


# The tests' own HTTP requests go to the services and fakes they start: plain HTTP on loopback.
# httpx builds an SSL context for every client it makes (it loads certifi's CA bundle: 50 ms of
# CPU here), and httpx.get() and httpx.post() make a client per call: the e2e tests, polling
# with them, spent a minute of CPU on it. Their clients share this one instead.
LOOPBACK_TLS = ssl.create_default_context()


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get``, with :data:`LOOPBACK_TLS`."""
    return httpx.get(url, verify=LOOPBACK_TLS, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.post``, with :data:`LOOPBACK_TLS`."""
    return httpx.post(url, verify=LOOPBACK_TLS, **kwargs)


def settings(**values: Any) -> Settings:
    values.setdefault("compiled_execution", COMPILED_EXECUTION)
    return Settings(_env_file=None, **values)


@dataclass
class Harness:
    client: httpx.AsyncClient
    requests: list[httpx.Request]
    resources: Resources  # what the app's lifespan built
    app: FastAPI
    transport: httpx.AsyncBaseTransport  # to the app, for more clients

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = "tok",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"Authorization": f"Bearer {token}"} if token else {}
        all_headers.update(headers or {})
        body = {"query": query, "variables": variables or {}}
        return await self.client.post("/graphql", json=body, headers=all_headers)

    async def settle(self) -> None:
        """Wait (bounded) until no upstream fetch is under way, background refreshes included."""
        try:
            async with asyncio.timeout(5):
                await self.resources.cache.settle()
        except TimeoutError:
            raise AssertionError("upstream fetches still under way") from None

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        response = await self.post(query, variables, **kwargs)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = orjson.loads(response.content)
        return result

    async def cache_sizes(self) -> dict[tuple[str, str], float]:
        """The caches' entries and bytes, as /metrics reports them: {(metric, cache): value}."""
        text = (await self.client.get("/metrics")).text
        return {
            (sample.name, sample.labels["cache"]): sample.value
            for family in text_string_to_metric_families(text)
            if family.name in ("graphql_api_cache_entries", "graphql_api_cache_bytes")
            for sample in family.samples
        }


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    """A response body without its ``extensions.cost`` (what a request cost is its own: two
    requests for the same answer may differ in it), and without ``extensions`` if that was all."""
    extensions = {k: v for k, v in body.get("extensions", {}).items() if k != "cost"}
    rest = {k: v for k, v in body.items() if k != "extensions"}
    return {**rest, "extensions": extensions} if extensions else rest


async def metrics(h: Harness) -> dict[str, float]:
    """/metrics' samples: ``{'name{label="value",...}': value}``, labels sorted by name."""
    text = (await h.client.get("/metrics")).text
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


class Clock:
    """A clock that moves only when told to, or when something sleeps on it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    @property
    def timer(self) -> Timer:
        return Timer(monotonic=self, wall=self, sleep=self.sleep)


def resilience(
    clock: Clock | None = None,
    rng: Callable[[], float] | None = None,
    redis: RedisLink | None = None,
    **values: Any,
) -> Resilience:
    """The resilience of a process with these settings, on a test clock (and coin; holds shared
    through ``redis`` when given)."""
    timer = (clock or Clock()).timer
    return build_resilience(
        settings(**values),
        timer,
        lambda token: hashlib.sha256(token.encode()).hexdigest()[:16],
        redis=redis,
        rng=rng or random.Random(0).random,
    )


def redis_link(url: str, *, timeout: float = 1.0, probe_interval: float = 0.1) -> RedisLink:
    """A link to a test's Redis (a timeout generous enough for a busy test machine)."""
    return RedisLink.from_url(
        url, timeout=timeout, probe_interval=probe_interval, max_connections=8
    )


@asynccontextmanager
async def open_app(
    upstream: FakePinterest | Handler | None = None,
    *,
    clock: Clock | None = None,
    **values: Any,
) -> AsyncIterator[Harness]:
    """The app over a fake upstream (default: the demo catalog), recording upstream requests;
    untraced, whatever the ``OTEL_*`` variables say (tests/integration/test_tracing.py traces)."""
    upstream = upstream if upstream is not None else FakePinterest()
    handle = upstream.handler if isinstance(upstream, FakePinterest) else upstream
    requests: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return handle(request)

    timer = (clock or Clock()).timer  # backoff and holds never sleep in real time
    # A loaded test machine can starve the Redis thread past the default Redis timeout (and
    # skip a write a test means to share); tests of that bound pass their own.
    values.setdefault("redis_timeout", 0.5)
    app = create_app(
        settings(**values), transport=httpx.MockTransport(recording), timer=timer, tracing=None
    )
    async with running(app, "http://testserver") as (client, resources, transport):
        yield Harness(client, requests, resources, app, transport)


class Running(NamedTuple):
    client: httpx.AsyncClient
    resources: Resources  # what the app's lifespan built
    transport: httpx.AsyncBaseTransport  # to the app, for more clients


@asynccontextmanager
async def running(app: FastAPI, base_url: str = "http://t") -> AsyncIterator[Running]:
    """The app with its lifespan run (as a server runs it), a client to it, and the resources
    the lifespan built. httpx's ASGI transport runs no lifespan: this gives each request a copy
    of the lifespan's state, as uvicorn does."""
    async with app.router.lifespan_context(app) as state:
        assert state is not None  # the app's lifespan yields its State
        lifespan_state = cast(State, state)

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            await app({**scope, "state": dict(lifespan_state)}, receive, send)

        transport = httpx.ASGITransport(with_state)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            yield Running(client, lifespan_state["resources"], transport)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=headers)

    return handler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A redis-server of one test's own, on a free loopback port, that the test can kill
    (SIGKILL), hang (SIGSTOP: it still accepts connections, never answers), resume (SIGCONT)
    and start again on the same port. ``args`` are more redis-server arguments (TLS: ``{port}``
    in them is the port)."""

    def __init__(self, binary: str, *args: str) -> None:
        self.port = free_port()
        more = [arg.format(port=self.port) for arg in args]
        # A command line: flags beside their values.
        self._command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                         "--appendonly", "no", *more]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None
        self._ready: Callable[[int], redis.Redis] = lambda port: redis.Redis(port=port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, ready: Callable[[int], redis.Redis] | None = None) -> None:
        """Start it and wait until it answers (to ``ready(port)``, e.g. a TLS client; kept for
        restarts)."""
        if ready is not None:
            self._ready = ready
        self.process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self._ready(self.port)
        try:
            for _ in range(400):
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, OSError):
                    time.sleep(0.025)
            pytest.fail("redis-server did not start")
        finally:
            client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)  # a stopped process dies at once too
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def cont(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        if self.process is not None:
            self.kill()
        self.start()


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """An ASGI app under a real uvicorn on a free loopback port, in a thread; yields its URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    else:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Service:
    url: str
    pid: int
    process: subprocess.Popen[bytes]

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, as an orchestrator stops it; its exit code once it has exited (0 after a
        clean stop; the drain lasts GRAPHQL_API_DRAIN_DELAY, 0 unless the test gave it)."""
        self.process.terminate()
        return self.process.wait(timeout=timeout)

    def rss(self) -> int:
        """Its resident memory now, in bytes (Linux: VmRSS)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1]) * 1024


@contextmanager
def serve_cli(log_path: Path, *, demo: bool = True, **environment: str) -> Iterator[str]:
    """``python -m graphql_api serve --demo`` (without ``--demo`` if ``demo`` is false: give it
    ``PINTEREST_API_BASE_URL``) on a free loopback port, as an operator runs it (these settings
    in its environment, none of the caller's; output to ``log_path``), until the block ends;
    yields its URL once it answers /healthz."""
    with start_cli(log_path, *["--demo"] * demo, **environment) as service:
        yield service.url


def installed(program: str, package: str, *candidates: str) -> str:
    """The path of ``program`` (on PATH, else the first executable of ``candidates``), for the
    tests that run it for real. CI installs it (.ci/run): there a missing one fails the test; a
    developer machine without it skips the test, saying which Debian package brings it."""
    binary = shutil.which(program) or next(
        (path for path in candidates if os.access(path, os.X_OK)), None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed: .ci/run must install it ({package})")
        pytest.skip(f"{program} is not installed (apt-get install {package})")
    return binary


def wait_until_serving(process: subprocess.Popen[bytes], base: str, log_path: Path) -> None:
    """Waits (up to 30 s, for a cold start on a busy machine) until the service started as
    ``process`` answers ``base``/healthz; fails the test, with its log, if it exits first."""
    for _ in range(300):
        if process.poll() is not None:
            pytest.fail(f"server exited: {log_path.read_text()}")
        try:
            if http_get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("server did not start")


@contextmanager
def start_cli(log_path: Path, *args: str, **environment: str) -> Iterator[Service]:
    """``python -m graphql_api serve [args]``, as :func:`serve_cli` starts it (none of the
    caller's ``GRAPHQL_API_*``, ``PINTEREST_*`` or ``OTEL_*`` variables; no drain on SIGTERM
    unless ``GRAPHQL_API_DRAIN_DELAY`` is given), on a free port or on ``GRAPHQL_API_PORT`` when
    given (a replica started again); yields its URL and process (the block may stop it
    first)."""
    port = int(environment.get("GRAPHQL_API_PORT", 0)) or free_port()
    own = ("GRAPHQL_API_", "PINTEREST_", "OTEL_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "graphql_api", "serve", *args, "--port", str(port)],
            env=env | {"GRAPHQL_API_DRAIN_DELAY": "0"} | environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(process, base, log_path)
            yield Service(base, process.pid, process)
        finally:
            process.terminate()
            process.wait(timeout=10)

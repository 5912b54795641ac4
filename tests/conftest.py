from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from hypothesis import HealthCheck, settings

from tests.helpers import RedisProcess, free_port, installed

# Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (not by Hypothesis's own CI detection, so the
# README's test command is as quick in CI as anywhere):
# - "quick", the default: the same examples on every run (a shared suite stays reproducible),
#   an eighth of the thorough count (tests.helpers.examples), so the suite stays within minutes.
# - "ci": every example (the differential test's 10,000 cases among them); .ci/run runs the
#   property tests with it in a step of their own. A failure prints the blob that replays it.
# Neither has a deadline: the machines are slow and shared, and no test depends on speed.
settings.register_profile(
    "quick",
    settings.get_profile("default"),  # Hypothesis's own, not the one it picked for CI=true
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", settings.get_profile("quick"), print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "quick")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's settings."""
    for name in list(os.environ):
        if name.startswith(("GRAPHQL_API_", "PINTEREST_", "OTEL_")):
            monkeypatch.delenv(name)


def _redis_binary() -> str:
    """redis-server (CI installs it; a developer machine without it skips these tests, CI
    fails instead)."""
    return installed("redis-server", "redis-server")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real redis-server on a loopback port, started for the session."""
    binary = _redis_binary()
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        else:
            pytest.fail("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    """A redis-server for this test alone, running; see :class:`RedisProcess`."""
    server = RedisProcess(_redis_binary())
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.kill()


@pytest.fixture
def redis_binary() -> str:
    return _redis_binary()

"""What the real CLI writes to its terminal (stderr, here a file: no TTY): JSON lines that parse,
no terminal escape, the startup line, the upstream attempts' warnings, and no httpx line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from graphql_api.app import EXAMPLE_QUERY
from tests.helpers import RedisProcess, free_port, http_post, serve_cli

pytestmark = pytest.mark.e2e
PASSWORD = "redis-canary-pw-0042"
TOKEN = "service-canary-token-0042"


def _lines(log_path: Path) -> list[dict[str, Any]]:
    text = log_path.read_text()
    assert "\x1b" not in text
    lines = [orjson.loads(line) for line in text.splitlines()]  # every line is JSON
    for line in lines:
        assert not [v for v in line.values() if isinstance(v, str) and "\x1b" in v], line
        assert "color_message" not in line
    return lines


def _startup(lines: list[dict[str, Any]]) -> dict[str, Any]:
    line = next(line for line in lines if line["logger"] == "graphql_api.server")
    assert line["level"] == "INFO"
    return line


def test_demo_json_lines(tmp_path: Path) -> None:
    log_path = tmp_path / "demo.log"
    # At debug level uvicorn's own lines come back (their colour copies dropped); httpx's never.
    with serve_cli(log_path, GRAPHQL_API_LOG_LEVEL="debug") as base:
        port = int(base.rsplit(":", 1)[1])
        answer = http_post(f"{base}/graphql", json={"query": EXAMPLE_QUERY}, timeout=30)
        assert "errors" not in answer.json()
    lines = _lines(log_path)
    startup = _startup(lines)
    assert (
        startup["message"] == "graphql-api started (demo mode: serving the embedded demo catalog)"
    )
    assert {k: startup[k] for k in ("graphiql", "profile", "cache", "upstream", "listen")} == {
        "graphiql": f"http://127.0.0.1:{port}/graphql",
        "profile": "development",
        "cache": "memory",
        "upstream": "embedded demo catalog",
        "listen": f"127.0.0.1:{port}",
    }
    assert startup["compiled_execution"] is True
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    assert [line["message"] for line in lines if line["logger"] == "graphql_api.server"] == [
        startup["message"],
        "graphql-api stopped",
    ]
    text = log_path.read_text()
    assert "HTTP Request:" not in text
    assert "api.pinterest.com" not in text  # the demo's fake upstream URL, nowhere
    assert not [line for line in lines if line["logger"].startswith(("httpx", "aiocache"))]


def test_production_with_redis_names_no_secret(tmp_path: Path, redis_binary: str) -> None:
    server = RedisProcess(redis_binary, "--requirepass", PASSWORD)
    server.start(ready=lambda port: redis.Redis(port=port, password=PASSWORD))
    log_path = tmp_path / "production.log"
    upstream = f"http://127.0.0.1:{free_port()}/v5"  # nothing listens: connections refused
    try:
        with serve_cli(
            log_path,
            demo=False,
            GRAPHQL_API_ENV="production",
            GRAPHQL_API_CACHE_URL=f"redis://:{PASSWORD}@127.0.0.1:{server.port}/3",
            PINTEREST_API_BASE_URL=upstream,
            PINTEREST_ACCESS_TOKEN=TOKEN,
            GRAPHQL_API_RETRY_BACKOFF="0.01",
        ) as base:
            query = '{ pin(id: "1") { id } }'
            answer = http_post(f"{base}/graphql", json={"query": query}, timeout=30).json()
            assert answer["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    finally:
        server.kill()
    lines = _lines(log_path)
    startup = _startup(lines)
    assert startup["message"] == "graphql-api started"
    assert {k: startup[k] for k in ("graphiql", "profile", "cache", "upstream")} == {
        "graphiql": None,
        "profile": "production",
        "cache": f"redis://127.0.0.1:{server.port}/3",
        "upstream": upstream,
    }
    attempts = [line for line in lines if line["logger"] == "graphql_api.upstream"]
    assert [line["will_retry"] for line in attempts] == [True, True, False]
    (access,) = [line for line in lines if line.get("path") == "/graphql"]
    for line in attempts:
        assert line["level"] == "WARNING"
        assert (line["operation"], line["failure"], line["status"]) == (
            "pin",
            "connection_error",
            None,
        )
        assert line["request_id"] == access["request_id"]
    assert not [line for line in lines if line["logger"].startswith("uvicorn")]  # quieted
    text = log_path.read_text()
    assert PASSWORD not in text
    assert TOKEN not in text
    assert "HTTP Request:" not in text


def test_text_lines(tmp_path: Path) -> None:
    log_path = tmp_path / "text.log"
    with serve_cli(log_path, GRAPHQL_API_LOG_FORMAT="text") as base:
        http_post(f"{base}/graphql", json={"query": EXAMPLE_QUERY}, timeout=30)
    text = log_path.read_text()
    assert "\x1b" not in text  # not a TTY: no colours (and none on a TTY either)
    started, *_, stopped = text.splitlines()
    (access,) = [line for line in text.splitlines() if " path=/graphql " in line]
    assert " INFO graphql_api.server [-] graphql-api started (demo mode" in started
    assert 'upstream="embedded demo catalog"' in started
    assert " INFO graphql_api.access [" in access
    assert "] request method=POST path=/graphql status=200 duration_ms=" in access
    assert re.search(r" INFO graphql_api\.server \[-\] graphql-api stopped pid=\d+$", stopped)

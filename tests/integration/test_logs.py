"""The log lines an operator reads (docs/logging.md), through the handler ``configure_logging``
puts on the root logger: a WARNING per failed upstream attempt, the breaker's changes of state,
the text format's access line, and no token, cursor or terminal escape in any of them."""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.observability import configure_logging
from graphql_api.server import startup_fields
from graphql_api.upstream.fake import FakePinterest
from graphql_api.upstream.resilience import Breaker
from tests.helpers import Clock, Harness, open_app, settings

CANARY = "canary-token-0123456789"
PAGE = """query ($after: String) {
  productGroupProducts(productGroupId: "1", first: 2, after: $after) {
    pageInfo { endCursor }
    nodes { pin { id } }
  }
}"""
PIN = '{ pin(id: "813744226420795884") { id } }'  # a Pin of the demo catalog
Handler = Callable[[httpx.Request], httpx.Response]
LOGGERS = ("httpx", "aiocache", "uvicorn.error", "graphql_api")
# The JSON fields of an upstream attempt's line, besides time, level, logger and message.
ATTEMPT_FIELDS = {"request_id", "operation", "failure", "status", "error", "pinterest_code",
                  "attempt", "duration_ms", "will_retry"}  # fmt: skip


class Logs:
    """What the configured root handler wrote."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self, logger: str | None = None) -> list[dict[str, Any]]:
        every = [orjson.loads(line) for line in self.text.splitlines()]
        return [line for line in every if logger is None or line["logger"] == logger]


@pytest.fixture
def configure() -> Iterator[Callable[[str], Logs]]:
    """``configure(fmt)``: the root logger as the CLI configures it (level info), into a
    stream; the root logger and the quieted loggers are put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in LOGGERS}

    def configured(fmt: str) -> Logs:
        configure_logging("info", fmt)
        stream = io.StringIO()
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        return Logs(stream)

    yield configured
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def _page_then(failure: Handler, clock: Clock) -> Handler:
    """The demo catalog, whose first page answers (in 250 ms of the test clock) and whose next
    pages (asked for with a bookmark: a cursor) fail with ``failure``."""
    fake = FakePinterest()

    def upstream(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)
        if "bookmark" in request.url.params:
            return failure(request)
        return fake.handler(request)

    return upstream


async def _next_page(h: Harness) -> tuple[dict[str, Any], str]:
    """The second page (upstream pages of 2 products: its upstream request carries a bookmark,
    a cursor); the answer and the bookmark."""
    first = await h.gql(PAGE, token=CANARY)
    after = first["data"]["productGroupProducts"]["pageInfo"]["endCursor"]
    answer = await h.gql(PAGE, {"after": after}, token=CANARY, headers={"X-Request-ID": "req-7"})
    bookmark = next(r.url.params["bookmark"] for r in h.requests if "bookmark" in r.url.params)
    return answer, bookmark


async def test_a_503_then_a_success_logs_one_warning(configure: Callable[[str], Logs]) -> None:
    logs, clock = configure("json"), Clock()
    answers = iter([httpx.Response(503, json={"code": 7, "message": f"Bearer {CANARY}"})])
    fake = FakePinterest()

    def upstream(request: httpx.Request) -> httpx.Response:
        clock.advance(0.25)
        return next(answers, None) or fake.handler(request)

    async with open_app(upstream, clock=clock) as h:
        answer = await h.gql(PAGE, token=CANARY, headers={"X-Request-ID": "req-5"})
    assert "errors" not in answer
    (line,) = logs.lines("graphql_api.upstream")
    assert set(line) == ATTEMPT_FIELDS | {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING"
    assert line["message"] == "upstream attempt failed"
    assert {k: line[k] for k in ATTEMPT_FIELDS} == {
        "request_id": "req-5",
        "operation": "product_group_products",
        "failure": "status",
        "status": 503,
        "error": "UPSTREAM_UNAVAILABLE",
        "pinterest_code": 7,
        "attempt": 1,
        "duration_ms": 250.0,  # on the app's clock, which the upstream moved
        "will_retry": True,
    }
    (access,) = logs.lines("graphql_api.access")
    assert access["request_id"] == "req-5"
    assert access["duration_ms"] >= 2 * 250  # both attempts and the backoff between them
    assert CANARY not in logs.text
    assert "api.pinterest.com" not in logs.text  # no URL: no httpx line, none of ours


async def test_timeouts_log_every_attempt_and_no_cursor(configure: Callable[[str], Logs]) -> None:
    logs, clock = configure("json"), Clock()

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with open_app(_page_then(timeout, clock), clock=clock, upstream_page_size=2) as h:
        answer, bookmark = await _next_page(h)
    assert answer["errors"][0]["extensions"]["code"] == "UPSTREAM_TIMEOUT"
    lines = logs.lines("graphql_api.upstream")
    assert [(line["attempt"], line["will_retry"]) for line in lines] == [
        (1, True),
        (2, True),
        (3, False),
    ]
    for line in lines:
        assert line["level"] == "WARNING"
        assert line["request_id"] == "req-7"
        assert (line["failure"], line["status"], line["error"]) == (
            "timeout",
            None,
            "UPSTREAM_TIMEOUT",
        )
        assert line["pinterest_code"] is None
        assert line["duration_ms"] == 250.0
    assert bookmark not in logs.text  # the upstream's cursor
    assert "bookmark" not in logs.text
    assert CANARY not in logs.text


async def test_a_429_logs_its_code_and_the_hold(configure: Callable[[str], Logs]) -> None:
    logs, clock = configure("json"), Clock()

    def limited(request: httpx.Request) -> httpx.Response:
        body = {"code": 8, "message": "Too many requests"}
        return httpx.Response(429, json=body, headers={"Retry-After": "1"})

    async with open_app(_page_then(limited, clock), clock=clock, upstream_page_size=2) as h:
        answer, _ = await _next_page(h)
    assert answer["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    lines = logs.lines("graphql_api.upstream")
    assert [line["will_retry"] for line in lines] == [True, True, False]
    assert {(line["status"], line["error"], line["pinterest_code"]) for line in lines} == {
        (429, "RATE_LIMITED", 8)
    }
    assert {line["level"] for line in lines} == {"WARNING"}
    # The upstream said it would not answer for a second: nothing hints the breaker about it.
    assert not logs.lines("graphql_api.breaker")


async def test_a_missing_pin_is_an_info_line_and_garbage_a_warning(
    configure: Callable[[str], Logs],
) -> None:
    logs = configure("json")
    answers = iter(
        [
            httpx.Response(404, json={"code": 50, "message": "Pin not found."}),
            httpx.Response(200, content=b"<html>not json</html>"),
        ]
    )
    async with open_app(lambda request: next(answers)) as h:
        for _ in range(2):
            assert "errors" in await h.gql(PIN)
    missing, garbage = logs.lines("graphql_api.upstream")
    assert (missing["level"], missing["status"], missing["error"], missing["pinterest_code"]) == (
        "INFO",
        404,
        "NOT_FOUND",
        50,
    )
    assert (garbage["level"], garbage["failure"], garbage["status"], garbage["error"]) == (
        "WARNING",
        "malformed",
        200,
        "UPSTREAM_ERROR",
    )
    assert (missing["will_retry"], garbage["will_retry"]) == (False, False)


async def test_a_breaker_logs_when_it_opens_and_when_it_closes(
    configure: Callable[[str], Logs],
) -> None:
    logs, clock = configure("json"), Clock()
    failing = True
    fake = FakePinterest()

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"code": 1}) if failing else fake.handler(request)

    async with open_app(upstream, clock=clock, breaker_min_calls=3, breaker_window=10) as h:
        for _ in range(3):  # a 500 is not retried: one attempt each
            await h.gql(PIN, headers={"X-Request-ID": "req-b"})
        opened = logs.lines("graphql_api.breaker")
        clock.advance(11)  # the window passes: the next call finds the breaker closed
        failing = False
        assert "errors" not in await h.gql(PIN, headers={"X-Request-ID": "req-c"})
    assert len(opened) == 1
    assert [
        {k: line[k] for k in ("level", "message", "operation", "state", "previous", "request_id")}
        for line in logs.lines("graphql_api.breaker")
    ] == [
        {
            "level": "WARNING",
            "message": "breaker open",
            "operation": "pin",
            "state": "open",
            "previous": "closed",
            "request_id": "req-b",
        },
        {
            "level": "INFO",
            "message": "breaker closed",
            "operation": "pin",
            "state": "closed",
            "previous": "open",
            "request_id": "req-c",
        },
    ]
    assert opened[0]["refusal_probability"] == 0.75  # 3 requests, no accepts: 3 / (3 + 1)
    assert (opened[0]["requests"], opened[0]["accepts"]) == (3, 0)


def test_a_breaker_logs_half_open_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = Breaker(
        "pin", failure_rate=0.5, window=10, min_calls=4, timer=clock.timer, rng=lambda: 1.0
    )
    caplog.set_level(logging.INFO, logger="graphql_api.breaker")
    for success in (False, False, False, False, True, False, True, True, True, True):
        breaker.before_call()
        breaker.record(success=success)
    assert [(r.levelname, r.getMessage(), r.__dict__["state"]) for r in caplog.records] == [
        ("WARNING", "breaker open", "open"),  # 4 failures
        ("WARNING", "breaker half-open", "half_open"),  # 5 calls, 1 accept: 5 - 2 > 0
        ("INFO", "breaker closed", "closed"),  # 10 calls, 5 accepts: 10 - 2 * 5 = 0
    ]


async def test_the_text_access_line_keeps_its_fields(configure: Callable[[str], Logs]) -> None:
    logs, clock = configure("text"), Clock()
    fake = FakePinterest()

    def upstream(request: httpx.Request) -> httpx.Response:
        clock.advance(0.125)
        return fake.handler(request)

    async with open_app(upstream, clock=clock) as h:
        await h.gql(PAGE, headers={"X-Request-ID": "req-t"})
    (line,) = [line for line in logs.text.splitlines() if "graphql_api.access" in line]
    assert re.fullmatch(
        r"\S+ \S+ INFO graphql_api\.access \[req-t\] request "
        rf"method=POST path=/graphql status=200 duration_ms=125\.0 pid={os.getpid()}",
        line,
    ), line


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_no_line_carries_a_terminal_escape_or_a_forged_line(
    configure: Callable[[str], Logs], fmt: str
) -> None:
    logs = configure(fmt)
    async with open_app() as h:
        # A path the client chose: an escape sequence, and a line break before a forged line.
        await h.client.get("/%1b[31mred%0a2026-01-01 INFO graphql_api.access forged")
    logging.getLogger("uvicorn.error").warning(
        "Uvicorn says %s", "hello", extra={"color_message": "Uvicorn says \x1b[1m%s\x1b[0m"}
    )
    assert "\x1b" not in logs.text
    assert len(logs.text.splitlines()) == 2  # the access line and uvicorn's, one line each
    if fmt == "json":
        access, uvicorn = logs.lines()
        assert access["path"] == "/red\n2026-01-01 INFO graphql_api.access forged"
        assert uvicorn["message"] == "Uvicorn says hello"
        assert "color_message" not in uvicorn
        assert "\\u001b" not in logs.text
    else:
        assert 'path="/red\\n2026-01-01 INFO graphql_api.access forged"' in logs.text


async def test_no_http_request_lines(configure: Callable[[str], Logs]) -> None:
    logs = configure("json")
    async with open_app(demo=True) as h:
        assert "errors" not in await h.gql(PAGE)
    assert [line["logger"] for line in logs.lines()] == ["graphql_api.access"]
    assert "HTTP Request:" not in logs.text


def test_the_startup_line_names_no_secret() -> None:
    values = {
        "host": "0.0.0.0",
        "env": "production",
        "cache_url": "rediss://app:s3cret-pw@cache.internal:6380/2?ssl_cert_reqs=none",
        "pinterest_api_base_url": "https://user:base-pw@proxy.internal:8443/v5?key=base-key",
        "compiled_execution": False,
    }
    fields = startup_fields(settings(**values), 8000)
    assert fields["cache"] == "rediss://cache.internal:6380/2"
    assert fields["upstream"] == "https://proxy.internal:8443/v5"
    assert (fields["listen"], fields["graphql"], fields["graphiql"]) == (
        "0.0.0.0:8000",
        "http://localhost:8000/graphql",
        None,
    )
    assert (fields["profile"], fields["compiled_execution"]) == ("production", False)
    assert startup_fields(settings(cache_url="redis://cache"), 1)["cache"] == "redis://cache:6379/0"
    demo = startup_fields(settings(demo=True, graphiql=True, env="production"), 8000)
    assert (demo["upstream"], demo["cache"]) == ("embedded demo catalog", "memory")
    assert demo["graphiql"] == "http://127.0.0.1:8000/graphql"

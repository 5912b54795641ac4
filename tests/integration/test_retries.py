"""Retries, holds and the breaker around real client calls (a scripted upstream, a test clock)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from graphql_api.errors import APIError
from graphql_api.redis_link import RedisLink
from graphql_api.upstream.client import PinterestClient, build_http_client
from graphql_api.upstream.operations import Cost, Operation
from graphql_api.upstream.resilience import BreakerState, Deadline, Resilience
from tests.helpers import Clock, redis_link, resilience, settings

OK_PAGE: dict[str, Any] = {"items": [], "bookmark": None}
BODY = {"feed_id": "1", "filters": {"any_of": [{"MIN_PRICE": {"values": 1}}]}}
Answer = httpx.Response | Exception


class Script:
    """An upstream answering from a list (the last answer repeats), recording requests."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.times: list[float] = []
        self.clock: Clock | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.clock is not None:
            self.times.append(self.clock.now)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _status(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = OK_PAGE if status == 200 else {"code": 7, "message": "x"}
    return httpx.Response(status, json=body, headers=headers)


def _client(
    script: Script,
    clock: Clock,
    redis: RedisLink | None = None,
    rng: Callable[[], float] | None = None,
    **values: Any,
) -> tuple[PinterestClient, Resilience]:
    script.clock = clock
    r = resilience(clock, rng, redis, **values)
    http = build_http_client(settings(**values), httpx.MockTransport(script))
    return PinterestClient(http, r), r


CALLS: dict[str, Callable[[PinterestClient, str], Any]] = {
    "GET group": lambda c, t: c.list_product_group_products(t, "1", bookmark=None, page_size=25),
    "POST filter (idempotent)": lambda c, t: c.list_products_by_filter(
        t, BODY, bookmark=None, page_size=25
    ),
    "GET pin": lambda c, t: c.get_pin(t, "5"),
}

# (answer, attempts made, final code): retried only on 429, 502, 503, 504, connection failures
# and timeouts, never on other statuses; at most 3 attempts.
MATRIX: list[tuple[str, Answer, int, str]] = [
    ("429", _status(429, {"Retry-After": "1"}), 3, "RATE_LIMITED"),
    ("502", _status(502), 3, "UPSTREAM_UNAVAILABLE"),
    ("503", _status(503), 3, "UPSTREAM_UNAVAILABLE"),
    ("504", _status(504), 3, "UPSTREAM_UNAVAILABLE"),
    ("connect error", httpx.ConnectError("refused"), 3, "UPSTREAM_UNAVAILABLE"),
    ("read timeout", httpx.ReadTimeout("slow"), 3, "UPSTREAM_TIMEOUT"),
    ("connect timeout", httpx.ConnectTimeout("slow"), 3, "UPSTREAM_TIMEOUT"),
    ("500", _status(500), 1, "UPSTREAM_UNAVAILABLE"),
    ("400", _status(400), 1, "BAD_USER_INPUT"),
    ("401", _status(401), 1, "UNAUTHENTICATED"),
    ("403", _status(403), 1, "FORBIDDEN"),
    ("404", _status(404), 1, "NOT_FOUND"),
    ("409", _status(409), 1, "CONFLICT"),
    ("418", _status(418), 1, "UPSTREAM_ERROR"),
]


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize(
    ("answer", "attempts", "code"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX]
)
async def test_retry_matrix(
    call: Callable[[PinterestClient, str], Any], answer: Answer, attempts: int, code: str
) -> None:
    script, clock = Script(answer), Clock()
    client, _ = _client(script, clock)
    with pytest.raises(APIError) as raised:
        await call(client, "tok")
    assert raised.value.extensions["code"] == code
    assert len(script.requests) == attempts


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_retry_that_succeeds(call: Callable[[PinterestClient, str], Any]) -> None:
    page_or_pin = httpx.Response(200, json={**OK_PAGE, "id": "5"})
    script, clock = Script(_status(503), page_or_pin), Clock()
    client, _ = _client(script, clock)
    await call(client, "tok")
    assert len(script.requests) == 2


async def test_a_post_that_is_not_idempotent_is_not_retried() -> None:
    script, clock = Script(_status(503)), Clock()
    client, _ = _client(script, clock)
    # A POST the table would declare not idempotent (under the pin operation's breaker).
    create = Operation("pin", "POST", "/pins", cost=Cost.ONE, idempotent=False)
    with pytest.raises(APIError):
        await client._send(create, "tok", params={}, deadline=None, parse=lambda answer: answer)
    assert len(script.requests) == 1


async def test_backoff_is_exponential_with_full_jitter() -> None:
    script, clock = Script(_status(503)), Clock()
    client, _ = _client(
        script,
        clock,
        retry_attempts=4,
        retry_backoff=1,
        retry_backoff_max=3,
        breaker_min_calls=10_000,
    )
    for _ in range(30):
        clock.advance(61)  # a fresh retry budget window for each request
        with pytest.raises(APIError):
            await client.get_pin("tok", "5")
    sleeps = clock.sleeps
    assert len(sleeps) == 30 * 3
    for n, window in enumerate([1, 2, 3]):  # base * 2^n, capped at the maximum
        waits = sleeps[n::3]
        assert all(0 <= w <= window for w in waits)
        assert max(waits) > window / 2  # spread over the whole window, not a fixed delay
    assert len(set(sleeps)) == len(sleeps)


async def test_a_storm_of_503s_does_not_multiply_upstream_traffic() -> None:
    script, clock = Script(_status(503)), Clock()
    client, _ = _client(script, clock, breaker_min_calls=10_000)
    for _ in range(500):
        with pytest.raises(APIError):
            await client.get_pin("tok", "5")
    assert len(script.requests) <= 500 * 1.1 + 3
    assert len(script.requests) > 500


async def test_retry_after_is_honoured_per_caller() -> None:
    script, clock = Script(_status(429, {"Retry-After": "20"}), _status(200)), Clock()
    client, _ = _client(script, clock, retry_attempts=1)
    start = clock.now
    with pytest.raises(APIError, match="rate limit"):
        await client.get_pin("alice", "5")
    await client.list_product_group_products("bob", "1", bookmark=None, page_size=25)
    assert script.times[-1] == start  # bob is not held back
    with pytest.raises(APIError) as held:  # alice is: told at once, the upstream not asked
        await client.list_product_group_products("alice", "1", bookmark=None, page_size=25)
    assert held.value.extensions == {"code": "RATE_LIMITED", "retryAfter": 20}
    assert len(script.requests) == 2
    clock.advance(12.5)
    with pytest.raises(APIError) as later:
        await client.list_product_group_products("alice", "1", bookmark=None, page_size=25)
    assert later.value.extensions["retryAfter"] == 8  # what is left of the hold, rounded up
    clock.advance(7.5)
    await client.list_product_group_products("alice", "1", bookmark=None, page_size=25)
    assert script.times[-1] == start + 20
    assert clock.sleeps == []  # nobody slept for a hold


async def test_a_long_retry_after_is_not_retried_within_the_request() -> None:
    clock = Clock(now=1_000_000_000.0)  # 2001-09-09T01:46:40Z
    script = Script(
        _status(429, {"Retry-After": "Sun, 09 Sep 2001 01:47:00 GMT"}),  # an HTTP date: 20 s
        httpx.Response(200, json={"id": "5"}),
    )
    client, _ = _client(script, clock)
    with pytest.raises(APIError) as raised:
        await client.get_pin("alice", "5")
    assert raised.value.extensions == {
        "code": "RATE_LIMITED",
        "upstreamStatus": 429,
        "upstreamCode": 7,
        "retryAfter": 20,
    }
    assert len(script.requests) == 1
    assert clock.sleeps == []  # no backoff, no sleeping through the hold


@pytest.mark.parametrize(("retry_after", "hold_wait"), [("1", 1.0), ("2", 3.0)])
async def test_a_short_retry_after_is_slept_then_retried(
    retry_after: str, hold_wait: float
) -> None:
    script = Script(
        _status(429, {"Retry-After": retry_after}), httpx.Response(200, json={"id": "5"})
    )
    clock = Clock()
    client, _ = _client(script, clock, hold_wait=hold_wait)
    await client.get_pin("alice", "5")
    assert len(script.requests) == 2
    assert clock.sleeps == [float(retry_after)]  # exactly the hold, no backoff on top


async def test_a_held_caller_waits_at_most_the_hold_wait() -> None:
    script, clock = Script(_status(429, {"Retry-After": "1"}), _status(200)), Clock()
    client, r = _client(script, clock, retry_attempts=1, hold_wait=0.5)
    with pytest.raises(APIError):
        await client.get_pin("alice", "5")
    with pytest.raises(APIError) as held:  # 1 s > the hold wait: refused at once
        await client.list_product_group_products("alice", "1", bookmark=None, page_size=25)
    assert held.value.extensions == {"code": "RATE_LIMITED", "retryAfter": 1}
    clock.advance(0.6)  # 0.4 s left: within the hold wait, slept
    await client.list_product_group_products("alice", "1", bookmark=None, page_size=25)
    assert clock.sleeps == [pytest.approx(0.4)]
    assert len(script.requests) == 2
    assert len(r.budget) == 2  # the refused call was no request


async def test_a_wait_beyond_the_deadline_fails_at_once_with_retry_after() -> None:
    script, clock = Script(_status(429, {"Retry-After": "120"})), Clock()
    client, _ = _client(script, clock, request_deadline=10)
    with pytest.raises(APIError) as raised:
        await client.get_pin("alice", "5")
    assert raised.value.extensions["code"] == "RATE_LIMITED"
    assert raised.value.extensions["retryAfter"] == 120
    assert len(script.requests) == 1
    assert sum(clock.sleeps) < 1  # no waiting for a hold that outlasts the deadline
    with pytest.raises(APIError) as again:
        await client.get_pin("alice", "5", deadline=Deadline.after(10, clock.timer))
    assert again.value.extensions["code"] == "RATE_LIMITED"
    assert 0 < again.value.extensions["retryAfter"] <= 120
    assert len(script.requests) == 1  # held: no request went upstream


@pytest.mark.parametrize(("reset", "waited"), [("7", None), ("1", 1.0)])
async def test_rate_limit_headers_are_read_as_hints(reset: str, waited: float | None) -> None:
    hint = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    script, clock = Script(httpx.Response(200, json={"id": "5"}, headers=hint)), Clock()
    client, _ = _client(script, clock)
    await client.get_pin("alice", "5")
    if waited is None:  # the next request would be refused for longer than the hold wait
        with pytest.raises(APIError) as raised:
            await client.get_pin("alice", "5")
        assert raised.value.extensions == {"code": "RATE_LIMITED", "retryAfter": int(reset)}
        assert len(script.requests) == 1
    else:
        await client.get_pin("alice", "5")
        assert len(script.requests) == 2
    assert clock.sleeps == ([] if waited is None else [waited])
    await client.get_pin("bob", "5")  # another caller is not held
    assert clock.sleeps == ([] if waited is None else [waited])


async def test_holds_are_shared_by_replicas_through_redis(redis_url: str) -> None:
    clock = Clock()
    first = Script(_status(429, {"Retry-After": "50"}))
    second = Script(_status(200))
    links = [redis_link(redis_url), redis_link(redis_url)]
    one, _ = _client(first, clock, links[0], retry_attempts=1, request_deadline=10)
    two, _ = _client(second, clock, links[1], request_deadline=10)
    with pytest.raises(APIError):
        await one.get_pin("alice", "5")
    with pytest.raises(APIError) as raised:
        await two.get_pin("alice", "5")
    assert raised.value.extensions["code"] == "RATE_LIMITED"
    assert second.requests == []  # the other replica never asked the upstream
    await two.list_product_group_products("bob", "1", bookmark=None, page_size=25)
    assert len(second.requests) == 1
    for link in links:
        await link.close()


async def test_breaker_fails_fast_then_recovers_and_refusals_are_no_requests() -> None:
    script, clock = Script(_status(503)), Clock()
    client, r = _client(script, clock, rng=lambda: 0.0, breaker_min_calls=5)
    breaker = r.breakers["pin"]
    for _ in range(2):  # 2 requests of 3 attempts: 5 failures, then the last retry is refused
        with pytest.raises(APIError):
            await client.get_pin("tok", "5")
    assert breaker.state is BreakerState.OPEN
    sent, recorded = len(script.requests), len(r.budget)
    assert recorded == sent == 5
    for _ in range(100):
        with pytest.raises(APIError) as raised:
            await client.get_pin("tok", "5")
        assert raised.value.extensions == {"code": "UPSTREAM_UNAVAILABLE"}
    assert len(script.requests) == sent  # failed fast
    assert len(r.budget) == recorded  # refusals are neither requests nor retries
    with pytest.raises(APIError) as other:  # another operation has its own breaker: still asked
        await client.list_product_group_products("tok", "1", bookmark=None, page_size=25)
    assert other.value.extensions["upstreamStatus"] == 503
    assert r.breakers["product_group_products"].state is BreakerState.CLOSED
    clock.advance(30)  # the failures leave the window
    # mypy keeps an earlier assert's narrowing of .state across the calls that change it
    assert breaker.state is BreakerState.CLOSED  # type: ignore[comparison-overlap]
    script.answers = [httpx.Response(200, json={"id": "5"})]
    await client.get_pin("tok", "5")
    assert breaker.state is BreakerState.CLOSED

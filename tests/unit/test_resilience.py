"""The resilience pieces on a test clock: budget, breaker, bulkhead, holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from graphql_api.errors import UpstreamRateLimited, UpstreamUnavailable
from graphql_api.upstream.resilience import (
    Breaker,
    BreakerState,
    Bulkhead,
    Deadline,
    Holds,
    RedisHolds,
    RetryBudget,
)
from tests.helpers import Clock, redis_link


def test_deadline_counts_down_on_the_clock() -> None:
    clock = Clock()
    deadline = Deadline.after(5, clock.timer)
    clock.advance(2)
    assert deadline.remaining() == 3
    clock.advance(10)
    assert deadline.remaining() == 0


def test_retry_budget_caps_retries_at_a_share_of_requests() -> None:
    clock = Clock()
    budget = RetryBudget(0.1, window=60, minimum=3, timer=clock.timer)
    for _ in range(100):
        budget.request()
    allowed = 0
    while budget.can_retry():
        budget.retry()
        allowed += 1
    assert allowed == 13  # 3 + 10% of 100
    clock.advance(61)  # the window moves on: old requests and retries no longer count
    assert budget.can_retry()
    budget.request()
    assert budget.can_retry()


def _breaker(clock: Clock) -> Breaker:
    return Breaker("op", failure_rate=0.5, window=30, min_calls=4, open_for=15, probes=2,
                   timer=clock.timer)  # fmt: skip


def test_breaker_opens_on_a_failure_rate_over_its_window() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for ok in (True, False, True):
        breaker.record(success=ok)
    assert breaker.state is BreakerState.CLOSED  # too few calls yet
    breaker.record(success=True)
    assert breaker.state is BreakerState.CLOSED  # 1 failure in 4: below the rate
    breaker.record(success=False)
    breaker.record(success=False)
    assert breaker.state is BreakerState.OPEN  # 3 failures in 6
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()


def test_old_outcomes_leave_the_window() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record(success=False)
    clock.advance(31)
    breaker.record(success=False)
    assert breaker.state is BreakerState.CLOSED  # only one outcome is recent


def test_half_open_probes_then_closes_on_success() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(4):
        breaker.record(success=False)
    clock.advance(15)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    breaker.before_call()
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()  # only two probes
    breaker.record(success=True)
    assert breaker.state is BreakerState.CLOSED
    breaker.before_call()


def test_a_failed_probe_opens_again() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for _ in range(4):
        breaker.record(success=False)
    clock.advance(15)
    breaker.before_call()
    breaker.record(success=False)
    assert breaker.state is BreakerState.OPEN
    clock.advance(14)
    assert breaker.state is BreakerState.OPEN
    clock.advance(1)
    assert breaker.state is BreakerState.HALF_OPEN


async def test_bulkhead_bounds_each_caller_and_the_process() -> None:
    bulkhead = Bulkhead(per_process=3, per_caller=2, queue_timeout=0.05)
    release = asyncio.Event()
    holding: list[str] = []

    async def hold(caller: str) -> None:
        async with bulkhead.slot(caller):
            holding.append(caller)
            await release.wait()

    tasks = [asyncio.create_task(hold(c)) for c in ("a", "a", "b")]
    await asyncio.sleep(0.01)
    assert sorted(holding) == ["a", "a", "b"]
    with pytest.raises(UpstreamRateLimited) as caller_full:
        async with bulkhead.slot("a"):
            pass
    assert caller_full.value.extensions == {"code": "RATE_LIMITED", "retryAfter": 1}
    with pytest.raises(UpstreamUnavailable):
        async with bulkhead.slot("c"):
            pass
    release.set()
    await asyncio.gather(*tasks)
    async with bulkhead.slot("a"), bulkhead.slot("c"):
        pass
    assert bulkhead._callers == {}  # idle callers leave no state behind


@pytest.fixture(params=["memory", "redis"])
async def holds(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Holds, Clock]]:
    clock = Clock()
    link = None
    if request.param == "memory":
        h: Holds = Holds(clock.timer)
    else:
        link = redis_link(request.getfixturevalue("redis_url"))
        h = RedisHolds(link, clock.timer)
    yield h, clock
    await h.close()
    if link is not None:
        await link.close()


async def test_holds_per_caller(holds: tuple[Holds, Clock]) -> None:
    store, clock = holds
    await store.hold("alice", 30)
    assert await store.until("alice") == clock.now + 30
    assert await store.until("bob") == 0
    await store.hold("alice", 5)  # a shorter hold does not shorten the longer one
    assert await store.until("alice") == clock.now + 30
    await store.hold("alice", 60)
    assert await store.until("alice") == clock.now + 60


async def test_redis_holds_kept_in_the_process_do_not_pile_up(redis_url: str) -> None:
    clock = Clock()
    link = redis_link(redis_url)
    holds = RedisHolds(link, clock.timer)
    for i in range(2100):  # callers held once, never seen again
        await holds.hold(f"caller{i}", 1)
        clock.advance(0.01)
    assert len(holds._until) < 1100
    assert await holds.until("caller2099") > clock.now  # the live ones stay
    await link.close()

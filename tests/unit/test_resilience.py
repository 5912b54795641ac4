"""The resilience pieces on a test clock: budget, breaker, bulkhead, holds."""

from __future__ import annotations

import asyncio
import contextlib
import random
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


def test_retry_budget_record_is_pruned_by_time_without_any_retry() -> None:
    clock = Clock()
    budget = RetryBudget(0.1, window=60, minimum=3, timer=clock.timer)
    sizes = []
    for _ in range(20_000):  # 10 requests a second for 2,000 s, never a retry
        clock.advance(0.1)
        budget.request()
        sizes.append(len(budget))
    assert max(sizes) <= 601  # one window of requests, not all of them
    assert sizes[-1] == sizes[10_000]


def _breaker(clock: Clock, rng: float = 0.0, failure_rate: float = 0.5) -> Breaker:
    # rng 0.0: refuse whenever the refusal probability is above zero.
    return Breaker(
        "op", failure_rate=failure_rate, window=30, min_calls=4, timer=clock.timer, rng=lambda: rng
    )


def test_breaker_refuses_nothing_while_enough_calls_succeed() -> None:
    clock = Clock()
    breaker = _breaker(clock)  # K = 2: fine while at least half of the calls succeed
    for _ in range(3):
        breaker.record(success=False)
    assert breaker.state is BreakerState.CLOSED  # too few calls yet
    clock.advance(30)  # they leave the window
    for ok in [True, False] * 10 + [True, True, False] * 5:
        breaker.before_call()  # never refused: every other call, or fewer, fails
        breaker.record(success=ok)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_refuses_only_the_excess() -> None:
    clock = Clock()
    breaker = _breaker(clock)
    for ok in [True] * 10 + [False] * 20:
        breaker.record(success=ok)
    assert breaker.refusal_probability() == pytest.approx((30 - 2 * 10) / 31)
    assert breaker.state is BreakerState.HALF_OPEN  # shedding a share
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()
    lenient = _breaker(clock, rng=0.5)
    for ok in [True] * 10 + [False] * 20:
        lenient.record(success=ok)
    lenient.before_call()  # 0.5 >= 10/31: this one goes through
    assert len(lenient) == 40  # a refusal is no request: only outcomes are on record


def test_breaker_fails_fast_on_a_dead_upstream_and_lets_probes_through() -> None:
    clock = Clock()
    seeded = random.Random(12)
    breaker = Breaker(
        "op", failure_rate=0.5, window=30, min_calls=20, timer=clock.timer, rng=seeded.random
    )
    sent = refused = 0
    for _ in range(1000):
        clock.advance(0.01)
        try:
            breaker.before_call()
        except UpstreamUnavailable:
            refused += 1
            continue
        sent += 1
        breaker.record(success=False)
    assert breaker.state is BreakerState.OPEN
    assert 20 < sent < 100  # the window's first calls, then the odd probe: 90% fail fast
    assert refused == 1000 - sent
    calls = 0
    # The upstream is back: probes succeed. (mypy keeps an earlier assert's narrowing of .state
    # across the calls that change it.)
    while breaker.state is not BreakerState.CLOSED:  # type: ignore[comparison-overlap]
        calls += 1
        clock.advance(0.01)
        with contextlib.suppress(UpstreamUnavailable):
            breaker.before_call()
            breaker.record(success=True)
    assert calls < 1000  # closed by the accepts, well before the failures leave the window
    breaker.before_call()


def test_breaker_sheds_in_proportion_to_the_upstreams_failures() -> None:
    """A simulated upstream failing 50%, then 80%, of the calls, through the default rate."""
    for failing, refused_at_most, refused_at_least in [(0.5, 0.0, 0.0), (0.8, 0.6, 0.3)]:
        clock, upstream = Clock(), random.Random(3)
        breaker = Breaker(
            "op",
            failure_rate=0.6,
            window=30,
            min_calls=20,
            timer=clock.timer,
            rng=random.Random(4).random,
        )
        refused = 0
        for _ in range(3000):
            clock.advance(0.1)
            try:
                breaker.before_call()
            except UpstreamUnavailable:
                refused += 1
                continue
            breaker.record(success=upstream.random() >= failing)
        assert refused_at_least * 3000 <= refused <= refused_at_most * 3000


def test_a_breaker_at_failure_rate_one_refuses_only_without_any_success() -> None:
    clock = Clock()
    breaker = _breaker(clock, failure_rate=1.0)
    for ok in [True] + [False] * 50:
        breaker.record(success=ok)
    assert breaker.state is BreakerState.CLOSED
    clock.advance(30)
    for _ in range(4):
        breaker.record(success=False)
    # mypy keeps an earlier assert's narrowing of .state across the calls that change it
    assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]


async def test_bulkhead_bounds_each_caller_and_the_process() -> None:
    bulkhead = Bulkhead(per_process=3, per_caller=2, queue_timeout=0.05)
    release = asyncio.Event()
    holding: list[str] = []

    async def hold(caller: str) -> None:
        async with bulkhead.slot(caller):
            holding.append(caller)
            await release.wait()

    tasks = [asyncio.create_task(hold(c)) for c in ("a", "a", "b")]
    for _ in range(100):  # free slots are taken within a few turns of the event loop
        if len(holding) == 3:
            break
        await asyncio.sleep(0)
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
    assert len(bulkhead) == 0  # idle callers leave no state behind


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


async def test_holds_of_callers_never_seen_again_do_not_pile_up(
    holds: tuple[Holds, Clock],
) -> None:
    store, clock = holds
    for i in range(2100):  # callers held once, never seen again
        await store.hold(f"caller{i}", 1)
        clock.advance(0.01)
    assert len(store) < 1100
    assert await store.until("caller2099") > clock.now  # the live ones stay

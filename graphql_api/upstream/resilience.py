"""What keeps a bad minute at the upstream cheap: deadlines, a retry policy with a budget,
per-caller rate-limit holds, adaptive throttling per operation (the "breaker"), and a bulkhead.

Retries use tenacity (full-jitter exponential backoff, attempts, stop before the deadline).
The rest is small and ours, because the libraries made for it do not fit: purgatory and
aiobreaker are circuit breakers that open on *consecutive* failures (see :class:`Breaker` for
why we throttle instead of opening), and none of them take an injectable clock; a retry budget
and per-caller holds shared through Redis have no library. All waiting and time goes through an
injected :class:`Timer`, and the throttle's coin through an injected ``rng``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from graphql_api.config import Settings
from graphql_api.errors import UpstreamRateLimited, UpstreamUnavailable
from graphql_api.redis_link import RedisLink
from graphql_api.upstream.operations import OPERATIONS

__all__ = [
    "SYSTEM",
    "Breaker",
    "BreakerState",
    "Bulkhead",
    "Deadline",
    "Holds",
    "RedisHolds",
    "Resilience",
    "RetryBudget",
    "Timer",
    "build_resilience",
]

_log = logging.getLogger("graphql_api.breaker")


@dataclass(frozen=True)
class Timer:
    """Monotonic time, wall time and sleep, injectable so tests do not wait."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


# The real clocks: the one place the process reads them (everything else is handed a Timer, or
# one of its clocks, by the app; tests hand in a fake).
SYSTEM = Timer()


@dataclass(frozen=True, slots=True)
class Deadline:
    """The time by which a GraphQL request must be answered (``Timer.monotonic`` seconds)."""

    at: float
    timer: Timer = field(default_factory=Timer)

    @classmethod
    def after(cls, seconds: float, timer: Timer) -> Deadline:
        return cls(timer.monotonic() + seconds, timer)

    def remaining(self) -> float:
        return max(0.0, self.at - self.timer.monotonic())


class _Recent:
    """Times of the events of the last ``window`` seconds; every use drops the older ones."""

    def __init__(self, window: float, timer: Timer) -> None:
        self._window, self._timer = window, timer
        self._times: deque[float] = deque()

    def _prune(self) -> float:
        now = self._timer.monotonic()
        while self._times and self._times[0] <= now - self._window:
            self._times.popleft()
        return now

    def add(self) -> None:
        self._times.append(self._prune())

    def __len__(self) -> int:
        self._prune()
        return len(self._times)


class RetryBudget:
    """Retries may add at most ``ratio`` of the requests of the last ``window`` seconds (plus a
    small floor), so a storm of failures does not multiply the upstream's load.

    Only attempts that reach the upstream are recorded (a call refused by the breaker, a hold or
    the bulkhead is no request), and every record prunes what left the window, so the record is
    bounded by the traffic of one window whether or not anything is ever retried."""

    def __init__(self, ratio: float, window: float, minimum: int, timer: Timer) -> None:
        self._ratio, self._minimum = ratio, minimum
        self._requests, self._retries = _Recent(window, timer), _Recent(window, timer)
        self.denied = 0  # retries the budget did not allow (metrics)

    def request(self) -> None:
        """A first attempt went upstream."""
        self._requests.add()

    def can_retry(self) -> bool:
        """Whether a retry may go upstream now (asked once per retry wanted: a no is counted
        in :attr:`denied`)."""
        allowed = len(self._retries) < self._minimum + self._ratio * len(self._requests)
        if not allowed:
            self.denied += 1
        return allowed

    def remaining(self) -> float:
        """Retries the budget allows now."""
        return max(0.0, self._minimum + self._ratio * len(self._requests) - len(self._retries))

    def retry(self) -> None:
        """A retry went upstream."""
        self._retries.add()

    def __len__(self) -> int:
        """Events on record (requests and retries of the window)."""
        return len(self._requests) + len(self._retries)


class BreakerState(enum.Enum):
    CLOSED = "closed"  # nothing refused
    HALF_OPEN = "half_open"  # a share of the calls refused: the excess over what succeeds
    OPEN = "open"  # nothing succeeded in the window: all but the odd probe refused


_BREAKER_LINES = {
    BreakerState.CLOSED: "breaker closed",
    BreakerState.HALF_OPEN: "breaker half-open",
    BreakerState.OPEN: "breaker open",
}


class Breaker:
    """Client-side adaptive throttling for one upstream operation (after the Google SRE book,
    "Handling Overload"), in place of a closed/open/half-open circuit breaker.

    Over the last ``window`` seconds it counts the *requests* that went upstream and the
    *accepts* among them (answers without a 5xx, a timeout or a broken connection). Once there
    are ``min_calls`` requests, a call is refused (``UPSTREAM_UNAVAILABLE``, no upstream request)
    with probability ``max(0, (requests - K * accepts) / (requests + 1))``,
    ``K = 1 / (1 - failure_rate)``.

    Why not a breaker that opens on a failure rate: with the upstream failing half of the calls,
    a breaker at a 50% threshold flaps open and refuses *everything* for its open period (98% of
    the requests failed where the upstream would have answered half): it amplifies the failure
    it should contain, and any fixed threshold has the same cliff just above it. Throttling
    sheds only the excess: nothing is refused while the upstream's failure rate stays below
    ``failure_rate`` (the default, 0.6, sits above 50% because at the rate itself the refusals
    only follow the noise), above it only the share beyond what the upstream accepts is refused,
    and on a dead upstream (no accepts) the refusal probability tends to 1: calls fail fast, and
    the few that still go through are the probes that notice recovery.

    Unlike the book, refused calls do not count as requests: counted, they feed back (each
    refusal raises the next refusal's odds), and a 90%-failing upstream ends up with nearly
    every call refused, a hundredth of the successes it would give; this way the throttle stays
    proportional, and recovers as soon as a few accepts come back (or the window moves on).
    ``state`` reports it in the vocabulary of the ``graphql_api_breaker_state`` metric; ``rng``
    (uniform in [0, 1)) is injectable so tests are deterministic.

    A change of state is logged when a call is checked or recorded (``graphql_api.breaker``: a
    WARNING when it opens, half or fully, an INFO when it closes; docs/logging.md), so the log
    follows the metric.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_rate: float,
        window: float,
        min_calls: int,
        timer: Timer,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        # A call is worth making while at least 1/K of the calls are accepted.
        self.k = math.inf if failure_rate >= 1 else 1 / (1 - failure_rate)
        self._min_calls = min_calls
        self.rng = rng
        self._requests, self._accepts = _Recent(window, timer), _Recent(window, timer)
        self._logged = BreakerState.CLOSED  # the state the log last told
        self.refused = 0  # calls refused (metrics)

    def refusal_probability(self) -> float:
        """The share of calls refused now."""
        requests, accepts = len(self._requests), len(self._accepts)
        if requests < self._min_calls:
            return 0.0
        excess = requests if accepts == 0 else requests - self.k * accepts
        return max(0.0, excess / (requests + 1))

    @property
    def state(self) -> BreakerState:
        return self._state(self.refusal_probability())

    def _state(self, probability: float) -> BreakerState:
        if probability == 0:
            return BreakerState.CLOSED
        return BreakerState.OPEN if not self._accepts else BreakerState.HALF_OPEN

    def before_call(self) -> None:
        """Raise ``UPSTREAM_UNAVAILABLE`` at once if this call is refused."""
        probability = self._noted(self.refusal_probability())
        if self.rng() < probability:
            self.refused += 1
            raise UpstreamUnavailable("The Pinterest API is failing; not calling it for a while.")

    def record(self, success: bool) -> None:
        """The outcome of a call that went upstream."""
        self._requests.add()
        if success:
            self._accepts.add()
        self._noted(self.refusal_probability())

    def _noted(self, probability: float) -> float:
        """``probability``, once a change of state since the last line is logged."""
        state = self._state(probability)
        if state is not self._logged:
            _log.log(
                logging.INFO if state is BreakerState.CLOSED else logging.WARNING,
                _BREAKER_LINES[state],
                extra={
                    "operation": self.name,
                    "state": state.value,
                    "previous": self._logged.value,
                    "refusal_probability": round(probability, 3),
                    "requests": len(self._requests),
                    "accepts": len(self._accepts),
                },
            )
            self._logged = state
        return probability

    def __len__(self) -> int:
        """Events on record (requests and accepts of the window)."""
        return len(self._requests) + len(self._accepts)


class Bulkhead:
    """At most ``per_process`` concurrent upstream requests, and ``per_caller`` for one caller;
    a request waits at most ``queue_timeout`` seconds for its slots, then fails."""

    def __init__(self, per_process: int, per_caller: int, queue_timeout: float) -> None:
        self._process = asyncio.Semaphore(per_process)
        self._per_caller = per_caller
        self._callers: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._queue_timeout = queue_timeout
        self.in_flight = 0  # requests holding a slot (metrics)
        self.refused = 0  # requests that waited past the queue timeout (metrics)

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        mine = self._callers.setdefault(caller, asyncio.Semaphore(self._per_caller))
        self._users[caller] = self._users.get(caller, 0) + 1
        try:
            async with contextlib.AsyncExitStack() as held:
                too_many = "Too many concurrent requests for this token; retry shortly."
                await self._acquire(
                    mine, UpstreamRateLimited(too_many, upstream_status=None, retry_after=1)
                )
                held.callback(mine.release)
                busy = "Too many concurrent upstream requests; retry shortly."
                await self._acquire(self._process, UpstreamUnavailable(busy))
                held.callback(self._process.release)
                self.in_flight += 1
                try:
                    yield
                finally:
                    self.in_flight -= 1
        finally:
            self._users[caller] -= 1
            if not self._users[caller]:
                del self._users[caller], self._callers[caller]

    def __len__(self) -> int:
        """Callers with a request under way or waiting (what the bulkhead keeps per caller)."""
        return len(self._callers)

    async def _acquire(self, semaphore: asyncio.Semaphore, error: Exception) -> None:
        try:
            async with asyncio.timeout(self._queue_timeout):
                await semaphore.acquire()
        except TimeoutError:
            self.refused += 1
            raise error from None


class Holds:
    """Per-caller holds after a 429: no request for that caller goes upstream before the time
    the upstream asked for (wall-clock seconds). In memory: one process."""

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._until: dict[str, float] = {}
        self._prune_at = 1024  # holds on record past which the expired ones are dropped
        self.refused = 0  # requests answered RATE_LIMITED at once, not sent (metrics)

    async def until(self, caller: str) -> float:
        until = self._until.get(caller, 0.0)
        if until and until <= self._timer.wall():
            self._until.pop(caller, None)
        return until

    async def hold(self, caller: str, seconds: float) -> None:
        now = self._timer.wall()
        self._until[caller] = max(now + seconds, self._until.get(caller, 0.0))
        if len(self._until) >= self._prune_at:  # callers held once and never seen again
            self._until = {c: t for c, t in self._until.items() if t > now}
            self._prune_at = max(1024, 2 * len(self._until))  # amortised: O(1) per hold

    def __len__(self) -> int:
        """Holds on record (in this process)."""
        return len(self._until)

    def active(self) -> int:
        """Callers this process holds now (a scan: for metrics, at scrape time)."""
        now = self._timer.wall()
        return sum(1 for until in self._until.values() if until > now)

    async def close(self) -> None:
        return None


class RedisHolds(Holds):
    """The same holds, also kept in Redis so every replica honours them. Each is kept in this
    process too: a hold set while Redis is away still applies here, and a caller's hold is the
    later of this process' and Redis' (when Redis answers)."""

    def __init__(self, redis: RedisLink, timer: Timer) -> None:
        super().__init__(timer)
        self._redis = redis

    async def _shared(self, caller: str) -> float:
        client = self._redis.client
        value = await self._redis.run(lambda: client.get(f"hold:{caller}"), None, name="hold_get")
        try:
            return float(value) if value is not None else 0.0
        except ValueError:  # not a hold of ours
            return 0.0

    async def until(self, caller: str) -> float:
        return max(await super().until(caller), await self._shared(caller))

    async def hold(self, caller: str, seconds: float) -> None:
        await super().hold(caller, seconds)
        until = self._timer.wall() + seconds
        # Keep the later of two holds; the key expires with the hold.
        if not self._redis.available:
            self._redis.skip("hold_set")
        elif until > await self._shared(caller):
            client = self._redis.client
            await self._redis.run(
                lambda: client.set(f"hold:{caller}", repr(until), px=max(1, int(seconds * 1000))),
                None,
                name="hold_set",
            )

    async def close(self) -> None:
        return None  # the Redis link is closed by its owner


@dataclass
class Resilience:
    """Everything the client applies around one upstream request."""

    timer: Timer
    identify: Callable[[str], str]  # token -> caller identity (an HMAC, never the token)
    attempts: int
    backoff: float
    backoff_max: float
    try_timeout: float
    default_deadline: float
    budget: RetryBudget
    breakers: dict[str, Breaker]
    bulkhead: Bulkhead
    holds: Holds
    hold_wait: float  # the longest hold a request waits for; a longer one is refused at once
    # Called after each upstream attempt: (operation, status or failure, seconds).
    observe: Callable[[str, str, float], None] = lambda operation, status, seconds: None


def build_resilience(
    settings: Settings,
    timer: Timer,
    identify: Callable[[str], str],
    *,
    redis: RedisLink | None = None,
    rng: Callable[[], float] = random.random,
    observe: Callable[[str, str, float], None] | None = None,
) -> Resilience:
    """The resilience of one process, from the settings; holds shared through ``redis`` (the
    process' link to the Redis cache) when there is one; ``observe`` hears of every attempt."""
    holds = RedisHolds(redis, timer) if redis is not None else Holds(timer)
    breakers = {
        operation: Breaker(
            operation,
            failure_rate=settings.breaker_failure_rate,
            window=settings.breaker_window,
            min_calls=settings.breaker_min_calls,
            timer=timer,
            rng=rng,
        )
        for operation in OPERATIONS
    }
    return Resilience(
        timer=timer,
        identify=identify,
        attempts=settings.retry_attempts,
        backoff=settings.retry_backoff,
        backoff_max=settings.retry_backoff_max,
        try_timeout=settings.upstream_timeout,
        default_deadline=settings.request_deadline,
        budget=RetryBudget(
            settings.retry_budget_ratio, settings.retry_budget_window, minimum=3, timer=timer
        ),
        breakers=breakers,
        bulkhead=Bulkhead(
            settings.upstream_max_concurrency,
            settings.upstream_max_concurrency_per_token,
            settings.upstream_queue_timeout,
        ),
        holds=holds,
        hold_wait=settings.hold_wait,
        **({"observe": observe} if observe is not None else {}),
    )

"""What keeps a bad minute at the upstream cheap: deadlines, a retry policy with a budget,
per-caller rate-limit holds, a circuit breaker per operation, and a bulkhead.

Retries use tenacity (full-jitter exponential backoff, attempts, stop before the deadline).
The rest is small and ours, because the libraries made for it do not fit: purgatory and
aiobreaker open breakers on *consecutive* failures, not on a failure rate over a window, and
none of them take an injectable clock; a retry budget and per-caller holds shared through Redis
have no library. All waiting and time goes through an injected :class:`Timer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from graphql_api.config import Settings
from graphql_api.errors import UpstreamRateLimited, UpstreamUnavailable
from graphql_api.redis_link import RedisLink

__all__ = [
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


@dataclass(frozen=True)
class Timer:
    """Monotonic time, wall time and sleep, injectable so tests do not wait."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


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


class RetryBudget:
    """Retries may add at most ``ratio`` of the requests of the last ``window`` seconds (plus a
    small floor), so a storm of failures does not multiply the upstream's load."""

    def __init__(self, ratio: float, window: float, minimum: int, timer: Timer) -> None:
        self._ratio, self._window, self._minimum, self._timer = ratio, window, minimum, timer
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _trim(self, now: float) -> None:
        for events in (self._requests, self._retries):
            while events and events[0] <= now - self._window:
                events.popleft()

    def request(self) -> None:
        self._requests.append(self._timer.monotonic())

    def can_retry(self) -> bool:
        now = self._timer.monotonic()
        self._trim(now)
        return len(self._retries) < self._minimum + self._ratio * len(self._requests)

    def retry(self) -> None:
        self._retries.append(self._timer.monotonic())


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    """A circuit breaker for one upstream operation.

    Closed: calls go through; outcomes of the last ``window`` seconds are kept, and once there are
    at least ``min_calls`` of them with a failure rate of ``failure_rate`` or more, it opens.
    Open: calls fail fast (``UPSTREAM_UNAVAILABLE``) for ``open_for`` seconds. Half-open: up to
    ``probes`` calls go through; a success closes it, a failure opens it again.
    """

    def __init__(
        self, name: str, *, failure_rate: float, window: float, min_calls: int,
        open_for: float, probes: int, timer: Timer,
    ) -> None:  # fmt: skip
        self.name = name
        self._failure_rate, self._window, self._min_calls = failure_rate, window, min_calls
        self._open_for, self._probes, self._timer = open_for, probes, timer
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._opened_at = 0.0
        self._probing = 0
        self._state = BreakerState.CLOSED

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._timer.monotonic() >= self._opened_at + (
            self._open_for
        ):
            self._state, self._probing = BreakerState.HALF_OPEN, 0
        return self._state

    def before_call(self) -> None:
        """Raise ``UPSTREAM_UNAVAILABLE`` at once unless a call may go upstream now."""
        state = self.state
        if state is BreakerState.OPEN or (
            state is BreakerState.HALF_OPEN and self._probing >= self._probes
        ):
            raise UpstreamUnavailable("The Pinterest API is failing; not calling it for a while.")
        if state is BreakerState.HALF_OPEN:
            self._probing += 1

    def record(self, success: bool) -> None:
        now = self._timer.monotonic()
        if self._state is BreakerState.HALF_OPEN:
            if success:
                self._state = BreakerState.CLOSED
                self._outcomes.clear()
            else:
                self._open(now)
            return
        self._outcomes.append((now, success))
        while self._outcomes and self._outcomes[0][0] <= now - self._window:
            self._outcomes.popleft()
        failures = sum(not ok for _, ok in self._outcomes)
        if len(self._outcomes) >= self._min_calls and failures >= self._failure_rate * len(
            self._outcomes
        ):
            self._open(now)

    def _open(self, now: float) -> None:
        self._state, self._opened_at = BreakerState.OPEN, now
        self._outcomes.clear()


class Bulkhead:
    """At most ``per_process`` concurrent upstream requests, and ``per_caller`` for one caller;
    a request waits at most ``queue_timeout`` seconds for its slots, then fails."""

    def __init__(self, per_process: int, per_caller: int, queue_timeout: float) -> None:
        self._process = asyncio.Semaphore(per_process)
        self._per_caller = per_caller
        self._callers: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}
        self._queue_timeout = queue_timeout

    @asynccontextmanager
    async def slot(self, caller: str) -> AsyncIterator[None]:
        mine = self._callers.setdefault(caller, asyncio.Semaphore(self._per_caller))
        self._users[caller] = self._users.get(caller, 0) + 1
        try:
            async with contextlib.AsyncExitStack() as held:
                too_many = "Too many concurrent requests for this token; retry shortly."
                await self._acquire(mine, UpstreamRateLimited(too_many, upstream_status=None,
                                                              retry_after=1))  # fmt: skip
                held.callback(mine.release)
                busy = "Too many concurrent upstream requests; retry shortly."
                await self._acquire(self._process, UpstreamUnavailable(busy))
                held.callback(self._process.release)
                yield
        finally:
            self._users[caller] -= 1
            if not self._users[caller]:
                del self._users[caller], self._callers[caller]

    async def _acquire(self, semaphore: asyncio.Semaphore, error: Exception) -> None:
        try:
            async with asyncio.timeout(self._queue_timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise error from None


class Holds:
    """Per-caller holds after a 429: no request for that caller goes upstream before the time
    the upstream asked for (wall-clock seconds). In memory: one process."""

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._until: dict[str, float] = {}

    async def until(self, caller: str) -> float:
        until = self._until.get(caller, 0.0)
        if until and until <= self._timer.wall():
            self._until.pop(caller, None)
        return until

    async def hold(self, caller: str, seconds: float) -> None:
        until = self._timer.wall() + seconds
        self._until[caller] = max(until, self._until.get(caller, 0.0))

    async def close(self) -> None:
        return None


class RedisHolds(Holds):
    """The same holds, also kept in Redis so every replica honours them. Each is kept in this
    process too: a hold set while Redis is away still applies here, and a caller's hold is the
    later of this process' and Redis' (when Redis answers)."""

    def __init__(self, redis: RedisLink, timer: Timer) -> None:
        super().__init__(timer)
        self._redis = redis
        self._prune_at = 1024  # local holds past which the expired ones are dropped

    async def _shared(self, caller: str) -> float:
        client = self._redis.client
        value = await self._redis.run(lambda: client.get(f"hold:{caller}"), None)
        try:
            return float(value) if value is not None else 0.0
        except ValueError:  # not a hold of ours
            return 0.0

    async def until(self, caller: str) -> float:
        return max(await super().until(caller), await self._shared(caller))

    async def hold(self, caller: str, seconds: float) -> None:
        await super().hold(caller, seconds)
        now = self._timer.wall()
        if len(self._until) >= self._prune_at:  # callers held once and never seen again
            self._until = {c: t for c, t in self._until.items() if t > now}
            self._prune_at = max(1024, 2 * len(self._until))
        until = now + seconds
        # Keep the later of two holds; the key expires with the hold.
        if self._redis.available and until > await self._shared(caller):
            client = self._redis.client
            await self._redis.run(
                lambda: client.set(f"hold:{caller}", repr(until), px=max(1, int(seconds * 1000))),
                None,
            )

    async def close(self) -> None:
        return None  # the Redis link is closed by its owner


def hold_seconds(error: UpstreamRateLimited, hint: float | None, default: float) -> float:
    """How long to hold a caller after a 429: Retry-After, else the rate-limit reset hint."""
    for seconds in (error.retry_after, hint):
        if seconds is not None:
            return seconds
    return default


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
    # Called after each upstream attempt: (operation, status or failure, seconds).
    observe: Callable[[str, str, float], None] = lambda operation, status, seconds: None


def build_resilience(
    settings: Settings,
    timer: Timer,
    identify: Callable[[str], str],
    redis: RedisLink | None = None,
) -> Resilience:
    """The resilience of one process, from the settings; holds shared through ``redis`` (the
    process' link to the Redis cache) when there is one."""
    holds = RedisHolds(redis, timer) if redis is not None else Holds(timer)
    breakers = {
        operation: Breaker(
            operation,
            failure_rate=settings.breaker_failure_rate,
            window=settings.breaker_window,
            min_calls=settings.breaker_min_calls,
            open_for=settings.breaker_open_seconds,
            probes=settings.breaker_probes,
            timer=timer,
        )
        for operation in ("products_by_filter", "product_group_products", "pin")
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
    )

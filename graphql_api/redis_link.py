"""The process's one link to Redis, and the guard every Redis operation goes through.

Redis is a cache, never a dependency. :class:`RedisLink` owns the one ``redis.asyncio`` client
of the process (``redis://``, ``rediss://`` with redis-py's ``ssl_*`` URL options, ACL users as
``redis://user:password@host:port/db``): short socket and connect timeouts, a bounded pool, and
no retries inside redis-py. :meth:`RedisLink.run` is the only way to use it:

- An operation is bounded, whole, by the timeout (``asyncio.timeout`` over redis-py's socket
  timeouts). One that fails or runs out of time answers its fallback; Redis' exceptions
  (``RedisError``, ``OSError``, ``TimeoutError``) stop here and nothing else sees them.
- After a few consecutive failures the guard opens: every operation answers its fallback at
  once, without touching Redis, and a background probe (``PING`` every ``probe_interval``
  seconds) closes it when Redis answers again, so sharing resumes by itself.
- One warning when Redis goes away and one when it is back; single failures log at DEBUG.

The counters and :attr:`RedisLink.state` are there for metrics and ``/readyz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from graphql_api.config import Settings

__all__ = ["FAILURES", "LinkState", "RedisLink", "open_redis"]

_log = logging.getLogger("graphql_api.redis")
T = TypeVar("T")
F = TypeVar("F")

# What a failing Redis raises: its own errors, the socket's, and our time bound's.
# (EOFError: asyncio.IncompleteReadError, should a reply be cut short outside redis-py's parser.)
FAILURES = (RedisError, OSError, TimeoutError, EOFError)


class LinkState(enum.Enum):
    UP = "up"  # operations go to Redis
    DOWN = "down"  # the guard is open: operations answer their fallback at once


class RedisLink:
    """A Redis client behind a guard (a small circuit breaker on consecutive failures)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        timeout: float,
        probe_interval: float,
        failures_to_open: int = 3,
    ) -> None:
        self.client = client
        self._timeout = timeout
        self._probe_interval = probe_interval
        self._failures_to_open = failures_to_open
        self._consecutive = 0
        self._state = LinkState.UP
        self._probe: asyncio.Task[None] | None = None
        self._on_up: list[Callable[[], Awaitable[None]]] = []
        # Counters (read by metrics): operations sent, failed, answered without Redis; outages.
        self.attempts = 0
        self.failures = 0
        self.skipped = 0
        self.outages = 0

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float, probe_interval: float, max_connections: int
    ) -> RedisLink:
        """The link to the Redis at ``url`` (options in its query, as redis-py reads them)."""
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,  # waiting for a free connection is part of the operation
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the guard decides, not redis-py
            decode_responses=False,
        )
        return cls(redis.Redis(connection_pool=pool), timeout=timeout,
                   probe_interval=probe_interval)  # fmt: skip

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def available(self) -> bool:
        """Whether operations go to Redis now (the last outcomes were not failures)."""
        return self._state is LinkState.UP

    def on_up(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` (in the probe's task) each time Redis is back."""
        self._on_up.append(callback)

    async def run(self, operation: Callable[[], Awaitable[T]], fallback: F) -> T | F:
        """``operation()``'s result, or ``fallback`` if Redis is away, fails or is too slow."""
        if self._state is LinkState.DOWN:
            self.skipped += 1
            return fallback
        self.attempts += 1
        try:
            async with asyncio.timeout(self._timeout):
                result = await operation()
        except FAILURES as error:
            self._failed(error)
            return fallback
        self._consecutive = 0
        return result

    async def ping(self) -> bool:
        """Whether Redis answers ``PING`` now (bounded; at once ``False`` while it is away)."""
        return bool(await self.run(self.client.ping, False))

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        self._consecutive += 1
        _log.debug("Redis operation failed: %s", _describe(error))
        if self._state is LinkState.UP and self._consecutive >= self._failures_to_open:
            self._state = LinkState.DOWN
            self.outages += 1
            _log.warning(
                "Redis is unavailable (%s): caching in this process only until it answers again",
                _describe(error),
            )
            self._probe = asyncio.create_task(self._probe_until_up(), name="redis-probe")

    async def _probe_until_up(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            try:
                async with asyncio.timeout(self._timeout):
                    await self.client.ping()
            except FAILURES as error:
                _log.debug("Redis probe failed: %s", _describe(error))
                continue
            break
        self._consecutive = 0
        self._state = LinkState.UP
        _log.warning("Redis is back: sharing the cache again")
        for callback in self._on_up:
            try:
                await callback()
            except Exception:  # a callback's bug must not keep the others from running
                _log.exception("a Redis recovery callback failed")

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        with contextlib.suppress(*FAILURES):
            await self.client.aclose(close_connection_pool=True)


def _describe(error: BaseException) -> str:
    """The error's type and message (redis-py's messages name the address, not credentials)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def open_redis(settings: Settings) -> RedisLink | None:
    """The process's link to the Redis of ``settings.cache_url``; ``None`` for ``memory://``."""
    if not settings.cache_url.startswith(("redis://", "rediss://")):
        return None
    return RedisLink.from_url(
        settings.cache_url,
        timeout=settings.redis_timeout,
        probe_interval=settings.redis_probe_interval,
        max_connections=settings.redis_max_connections,
    )

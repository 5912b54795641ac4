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
  seconds) closes it when Redis answers again, so sharing resumes by itself. When only
  timeouts opened it, a few PINGs at once first check that Redis is really away and not
  this host briefly starved of CPU (then the guard closes again, without a warning).
- One warning when Redis goes away and one when it is back; single failures log at DEBUG.

Redis I/O runs on an event loop of its own, in a thread. A timeout measured on the service's
loop would count that loop's lag: with the loop busy (pages parsed, responses built) a healthy
Redis answering in a millisecond would look slow, and the guard would open under load. On its
own loop an operation is timed by how Redis answers (give or take a GIL switch interval).

A subscription (:meth:`RedisLink.subscribe`) lives on that loop too, on a connection of its own,
kept alive as long as the link: it pings a quiet Redis every ``probe_interval`` seconds (a Redis
that stopped answering is a lost subscription, not a silent one), subscribes again after a loss
once the guard is closed (never while it is open), and says when it is confirmed and when it is
lost: messages published in between were missed, and only the subscriber knows what that costs.

The counters and :attr:`RedisLink.state` are there for metrics and ``/readyz``: each operation
is counted by its name (given to :meth:`RedisLink.run`) and result (:data:`RESULTS`), plain
integers read when Prometheus scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeout

from graphql_api.config import Settings

__all__ = ["FAILURES", "RESULTS", "LinkState", "RedisLink", "open_redis"]

_log = logging.getLogger("graphql_api.redis")
T = TypeVar("T")
F = TypeVar("F")

# What a failing Redis raises: its own errors, the socket's, and our time bound's.
# (EOFError: asyncio.IncompleteReadError, should a reply be cut short outside redis-py's parser.)
FAILURES = (RedisError, OSError, TimeoutError, EOFError)
# How an operation ended: answered, or its fallback (failed, out of time, or not tried while the
# guard is open).
RESULTS = ("ok", "error", "timeout", "skipped")


class LinkState(enum.Enum):
    UP = "up"  # operations go to Redis
    DOWN = "down"  # the guard is open: operations answer their fallback at once


class RedisLink:
    """A Redis client behind a guard (a small circuit breaker on consecutive failures), on an
    event loop of its own (started on first use, stopped by :meth:`close`)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        timeout: float,
        probe_interval: float,
        failures_to_open: int = 3,
    ) -> None:
        self.client = client  # used on the link's loop only (through run())
        self._timeout = timeout
        self._probe_interval = probe_interval
        self._failures_to_open = failures_to_open
        self._consecutive = 0
        self._state = LinkState.UP
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._home: asyncio.AbstractEventLoop | None = None  # the service's loop
        self._probe: asyncio.Task[None] | None = None
        self._on_up: list[Callable[[], Awaitable[None]]] = []
        self._recovery: asyncio.Task[None] | None = None
        self._listeners: list[asyncio.Task[None]] = []  # on the link's loop
        self._closing = False
        # Counters (read by metrics): operations sent, failed, answered without Redis; outages.
        self.attempts = 0
        self.failures = 0
        self.outages = 0
        self.blips = 0  # openings on timeouts alone that an immediate PING found answered
        # Operations by name, each [ok, error, timeout, skipped] (RESULTS' order). Names are
        # added on the service's loop (where metrics read them); the link's loop only adds to
        # the counts.
        self.results: dict[str, list[int]] = {}

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
        return cls(
            redis.Redis(connection_pool=pool), timeout=timeout, probe_interval=probe_interval
        )

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def available(self) -> bool:
        """Whether operations go to Redis now (the last outcomes were not failures)."""
        return self._state is LinkState.UP

    def on_up(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback`` (on the service's loop) each time Redis is back."""
        self._on_up.append(callback)

    async def run(
        self, operation: Callable[[], Awaitable[T]], fallback: F, *, name: str = "other"
    ) -> T | F:
        """``operation()``'s result, or ``fallback`` if Redis is away, fails or is too slow.
        ``operation`` runs on the link's loop: it may use :attr:`client` and nothing bound to
        the caller's loop. ``name`` counts it in :attr:`results` (a metrics label: a few fixed
        names, never a key)."""
        if self._state is LinkState.DOWN:
            self.skip(name)
            return fallback
        self._home = asyncio.get_running_loop()
        attempt = asyncio.run_coroutine_threadsafe(
            self._attempt(operation, fallback, self._counts(name)), self._started()
        )
        return await asyncio.wrap_future(attempt)

    def skip(self, name: str) -> None:
        """Count an operation not sent because Redis is away (the guard is open)."""
        self._counts(name)[3] += 1

    @property
    def skipped(self) -> int:
        """Operations not sent because Redis was away, of every name."""
        return sum(counts[3] for counts in list(self.results.values()))

    def _counts(self, name: str) -> list[int]:
        counts = self.results.get(name)
        if counts is None:
            counts = self.results[name] = [0, 0, 0, 0]
        return counts

    def subscribe(
        self,
        channel: bytes,
        on_message: Callable[[bytes], None],
        on_live: Callable[[bool], None],
    ) -> None:
        """Listen to ``channel`` for as long as the link is open: ``on_message(data)`` for each
        message; ``on_live(True)`` each time the subscription is confirmed (anything published
        before may have been missed) and ``on_live(False)`` when it is lost or an attempt to
        subscribe failed. Both are called on
        the caller's loop, in the order Redis sent them. Call it on the service's loop."""
        home = asyncio.get_running_loop()
        self._home = home

        def deliver(callback: Callable[[T], None], value: T) -> None:
            with contextlib.suppress(RuntimeError):  # the service's loop is closed
                home.call_soon_threadsafe(callback, value)

        def begin() -> None:
            listener = self._listen(
                channel, lambda data: deliver(on_message, data), lambda live: deliver(on_live, live)
            )
            # A fresh context: the listener is no request's.
            task = asyncio.create_task(
                listener, name="redis-subscriber", context=contextvars.Context()
            )
            self._listeners.append(task)

        self._started().call_soon_threadsafe(begin)

    async def ping(self) -> bool:
        """Whether Redis answers ``PING`` now (bounded; at once ``False`` while it is away)."""
        return bool(await self.run(self.client.ping, False, name="ping"))

    def _started(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="redis-link", daemon=True
            )
            self._thread.start()
        return self._loop

    # On the link's loop:

    async def _attempt(
        self, operation: Callable[[], Awaitable[T]], fallback: F, counts: list[int]
    ) -> T | F:
        self.attempts += 1
        try:
            async with asyncio.timeout(self._timeout):
                result = await operation()
        except FAILURES as error:
            counts[2 if isinstance(error, (TimeoutError, RedisTimeout)) else 1] += 1
            self._failed(error)
            return fallback
        counts[0] += 1
        self._consecutive = 0
        return result

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        self._consecutive += 1
        _log.debug("Redis operation failed: %s", _describe(error))
        if self._state is LinkState.UP and self._consecutive >= self._failures_to_open:
            self._state = LinkState.DOWN  # from now on, nothing waits on Redis
            # A fresh context: the probe is no request's (its log lines carry no request id).
            self._probe = asyncio.create_task(
                self._probe_until_up(error), name="redis-probe", context=contextvars.Context()
            )

    async def _probe_until_up(self, error: BaseException) -> None:
        # Timeouts alone can be a stall of this host rather than Redis (starved of CPU, or a
        # container throttled for the rest of its CPU period): a few PINGs at once tell; if
        # Redis answers one, that was a blip, not an outage worth a warning.
        if isinstance(error, TimeoutError) and await self._answers_soon():
            self.blips += 1
            _log.debug("Redis was slow (%s) but answers", _describe(error))
            self._up()
            return
        self.outages += 1
        _log.warning(
            "Redis is unavailable (%s): caching in this process only until it answers again",
            _describe(error),
        )
        while True:
            await asyncio.sleep(self._probe_interval)
            if await self._answers():
                break
        # Connections opened before the outage may point at a Redis that restarted since.
        with contextlib.suppress(*FAILURES):
            async with asyncio.timeout(self._timeout):
                await self.client.connection_pool.disconnect()
        _log.warning("Redis is back: sharing the cache again")
        self._up()

    async def _answers_soon(self, pings: int = 3) -> bool:
        for ping in range(pings):
            if ping:
                await asyncio.sleep(self._timeout)
            if await self._answers():
                return True
        return False

    async def _answers(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                await self.client.ping()
        except FAILURES as error:
            _log.debug("Redis probe failed: %s", _describe(error))
            return False
        return True

    def _up(self) -> None:
        self._consecutive = 0
        self._state = LinkState.UP
        if self._home is not None and self._on_up:
            with contextlib.suppress(RuntimeError):  # the service's loop is closed: no one left
                self._home.call_soon_threadsafe(self._recover)

    async def _listen(
        self, channel: bytes, message: Callable[[bytes], None], live: Callable[[bool], None]
    ) -> None:
        # Not only cancelled: redis-py's read timeout can swallow a cancellation that arrives
        # as it expires, so the loops also stop on their own once the link is closing.
        while not self._closing:
            if self._state is LinkState.DOWN:  # the probe finds when it is back
                await asyncio.sleep(self._probe_interval)
                continue
            pubsub = self.client.pubsub()
            try:
                async with asyncio.timeout(self._timeout):
                    await pubsub.subscribe(channel)
                pinged = False
                while not self._closing:
                    received = await pubsub.get_message(timeout=self._probe_interval)
                    if received is None:
                        # Quiet for an interval: no answer to the last PING, or the guard
                        # opened (Redis away for the others): lost. Else ask again.
                        if pinged or not self.available:
                            raise TimeoutError("no answer on the subscription")
                        async with asyncio.timeout(self._timeout):
                            await pubsub.ping()
                        pinged = True
                        continue
                    pinged = False
                    kind = received["type"]
                    if kind == "subscribe":
                        live(True)
                    elif kind == "message":
                        message(received["data"])
            except FAILURES as error:
                _log.debug("Redis subscription lost: %s", _describe(error))
                live(False)
                await asyncio.sleep(self._probe_interval)
            finally:
                with contextlib.suppress(*FAILURES):
                    async with asyncio.timeout(self._timeout):
                        await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _close_client(self) -> None:
        self._closing = True
        for listener in self._listeners:
            listener.cancel()
        await asyncio.gather(*self._listeners, return_exceptions=True)
        self._listeners.clear()
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        with contextlib.suppress(*FAILURES):
            await self.client.aclose(close_connection_pool=True)

    # On the service's loop:

    def _recover(self) -> None:
        self._recovery = asyncio.create_task(self._run_on_up(), name="redis-recovery")

    async def _run_on_up(self) -> None:
        for callback in self._on_up:
            try:
                await callback()
            except Exception:  # a callback's bug must not keep the others from running
                _log.exception("a Redis recovery callback failed")

    async def close(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recovery
        if self._loop is None or self._thread is None:
            return
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._close_client(), self._loop)
        )
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
        self._loop = self._thread = None


def _describe(error: BaseException) -> str:
    """The error's type and message (redis-py's messages name the address, not credentials)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def open_redis(settings: Settings) -> RedisLink | None:
    """The process's link to the Redis of ``settings.cache_url``; ``None`` for ``memory://``."""
    cache = settings.cache
    if not cache.redis:
        return None
    return RedisLink.from_url(
        cache.url,
        timeout=settings.redis_timeout,
        probe_interval=settings.redis_probe_interval,
        max_connections=settings.redis_max_connections,
    )

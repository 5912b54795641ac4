"""The upstream page cache: aiocache storage behind a small interface of our own.

- Keys always carry the caller's identity as a keyed hash (HMAC-SHA256 with the server secret)
  of the upstream token, never the token: one caller's page is never served to another.
- Concurrent identical misses share one upstream request (single-flight): the fetch runs as its
  own task, so a caller that goes away does not cancel it for the others, and a failure reaches
  every waiter and is not cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import urllib.parse  # noqa: F401  # aiocache 0.12's from_url uses it without importing it
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiocache import Cache

__all__ = ["PageCache", "create_backend"]

T = TypeVar("T")


def create_backend(url: str) -> Any:
    """An aiocache backend from ``memory://`` or ``redis://host:port/db``."""
    return Cache.from_url(url)


class PageCache:
    def __init__(self, backend: Any, *, secret: bytes, ttl: float) -> None:
        self._backend = backend
        self._secret = secret
        self._ttl = ttl
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    def identity(self, token: str) -> str:
        """The caller's identity in keys: an HMAC of the token, never the token itself."""
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()[:32]

    def key(self, token: str, *parts: object) -> str:
        return ":".join(["page", self.identity(token), *map(str, parts)])

    async def get_or_fetch(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        cached = await self._backend.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._load(key, fetch))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(task)

    async def _load(self, key: str, fetch: Callable[[], Awaitable[T]]) -> T:
        value = await fetch()
        await self._backend.set(key, value, ttl=self._ttl)
        return value

    def _settle(self, key: str, task: asyncio.Task[Any]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so an error nobody awaited is not logged twice

    async def close(self) -> None:
        await self._backend.close()

"""The response cache: a repeated operation (same document, operation name, variables and
caller) is answered with the bytes of its earlier response, without execution.

An entry lives no longer than the freshness of the cache entries the response was built from,
and dies with them: it records their versions, and a hit checks that each is still the one the
page cache holds (a refreshed, evicted or dropped page invalidates it). Only complete, fresh
answers are kept: no errors, no stale pages, no introspection. It lives in the process (each
replica keeps its own), bounded, least recently used out first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from graphql_api.cache import Lookup

__all__ = ["ResponseCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    body: bytes
    expires: float
    sources: tuple[tuple[str, float], ...]  # (cache key, version) of each page or Pin used


class ResponseCache:
    def __init__(
        self,
        max_entries: int,
        *,
        clock: Callable[[], float],
        versions: Mapping[str, float],
    ) -> None:
        self._entries: OrderedDict[tuple[str, ...], _Entry] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock
        self._versions = versions  # the page cache's live versions, by key
        self.hits = 0

    @staticmethod
    def key(
        caller: str, document: str, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> tuple[str, ...]:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS).decode()
        return (caller, document, operation_name or "", canonical)

    def get(self, key: tuple[str, ...]) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires or any(
            self._versions.get(source) != version for source, version in entry.sources
        ):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.body

    def put(self, key: tuple[str, ...], body: bytes, sources: list[Lookup[Any]]) -> None:
        """Keep a response built from these fresh cache entries (none: nothing to bound it by,
        and nothing upstream to save: not kept)."""
        if not sources or any(lookup.stale for lookup in sources):
            return
        expires = min(lookup.fresh_until for lookup in sources)
        if expires <= self._clock():
            return
        pairs = tuple(dict.fromkeys((lookup.key, lookup.version) for lookup in sources))
        self._entries[key] = _Entry(body, expires, pairs)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

"""The response cache: a repeated operation (same document, operation name, variables and
caller) is answered with the bytes of its earlier response, without execution.

An entry lives no longer than the freshness of the cache entries the response was built from,
and dies with them: it records their versions, and a hit checks that each is still the one the
page cache holds (a refreshed, evicted or dropped page invalidates it). Only complete, fresh
answers are kept: no errors, no stale pages, no introspection. It lives in the process (each
replica keeps its own), least recently used out first, bounded by entries and by bytes: an
entry counts its body, its key (caller, document, operation name, variables), the keys of its
sources, and a fixed overhead for the objects that hold them (:data:`ENTRY_OVERHEAD`); an entry
larger than the whole bound is not kept.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from graphql_api.cache import Lookup

__all__ = ["ENTRY_OVERHEAD", "SOURCE_OVERHEAD", "CachedResponse", "ResponseCache"]

# Bytes an entry holds beyond what ``sys.getsizeof`` counts of its body, key strings and source
# keys: the key tuple, the entry, its floats and its OrderedDict slot; and per source, its
# (key, version) tuple, slot and float. Measured with tracemalloc on CPython 3.11 (238-273 and
# 88); tests/unit/test_response_cache.py measures them again.
ENTRY_OVERHEAD = 280
SOURCE_OVERHEAD = 88


@dataclass(frozen=True, slots=True)
class CachedResponse:
    body: bytes  # without extensions.cost: that is the request's, not the entry's
    expires: float
    sources: tuple[tuple[str, float], ...]  # (cache key, version) of each page or Pin used
    nbytes: int  # what it counts against the bound, its key included
    requested: int = 0  # the operation's estimated cost (the same for every request for it)


class ResponseCache:
    def __init__(
        self,
        max_entries: int,
        *,
        max_bytes: int | None = None,
        clock: Callable[[], float],
        versions: Mapping[str, float],
    ) -> None:
        self._entries: OrderedDict[tuple[str, ...], CachedResponse] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.nbytes = 0  # what the entries held count, against ``max_bytes``
        self._clock = clock
        self._versions = versions  # the page cache's live versions, by key

    @staticmethod
    def key(
        caller: str, document: str, operation_name: str | None, variables: Mapping[str, Any] | None
    ) -> tuple[str, ...]:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS).decode()
        return (caller, document, operation_name or "", canonical)

    def get(self, key: tuple[str, ...]) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry.expires or any(
            self._versions.get(source) != version for source, version in entry.sources
        ):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: tuple[str, ...],
        body: bytes,
        sources: Sequence[Lookup[Any]],
        *,
        requested: int = 0,
    ) -> None:
        """Keep a response built from these fresh cache entries (none: nothing to bound it by,
        and nothing upstream to save: not kept), and its operation's estimated cost."""
        if not sources or any(lookup.stale for lookup in sources):
            return
        expires = min(lookup.fresh_until for lookup in sources)
        if expires <= self._clock():
            return
        pairs = tuple(dict.fromkeys((lookup.key, lookup.version) for lookup in sources))
        nbytes = _footprint(key, body, pairs)
        self._drop(key)
        if self._max_bytes is not None and nbytes > self._max_bytes:
            return
        self._entries[key] = CachedResponse(body, expires, pairs, nbytes, requested)
        self.nbytes += nbytes
        while len(self._entries) > self._max_entries or (
            self._max_bytes is not None and self.nbytes > self._max_bytes
        ):
            _, oldest = self._entries.popitem(last=False)
            self.nbytes -= oldest.nbytes

    def _drop(self, key: tuple[str, ...]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.nbytes -= entry.nbytes

    def __len__(self) -> int:
        return len(self._entries)


def _footprint(key: tuple[str, ...], body: bytes, sources: tuple[tuple[str, float], ...]) -> int:
    """Bytes an entry holds: its objects' own sizes plus the measured overheads."""
    strings = sum(map(sys.getsizeof, key)) + sum(sys.getsizeof(source) for source, _ in sources)
    return sys.getsizeof(body) + strings + ENTRY_OVERHEAD + SOURCE_OVERHEAD * len(sources)

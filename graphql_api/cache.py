"""The upstream page cache: aiocache storage behind a small interface of our own.

What aiocache lacks is built here, small:

- **Caller identity in every key**: an HMAC-SHA256 of the upstream token under the server secret,
  never the token, so one caller's page is never served to another.
- **Bounds** for the memory store: entries and bytes (least recently used out first).
- **Single-flight**: concurrent identical misses share one upstream request. The fetch runs as
  its own task, so a caller that goes away does not cancel it for the others; a failure reaches
  every waiter at once and is not cached.
- **Freshness**: a page is fresh for ``fresh_ttl`` (less up to ``jitter`` of it, so keys do not
  expire together), then stale for ``stale_ttl`` more: a stale page is served at once, marked
  stale, while one background refresh runs. If the refresh fails the stale page keeps being
  served until its window ends, except on 401/403: those drop the page (an auth failure is
  never answered from the cache).
- **Pin metrics**: a page fetched with metrics also serves requests without them.

It holds pages and, for entity lookups, single Pins; and the catalog graph's values (pages of
catalogs, feeds or product groups, feeds, product groups, product counts, filter values: see
:data:`Cached`). Stores keep :class:`Entry` objects: the memory store by reference (values are
frozen models, so no caller can change a cached value, and a hit costs a dict lookup), Redis as
bytes (a JSON header naming the kind of value, then MessagePack: :mod:`graphql_api.cache_forms`).

**Two tiers with Redis** (:class:`RedisStore`): Redis holds every replica's entries (a JSON
header, then MessagePack); in front of it each process keeps parsed copies of the entries it
stored or read (a :class:`MemoryStore` bounded by ``GRAPHQL_API_CACHE_MAX_BYTES`` and
``..._MAX_ENTRIES``; 0 bytes: no copies, every hit reads Redis), so a hit on a page this
replica holds costs what a memory hit costs. The rules that keep replicas coherent:

- *Never past the window*: freshness and stale windows are absolute wall-clock times in the
  entry, the same on every replica; a copy is served without Redis only while it is fresh, and
  a copy past its freshness is checked against Redis first (the same version is kept without
  parsing it again; a newer one replaces it).
- *Refreshes reach every replica*: storing an entry publishes ``"<version> <key>"`` on the
  ``graphql_api:cache`` channel; every replica drops an older copy at once (the next hit reads
  Redis). Without the message, the previous rule bounds it by the copy's freshness.
- *Drops reach every replica*: a 401/403 deletes the entry in Redis and publishes ``"inf
  <key>"``: every replica drops its copy at once (well within a second). A copy read from Redis
  while a message about its key arrived is not kept.
- *A lost subscription costs the copies*: messages published while a replica was not subscribed
  are lost to it, so until it is subscribed again it serves no copy without asking Redis, and
  once subscribed it drops the copies of Redis' entries it held (read again on the next hit).
- *The response cache follows*: :attr:`PageCache.versions` holds the version of each copy this
  process serves, stored here or read from Redis, and loses it when the copy is evicted, dropped
  or outdated by a message, so a response built from a page another replica fetched is served
  from this replica's response cache and dies with that page.
- Caller isolation, single-flight, stale-while-revalidate and the metrics rule are unchanged:
  keys carry the caller's HMAC, and the tiers only change where an entry is read from.

Why pub/sub: Redis' client-side caching (RESP3 ``CLIENT TRACKING``) would invalidate as fast,
but redis-py offers it (``CacheConfig``) on its synchronous client only, and caches replies (the
JSON, still to parse), not our parsed pages; doing it by hand means RESP3 push messages on every
pooled connection. Key versions alone (a GET of a small version key per hit) would put a Redis
round trip back on every hit. One channel, one message per upstream fetch or drop, is cheap, and
a lost subscription is noticed (an error, or no answer to a PING within an interval) and costs
the copies, rather than leaving them silently stale. Channels are not per database: replicas
of other deployments on the same Redis hear keys they do not hold, a dict lookup each. An ACL
user needs ``+publish``, ``+subscribe`` and the channel (``&graphql_api:cache``).

The Redis store goes through the process's :class:`~graphql_api.redis_link.RedisLink`: while
Redis is away (or for a key Redis does not hold) it serves from, and stores into, the process's
store, so an outage costs no more upstream requests than ``memory://`` does. Pages stored during
an outage stay in that process (they are not copied to Redis when it is back; there they are
served where Redis has no copy or an older one); a page dropped on 401/403 while Redis is away is
deleted from Redis (and the deletion published) when it is back.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import math
import random
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, Protocol, TypeVar

import orjson
from aiocache import RedisCache, SimpleMemoryCache
from aiocache.serializers import NullSerializer

from graphql_api.cache_forms import Cached, dump, load
from graphql_api.errors import UpstreamForbidden, UpstreamUnauthorized
from graphql_api.redis_link import RedisLink
from graphql_api.throttle import uncounted
from graphql_api.upstream.models import footprint
from graphql_api.upstream.resilience import SYSTEM

__all__ = [
    "Cached",
    "Entry",
    "Lookup",
    "MemoryStore",
    "PageCache",
    "RedisStore",
    "Store",
    "TierCounts",
]

_log = logging.getLogger("graphql_api.cache")
CHANNEL = b"graphql_api:cache"  # what replicas tell each other: "<version> <key>", "inf <key>"
V = TypeVar("V", bound=Cached)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entry:
    value: Cached
    stored_at: float  # wall-clock seconds, comparable across replicas
    fresh_until: float
    stale_until: float
    metrics: bool  # fetched with pin_metrics=true


CacheOutcome = Literal["hit", "stale", "miss", "join"]


@dataclass(frozen=True, slots=True)
class Lookup(Generic[T]):
    """A value from the cache, how stale and old it is, and which entry it came from (or a
    part of one: a catalog picked from a cached page of catalogs)."""

    value: T
    stale: bool
    age: float  # seconds since the upstream sent it
    key: str = ""
    version: float = 0.0  # the entry's stored_at: it changes when the entry is replaced
    fresh_until: float = 0.0
    # How the lookup went: fresh, stale (refreshed in the background), fetched, or joined a
    # fetch already under way (single flight). Traces show it (graphql_api.tracing).
    outcome: CacheOutcome = "hit"


class Store(Protocol):
    async def get(self, key: str) -> Entry | None: ...
    async def set(self, key: str, entry: Entry, ttl: float) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class MemoryStore:
    """aiocache's ``SimpleMemoryCache`` (values by reference), bounded by entries and, when
    ``max_bytes`` is given, by bytes: :func:`~graphql_api.upstream.models.footprint` of each
    value, counted once when it is stored. Least recently used out first; a value larger than
    ``max_bytes`` is not kept (and an older copy under its key goes). :attr:`nbytes` is the
    total held. An entry aiocache expired by itself is counted until it is looked up or
    reaches the end of the order (the count errs high, never low). :attr:`found`,
    :attr:`absent` and :attr:`evicted` count lookups and evictions for the metrics."""

    def __init__(self, max_entries: int, *, max_bytes: int | None = None) -> None:
        # timeout=None: no asyncio.wait_for (a task per call) around a dict lookup.
        self.backend = SimpleMemoryCache(timeout=None)
        self.on_evict: Callable[[str], None] = lambda key: None
        self.nbytes = 0
        self.found = 0  # lookups that found an entry
        self.absent = 0  # ... and that did not
        self.evicted = 0  # entries that went to respect the bounds
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._sizes: OrderedDict[str, int] = OrderedDict()  # least recently used first

    async def get(self, key: str) -> Entry | None:
        entry: Entry | None = await self.backend.get(key)
        if entry is None:
            self.absent += 1
            self.nbytes -= self._sizes.pop(key, 0)
        else:
            self.found += 1
            self._sizes.move_to_end(key)
        return entry

    async def set(self, key: str, entry: Entry, ttl: float) -> None:
        size = footprint(entry.value)
        if self._max_bytes is not None and size > self._max_bytes:
            if key in self._sizes:
                await self.delete(key)
            self.on_evict(key)
            return
        await self.backend.set(key, entry, ttl=ttl)
        self.nbytes += size - self._sizes.pop(key, 0)
        self._sizes[key] = size
        while len(self._sizes) > self._max_entries or (
            self._max_bytes is not None and self.nbytes > self._max_bytes
        ):
            oldest, size = self._sizes.popitem(last=False)
            self.nbytes -= size
            self.evicted += 1
            await self.backend.delete(oldest)
            self.on_evict(oldest)

    async def delete(self, key: str) -> None:
        self.nbytes -= self._sizes.pop(key, 0)
        await self.backend.delete(key)

    def __contains__(self, key: str) -> bool:
        return key in self._sizes

    def __iter__(self) -> Iterator[str]:
        """The keys held, least recently used first (a copy: the store may change meanwhile)."""
        return iter(list(self._sizes))

    def __len__(self) -> int:
        return len(self._sizes)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._sizes.clear()
        self.nbytes = 0
        await self.backend.clear()


class _Away(enum.Enum):
    AWAY = "away"  # what an operation answers while Redis is unavailable


AWAY = _Away.AWAY


@dataclass(slots=True)
class TierCounts:
    """What a :class:`RedisStore`'s lookups found where, and what happened to its copies
    (plain integers, read by the metrics when Prometheus scrapes)."""

    # Lookups, by the tier that answered: the process (a copy here, trusted fresh, checked
    # against Redis, or served alone while Redis is away) or Redis (read and parsed); absent:
    # neither had an entry (Redis' answer, or the process' while Redis is away).
    process_found: int = 0
    process_absent: int = 0
    redis_found: int = 0
    redis_absent: int = 0
    # Copies checked against Redis: the same version (kept, not parsed again), a newer one
    # (replaced), none (gone: dropped here).
    kept: int = 0
    replaced: int = 0
    gone: int = 0
    # Copies dropped on a message: a replica stored a newer version, or dropped the entry
    # (401/403); and copies dropped when the subscription was confirmed again.
    newer: int = 0
    dropped: int = 0
    resubscribed: int = 0


class RedisStore:
    """Two tiers: parsed copies in this process (a :class:`MemoryStore` bounded by
    ``max_entries`` and ``max_bytes``; none when ``max_bytes`` is 0) in front of aiocache's
    ``RedisCache`` on the process's Redis link, which holds entries as bytes for every replica.
    The process's store also keeps what is stored while Redis is away. The coherence rules are
    in the module's docstring; :attr:`counts` says where lookups were answered (metrics)."""

    # Keys dropped (401/403) while Redis was away, deleted from Redis when it is back.
    _MAX_DROPPED = 10_000
    # Keys a message was heard about, while reads may be under way (past it: forgotten, and
    # every read under way counts as overtaken).
    _MAX_HEARD = 10_000

    def __init__(self, redis: RedisLink, *, max_entries: int, max_bytes: int = 0) -> None:
        # timeout=None: the link bounds every operation; the link owns the client.
        self.backend = RedisCache(serializer=NullSerializer(encoding=None), timeout=None)
        self.backend.client = redis.client  # bytes in, bytes out
        self.local = MemoryStore(max_entries, max_bytes=max_bytes or None)
        self.local.on_evict = self._evicted
        # Set by the page cache: its clock (the system's until then), and what to do when this
        # process no longer holds a key's entry, or when a replica stored a newer one.
        self.clock: Callable[[], float] = SYSTEM.wall
        self.on_evict: Callable[[str], None] = lambda key: None
        self.on_newer: Callable[[str, float], None] = lambda key, version: None
        self._tiered = max_bytes > 0
        self._redis = redis
        self._dropped: OrderedDict[str, None] = OrderedDict()
        self._only_here: set[str] = set()  # held here, not in Redis (stored while it was away)
        self._live = False  # subscribed: no message can be missed
        self._epoch = 0  # changes when the subscription is confirmed or lost
        self._heard = 0  # messages heard so far
        self._last_heard: dict[str, tuple[int, float]] = {}  # key -> (message number, version)
        self._tasks: set[asyncio.Task[None]] = set()
        self._answered = asyncio.Event()  # the first attempt to subscribe succeeded or failed
        self.counts = TierCounts()
        redis.on_up(self._delete_dropped)
        redis.subscribe(CHANNEL, self._hear, self._listening)

    async def get(self, key: str) -> Entry | None:
        if self._live and self._tiered:
            entry = await self.local.get(key)
            fresh = entry is not None and self.clock() < entry.fresh_until
            if fresh and key not in self._only_here:
                self.counts.process_found += 1
                return entry  # fresh, and no replica said otherwise: no Redis round trip
        counts = self.counts
        if key in self._dropped and not await self._delete_shared(key):
            return self._here(await self.local.get(key))
        mark = self._epoch, self._heard
        data = await self._redis.run(lambda: self.backend.get(key), AWAY, name="cache_get")
        mine = await self.local.get(key) if len(self.local) else None
        if isinstance(data, bytes):
            try:
                # The same version as ours (not parsed again), or an older one: a Redis that
                # hung holds what it had, and a copy fetched here since is newer.
                if mine is not None and mine.stored_at >= _stored_at(data):
                    counts.kept += 1
                    return self._here(mine)
                shared = _decode(data)
            except (ValueError, KeyError, TypeError):  # not ours, or from another version
                _log.debug("unreadable cache entry in Redis: ignored")
            else:
                if mine is not None:
                    counts.replaced += 1
                if self._tiered and self._untouched(mark, key, shared):
                    await self._keep(key, shared)
                counts.redis_found += 1
                return shared
            if mine is None:
                counts.redis_absent += 1
                return None
            return self._here(mine)
        if data is AWAY or key in self._only_here:
            return self._here(mine)  # Redis is away, or never had it
        if mine is not None:  # Redis no longer holds what we copied: dropped, expired, evicted
            counts.gone += 1
            await self._discard(key)
        counts.redis_absent += 1
        return None

    def _here(self, entry: Entry | None) -> Entry | None:
        """``entry``, the process' answer to a lookup, counted."""
        if entry is None:
            self.counts.process_absent += 1
        else:
            self.counts.process_found += 1
        return entry

    async def set(self, key: str, entry: Entry, ttl: float) -> None:
        if self._redis.available:
            blob = _encode(entry)
            # A float: aiocache sends PSETEX (ms) for it, redis-py's deprecated SETEX for an int.
            ttl = float(ttl)
            notice = f"{entry.stored_at!r} {key}".encode()
            mark = self._epoch, self._heard

            async def share() -> None:
                await self.backend.set(key, blob, ttl=ttl)
                await self._redis.client.publish(CHANNEL, notice)

            if await self._redis.run(share, AWAY, name="cache_set") is not AWAY:
                self._only_here.discard(key)
                if self._tiered and self._untouched(mark, key, entry):
                    await self.local.set(key, entry, ttl)
                else:
                    await self.local.delete(key)  # Redis holds the newer entry
                return
        else:
            self._redis.skip("cache_set")
        self._only_here.add(key)
        await self.local.set(key, entry, ttl)

    async def delete(self, key: str) -> None:
        await self.local.delete(key)
        self._only_here.discard(key)
        if not await self._delete_shared(key):
            self._dropped[key] = None
            self._dropped.move_to_end(key)
            while len(self._dropped) > self._MAX_DROPPED:
                self._dropped.popitem(last=False)

    async def _delete_shared(self, key: str) -> bool:
        """Delete ``key`` in Redis and tell every replica; whether that was done."""
        notice = f"inf {key}".encode()

        async def drop() -> None:
            await self.backend.delete(key)
            await self._redis.client.publish(CHANNEL, notice)

        if await self._redis.run(drop, AWAY, name="cache_delete") is AWAY:
            return False
        self._dropped.pop(key, None)
        return True

    async def _delete_dropped(self) -> None:
        for key in list(self._dropped):
            if not await self._delete_shared(key):
                return

    async def _keep(self, key: str, entry: Entry) -> None:
        ttl = entry.stale_until - self.clock()
        if ttl > 0:
            await self.local.set(key, entry, ttl)

    async def _discard(self, key: str) -> None:
        await self.local.delete(key)
        self._evicted(key)

    def _evicted(self, key: str) -> None:
        self._only_here.discard(key)
        self.on_evict(key)

    def _untouched(self, mark: tuple[int, int], key: str, entry: Entry) -> bool:
        """Whether ``entry``, read or stored since ``mark``, may be kept here: the subscription
        stayed as it was and no message since said the key was dropped or holds a newer one."""
        epoch, heard = mark
        number, version = self._last_heard.get(key, (0, 0.0))
        return self._epoch == epoch and (number <= heard or version <= entry.stored_at)

    # Called on the service's loop by the link's subscription:

    def _hear(self, data: bytes) -> None:
        """``"<version> <key>"``: a replica stored that version; ``"inf <key>"``: dropped."""
        version_text, _, key = data.decode("utf-8", "replace").partition(" ")
        try:
            version = float(version_text)
        except ValueError:
            return  # not ours
        self._heard += 1
        if len(self._last_heard) >= self._MAX_HEARD:
            self._last_heard.clear()
            self._epoch += 1  # reads under way can no longer be told apart: none is kept
        self._last_heard[key] = (self._heard, version)
        self.on_newer(key, version)
        if key in self.local:
            self._spawn(self._outdate(key, version))

    async def _outdate(self, key: str, version: float) -> None:
        entry = await self.local.get(key)
        if entry is not None and entry.stored_at < version:
            if version == math.inf:
                self.counts.dropped += 1
            else:
                self.counts.newer += 1
            await self._discard(key)

    @property
    def live(self) -> bool:
        """Subscribed to the replicas' messages: no message can be missed."""
        return self._live

    @property
    def heard(self) -> int:
        """Messages heard from the replicas (ours included) so far."""
        return self._heard

    @property
    def epoch(self) -> int:
        """How many times the subscription was confirmed or lost (it moves on with each)."""
        return self._epoch

    async def subscribed(self) -> None:
        """Wait for the first attempt to subscribe (the caller bounds the wait): a service
        starting up lets it connect before its first requests need Redis."""
        await self._answered.wait()

    def _listening(self, live: bool) -> None:
        self._answered.set()
        self._live = False
        self._epoch += 1
        if live:
            self._spawn(self._trust())

    async def _trust(self) -> None:
        """Subscribed (again): copies of Redis' entries held before may have missed a message;
        they go, then copies are served again without asking Redis."""
        epoch = self._epoch
        for key in self.local:
            if key not in self._only_here:
                self.counts.resubscribed += 1
                await self._discard(key)
        if epoch == self._epoch:
            self._live = True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ping(self) -> bool:
        return await self._redis.ping()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.local.close()  # the link is closed by its owner


def _encode(entry: Entry) -> bytes:
    kind, body = dump(entry.value)
    meta = {
        "k": kind,
        "t": entry.stored_at,
        "f": entry.fresh_until,
        "s": entry.stale_until,
        "m": entry.metrics,
    }
    return orjson.dumps(meta) + b"\n" + body


def _stored_at(data: bytes) -> float:
    """The version of an encoded entry, without reading its value."""
    stored_at: float = orjson.loads(data.partition(b"\n")[0])["t"]
    return stored_at


def _decode(data: bytes) -> Entry:
    head, _, body = data.partition(b"\n")
    meta = orjson.loads(head)
    value = load(meta["k"], body)
    return Entry(value, meta["t"], meta["f"], meta["s"], meta["m"])


async def _fetched(
    fetch: Callable[[list[str]], Awaitable[Mapping[str, Any]]], keys: list[str]
) -> Mapping[str, Any]:
    return await fetch(keys)


async def _picked(batch: asyncio.Task[Mapping[str, Any]], key: str) -> Any:
    """``key``'s value in a batch's answer (its error raised); shielded: a key's load that is
    cancelled does not cancel the batch the other keys wait for."""
    value = (await asyncio.shield(batch))[key]
    if isinstance(value, Exception):
        raise value
    return value


def _lookup(key: str, entry: Entry, outcome: CacheOutcome, *, age: float) -> Lookup[Any]:
    stale = outcome == "stale"
    return Lookup(entry.value, stale, age, key, entry.stored_at, entry.fresh_until, outcome)


class PageCache:
    def __init__(
        self,
        store: Store,
        *,
        secret: bytes,
        fresh_ttl: float,
        stale_ttl: float,
        jitter: float = 0.1,
        clock: Callable[[], float] = SYSTEM.wall,  # the app passes its Timer.wall
        rng: Callable[[], float] = random.random,
        max_versions: int = 100_000,
    ) -> None:
        self.store = store
        self._secret = secret
        self._fresh_ttl = fresh_ttl
        self._stale_ttl = stale_ttl
        self._jitter = jitter
        self._clock = clock
        self._rng = rng
        self._inflight: dict[tuple[str, bool], asyncio.Task[Entry]] = {}
        # The version (stored_at) of each entry this process stored and still holds: what a
        # response built from those entries was built from (see graphql_api.response_cache).
        # Bounded whatever the store: a version goes when its entry is evicted from memory or
        # its freshness ends (no response kept by the response cache outlives that), and past
        # ``max_versions`` the oldest go (a forgotten version only costs a response-cache miss).
        self.versions: dict[str, float] = {}
        self._fresh_until: OrderedDict[str, float] = OrderedDict()  # by time of storing
        self._max_versions = max_versions
        if isinstance(store, MemoryStore):
            store.on_evict = self._forget
        elif isinstance(store, RedisStore):
            store.on_evict = self._forget
            store.on_newer = self._outdated
            store.clock = clock
        # hits, stale, misses, joins (a miss that waited for a fetch already under way)
        self.stats: Counter[str] = Counter()

    def _forget(self, key: str) -> None:
        self.versions.pop(key, None)
        self._fresh_until.pop(key, None)

    def _outdated(self, key: str, version: float) -> None:
        if self.versions.get(key, version) < version:
            self._forget(key)

    def _remember(self, key: str, entry: Entry) -> None:
        self.versions[key] = entry.stored_at
        self._fresh_until[key] = entry.fresh_until
        self._fresh_until.move_to_end(key)
        # Stored in time order, so the first are the first to end (give or take the jitter).
        oldest = next(iter(self._fresh_until.items()), None)
        while oldest is not None and (
            oldest[1] <= entry.stored_at or len(self._fresh_until) > self._max_versions
        ):
            self._forget(oldest[0])
            oldest = next(iter(self._fresh_until.items()), None)

    def identity(self, token: str) -> str:
        """The caller's identity in keys: an HMAC of the token, never the token itself."""
        return hmac.new(self._secret, token.encode(), hashlib.sha256).hexdigest()[:32]

    def key(self, token: str, kind: str, *parts: object) -> str:
        """``kind:caller:parts...``; ``caller`` is the HMAC of the token."""
        return ":".join([kind, self.identity(token), *map(str, parts)])

    async def get(self, key: str, fetch: Callable[[], Awaitable[V]], *, metrics: bool) -> Lookup[V]:
        """The value at ``key``: cached (fresh or stale), or fetched once for all waiters."""
        entry = await self.store.get(key)
        now = self._clock()
        if entry is not None and (entry.metrics or not metrics):
            age = max(0.0, now - entry.stored_at)
            if now < entry.fresh_until:
                self.stats["hits"] += 1
                if self.versions.get(key) != entry.stored_at:  # a copy of a replica's
                    self._remember(key, entry)
                return _lookup(key, entry, "hit", age=age)
            if now < entry.stale_until:
                self.stats["stale"] += 1
                # Refreshed in the background: counted into no request's cost (this one
                # does not wait for it).
                self._start(key, fetch, metrics, background=True)
                return _lookup(key, entry, "stale", age=age)
        self.stats["misses"] += 1
        # A request without metrics may join a fetch with them: that page serves it too.
        task = None if metrics else self._inflight.get((key, True))
        outcome: CacheOutcome
        if task is None:
            outcome = "join" if (key, metrics) in self._inflight else "miss"
            task = self._start(key, fetch, metrics)
        else:
            self.stats["joins"] += 1
            outcome = "join"
        return _lookup(key, await asyncio.shield(task), outcome, age=0.0)

    async def get_many(
        self,
        keys: Sequence[str],
        fetch: Callable[[list[str]], Awaitable[Mapping[str, V | Exception]]],
    ) -> dict[str, Lookup[V] | Exception]:
        """The values at ``keys`` (without metrics), each key's as :meth:`get` would have it,
        the misses fetched together: one ``fetch(missing keys)`` answers each key with its value
        or its error. A key whose fetch is under way (a :meth:`get`, another batch) joins it
        instead; each fetched value is stored under its own key, where :meth:`get` finds it;
        an error is not cached. Stale values are served, and refreshed by one batch in the
        background."""
        wanted = list(dict.fromkeys(keys))
        # One after the other, as get() looks up: from memory, without yielding to the loop,
        # so no fetch of these keys can start and end between a lookup and the batch's start.
        entries = [await self.store.get(key) for key in wanted]
        now = self._clock()
        results: dict[str, Lookup[V] | Exception] = {}
        stale, missing = [], []
        for key, entry in zip(wanted, entries, strict=True):
            if entry is not None and now < entry.stale_until:
                age = max(0.0, now - entry.stored_at)
                if now < entry.fresh_until:
                    self.stats["hits"] += 1
                    if self.versions.get(key) != entry.stored_at:
                        self._remember(key, entry)
                    results[key] = _lookup(key, entry, "hit", age=age)
                else:
                    self.stats["stale"] += 1
                    results[key] = _lookup(key, entry, "stale", age=age)
                    stale.append(key)
            else:
                self.stats["misses"] += 1
                missing.append(key)
        if stale:
            self._start_batch(stale, fetch, background=True)
        tasks = self._start_batch(missing, fetch, background=False)
        done = await asyncio.gather(
            *(asyncio.shield(task) for task, _ in tasks.values()), return_exceptions=True
        )
        for (key, (_, outcome)), answer in zip(tasks.items(), done, strict=True):
            if isinstance(answer, Entry):
                results[key] = _lookup(key, answer, outcome, age=0.0)
            elif isinstance(answer, Exception):
                results[key] = answer
            else:  # cancelled: the cache is closing
                raise answer
        return {key: results[key] for key in wanted}

    def _start_batch(
        self,
        keys: list[str],
        fetch: Callable[[list[str]], Awaitable[Mapping[str, V | Exception]]],
        *,
        background: bool,
    ) -> dict[str, tuple[asyncio.Task[Entry], CacheOutcome]]:
        """A task per key, loading it from one batch ``fetch`` of the keys no fetch is under way
        for (those join theirs)."""
        tasks: dict[str, tuple[asyncio.Task[Entry], CacheOutcome]] = {}
        batch: list[str] = []
        for key in keys:
            task = self._inflight.get((key, True)) or self._inflight.get((key, False))
            if task is not None:
                self.stats["joins"] += 1
                tasks[key] = task, "join"
            else:
                batch.append(key)
        if batch:
            context = uncounted() if background else None
            fetched = asyncio.create_task(_fetched(fetch, batch), context=context)
            for key in batch:
                pick = partial(_picked, fetched, key)
                tasks[key] = self._start(key, pick, False, background=background), "miss"
        return tasks

    def _start(
        self,
        key: str,
        fetch: Callable[[], Awaitable[Cached]],
        metrics: bool,
        *,
        background: bool = False,
    ) -> asyncio.Task[Entry]:
        task = self._inflight.get((key, metrics))
        if task is not None:
            self.stats["joins"] += 1
        else:
            # The task copies the request's context: its upstream requests count into the
            # request that started it (graphql_api.throttle), unless in the background.
            context = uncounted() if background else None
            task = asyncio.create_task(self._load(key, fetch, metrics), context=context)
            self._inflight[key, metrics] = task
            task.add_done_callback(lambda done: self._settle(key, metrics, done))
        return task

    async def _load(self, key: str, fetch: Callable[[], Awaitable[Cached]], metrics: bool) -> Entry:
        try:
            value = await fetch()
        except (UpstreamUnauthorized, UpstreamForbidden):
            self._forget(key)
            await self.store.delete(key)  # never answer an auth failure from the cache
            raise
        now = self._clock()
        fresh = self._fresh_ttl * (1 - self._jitter * self._rng())
        ttl = fresh + self._stale_ttl
        entry = Entry(value, now, now + fresh, now + ttl, metrics)
        self._remember(key, entry)  # before storing: a store that cannot keep it forgets it
        await self.store.set(key, entry, ttl)
        return entry

    def _settle(self, key: str, metrics: bool, task: asyncio.Task[Entry]) -> None:
        self._inflight.pop((key, metrics), None)
        if not task.cancelled() and (error := task.exception()) is not None:
            # Retrieved here, so a background refresh nobody awaits does not warn.
            _log.debug("upstream fetch failed: %s", type(error).__name__)

    async def ping(self) -> bool:
        """Whether the store answers (``/readyz``)."""
        return await self.store.ping()

    @property
    def in_process(self) -> MemoryStore:
        """The entries this process holds: the memory store, or a Redis store's local tier."""
        store = self.store
        local = store.local if isinstance(store, RedisStore) else store
        assert isinstance(local, MemoryStore)
        return local

    @property
    def fetches(self) -> int:
        """Upstream fetches under way (background refreshes included)."""
        return len(self._inflight)

    async def settle(self) -> None:
        """Until no upstream fetch is under way, background refreshes included (tests; bound
        it with a timeout)."""
        while self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)
            await asyncio.sleep(0)  # their done callbacks run

    async def close(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        await self.store.close()

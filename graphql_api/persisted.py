"""Persisted queries: Apollo's automatic persisted queries (APQ: a client sends the sha256 of a
query, and the query itself only the first time) and an optional allow-list of operations (an
Apollo persisted query manifest) outside of which nothing runs."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path

import orjson

from graphql_api.redis_link import RedisLink

__all__ = ["AutomaticPersistedQueries", "load_manifest", "sha256"]


_REDIS_TTL = 7 * 24 * 3600  # seconds a registered query is kept in Redis


def sha256(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class AutomaticPersistedQueries:
    """Query texts by hash: a bounded LRU in the process, and Redis too when it is configured
    (so a query registered on one replica is known to all). While Redis is away, a lookup it
    would answer is a miss (the client sends the query again) and a registration stays here."""

    def __init__(self, max_entries: int = 2000, redis: RedisLink | None = None) -> None:
        self._local: OrderedDict[str, str] = OrderedDict()
        self._max_entries = max_entries
        self._redis = redis

    async def get(self, digest: str) -> str | None:
        query = self._local.get(digest)
        if query is None and self._redis is not None:
            client = self._redis.client
            stored = await self._redis.run(
                lambda: client.get(f"apq:{digest}"), None, name="apq_get"
            )
            query = stored.decode(errors="replace") if isinstance(stored, bytes) else None
            if query is not None and sha256(query) == digest:
                self._remember(digest, query)
            else:
                query = None
        elif query is not None:
            self._local.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._remember(digest, query)
        if self._redis is not None:
            client = self._redis.client
            await self._redis.run(
                lambda: client.set(f"apq:{digest}", query, ex=_REDIS_TTL), None, name="apq_set"
            )

    def _remember(self, digest: str, query: str) -> None:
        self._local[digest] = query
        self._local.move_to_end(digest)
        while len(self._local) > self._max_entries:
            self._local.popitem(last=False)

    async def close(self) -> None:
        return None  # the Redis link is closed by its owner


def load_manifest(path: Path) -> dict[str, str]:
    """Operations by sha256 from an Apollo persisted query manifest
    (``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}, ...]}``).
    Each id must be the sha256 of its body: a mismatch stops the service at startup."""
    manifest = orjson.loads(path.read_bytes())
    if manifest.get("format") != "apollo-persisted-query-manifest":
        raise ValueError(f"{path}: not an Apollo persisted query manifest")
    operations: dict[str, str] = {}
    for operation in manifest.get("operations", []):
        body = operation["body"]
        if operation["id"] != sha256(body):
            raise ValueError(f"{path}: operation {operation.get('name')!r}: id is not its sha256")
        operations[operation["id"]] = body
    return operations

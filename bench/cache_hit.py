"""Cost of a page-cache hit in process (memory store), a full page of 250 demo products, against
parsing the same page.

    python -m bench.cache_hit

Run by hand (not a test); its figure is quoted in docs/caching.md.
"""

from __future__ import annotations

import asyncio
import time

from graphql_api.cache import MemoryStore, PageCache
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.models import Page, parse_page

PAGE = parse_page({"items": build_catalog(250)})


async def main(rounds: int = 100_000) -> None:
    cache = PageCache(MemoryStore(max_entries=10), secret=b"k" * 32, fresh_ttl=60, stale_ttl=300)

    async def fetch() -> Page:
        return PAGE

    await cache.get("key", fetch, metrics=False)
    start = time.perf_counter()
    for _ in range(rounds):
        await cache.get("key", fetch, metrics=False)
    per_hit = (time.perf_counter() - start) / rounds
    raw = {"items": build_catalog(250)}
    start = time.perf_counter()
    for _ in range(20):
        parse_page(raw)
    per_parse = (time.perf_counter() - start) / 20
    print(f"memory hit: {per_hit * 1e6:.1f} µs; parsing the same page: {per_parse * 1e3:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())

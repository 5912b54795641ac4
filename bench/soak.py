"""The soak: many callers and pages for minutes, memory sampled; it must stay flat after warm-up.

    python -m bench.soak [--minutes 3] [--store memory,redis] [--callers 300] [--accounts 50]

For each store, starts the fake upstream, a redis-server of its own (``redis`` store), and the
service through its CLI (``python -m graphql_api serve``) pinned to the first core, with short
cache lifetimes so entries keep expiring and being replaced. A client on the other core sends
product listings (a random caller, ad account and offset each: thousands of distinct pages and
responses) and Pin lookups, some with a token the upstream refuses. The service's resident memory
is sampled every few seconds; the report gives it after warm-up (the first third) and its slope.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.run import CLIENT_CPU, QUERY, SERVICE_CPU, _free_port, _process, redis_server
from graphql_api.pagination import Position, encode_cursor
from graphql_api.service import Listing

PIN_QUERY = "query Pin($id: ID!) { pin(id: $id) { id title } }"


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
    )
    return kilobytes / 1024


async def _load(service: str, stop_at: float, callers: int, accounts: int) -> dict[str, int]:
    counts = {"requests": 0, "errors": 0, "internal": 0}
    async with httpx.AsyncClient(base_url=service, timeout=30) as client:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                caller = random.randrange(callers)
                account = str(10**9 + random.randrange(accounts))
                if random.random() < 0.2:
                    body = {"query": PIN_QUERY, "variables": {"id": str(random.randrange(10**6))}}
                else:
                    key = Listing(
                        "product_group_products", product_group_id="1", ad_account_id=account
                    ).key
                    offset = random.randrange(0, 1000, 25)
                    after = encode_cursor(Position(None, offset), query=key, page_size=250)
                    body = {
                        "query": QUERY,
                        "variables": {
                            "first": 25,
                            "after": after if offset else None,
                            "account": account,
                        },
                    }
                response = await client.post(
                    "/graphql", json=body, headers={"Authorization": f"Bearer soak-{caller}"}
                )
                counts["requests"] += 1
                counts["errors"] += b'"errors"' in response.content
                counts["internal"] += b"INTERNAL_SERVER_ERROR" in response.content

        await asyncio.gather(*(worker() for _ in range(16)))
    return counts


def soak(store: str, minutes: float, callers: int, accounts: int) -> str:
    upstream_port, service_port = _free_port(), _free_port()
    upstream, service = f"http://127.0.0.1:{upstream_port}", f"http://127.0.0.1:{service_port}"
    # Not formatted: the command line as one would type it.
    upstream_argv = [sys.executable, "-m", "uvicorn", "--factory", "--log-level", "warning",
                     "--port", str(upstream_port), "bench.servers:upstream"]  # fmt: skip
    service_argv = [sys.executable, "-m", "graphql_api", "serve", "--port", str(service_port)]
    service_env = {
        "PINTEREST_API_BASE_URL": f"{upstream}/v5",
        "GRAPHQL_API_SECRET": "soak-secret",
        "GRAPHQL_API_LOG_LEVEL": "warning",
        "GRAPHQL_API_CACHE_TTL": "5",
        "GRAPHQL_API_CACHE_STALE_TTL": "5",
        "GRAPHQL_API_UPSTREAM_MAX_CONCURRENCY_PER_TOKEN": "64",
    }
    with (
        redis_server() if store == "redis" else _nothing() as redis_url,
        _process(
            upstream_argv, {"BENCH_UPSTREAM_LATENCY": "0.005"}, CLIENT_CPU, f"{upstream}/_stats"
        ),
        _process(
            service_argv,
            {**service_env, "GRAPHQL_API_CACHE_URL": redis_url},
            SERVICE_CPU,
            f"{service}/healthz",
        ) as pids,
    ):
        samples: list[tuple[float, float]] = []
        started = time.monotonic()
        stop_at = started + minutes * 60

        async def load_and_sample() -> dict[str, int]:
            """The load, with the service's memory sampled every 5 s until it ends."""
            task = asyncio.create_task(_load(service, stop_at, callers, accounts))
            while not task.done():
                samples.append((time.monotonic() - started, _rss_mb(pids[0])))
                await asyncio.wait({task}, timeout=5)
            return task.result()

        counts = asyncio.run(load_and_sample())
    after = [(t, rss) for t, rss in samples if t >= minutes * 60 / 3]
    n = len(after)
    mean_t = sum(t for t, _ in after) / n
    mean_r = sum(r for _, r in after) / n
    slope = sum((t - mean_t) * (r - mean_r) for t, r in after) / max(
        1e-9, sum((t - mean_t) ** 2 for t, _ in after)
    )
    return (
        f"| {store} | {minutes:g} | {counts['requests']:,} | {counts['internal']} | "
        f"{samples[0][1]:.0f} | {min(r for _, r in after):.0f} | {max(r for _, r in after):.0f} | "
        f"{slope * 60:+.2f} |"
    )


@contextmanager
def _nothing() -> Iterator[str]:
    yield "memory://"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--store", default="memory,redis")
    parser.add_argument("--callers", type=int, default=300)
    parser.add_argument("--accounts", type=int, default=50)
    args = parser.parse_args()
    os.chdir(Path(__file__).parents[1])
    print(
        "| store | minutes | requests | INTERNAL_SERVER_ERROR | RSS at start (MB) | "
        "min RSS after warm-up | max RSS after warm-up | slope after warm-up (MB/min) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for store in args.store.split(","):
        print(soak(store, args.minutes, args.callers, args.accounts), flush=True)


if __name__ == "__main__":
    main()

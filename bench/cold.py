"""The cold path in process: the facade's own CPU for a page-cache miss at 250 products, beyond
the upstream's answer.

    python -m bench.cold [--requests 300] [--warmup 50] [--store memory|redis]

Builds the app (``create_app``) over an ``httpx.MockTransport`` that answers every upstream
request at once with the same prebuilt bytes (a 250-product page of the demo catalog, with a
bookmark, as the fake upstream serves it), and drives it through its ASGI interface directly
(no HTTP client, no sockets), one request at a time: each asks for ``first: 250`` of a listing
nobody fetched yet (a new ``adAccountId``), with the response cache off, so each misses the page
cache, fetches, parses, stores, executes and serialises. ``time.process_time`` around each
request (every thread of the process; a redis-server of its own, ``--store redis``, runs in its
own process and is not counted) gives the CPU a request; stages are timed the same way by
wrapping, on this app's objects only, the upstream client's call, the page parse, the page
store's get and set, the executor and ``orjson.dumps`` in ``graphql_api.http``. The mock
transport's own time (building the ``httpx.Response`` around the prebuilt bytes) is measured
and subtracted: it stands for the upstream's answer.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from types import SimpleNamespace
from typing import Any

import httpx
import orjson

import graphql_api.http
from bench.asgi import post
from bench.run import QUERY, redis_server
from graphql_api.app import Resources, create_app
from graphql_api.config import Settings
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest

__all__ = ["main", "measure", "report"]

TOKEN = "bench-cold"
ITEMS = 250
_clock = time.process_time


def prebuilt_page() -> bytes:
    """The upstream's answer for the first 250 products of the 1,000-product demo catalog."""
    fake = FakePinterest(build_catalog(1000))
    request = httpx.Request(
        "GET",
        "http://upstream/v5/catalogs/product_groups/1/products?page_size=250",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    response = fake.handler(request)
    if response.status_code != 200 or b'"bookmark":"' not in response.content:
        raise RuntimeError(f"the fake upstream answered {response.status_code}")
    return response.content


class Stages:
    """CPU seconds of each stage, per request (the current one is ``current``)."""

    def __init__(self) -> None:
        self.current: defaultdict[str, float] = defaultdict(float)
        self.requests: list[dict[str, float]] = []

    def close(self) -> None:
        self.requests.append(dict(self.current))
        self.current.clear()

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        start = _clock()
        try:
            yield
        finally:
            self.current[stage] += _clock() - start

    def wrap_async(
        self, stage: str, function: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timed(stage):
                return await function(*args, **kwargs)

        return timed

    def wrap(self, stage: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timed(stage):
                return function(*args, **kwargs)

        return timed


def _instrument(app: Any, resources: Resources, stages: Stages) -> Callable[[], None]:
    """Stage timers on this app's objects (and ``orjson.dumps`` as ``graphql_api.http`` sees
    it); returns what undoes the last."""
    client: Any = resources.client
    client.list_product_group_products = stages.wrap_async(
        "upstream", client.list_product_group_products
    )
    if hasattr(client, "_page"):  # the parse of the decoded page, where the client has one
        client._page = stages.wrap("parse", client._page)
    store: Any = resources.cache.store
    store.get = stages.wrap_async("cache", store.get)
    store.set = stages.wrap_async("cache", store.set)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/graphql")
    endpoint = inspect.unwrap(route.endpoint).__self__  # under the metrics' timing
    endpoint.executor.run = stages.wrap_async("execute", endpoint.executor.run)
    http_module: Any = graphql_api.http
    http_module.orjson = SimpleNamespace(
        dumps=stages.wrap("serialise", orjson.dumps),
        loads=orjson.loads,
        JSONDecodeError=orjson.JSONDecodeError,
    )

    def undo() -> None:
        http_module.orjson = orjson

    return undo


async def measure(requests: int = 300, warmup: int = 50, cache_url: str = "memory://") -> Stages:
    """CPU a request and its stages, for ``requests`` page-cache misses after ``warmup``."""
    page = prebuilt_page()
    stages = Stages()
    upstream_requests = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal upstream_requests
        with stages.timed("answer"):
            upstream_requests += 1
            return httpx.Response(200, content=page, headers={"content-type": "application/json"})

    settings = Settings(  # no .env file; what matters here set explicitly
        _env_file=None,
        pinterest_api_base_url="http://upstream/v5",
        pinterest_access_token=None,
        cache_url=cache_url,
        secret="bench-cold-secret",
        response_cache=False,
        log_level="warning",
        demo=False,
    )
    app = create_app(settings, transport=httpx.MockTransport(answer))
    async with app.router.lifespan_context(app) as state:
        assert state is not None  # the app's lifespan yields its State
        undo = _instrument(app, state["resources"], stages)
        try:
            for n in range(warmup + requests):
                variables = {"first": ITEMS, "account": str(10**12 + n)}
                body = orjson.dumps({"query": QUERY, "variables": variables})
                start = _clock()
                content = await post(app, state, body, token=TOKEN)
                stages.current["total"] = _clock() - start
                stages.close()
                assert content.count(b'"__typename"') == ITEMS
        finally:
            undo()
    if upstream_requests != warmup + requests:
        raise RuntimeError(f"{upstream_requests} upstream requests for {warmup + requests}")
    stages.requests = stages.requests[warmup:]
    return stages


def _timer_cost() -> float:
    start = time.perf_counter()
    for _ in range(10_000):
        _clock()
    return (time.perf_counter() - start) / 10_000


def render(stages: Stages, store: str) -> str:
    per = stages.requests
    n = len(per)

    def values(stage: str) -> list[float]:
        return [r.get(stage, 0.0) for r in per]

    facade = [r["total"] - r.get("answer", 0.0) for r in per]
    derived = {
        "upstream client + parse (httpx, resilience, JSON decode, page parse)": [
            r.get("upstream", 0.0) - r.get("answer", 0.0) for r in per
        ],
        "of which page parse (PinterestClient._page)": values("parse"),
        "page cache (lookup and store)": values("cache"),
        "execution and projection": [
            r.get("execute", 0.0) - r.get("upstream", 0.0) - r.get("cache", 0.0) for r in per
        ],
        "serialisation (orjson.dumps of the response)": values("serialise"),
        "HTTP and ASGI (middleware, request, response)": [
            r["total"] - r.get("execute", 0.0) - r.get("serialise", 0.0) for r in per
        ],
    }

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.2f}"

    def quantile(data: list[float], q: int) -> float:
        return statistics.quantiles(data, n=10)[q - 1]

    lines = [
        f"Cold path, in process: {n} page-cache misses at {ITEMS} products ({store} store, "
        "response cache off, compiled execution), one at a time through the ASGI app; "
        "CPU (time.process_time) a request.",
        "",
        "| figure | median ms | p90 ms | mean ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {name} | {ms(statistics.median(data))} | {ms(quantile(data, 9))} | "
            f"{ms(statistics.fmean(data))} | {ms(max(data))} |"
            for name, data in (
                ("facade CPU beyond the upstream's answer", facade),
                ("the upstream's answer (the mock transport's response)", values("answer")),
                ("whole request", values("total")),
            )
        ),
        "",
        "| stage | median ms | mean ms | share of the facade's mean |",
        "| --- | ---: | ---: | ---: |",
    ]
    total = statistics.fmean(facade)
    for name, data in derived.items():
        average = statistics.fmean(data)
        lines.append(
            f"| {name} | {ms(statistics.median(data))} | {ms(average)} | {average / total:.0%} |"
        )
    calls = 2 * (len([k for k in per[0] if k != "total"]) + 1)
    lines += [
        "",
        f"- Stages are timed by wrapping the app's objects: about {calls} clock reads a request, "
        f"{_timer_cost() * 1e6:.2f} µs each, in the figures. Stage means add up to the facade's "
        "mean (the parse is part of the upstream client's); medians do not add up.",
    ]
    return "\n".join(lines) + "\n"


def report(requests: int = 300, warmup: int = 50, store: str = "memory") -> str:
    """Measure the cold path and return its markdown tables."""
    with redis_server() if store == "redis" else nullcontext("memory://") as url:
        stages = asyncio.run(measure(requests, warmup, url))
    return render(stages, store)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    args = parser.parse_args()
    print(report(args.requests, args.warmup, args.store))


if __name__ == "__main__":
    main()

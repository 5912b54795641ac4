"""CPU time per /graphql request answered from the page cache, in process: the whole ASGI app
(middleware, endpoint, execution, serialisation) without uvicorn, wrk or a second process, so
a before/after of a request-path change is not drowned by the machine's noise.

    python -m bench.request_cpu [--rounds 5]

Each round builds the app (memory store, no response cache), warms ten callers' pages, then
times requests with ``time.process_time``. Run by hand (not a test); figures in
docs/benchmarks.md. It only drives the ASGI app, so it runs unchanged on older commits (copy
it and bench/asgi.py there to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
import orjson

from bench.asgi import post
from bench.run import QUERY
from graphql_api.app import create_app
from graphql_api.config import Settings
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest

CALLERS = 10  # varied requests: one ad account each, so each its own cache entry


async def _measure(items: int, requests: int) -> float:
    """Milliseconds of CPU per request, for ``items`` products a page."""
    settings = Settings(
        _env_file=None,
        pinterest_access_token="tok",
        response_cache=False,
        log_level="warning",
        secret="x" * 32,
    )
    app = create_app(
        settings, transport=httpx.MockTransport(FakePinterest(build_catalog(600)).handler)
    )
    async with app.router.lifespan_context(app) as lifespan_state:
        state = dict(lifespan_state or {})

        async def one(body: bytes) -> None:
            await post(app, state, body, token="tok")

        variables = [{"first": items, "account": str(10**12 + i)} for i in range(CALLERS)]
        bodies = [orjson.dumps({"query": QUERY, "variables": v}) for v in variables]
        for body in bodies * 2:  # pages cached, documents parsed, plans compiled
            await one(body)
        started = time.process_time()
        for i in range(requests):
            await one(bodies[i % CALLERS])
        return (time.process_time() - started) / requests * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| items | ms CPU per request, each round | best |")
    print("| ---: | --- | ---: |")
    for items, requests in ((25, 400), (250, 150)):
        figures = [asyncio.run(_measure(items, requests)) for _ in range(args.rounds)]
        shown = ", ".join(f"{figure:.3f}" for figure in figures)
        print(f"| {items} | {shown} | {min(figures):.3f} |")


if __name__ == "__main__":
    main()

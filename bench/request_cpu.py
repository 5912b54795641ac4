"""CPU time per /graphql request answered from the page cache, in process: the whole ASGI app
(middleware, endpoint, execution, serialisation) without uvicorn, wrk or a second process, so
a before/after of a request-path change is not drowned by the machine's noise.

    python -m bench.request_cpu [--rounds 5] [--tracing]

Each round builds the app (memory store, no response cache), warms ten callers' pages, then
times requests with ``time.process_time`` (the whole process: the tracing SDK's export thread
too), up to the end of the app's lifespan (so a tracing batch still queued is exported within
the timing). ``--tracing``: each round three times, tracing off, on (``bench.run.TRACING``:
always_on, OTLP/HTTP to a receiver in a process of its own on the other core) and on with one
request in ten sampled. Run by hand (not a test); figures in docs/benchmarks.md. Without
``--tracing`` it only drives the ASGI app, so it runs unchanged on older commits (copy it and
bench/asgi.py there to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def _traced(receiver: str, **more: str) -> Iterator[None]:
    """The OTEL_* variables of bench.run's case t (and ``more``), for the apps built in the
    block."""
    from bench.run import TRACING  # here: the rest runs on commits without it

    environment = {**TRACING, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver, **more}
    os.environ.update(environment)
    try:
        yield
    finally:
        for name in environment:
            del os.environ[name]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--tracing", action="store_true", help="each round off, always_on, 1 in 10 sampled"
    )
    args = parser.parse_args()
    if args.tracing:
        _compare_tracing(args.rounds)
        return
    print("| items | ms CPU per request, each round | best |")
    print("| ---: | --- | ---: |")
    for items, requests in ((25, 400), (250, 150)):
        figures = [asyncio.run(_measure(items, requests)) for _ in range(args.rounds)]
        shown = ", ".join(f"{figure:.3f}" for figure in figures)
        print(f"| {items} | {shown} | {min(figures):.3f} |")


def _compare_tracing(rounds: int) -> None:
    """Tracing off, always_on, one in ten sampled, in turn ``rounds`` times; the best of each
    beside the best off."""
    from bench.run import otlp_receiver, received_spans

    ratio = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    print(
        "| items | tracing off: ms CPU per request | always_on | 1 in 10 sampled "
        "| best always_on / best off | best 1 in 10 / best off |"
    )
    print("| ---: | --- | --- | --- | ---: | ---: |")
    with otlp_receiver() as receiver:
        for items, requests in ((25, 400), (250, 150)):
            off: list[float] = []
            on: list[float] = []
            sampled: list[float] = []
            for _ in range(rounds):
                off.append(asyncio.run(_measure(items, requests)))
                with _traced(receiver):
                    on.append(asyncio.run(_measure(items, requests)))
                with _traced(receiver, **ratio):
                    sampled.append(asyncio.run(_measure(items, requests)))
            shown = [", ".join(f"{figure:.3f}" for figure in run) for run in (off, on, sampled)]
            print(
                f"| {items} | {' | '.join(shown)} | {min(on) / min(off):.2f} "
                f"| {min(sampled) / min(off):.2f} |"
            )
        print(f"\nThe receiver got {received_spans(receiver):,} spans.")


if __name__ == "__main__":
    main()

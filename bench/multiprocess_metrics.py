"""Cost of the metrics of several workers (prometheus_client's multiprocess mode,
graphql_api/multiprocess_metrics.py): one copy of an app's live figures to its files, and a
scrape that reads and sums the files of 2 and 4 workers.

    python -m bench.multiprocess_metrics [--store memory|redis]

Runs itself again with ``PROMETHEUS_MULTIPROC_DIR`` set to a fresh temporary directory
(prometheus_client reads it when first imported). Builds the demo app (``create_app``), serves
queries of several product groups and accounts through its ASGI interface (so every cache,
resilience and, with ``--store redis``, Redis series exists), then times with ``timeit``: the
copy when nothing changed since the last one and when the counters moved (what each worker
does every second and before answering a scrape), and ``GET /metrics``'s body from the
directory holding this process's files copied under other pids (2 and 4 workers; then 4 live
workers and 20 exited ones, whose counter and histogram files stay). Run by hand (not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import timeit
from contextlib import nullcontext
from pathlib import Path

import orjson

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
QUERY = """query($group: ID!, $account: ID) { productGroupProducts(productGroupId: $group,
  first: 25, adAccountId: $account) { nodes { pin { id title } } } }"""


async def copy(store: str) -> None:
    """The copy of an app's live figures, timed."""
    from bench.asgi import post
    from bench.run import redis_server
    from graphql_api.app import create_app
    from graphql_api.config import Settings
    from graphql_api.multiprocess_metrics import Bridge
    from graphql_api.observability import _LiveFigures

    with redis_server(cpu="0") if store == "redis" else nullcontext(None) as url:
        settings = Settings(_env_file=None, demo=True, log_level="warning", secret="bench-secret")
        if url is not None:
            settings = settings.model_copy(update={"cache_url": url})
        app = create_app(settings)
        async with app.router.lifespan_context(app) as state:
            assert state is not None
            for n in range(60):
                variables = {"group": str(1 + n % 3), "account": str(n % 7)}
                body = orjson.dumps({"query": QUERY, "variables": variables})
                await post(app, state, body, token="demo")
            bridge = Bridge(_LiveFigures(state["resources"]))
            bridge.sync()
            rounds = 2000
            still = timeit.timeit(bridge.sync, number=rounds) / rounds
            cache = state["resources"].cache

            def moved() -> None:
                cache.stats["hits"] += 1  # a counter moved: one more write
                bridge.sync()

            changed = timeit.timeit(moved, number=rounds) / rounds
            series = sum(len(f.samples) for f in _LiveFigures(state["resources"]).collect())
            print(f"{store}: {series} live series; a copy: {still * 1e6:.0f} µs unchanged, "
                  f"{changed * 1e6:.0f} µs with a counter moved")  # fmt: skip


def scrape(directory: Path) -> None:
    """A scrape of the directory's files as other workers' too, timed."""
    from prometheus_client import generate_latest

    from graphql_api.multiprocess_metrics import collector_registry

    own = sorted(directory.glob("*.db"))
    pid = own[0].stem.rpartition("_")[2]
    registry = collector_registry(str(directory))

    def workers(live: int, exited: int = 0) -> None:
        for file in directory.glob("*.db"):
            if not file.stem.endswith(f"_{pid}"):
                file.unlink()
        for n in range(1, live + exited):
            for file in own:
                if n < live or not file.name.startswith("gauge_"):
                    other = file.stem.rpartition("_")[0] + f"_{n}.db"
                    shutil.copy(file, directory / other)

    for live, exited in ((1, 0), (2, 0), (4, 0), (4, 20)):
        workers(live, exited)
        files = len(list(directory.glob("*.db")))
        seconds = min(timeit.repeat(lambda: generate_latest(registry), number=20, repeat=5)) / 20
        size = len(generate_latest(registry))
        print(f"scrape, {live} live + {exited} exited workers ({files} files): "
              f"{seconds * 1e3:.2f} ms, {size} bytes")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    args = parser.parse_args()
    if VARIABLE not in os.environ:
        with tempfile.TemporaryDirectory() as directory:
            env = os.environ | {VARIABLE: directory}
            command = [sys.executable, "-m", "bench.multiprocess_metrics", "--store", args.store]
            sys.exit(subprocess.run(command, env=env, check=False).returncode)
    asyncio.run(copy(args.store))
    scrape(Path(os.environ[VARIABLE]))


if __name__ == "__main__":
    main()

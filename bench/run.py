"""The benchmark: the facade against the plain-JSON floor, on one machine.

    python -m bench.run [--workers 1] [--latency 0.05] [--duration 10] [--connections 32]

Starts the fake upstream (with a latency), the service (uvicorn, ``--workers`` processes, pinned
to the first core) and, on the other core, wrk from Debian's packages (``apt-get install wrk``)
or a Python client where a case needs one; writes the table of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.servers import TOKEN
from graphql_api.pagination import Position, encode_cursor
from graphql_api.service import Listing

ROOT = Path(__file__).parents[1]
FIELDS = """nodes { __typename catalogType pin { id title link media { mediaType } }
  ... on RetailProduct { metadata { itemId price currency availability } } }"""
QUERY = f"""query Products($first: Int, $after: String, $account: ID) {{
  productGroupProducts(productGroupId: "1", first: $first, after: $after, adAccountId: $account)
  {{ {FIELDS} pageInfo {{ hasNextPage endCursor }} }} }}"""
SERVICE_CPU, CLIENT_CPU = "0", "1" if (os.cpu_count() or 1) > 1 else "0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(argv: list[str], env: dict[str, str], cpu: str, url: str) -> Iterator[list[int]]:
    """A server process pinned to ``cpu``, until the block ends; yields its pids (workers)."""
    process = subprocess.Popen(["taskset", "-c", cpu, *argv], env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(300):
            try:
                if httpx.get(url, timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{argv} did not start")
        yield [process.pid]
    finally:
        process.terminate()
        process.wait(timeout=20)


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    pids = [pid, *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                          text=True).stdout.split())]  # fmt: skip
    for child in pids:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(next(line.split()[1] for line in status.splitlines()
                          if line.startswith("VmHWM")))  # fmt: skip
    return total / 1024


_LUA = """
local bodies = {BODIES}
request = function()
  return wrk.format("POST", "{PATH}", {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer {TOKEN}"}, bodies[math.random(#bodies)])
end
local graphql_errors = 0
response = function(status, headers, body)
  if string.find(body, '"errors"', 1, true) then graphql_errors = graphql_errors + 1 end
end
done = function(summary, latency, requests)
  io.stderr:write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p99": %f, ' ..
    '"errors": %d}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout + graphql_errors))
end
"""


@dataclass
class Row:
    case: str
    items: int
    variant: str
    rps: float
    p50: float
    p99: float
    upstream_per_request: float
    rss_mb: float
    floor_rps: float = 0.0


def _wrk(
    url: str, path: str, bodies: list[str] | None, seconds: int, connections: int
) -> dict[str, Any]:
    lua_bodies = "{" + ",".join(json.dumps(b) for b in (bodies or [""])) + "}"
    script = _LUA.replace("{BODIES}", lua_bodies).replace("{PATH}", path).replace("{TOKEN}", TOKEN)
    if bodies is None:
        script = script.replace('"POST"', '"GET"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    run = subprocess.run(
        ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "--timeout", "30s",
         "-s", file.name, url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    os.unlink(file.name)
    result: dict[str, Any] = json.loads(run.stderr.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def _body(variables: dict[str, Any], path_query: str = QUERY) -> str:
    return json.dumps({"query": path_query, "variables": variables})


def _stats(upstream: str) -> int:
    return int(httpx.get(f"{upstream}/_stats").json()["requests"])


async def _walk(service: str, first: int, total: int) -> int:
    after, seen = None, 0
    account = str(random.randrange(10**9, 10**10))  # a listing nobody fetched yet
    async with httpx.AsyncClient(base_url=service, headers={"Authorization": f"Bearer {TOKEN}"},
                                 timeout=60) as client:  # fmt: skip
        while seen < total:
            body = {
                "query": QUERY,
                "variables": {"first": first, "after": after, "account": account},
            }
            data = (await client.post("/graphql", json=body)).json()["data"]
            connection = data["productGroupProducts"]
            seen += len(connection["nodes"])
            if not connection["pageInfo"]["hasNextPage"]:
                break
            after = connection["pageInfo"]["endCursor"]
    return seen


async def _cold_burst(service: str, count: int, first: int) -> None:
    account = str(random.randrange(10**9, 10**10))
    limits = httpx.Limits(max_connections=count)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=service, headers=headers, timeout=60, limits=limits
    ) as client:
        body = {"query": QUERY, "variables": {"first": first, "account": account}}
        responses = await asyncio.gather(
            *(client.post("/graphql", json=body) for _ in range(count))
        )
    assert all("errors" not in r.json() for r in responses)


def run(
    workers: int, latency: float, seconds: int, connections: int
) -> tuple[list[Row], list[str]]:
    """Every case against a fresh service process (its own caches, its own peak RSS)."""
    rows: list[Row] = []
    notes: list[str] = []
    upstream_port, service_port = _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    service = f"http://127.0.0.1:{service_port}"
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "--no-access-log",
               "--log-level", "warning", "--host", "127.0.0.1"]  # fmt: skip
    base_env = {"PINTEREST_API_BASE_URL": f"{upstream}/v5", "PINTEREST_ACCESS_TOKEN": TOKEN,
                "GRAPHQL_API_CACHE_TTL": "3600", "GRAPHQL_API_LOG_LEVEL": "warning",
                # all the load comes with one token: let it use the whole process bulkhead
                "GRAPHQL_API_UPSTREAM_MAX_CONCURRENCY_PER_TOKEN": "64"}  # fmt: skip
    argv = [*uvicorn, "--workers", str(workers), "--port", str(service_port),
            "bench.servers:service"]  # fmt: skip
    key = Listing("product_group_products", product_group_id="1").key

    def cursor(offset: int) -> str:
        return encode_cursor(Position(None, offset), query=key, page_size=250)

    with _process(
        [*uvicorn, "--port", str(upstream_port), "bench.servers:upstream"],
        {"BENCH_UPSTREAM_LATENCY": str(latency)},
        CLIENT_CPU,
        f"{upstream}/_stats",
    ):
        for items in (25, 250):
            varied = [_body({"first": items, "after": cursor(n)}) for n in range(1, 200)]
            misses = [_body({"first": items, "account": str(10**12 * items + n)})
                      for n in range(50_000)]  # fmt: skip
            off = {"GRAPHQL_API_RESPONSE_CACHE": "off"}
            cases: list[tuple[str, str, str, list[str] | None, dict[str, str]]] = [
                ("floor: plain JSON", "FastAPI + orjson, same cached page", f"/plain/{items}",
                 None, {}),
                ("(a) page-cache miss", "facade", "/graphql", misses, off),
                ("(b) page-cache hit, varied", "facade (compiled execution)", "/graphql", varied,
                 off),
                ("(b) page-cache hit, varied", "facade on graphql-core (compiled off)",
                 "/graphql", varied, {**off, "GRAPHQL_API_COMPILED_EXECUTION": "off"}),
                ("(b) page-cache hit, varied", "default Strawberry GraphQLRouter",
                 "/strawberry", varied, off),
                ("(c) repeated identical", "facade + response cache", "/graphql",
                 [_body({"first": items})], {}),
            ]  # fmt: skip
            floor = 0.0
            for case, variant, path, bodies, env in cases:
                with _process(argv, {**base_env, **env}, SERVICE_CPU, f"{service}/healthz") as (
                    pid,
                ):
                    if not case.startswith("(a)"):  # pages 1 and 2 in the page cache
                        httpx.post(f"{service}/graphql", content=_body(
                            {"first": 250, "after": cursor(249)}),
                            headers={"Content-Type": "application/json"})  # fmt: skip
                    before = _stats(upstream)
                    result = _wrk(service, path, bodies, seconds, connections)
                    per_request = (_stats(upstream) - before) / max(result["requests"], 1)
                    floor = floor or result["rps"]
                    rss = _peak_rss_mb(pid)
                    rows.append(Row(case, items, variant, result["rps"], result["p50"],
                                    result["p99"], per_request, rss, floor))  # fmt: skip
                    if result["errors"]:
                        notes.append(f"{case}, {items} items, {variant}: "
                                     f"{result['errors']} responses with errors")  # fmt: skip
        with _process(argv, base_env, SERVICE_CPU, f"{service}/healthz"):
            before = _stats(upstream)
            walked = asyncio.run(_walk(service, 10, 1000))
            sent = _stats(upstream) - before
            notes.append(f"(d) a walk of {walked} products with first: 10 made {sent} "
                         "upstream requests (goal: at most 4)")  # fmt: skip
            for items in (25, 250):
                before = _stats(upstream)
                asyncio.run(_cold_burst(service, 100, items))
                sent = _stats(upstream) - before
                notes.append(f"(e) 100 concurrent identical cold queries of {items} items "
                             f"made {sent} upstream request(s) (goal: exactly 1)")  # fmt: skip
    return rows, notes


def _http_stack() -> str:
    """What uvicorn serves with here: its fast parser and loop when installed (``auto``)."""
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{parser}, {loop}"


def render(rows: list[Row], notes: list[str], args: argparse.Namespace) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; "
        f"service pinned to core {SERVICE_CPU}, load generator (wrk, 1 thread, "
        f"{args.connections} connections, {args.duration} s a case) to core {CLIENT_CPU}; "
        f"{args.workers} uvicorn worker(s) ({_http_stack()}); upstream latency "
        f"{args.latency * 1000:.0f} ms.",
        "",
        "| case | items | variant | req/s | p50 ms | p99 ms | upstream req per request | "
        "peak RSS MB | of floor |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=lambda r: (r.case, r.items)):
        lines.append(f"| {r.case} | {r.items} | {r.variant} | {r.rps:,.0f} | {r.p50:.2f} | "
                     f"{r.p99:.2f} | {r.upstream_per_request:.3f} | {r.rss_mb:.0f} | "
                     f"{r.rps / r.floor_rps:.0%} |")  # fmt: skip
    lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows, notes = run(args.workers, args.latency, args.duration, args.connections)
    table = render(rows, notes, args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()

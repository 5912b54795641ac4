"""The benchmark: the facade against the plain-JSON floor, on one machine, with each page cache.

    python -m bench.run [--workers 1] [--latency 0.05] [--duration 10] [--connections 32]
                        [--cases floor,a,b,c,d,e,f,t] [--stores memory,redis] [--items 25,250]
                        [--out FILE]

Starts the fake upstream (with a latency), a redis-server of its own (``redis`` store), an
OTLP/HTTP receiver (``tests/otlp.py``, case ``t``), the service (uvicorn, ``--workers``
processes, pinned to the first core) and, on the other core, wrk from Debian's packages
(``apt-get install wrk``) or a Python client where a case needs one; writes the tables of
``docs/benchmarks.md``. The options select a subset (default: everything).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import platform
import random
import shutil
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
import redis

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
CASES = ("floor", "a", "b", "c", "d", "e", "f", "t")
STORES = ("memory", "redis")
ITEMS = (25, 250)
# Every replica sharing a Redis must name callers alike (the HMAC key of cache keys).
SECRET = "bench-secret"
# Case t's tracing: every request sampled, the SDK's batch processor at its defaults, OTLP over
# http/protobuf to the receiver (its URL added in run()).
TRACING = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_TRACES_SAMPLER": "always_on",
    "OTEL_SERVICE_NAME": "graphql-api-bench",
}
TRACED = "facade (compiled), tracing on (always_on, OTLP to a local receiver)"
SAMPLED = "facade (compiled), tracing on, 1 in 10 sampled (parentbased_traceidratio 0.1)"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(argv: list[str], env: dict[str, str], cpu: str, url: str) -> Iterator[list[int]]:
    """A server process pinned to ``cpu``, until the block ends; yields its pids (workers)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = subprocess.Popen(
        ["taskset", "-c", cpu, *argv],
        env={**inherited, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


@contextmanager
def redis_server(cpu: str = CLIENT_CPU) -> Iterator[str]:
    """A redis-server of the benchmark's own (no persistence, in a temporary directory, on a
    free loopback port, pinned to ``cpu``) until the block ends; yields its URL once it
    answers."""
    port = _free_port()
    binary = shutil.which("redis-server") or "redis-server"
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        # Not formatted: the command line as one would type it.
        process = subprocess.Popen(
            ["taskset", "-c", cpu, binary, "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=port)
        try:
            for _ in range(400):
                try:
                    client.ping()
                    break
                except (redis.ConnectionError, OSError):
                    if process.poll() is not None:
                        raise RuntimeError("redis-server exited") from None
                    time.sleep(0.025)
            else:
                raise RuntimeError("redis-server did not start")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            client.close()
            process.terminate()
            process.wait(timeout=10)


def _pids(pid: int) -> list[int]:
    """A process and its children (uvicorn's workers)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [pid, *map(int, children.stdout.split())]


def _cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) of a process and its children so far."""
    total = 0
    for child in _pids(pid):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    for child in _pids(pid):
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(
            next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))
        )
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
    store: str = "memory"
    # The memory-backed case a Redis-backed row is compared with: (case id, variant).
    pair: tuple[str, str] | None = None
    id: str = ""
    cpu_ms: float = 0.0  # the service's CPU (all its threads) per request during the load


@dataclass(frozen=True)
class Case:
    """One measured case: ``id`` is its name on the command line."""

    id: str
    title: str
    variant: str
    path: str
    bodies: list[str] | None
    env: dict[str, str]
    warm: bool = True  # pages 1 and 2 fetched before the load (in the measured process)
    # Pages fetched by another process first, and the measured one holds no in-process tier:
    # every request reads its page from Redis (a second replica's first hits).
    redis_only: bool = False
    traced: bool = False  # with TRACING, exporting to the benchmark's OTLP receiver


def _wrk(
    url: str, path: str, bodies: list[str] | None, seconds: int, connections: int
) -> dict[str, Any]:
    lua_bodies = "{" + ",".join(json.dumps(b) for b in (bodies or [""])) + "}"
    script = _LUA.replace("{BODIES}", lua_bodies).replace("{PATH}", path).replace("{TOKEN}", TOKEN)
    if bodies is None:
        script = script.replace('"POST"', '"GET"')
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    # Not formatted: the command line as one would type it.
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
    async with httpx.AsyncClient(
        base_url=service, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
    ) as client:
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


def _cursor(offset: int) -> str:
    key = Listing("product_group_products", product_group_id="1").key
    return encode_cursor(Position(None, offset), query=key, page_size=250)


def _cases(items: int, store: str) -> list[Case]:
    """The cases of one page size with one store, in the order they run."""
    varied = [_body({"first": items, "after": _cursor(n)}) for n in range(1, 200)]
    off = {"GRAPHQL_API_RESPONSE_CACHE": "off"}
    if store == "memory":
        misses = [
            _body({"first": items, "account": str(10**12 * items + n)}) for n in range(50_000)
        ]
        # Not formatted: one case a row or two, read as a table.
        return [
            Case("floor", "floor: plain JSON", "FastAPI + orjson, same cached page",
                 f"/plain/{items}", None, {}),
            Case("a", "(a) page-cache miss", "facade", "/graphql", misses, off, warm=False),
            Case("b", "(b) page-cache hit, varied", "facade (compiled execution)", "/graphql",
                 varied, off),
            Case("b", "(b) page-cache hit, varied", "facade on graphql-core (compiled off)",
                 "/graphql", varied, {**off, "GRAPHQL_API_COMPILED_EXECUTION": "off"}),
            Case("b", "(b) page-cache hit, varied", "default Strawberry GraphQLRouter",
                 "/strawberry", varied, off),
            Case("c", "(c) repeated identical", "facade + response cache", "/graphql",
                 [_body({"first": items})], {}),
            *_tracing_cases(varied, off),
        ]  # fmt: skip
    # Not formatted: one case a row or two, read as a table.
    return [
        Case("b", "(b) page-cache hit, varied", "facade (compiled execution)", "/graphql",
             varied, off),
        Case("c", "(c) repeated identical", "facade + response cache", "/graphql",
             [_body({"first": items})], {}),
        Case("f", "(f) page-cache miss path, pages in Redis", "facade (compiled execution), "
             "no in-process tier", "/graphql", varied,
             {**off, "GRAPHQL_API_CACHE_MAX_BYTES": "0"}, redis_only=True),
        *_tracing_cases(varied, off),
    ]  # fmt: skip


def _tracing_cases(varied: list[str], off: dict[str, str]) -> list[Case]:
    """(t): the requests of (b), tracing off, on (every request sampled, then one in ten), off
    again, back to back (the machine drifts: only neighbours compare)."""
    title = "(b) page-cache hit, varied"
    ratio = {
        **off,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }
    # Not formatted: one case a row, read as a table.
    return [
        Case("t", title, "facade (compiled), tracing off", "/graphql", varied, off),
        Case("t", title, TRACED, "/graphql", varied, off, traced=True),
        Case("t", title, SAMPLED, "/graphql", varied, ratio, traced=True),
        Case("t", title, "facade (compiled), tracing off again", "/graphql", varied, off),
    ]  # fmt: skip


def _warm(service: str) -> None:
    """Pages 1 and 2 of the benchmark's listing into the service's page cache."""
    body = _body({"first": 250, "after": _cursor(249)})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    response = httpx.post(f"{service}/graphql", content=body, headers=headers, timeout=60)
    if response.status_code != 200 or b'"errors"' in response.content:
        raise RuntimeError(f"warm-up failed: {response.text[:500]}")


def run(
    workers: int,
    latency: float,
    seconds: int,
    connections: int,
    *,
    cases: tuple[str, ...] = CASES,
    stores: tuple[str, ...] = STORES,
    items: tuple[int, ...] = ITEMS,
) -> tuple[list[Row], list[str]]:
    """Every selected case against a fresh service process (its own caches, its own peak RSS);
    with Redis, against an emptied Redis."""
    rows: list[Row] = []
    notes: list[str] = []
    upstream_port, service_port, receiver_port = _free_port(), _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    service = f"http://127.0.0.1:{service_port}"
    receiver = f"http://127.0.0.1:{receiver_port}"
    tracing = {**TRACING, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver}
    # Not formatted (with argv below): command lines as one would type them.
    uvicorn = [sys.executable, "-m", "uvicorn", "--factory", "--no-access-log",
               "--log-level", "warning", "--host", "127.0.0.1"]  # fmt: skip
    base_env = {
        "PINTEREST_API_BASE_URL": f"{upstream}/v5",
        "PINTEREST_ACCESS_TOKEN": TOKEN,
        "GRAPHQL_API_CACHE_TTL": "3600",
        "GRAPHQL_API_LOG_LEVEL": "warning",
        "GRAPHQL_API_SECRET": SECRET,
        # all the load comes with one token: let it use the whole process bulkhead
        "GRAPHQL_API_UPSTREAM_MAX_CONCURRENCY_PER_TOKEN": "64",
    }
    argv = [*uvicorn, "--workers", str(workers), "--port", str(service_port),
            "bench.servers:service"]  # fmt: skip
    floors: dict[int, float] = {}

    with (
        _process(
            [*uvicorn, "--port", str(upstream_port), "bench.servers:upstream"],
            {"BENCH_UPSTREAM_LATENCY": str(latency)},
            CLIENT_CPU,
            f"{upstream}/_stats",
        ),
        redis_server() if "redis" in stores else _no_redis() as redis_url,
        otlp_receiver(receiver_port) if "t" in cases else _no_redis(),
    ):
        shared = redis.Redis.from_url(redis_url) if redis_url else None
        store_env = {
            "memory": {**base_env, "GRAPHQL_API_CACHE_URL": "memory://"},
            "redis": {**base_env, "GRAPHQL_API_CACHE_URL": redis_url or ""},
        }
        for count in items:
            # Memory- and Redis-backed twins back to back: what drifts on the machine drifts
            # for both.
            plan = sorted(
                (
                    (store, case)
                    for store in stores
                    for case in _cases(count, store)
                    if case.id in cases
                ),
                key=lambda planned: CASES.index(planned[1].id),
            )
            for store, case in plan:
                env = {**store_env[store], **(tracing if case.traced else {}), **case.env}
                spans_before = received_spans(receiver) if case.traced else 0
                if shared is not None:
                    shared.flushall()  # each case on its own: nothing from the one before
                if case.redis_only:  # another replica fetched the pages
                    with _process(argv, store_env[store], SERVICE_CPU, f"{service}/healthz"):
                        _warm(service)
                    assert shared is not None
                    if not shared.dbsize():
                        raise RuntimeError("the warm-up left no pages in Redis")
                with _process(argv, env, SERVICE_CPU, f"{service}/healthz") as (pid,):
                    if case.warm and not case.redis_only:
                        _warm(service)
                    before, cpu_before = _stats(upstream), _cpu_seconds(pid)
                    result = _wrk(service, case.path, case.bodies, seconds, connections)
                    cpu_ms = (_cpu_seconds(pid) - cpu_before) / max(result["requests"], 1) * 1000
                    per_request = (_stats(upstream) - before) / max(result["requests"], 1)
                    rss = _peak_rss_mb(pid)
                if case.id == "floor":
                    floors[count] = result["rps"]
                if case.traced:  # the service has stopped: its last spans are sent
                    spans = received_spans(receiver) - spans_before
                    sampler = env["OTEL_TRACES_SAMPLER"]
                    notes.append(
                        f"(t) {count} items, {store}, {sampler}: the receiver got "
                        f"{spans:,} spans for {result['requests']:,} requests and the warm-up"
                    )
                pair = (
                    ("b", "facade (compiled execution)")
                    if case.id == "f"
                    else (case.id, case.variant)
                )
                rows.append(
                    Row(
                        case.title,
                        count,
                        case.variant,
                        result["rps"],
                        result["p50"],
                        result["p99"],
                        per_request,
                        rss,
                        store=store,
                        pair=pair,
                        id=case.id,
                        cpu_ms=cpu_ms,
                    )
                )
                if result["errors"]:
                    notes.append(
                        f"{case.title}, {count} items, {store}, {case.variant}: "
                        f"{result['errors']} responses with errors"
                    )
        for store in stores if {"d", "e"} & set(cases) else ():
            if shared is not None:
                shared.flushall()
            with _process(argv, store_env[store], SERVICE_CPU, f"{service}/healthz"):
                notes += _upstream_notes(service, upstream, store, cases, items)
        if shared is not None:
            shared.close()
    for row in rows:
        row.floor_rps = floors.get(row.items, 0.0)
    return rows, notes + _tracing_notes(rows)


@contextmanager
def otlp_receiver(port: int | None = None, cpu: str = CLIENT_CPU) -> Iterator[str]:
    """tests/otlp.py as a process of its own (counting spans; ``GET /_stats``) on ``port``
    (default: a free one), pinned to ``cpu``, until the block ends; yields its URL."""
    port = port or _free_port()
    argv = [sys.executable, "-m", "tests.otlp", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with _process(argv, {}, cpu, f"{url}/_stats"):
        yield url


def received_spans(receiver: str) -> int:
    """How many spans the receiver of :func:`otlp_receiver` got so far."""
    stats = httpx.get(f"{receiver}/_stats").json()
    if stats["errors"]:
        raise RuntimeError(f"the OTLP receiver refused {stats['errors']} export(s)")
    return int(stats["spans"])


def _tracing_notes(rows: list[Row]) -> list[str]:
    """(t): each tracing-on figure against the mean of the tracing-off runs beside it."""
    notes = []
    for count in sorted({r.items for r in rows if r.id == "t"}):
        for store in STORES:
            runs = [r for r in rows if (r.id, r.items, r.store) == ("t", count, store)]
            off = [r.rps for r in runs if r.variant not in (TRACED, SAMPLED)]
            off_cpu = [r.cpu_ms for r in runs if r.variant not in (TRACED, SAMPLED)]
            for on in (r for r in runs if r.variant in (TRACED, SAMPLED) and off):
                sampled = "always_on" if on.variant == TRACED else "1 in 10 sampled"
                ratio = on.rps / (sum(off) / len(off))
                notes.append(
                    f"(t) {count} items, {store}: tracing on ({sampled}) {on.rps:,.0f} req/s = "
                    f"{ratio:.0%} of the tracing-off runs beside it "
                    f"({', '.join(f'{o:,.0f}' for o in off)}); the service's CPU per request "
                    f"{on.cpu_ms:.3f} ms against {', '.join(f'{c:.3f}' for c in off_cpu)} ms"
                )
    return notes


def _upstream_notes(
    service: str, upstream: str, store: str, cases: tuple[str, ...], items: tuple[int, ...]
) -> list[str]:
    """(d) and (e): upstream requests of a walk and of a burst of identical cold queries."""
    notes = []
    if "d" in cases:
        before = _stats(upstream)
        walked = asyncio.run(_walk(service, 10, 1000))
        sent = _stats(upstream) - before
        notes.append(
            f"(d) {store}: a walk of {walked} products with first: 10 made {sent} "
            "upstream requests (goal: at most 4)"
        )
    for count in items if "e" in cases else ():
        before = _stats(upstream)
        asyncio.run(_cold_burst(service, 100, count))
        sent = _stats(upstream) - before
        notes.append(
            f"(e) {store}: 100 concurrent identical cold queries of {count} items "
            f"made {sent} upstream request(s) (goal: exactly 1)"
        )
    return notes


@contextmanager
def _no_redis() -> Iterator[str]:
    yield ""


def _http_stack() -> str:
    """What uvicorn serves with here: its fast parser and loop when installed (``auto``)."""
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{parser}, {loop}"


def _order(row: Row) -> tuple[str, int, int]:
    return (row.case, row.items, STORES.index(row.store))


def comparisons(rows: list[Row]) -> list[str]:
    """The Redis-backed rows beside the memory-backed rows they pair with (same case and
    variant; the miss path beside memory-backed hits), as table lines."""
    memory = {(r.pair, r.items): r for r in rows if r.store == "memory"}
    lines = []
    for r in sorted((r for r in rows if r.store == "redis"), key=_order):
        m = memory.get((r.pair, r.items))
        if m is None:
            continue
        lines.append(
            f"| {r.case} | {r.items} | {m.rps:,.0f} | {r.rps:,.0f} | "
            f"{r.rps / m.rps:.0%} | {m.p50:.2f} | {r.p50:.2f} | {r.p50 / m.p50:.1f}x | "
            f"{m.p99:.2f} | {r.p99:.2f} |"
        )
    if not lines:
        return []
    return [
        "Redis-backed beside memory-backed (the miss path beside memory-backed page-cache hits):",
        "",
        "| case | items | memory req/s | Redis req/s | Redis / memory req/s | memory p50 ms | "
        "Redis p50 ms | Redis / memory p50 | memory p99 ms | Redis p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *lines,
        "",
    ]


def render(rows: list[Row], notes: list[str], args: argparse.Namespace) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    redis_note = (
        f"; redis-server (no persistence, emptied before each case) on core {CLIENT_CPU}"
        if any(r.store == "redis" for r in rows)
        else ""
    )
    lines = [
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; "
        f"service pinned to core {SERVICE_CPU}, load generator (wrk, 1 thread, "
        f"{args.connections} connections, {args.duration} s a case) to core {CLIENT_CPU}"
        f"{redis_note}; {args.workers} uvicorn worker(s) ({_http_stack()}); upstream latency "
        f"{args.latency * 1000:.0f} ms.",
        "",
        "| case | items | store | variant | req/s | p50 ms | p99 ms | upstream req per request | "
        "peak RSS MB | of floor |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(rows, key=_order):
        of_floor = f"{r.rps / r.floor_rps:.0%}" if r.floor_rps else "-"
        lines.append(
            f"| {r.case} | {r.items} | {r.store} | {r.variant} | {r.rps:,.0f} | "
            f"{r.p50:.2f} | {r.p99:.2f} | {r.upstream_per_request:.3f} | "
            f"{r.rss_mb:.0f} | {of_floor} |"
        )
    lines += ["", *comparisons(rows), *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def _choices(value: str, allowed: tuple[Any, ...], kind: type = str) -> tuple[Any, ...]:
    chosen = tuple(kind(part.strip()) for part in value.split(",") if part.strip())
    unknown = [c for c in chosen if c not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{value!r}: choose from {','.join(map(str, allowed))}")
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--cases",
        type=lambda v: _choices(v, CASES),
        default=CASES,
        help=f"comma-separated, of {','.join(CASES)} (default: all); f is "
        "Redis-backed only, d and e are notes, t is (b) with tracing off, on, off",
    )
    parser.add_argument(
        "--stores",
        type=lambda v: _choices(v, STORES),
        default=STORES,
        help="comma-separated, of memory,redis (default: both)",
    )
    parser.add_argument(
        "--items",
        type=lambda v: _choices(v, ITEMS, int),
        default=ITEMS,
        help="comma-separated, of 25,250 (default: both)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rows, notes = run(
        args.workers,
        args.latency,
        args.duration,
        args.connections,
        cases=args.cases,
        stores=args.stores,
        items=args.items,
    )
    table = render(rows, notes, args)
    print(table)
    if args.out:
        args.out.write_text(table)


if __name__ == "__main__":
    main()

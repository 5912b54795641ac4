"""docs/metrics.md lists what /metrics exports, no more and no less: a running app is scraped
(``memory://``, and Redis on a real redis-server) after traffic that makes every labelled
series appear, and its metric names, label names and label values are compared with the
page's tables. The same for two real processes sharing PROMETHEUS_MULTIPROC_DIR (the workers
of ``--workers N``), whose scrape sums both, and for the page's table of how their gauges
combine."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graphql_api.multiprocess_metrics import GAUGE_MODES
from graphql_api.persisted import sha256
from tests.helpers import LOOPBACK_TLS, metrics, open_app, start_cli

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "metrics.md"
QUERY = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { pin { id } } } }'
_CELL = re.compile(r"(?<!\\)\|")  # a table's cell border (an escaped \| is in a cell)
_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Documented:
    kind: str  # counter, gauge, histogram
    labels: dict[str, frozenset[str] | None]  # label -> its values (None: not a closed set)
    redis_only: bool


def documented() -> dict[str, Documented]:
    """The page's tables: ``{exported name: what the page says}``. A labels cell reads
    ``\\`label\\`: \\`value\\`, ...; \\`other\\` (prose)``: values after a colon are the whole
    set; a label without a colon takes values the page describes in prose."""
    found: dict[str, Documented] = {}
    redis_only = False
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            redis_only = "Redis only" in line
        cells = [cell.strip() for cell in _CELL.split(line)[1:-1]]
        if len(cells) != 4 or not cells[0].startswith("`graphql_api_"):
            continue
        name, kind, labels_cell = cells[0].strip("`"), cells[1], cells[2]
        labels: dict[str, frozenset[str] | None] = {}
        for part in filter(None, (p.strip() for p in labels_cell.split(";"))):
            label, rest = _CODE.match(part), part.partition("`")[2].partition("`")[2]
            assert label is not None, f"{name}: labels cell {part!r} does not start with `label`"
            closed = rest.startswith(":")
            values = frozenset(_CODE.findall(rest.split("(")[0])) if closed else None
            labels[label.group(1)] = values
        assert name not in found, f"{name} listed twice"
        found[name] = Documented(kind, labels, redis_only)
    return found


@dataclass(frozen=True)
class Exported:
    kind: str
    labels: dict[str, frozenset[str]]  # label -> the values seen


def exported(text: str) -> dict[str, Exported]:
    """/metrics' families by the name they are exported under (a counter's ``_total``), less
    ``prometheus_client``'s ``<name>_created`` series."""
    families = list(text_string_to_metric_families(text))
    counted = {f.name for f in families if f.type in ("counter", "histogram")}
    found: dict[str, Exported] = {}
    for family in families:
        if family.name.endswith("_created") and family.name[: -len("_created")] in counted:
            continue
        assert family.samples, f"{family.name} has no series: traffic should make it appear"
        values: dict[str, set[str]] = {}
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label != "le":  # a histogram's bucket
                    values.setdefault(label, set()).add(value)
        name = family.name + "_total" if family.type == "counter" else family.name
        found[name] = Exported(family.type, {k: frozenset(v) for k, v in values.items()})
    return found


async def _traffic(client: httpx.AsyncClient) -> None:
    """Requests of every outcome, an upstream error, APQ and the readiness probe."""
    headers = {"Authorization": "Bearer tok"}
    for query in (
        QUERY,  # ok
        QUERY,  # cached: the response cache
        '{ pin(id: "404") { id } }',  # error: the upstream's 404
        "{ nope",  # rejected: a parse error
    ):
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 200, response.text
    body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha256(QUERY)}}}
    await client.post("/graphql", json=body, headers=headers)  # not found
    await client.post("/graphql", json={**body, "query": QUERY}, headers=headers)
    assert (await client.get("/readyz")).status_code == 200


def _compare(exported: dict[str, Exported], expected: dict[str, Documented]) -> None:
    assert sorted(set(exported) - set(expected)) == [], "exported, not in docs/metrics.md"
    assert sorted(set(expected) - set(exported)) == [], "in docs/metrics.md, not exported"
    for name, doc in expected.items():
        seen = exported[name]
        assert seen.kind == doc.kind, name
        assert set(seen.labels) == set(doc.labels), name
        for label, values in doc.labels.items():
            if values is not None:
                assert seen.labels[label] <= values, f"{name}{{{label}}}: undocumented values"


def test_the_page_lists_metrics_with_labels() -> None:
    """The parser reads the page (so the comparisons below compare something)."""
    page = documented()
    assert page["graphql_api_cache_lookups_total"] == Documented(
        "counter",
        {
            "tier": frozenset({"memory", "process", "redis"}),
            "result": frozenset({"found", "absent"}),
        },
        False,
    )
    assert page["graphql_api_requests_total"].labels["operation"] is None
    assert page["graphql_api_redis_up"] == Documented("gauge", {}, True)
    assert len(page) >= 25


async def test_memory_exports_what_the_page_lists() -> None:
    async with open_app() as h:
        await _traffic(h.client)
        text = (await h.client.get("/metrics")).text
    page = documented()
    _compare(exported(text), {n: d for n, d in page.items() if not d.redis_only})


async def test_redis_exports_what_the_page_lists(redis_url: str) -> None:
    async with open_app(cache_url=redis_url) as h:
        await _traffic(h.client)
        text = (await h.client.get("/metrics")).text
    _compare(exported(text), documented())


@pytest.mark.e2e
@pytest.mark.parametrize("cache", ["memory", "redis"])
async def test_several_processes_export_what_the_page_lists(
    cache: str, redis_url: str, tmp_path: Path
) -> None:
    """Two real processes sharing PROMETHEUS_MULTIPROC_DIR; the traffic to one, the scrape of
    the other: the sum of both (no ``_created`` series, no ``pid`` label), once the one with
    the traffic has copied its live figures (every second)."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    if cache == "redis":
        env["GRAPHQL_API_CACHE_URL"] = redis_url
    page = documented()
    expected = {n: d for n, d in page.items() if cache == "redis" or not d.redis_only}
    with (
        start_cli(tmp_path / "a.log", "--demo", **env) as a,
        start_cli(tmp_path / "b.log", "--demo", **env) as b,
    ):
        async with httpx.AsyncClient(base_url=a.url, verify=LOOPBACK_TLS) as client:
            await _traffic(client)
        async with httpx.AsyncClient(base_url=b.url, verify=LOOPBACK_TLS) as client:
            for _ in range(50):  # up to about 10 s
                text = (await client.get("/metrics")).text
                if set(exported(text)) == set(expected):
                    break
                await asyncio.sleep(0.2)
    _compare(exported(text), expected)
    assert "pid=" not in text
    assert "_created" not in text


def test_the_page_says_how_each_gauge_combines_across_workers() -> None:
    """The "With several workers" table: every gauge of the page, once, with the mode it is
    copied with (graphql_api.multiprocess_metrics.GAUGE_MODES, livesum unless listed)."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.partition("## With several workers")[2].partition("\n## ")[0]
    modes: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in _CELL.split(line)[1:-1]]
        if len(cells) == 3 and cells[0].startswith("`graphql_api_"):
            for name in _CODE.findall(cells[0]):
                assert name not in modes, f"{name} listed twice"
                modes[name] = cells[1].strip("`")
    gauges = {name for name, doc in documented().items() if doc.kind == "gauge"}
    assert modes == {name: GAUGE_MODES.get(name, "livesum") for name in gauges}


@pytest.mark.parametrize("cache", ["memory", "redis"])
async def test_every_lookup_is_counted_once_by_tier(cache: str, redis_url: str) -> None:
    """The lookups by tier add up to hits, stale and misses: one per page cache lookup."""
    values: dict[str, Any] = {"cache_url": redis_url} if cache == "redis" else {}
    async with open_app(response_cache=False, **values) as h:
        for group in ("1", "2", "1", "1", "2"):
            await h.gql(QUERY.replace('"1"', f'"{group}"'))
        text = (await h.client.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    lookups = {
        dict(labels)["tier"] + "/" + dict(labels)["result"]: value
        for (name, labels), value in samples.items()
        if name == "graphql_api_cache_lookups_total" and value
    }
    counted = sum(samples["graphql_api_cache_" + k + "_total", ()] for k in ("hits", "misses"))
    assert sum(lookups.values()) == counted == 5
    if cache == "memory":
        assert lookups == {"memory/absent": 2, "memory/found": 3}
    else:  # each page stored here is kept as a copy: Redis asked for the first lookups only
        assert lookups == {"redis/absent": 2, "process/found": 3}


async def test_each_request_is_timed_once_by_outcome() -> None:
    """The durations count every GraphQL request under the outcome it is counted under."""
    async with open_app() as h:
        await _traffic(h.client)
        await h.client.get("/graphql", headers={"Accept": "text/html"})  # GraphiQL: no request
        samples = await metrics(h)
    by_outcome: dict[str, float] = {}
    for name, value in samples.items():
        if name.startswith("graphql_api_requests_total{"):
            outcome = name.partition('outcome="')[2].partition('"')[0]
            by_outcome[outcome] = by_outcome.get(outcome, 0) + value
    timed = {
        outcome: samples[f'graphql_api_request_duration_seconds_count{{outcome="{outcome}"}}']
        for outcome in ("ok", "error", "rejected", "cached")
    }
    # ok: the first query; cached: its repeat and its APQ registration; rejected: the parse
    # error and the unknown hash
    assert timed == by_outcome == {"ok": 1, "error": 1, "rejected": 2, "cached": 2}

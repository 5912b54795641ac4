"""Two real service processes (`graphql-api serve`) sharing one PROMETHEUS_MULTIPROC_DIR, as
the workers of `--workers N` do: a scrape of either counts both processes' requests and sums
their live figures; a process that stops keeps its counts in the sum, and its gauges leave it
once marked dead (prometheus_client's mark_process_dead, the supervisor's call)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import RedisProcess, http_get, http_post, start_cli

pytestmark = pytest.mark.e2e
QUERY = """query Products($group: ID!, $account: ID) {
  productGroupProducts(productGroupId: $group, first: 2, adAccountId: $account) {
    nodes { pin { id } } } }"""
REQUESTS = 'graphql_api_requests_total{operation="productGroupProducts",outcome="ok"}'
TIMED = 'graphql_api_request_duration_seconds_count{outcome="ok"}'
FOUND = 'graphql_api_cache_lookups_total{result="found",tier="memory"}'
ABSENT = 'graphql_api_cache_lookups_total{result="absent",tier="memory"}'
PAGES = 'graphql_api_cache_entries{cache="pages"}'
UPSTREAM_OK = 'graphql_api_upstream_requests_total{operation="product_group_products",status="200"}'
Samples = dict[str, float]


def _query(base: str, group: str, account: str | None = None) -> None:
    variables = {"group": group, "account": account}
    response = http_post(f"{base}/graphql", json={"query": QUERY, "variables": variables})
    assert response.status_code == 200, response.text
    assert "errors" not in orjson.loads(response.content), response.text


def _scrape(base: str) -> Samples:
    """/metrics' samples: ``{'name{label="value",...}': value}``, labels sorted by name."""
    text = http_get(f"{base}/metrics", timeout=10).text
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[sample.name + (f"{{{labels}}}" if labels else "")] = sample.value
    return samples


def _eventually(base: str, check: Callable[[Samples], bool], what: str) -> Samples:
    """A scrape of ``base`` that passes ``check``, within about 10 s (the other process copies
    its live figures every second)."""
    samples: Samples = {}
    for _ in range(100):
        samples = _scrape(base)
        if check(samples):
            return samples
        time.sleep(0.1)
    pytest.fail(f"{what}: never seen; last scrape {samples}")


def test_a_scrape_of_either_process_counts_both(tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "GRAPHQL_API_RESPONSE_CACHE": "off"}
    with (
        start_cli(tmp_path / "a.log", "--demo", **env) as a,
        start_cli(tmp_path / "b.log", "--demo", **env) as b,
    ):
        n, m = 3, 5
        for _ in range(n):
            _query(a.url, "1")  # one miss, then hits
        for _ in range(m):
            _query(b.url, "2")
        both = {REQUESTS: n + m, TIMED: n + m, FOUND: n + m - 2, ABSENT: 2, PAGES: 2}
        for base in (a.url, b.url):
            samples = _eventually(
                base, lambda s: {k: s.get(k) for k in both} == both, f"both from {base}"
            )
            assert samples["graphql_api_cache_hits_total"] == n + m - 2
            assert samples["graphql_api_cache_misses_total"] == 2
            assert samples[UPSTREAM_OK] == 2
            assert not any(name.endswith("_created") or 'pid="' in name for name in samples)

        b.stop()  # its last figures copied as it stopped
        assert _scrape(a.url)[PAGES] == 2  # until it is marked dead
        mark_process_dead(b.pid, str(shared))  # type: ignore[no-untyped-call]
        after = _scrape(a.url)
        assert after[PAGES] == 1  # a's page alone
        assert {k: after[k] for k in (REQUESTS, TIMED, FOUND, ABSENT)} == {
            REQUESTS: n + m,
            TIMED: n + m,
            FOUND: n + m - 2,
            ABSENT: 2,
        }  # b's requests still counted
        _query(a.url, "1")
        assert _scrape(a.url)[REQUESTS] == n + m + 1


def test_redis_up_is_0_from_either_while_one_process_has_lost_redis(
    tmp_path: Path, own_redis: RedisProcess, redis_binary: str
) -> None:
    """Each process on a Redis of its own, so that only one loses it: a scrape of the other,
    whose Redis is fine, says 0 too (the lowest of the processes' values), then 1 again once
    it is back."""
    shared = tmp_path / "metrics"
    shared.mkdir()
    other = RedisProcess(redis_binary)
    other.start()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "GRAPHQL_API_REDIS_PROBE_INTERVAL": "0.2"}
    try:
        with (
            start_cli(
                tmp_path / "a.log", "--demo", **env, GRAPHQL_API_CACHE_URL=own_redis.url
            ) as a,
            start_cli(tmp_path / "b.log", "--demo", **env, GRAPHQL_API_CACHE_URL=other.url) as b,
        ):
            up = {"graphql_api_redis_up": 1, "graphql_api_redis_subscribed": 1}
            for base in (a.url, b.url):
                _eventually(base, lambda s: {k: s.get(k) for k in up} == up, "both up")

            own_redis.kill()  # a's Redis
            accounts = iter(range(1000, 1100))

            def a_lost_it(samples: Samples) -> bool:
                _query(a.url, "1", str(next(accounts)))  # a's lookups find Redis gone
                return samples["graphql_api_redis_up"] == 0

            _eventually(b.url, a_lost_it, "redis_up 0 from b")
            assert _scrape(a.url)["graphql_api_redis_up"] == 0

            def b_ready_yet_0(samples: Samples) -> bool:  # b's Redis up (a busy host may
                ready = http_get(f"{b.url}/readyz").json()["status"] == "ready"  # time out)
                return ready and samples["graphql_api_redis_up"] == 0

            _eventually(b.url, b_ready_yet_0, "b ready, its scrape 0")

            own_redis.start()
            for base in (a.url, b.url):
                _eventually(base, lambda s: s["graphql_api_redis_up"] == 1, "redis_up 1 again")
    finally:
        other.kill()

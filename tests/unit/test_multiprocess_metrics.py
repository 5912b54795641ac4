"""The bridge that copies the live figures into metrics of their own (multiprocess mode's
files): counters by what they gained, never backwards; gauges as they are. In this process
prometheus_client keeps values in memory (multiprocess mode is chosen at its import: the real
processes of tests/e2e/test_multiprocess_metrics.py run it), which is all the copying needs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from graphql_api.multiprocess_metrics import Bridge, multiprocess_dir
from graphql_api.observability import _LiveFigures
from tests.helpers import open_app

QUERY = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { pin { id } } } }'


class Figures(Collector):
    """Families of values a test sets, like _LiveFigures yields them."""

    def __init__(self) -> None:
        self.hits = 0.0
        self.by_tier = {"memory": 0.0, "redis": 0.0}
        self.up = 1.0

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily("t_hits", "Hits.", value=self.hits, created=123.0)
        lookups = CounterMetricFamily("t_lookups", "Lookups.", labels=["tier"])
        for tier, count in self.by_tier.items():
            lookups.add_metric([tier], count)
        yield lookups
        yield GaugeMetricFamily("t_up", "Up.", value=self.up)


def _copied(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.name + "".join(f"/{v}" for v in sample.labels.values()): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_counters_gain_the_difference_and_gauges_follow() -> None:
    figures, registry = Figures(), CollectorRegistry()
    bridge = Bridge(figures, registry)
    bridge.sync()  # every series appears, at its value (0 included)
    assert _copied(registry) == {
        "t_hits_total": 0,
        "t_lookups_total/memory": 0,
        "t_lookups_total/redis": 0,
        "t_up": 1,
    }
    figures.hits, figures.by_tier["memory"], figures.up = 5, 2, 0
    bridge.sync()
    figures.hits, figures.by_tier["redis"] = 7, 1
    bridge.sync()
    bridge.sync()  # nothing new: nothing added
    assert _copied(registry) == {
        "t_hits_total": 7,
        "t_lookups_total/memory": 2,
        "t_lookups_total/redis": 1,
        "t_up": 0,
    }


def test_a_counter_never_goes_backwards() -> None:
    """A source below its last copy started again: what it holds now is all new."""
    figures, registry = Figures(), CollectorRegistry()
    bridge = Bridge(figures, registry)
    figures.hits = 10
    bridge.sync()
    figures.hits = 3
    bridge.sync()
    assert _copied(registry)["t_hits_total"] == 13
    figures.hits = 4
    bridge.sync()
    assert _copied(registry)["t_hits_total"] == 14


async def test_the_copy_of_an_apps_live_figures_has_their_names_types_and_values() -> None:
    """Generic: every family _LiveFigures yields (Redis ones aside) copied under its own name,
    type and labels, with its values."""
    async with open_app() as h:
        for _ in range(3):
            await h.gql(QUERY)
        live = _LiveFigures(h.resources)
        registry = CollectorRegistry()
        Bridge(live, registry).sync()
        source = CollectorRegistry()
        source.register(live)
        expected = _copied(source)
        assert {f.name: f.type for f in registry.collect()} == {
            f.name: f.type for f in source.collect()
        }
    assert _copied(registry) == expected
    assert expected["graphql_api_cache_lookups_total/memory/found"] == 0  # response cache
    assert expected["graphql_api_cache_entries/pages"] == 1


def test_multiprocess_mode_is_asked_for_by_the_variable() -> None:
    assert multiprocess_dir({}) is None
    assert multiprocess_dir({"PROMETHEUS_MULTIPROC_DIR": ""}) is None
    assert multiprocess_dir({"PROMETHEUS_MULTIPROC_DIR": "/run/m"}) == "/run/m"


SWITCHED = """
import os, sys
import prometheus_client  # imported before the variable is set: values kept in memory
os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
from prometheus_client import generate_latest
from graphql_api.multiprocess_metrics import collector_registry
from graphql_api.observability import Metrics
Metrics(multiprocess=sys.argv[1]).requests.labels("pin", "ok").inc(3)
sys.stdout.write(generate_latest(collector_registry(sys.argv[1])).decode())
"""


def test_a_process_that_imported_prometheus_client_first_writes_the_files_too(
    tmp_path: Path,
) -> None:
    """A worker forked from a parent that set the variable late is switched to the files
    (in a process of its own: the switch is for the whole process)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", SWITCHED, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert 'graphql_api_requests_total{operation="pin",outcome="ok"} 3.0' in done.stdout
    assert sorted(p.name.partition("_")[0] for p in tmp_path.iterdir()) == ["counter", "histogram"]

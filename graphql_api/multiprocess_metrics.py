"""Metrics of several worker processes, summed: prometheus_client's multiprocess mode
(https://prometheus.github.io/client_python/multiprocess/), on when ``PROMETHEUS_MULTIPROC_DIR``
is set. Each process writes its counters, histograms and gauges to files of its own in that
directory, and a scrape of any process reads and sums them all (:func:`collect`).

The request-path metrics (``graphql_api.observability.Metrics``) write there as they count.
The live figures (the plain integers the caches, the Redis link and the resilience objects
keep, read at scrape time) live only in each process's memory: a :class:`Bridge` copies them
into metrics of the same names and labels, every second and before its process answers a
scrape. Counters by what they gained since the last copy; gauges as they are, each with the
mode that says how the processes' values combine (:data:`GAUGE_MODES`), all ``live*`` so that a
process marked dead (``prometheus_client.multiprocess.mark_process_dead``, the supervisor's
call) leaves the sum, while its counters stay in it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, values
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["GAUGE_MODES", "Bridge", "collector_registry", "multiprocess_dir"]

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
GaugeMode = Literal["livesum", "livemin", "livemax"]
# How each process's value of a live gauge combines into the one a scrape shows (default:
# livesum, for what the processes hold between them: in-flight requests, held callers, cache
# entries and bytes, retries the budgets allow). docs/metrics.md ("With several workers") says
# the same.
GAUGE_MODES: Mapping[str, GaugeMode] = {
    "graphql_api_redis_up": "livemin",  # 0 while any process has lost Redis
    "graphql_api_redis_subscribed": "livemin",  # 0 while any process's subscription is lost
    "graphql_api_breaker_state": "livemax",  # the most open of the processes' breakers
}


def multiprocess_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """The directory of the processes' metric files, if multiprocess mode is asked for."""
    return environ.get(VARIABLE) or None


def enable() -> None:
    """Metrics created from now on write to the directory's files. prometheus_client chooses
    how values are kept when it is first imported, from the environment: a process given the
    variable before it started is already in multiprocess mode; one that imported
    prometheus_client before the variable was set (a worker forked from a parent that set it
    late) is switched here, as prometheus_client allows (``values.ValueClass``)."""
    if not values.ValueClass._multiprocess:
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def collector_registry(path: str) -> CollectorRegistry:
    """A registry of every process's figures, summed, read from ``path`` at each scrape."""
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    return registry


@dataclass(slots=True)
class _Series:
    copy: Counter | Gauge  # the child of the labels
    counter: bool
    last: float | None = None  # the source's value at the last copy (None: never copied)


class Bridge:
    """Copies the samples ``source`` yields (counter and gauge families) into metrics of the
    same names, labels and types, created on first sight (in ``registry``: tests read them;
    in multiprocess mode none is needed, the files are what a scrape reads). :meth:`sync` adds
    to a counter what its source gained since the last copy (a source back below its last
    value started again: all it holds is new), so the copy never goes backwards; a gauge is set
    to its source's value, with its :data:`GAUGE_MODES` mode."""

    def __init__(self, source: Collector, registry: CollectorRegistry | None = None) -> None:
        self._source = source
        self._registry = registry
        self._metrics: dict[str, Counter | Gauge] = {}
        self._series: dict[tuple[str, tuple[str, ...]], _Series] = {}

    def sync(self) -> None:
        """Copy the source's figures now."""
        for family in self._source.collect():
            sample_name = family.name + "_total" if family.type == "counter" else family.name
            for sample in family.samples:
                if sample.name != sample_name:  # a counter's <name>_created
                    continue
                key = (family.name, tuple(sample.labels.values()))
                series = self._series.get(key) or self._new_series(key, family, sample)
                value, last = sample.value, series.last
                if value == last:
                    continue
                if not series.counter:
                    series.copy.set(value)  # type: ignore[union-attr]  # a Gauge
                elif last is None or value < last:  # its first copy, or it started again
                    series.copy.inc(value)
                else:
                    series.copy.inc(value - last)
                series.last = value

    def _new_series(
        self, key: tuple[str, tuple[str, ...]], family: Metric, sample: Sample
    ) -> _Series:
        name, labels = key
        metric = self._metrics.get(name)
        if metric is None:
            if family.type == "counter":
                metric = Counter(
                    name, family.documentation, list(sample.labels), registry=self._registry
                )
            else:
                metric = Gauge(
                    name,
                    family.documentation,
                    list(sample.labels),
                    registry=self._registry,
                    multiprocess_mode=GAUGE_MODES.get(name, "livesum"),
                )
            self._metrics[name] = metric
        series = self._series[key] = _Series(
            metric.labels(*labels) if labels else metric, counter=family.type == "counter"
        )
        return series

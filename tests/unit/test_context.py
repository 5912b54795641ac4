"""The per-request context: inputs fixed for the request, one collector of what it produced."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from graphql_api.cache import Lookup
from graphql_api.errors import UpstreamError
from graphql_api.schema.context import Collector, Inputs


def _lookup(key: str, *, stale: bool, age: float) -> Lookup[Any]:
    return Lookup("value", stale, age, key, 1.0, 2.0)


def test_inputs_are_fixed() -> None:
    inputs = Inputs(service=None, token="tok", max_first=10)  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.token = "other"  # type: ignore[misc]


def test_the_collector_keeps_sources_errors_and_the_oldest_stale_age() -> None:
    collector = Collector()
    assert (collector.stale_age, list(collector.sources)) == (None, [])
    fresh, old, older = (
        _lookup("a", stale=False, age=99),
        _lookup("b", stale=True, age=5),
        _lookup("c", stale=True, age=7),
    )
    collector.used([fresh, old])
    collector.used([older])
    assert collector.stale_age == 7  # the oldest stale entry; a fresh one's age does not count
    assert [lookup.key for lookup in collector.sources] == ["a", "b", "c"]
    error = UpstreamError("later page failed")
    collector.partial_error(error, ["productGroupProducts"])
    assert list(collector.partial_errors) == [(error, ["productGroupProducts"])]
    collector.planned({"pin": frozenset({"id"})})
    assert collector.selected_below("pin") == frozenset({"id"})
    assert collector.selected_below("productsByFilter") is None

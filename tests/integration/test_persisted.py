"""Automatic persisted queries (Apollo APQ) and the operations allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from graphql_api.persisted import load_manifest, sha256
from tests.helpers import Harness, open_app, without_cost

QUERY = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { catalogType } } }'


async def _send(h: Harness, body: dict[str, Any]) -> dict[str, Any]:
    response = await h.client.post("/graphql", json=body, headers={"Authorization": "Bearer t"})
    result: dict[str, Any] = response.json()
    return result


def _apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_apq_registers_then_serves_by_hash() -> None:
    async with open_app() as h:
        unknown = await _send(h, {"extensions": _apq(sha256(QUERY))})
        assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        registered = await _send(h, {"query": QUERY, "extensions": _apq(sha256(QUERY))})
        by_hash = await _send(h, {"extensions": _apq(sha256(QUERY))})
        assert without_cost(by_hash) == without_cost(registered)
        assert len(by_hash["data"]["productGroupProducts"]["nodes"]) == 2
        get = await h.client.get(
            "/graphql",
            params={"extensions": orjson.dumps(_apq(sha256(QUERY))).decode()},
            headers={"Authorization": "Bearer t"},
        )
        assert get.json()["data"] == by_hash["data"]


async def test_apq_refuses_a_hash_that_does_not_match() -> None:
    async with open_app() as h:
        result = await _send(h, {"query": QUERY, "extensions": _apq("0" * 64)})
        assert result["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert h.requests == []


async def test_apq_can_be_turned_off() -> None:
    async with open_app(persisted_queries=False) as h:
        result = await _send(h, {"extensions": _apq(sha256(QUERY))})
        assert result["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_apq_is_shared_through_redis(redis_url: str) -> None:
    async with open_app(cache_url=redis_url) as first:
        await _send(first, {"query": QUERY, "extensions": _apq(sha256(QUERY))})
    async with open_app(cache_url=redis_url) as second:
        result = await _send(second, {"extensions": _apq(sha256(QUERY))})
        assert result["data"]["productGroupProducts"]["nodes"]


def _manifest(tmp_path: Path, *queries: str) -> Path:
    path = tmp_path / "operations.json"
    operations = [
        {"id": sha256(q), "name": f"Op{i}", "type": "query", "body": q}
        for i, q in enumerate(queries)
    ]
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_bytes(orjson.dumps(manifest))
    return path


async def test_allowlist_runs_only_registered_operations(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, QUERY)
    async with open_app(operations_allowlist=manifest) as h:
        by_id = await _send(h, {"extensions": _apq(sha256(QUERY))})
        assert by_id["data"]["productGroupProducts"]["nodes"]
        by_text = await _send(h, {"query": QUERY})
        assert by_text["data"] == by_id["data"]
        sent = len(h.requests)
        other = await _send(h, {"query": QUERY.replace("first: 2", "first: 3")})
        assert other["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        registered = await _send(
            h, {"query": "{ __typename }", "extensions": _apq(sha256("{ __typename }"))}
        )
        assert registered["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        assert len(h.requests) == sent


def test_a_manifest_whose_ids_are_not_hashes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(
        orjson.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "operations": [{"id": "abc", "name": "X", "type": "query", "body": QUERY}],
            }
        )
    )
    with pytest.raises(ValueError, match="sha256"):
        load_manifest(path)

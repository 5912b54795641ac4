"""Every code in the error table (docs/errors.md) is produced, through the app, by a scenario."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import Handler, Harness, json_response, open_app

ERRORS_PAGE = (Path(__file__).parents[2] / "docs" / "errors.md").read_text()
LIST = '{ productGroupProducts(productGroupId: "1", first: 1) { nodes { catalogType } } }'
AUTH = {"Authorization": "Bearer t"}


def _raises(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _query(query: str, token: str | None = "t") -> Callable[[Harness], Awaitable[httpx.Response]]:
    return lambda h: h.post(query, token=token)


def _raw(**kwargs: Any) -> Callable[[Harness], Awaitable[httpx.Response]]:
    return lambda h: h.client.request(**{"method": "POST", "url": "/graphql", **kwargs})


def _apq(digest: str) -> dict[str, Any]:
    return {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}


# code -> (upstream, settings, request)
SCENARIOS: dict[str, tuple[Handler | None, dict[str, Any], Callable[[Harness], Awaitable[Any]]]] = {
    "BAD_USER_INPUT": (None, {}, _query(LIST.replace("first: 1", "first: -1"))),
    "UNAUTHENTICATED": (None, {}, _query(LIST, token=None)),
    "FORBIDDEN": (json_response(403, {"code": 3, "message": "x"}), {}, _query(LIST)),
    "NOT_FOUND": (
        json_response(404, {"code": 50, "message": "x"}),
        {},
        _query('{ pin(id: "1") { id } }'),
    ),
    "CONFLICT": (json_response(409, {"code": 4182, "message": "x"}), {}, _query(LIST)),
    "RATE_LIMITED": (json_response(429, {"code": 8, "message": "x"}), {}, _query(LIST)),
    "UPSTREAM_TIMEOUT": (_raises(httpx.ReadTimeout("slow")), {}, _query(LIST)),
    "UPSTREAM_UNAVAILABLE": (json_response(503, {}), {}, _query(LIST)),
    "UPSTREAM_ERROR": (json_response(200, {"items": 1}), {}, _query(LIST)),
    "INTERNAL_SERVER_ERROR": (_raises(RuntimeError("bug")), {}, _query(LIST)),
    "GRAPHQL_PARSE_FAILED": (None, {}, _query("{ productGroupProducts(")),
    "GRAPHQL_VALIDATION_FAILED": (None, {}, _query("{ nope }")),
    "MAX_DEPTH_LIMIT": (None, {"max_depth": 2}, _query(LIST)),
    "MAX_ALIASES_LIMIT": (None, {"max_aliases": 0}, _query("{ a: __typename }")),
    "MAX_ROOT_FIELDS_LIMIT": (
        None,
        {"max_root_fields": 1},
        _query('{ a: pin(id: "1") { id } b: pin(id: "2") { id } }'),
    ),
    "MAX_TOKENS_LIMIT": (None, {"max_tokens": 100}, _query("{ " + "__typename " * 100 + "}")),
    "COST_ESTIMATED_TOO_EXPENSIVE": (
        None,
        {"max_upstream_cost": 1},
        _query('{ a: pin(id: "1") { id } b: pin(id: "2") { id } }'),  # two requests
    ),
    "REQUEST_TOO_LARGE": (
        None,
        {"max_body_bytes": 1024},
        _raw(json={"query": "{ __typename }" + " " * 2000}),
    ),
    "PERSISTED_QUERY_NOT_FOUND": (None, {}, _raw(json=_apq("a" * 64))),
    "PERSISTED_QUERY_NOT_SUPPORTED": (
        None,
        {"persisted_queries": False},
        _raw(json=_apq("a" * 64)),
    ),
    "BAD_REQUEST": (
        None,
        {},
        _raw(content=b"{not json", headers={"Content-Type": "application/json"}),
    ),
    "NOT_ACCEPTABLE": (
        None,
        {},
        _raw(json={"query": "{ __typename }"}, headers={"Accept": "text/csv"}),
    ),
    "UNSUPPORTED_MEDIA_TYPE": (
        None,
        {},
        _raw(content=b"query", headers={"Content-Type": "text/plain"}),
    ),
    "METHOD_NOT_ALLOWED": (None, {}, _raw(method="PUT", json={})),
}


def _table_codes() -> set[str]:
    return set(re.findall(r"^\| `([A-Z_]+)` \|", ERRORS_PAGE, re.MULTILINE))


def test_the_table_and_the_scenarios_name_the_same_codes() -> None:
    assert _table_codes() - {"PERSISTED_QUERY_NOT_IN_LIST"} == set(SCENARIOS)


async def test_not_in_list(tmp_path: Path) -> None:
    """PERSISTED_QUERY_NOT_IN_LIST needs a manifest file: its own scenario."""
    manifest = tmp_path / "m.json"
    manifest.write_text('{"format": "apollo-persisted-query-manifest", "operations": []}')
    async with open_app(operations_allowlist=manifest) as h:
        response = await h.post("{ __typename }")
    assert response.status_code == 400
    codes = [e["extensions"]["code"] for e in response.json()["errors"]]
    assert codes == ["PERSISTED_QUERY_NOT_IN_LIST"]


@pytest.mark.parametrize("code", sorted(SCENARIOS))
async def test_each_code_is_produced(code: str) -> None:
    upstream, values, send = SCENARIOS[code]
    async with open_app(upstream, **values) as h:
        response = await send(h)
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == [code]

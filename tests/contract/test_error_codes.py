"""Every code in the README's error table is produced, through the app, by a scenario here."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.helpers import Handler, json_response, open_app

README = (Path(__file__).parents[2] / "README.md").read_text()
LIST = '{ productGroupProducts(productGroupId: "1", first: 1) { nodes { catalogType } } }'


def _raises(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


# code -> (upstream, query, caller token)
SCENARIOS: dict[str, tuple[Handler | None, str, str | None]] = {
    "BAD_USER_INPUT": (None, LIST.replace("first: 1", "first: -1"), "t"),
    "UNAUTHENTICATED": (None, LIST, None),
    "FORBIDDEN": (json_response(403, {"code": 3, "message": "x"}), LIST, "t"),
    "NOT_FOUND": (
        json_response(404, {"code": 50, "message": "x"}),
        '{ pin(id: "1") { id } }',
        "t",
    ),
    "CONFLICT": (json_response(409, {"code": 4182, "message": "x"}), LIST, "t"),
    "RATE_LIMITED": (json_response(429, {"code": 8, "message": "x"}), LIST, "t"),
    "UPSTREAM_TIMEOUT": (_raises(httpx.ReadTimeout("slow")), LIST, "t"),
    "UPSTREAM_UNAVAILABLE": (json_response(503, {}), LIST, "t"),
    "UPSTREAM_ERROR": (json_response(200, {"items": 1}), LIST, "t"),
    "INTERNAL_SERVER_ERROR": (_raises(RuntimeError("bug")), LIST, "t"),
    "GRAPHQL_PARSE_FAILED": (None, "{ productGroupProducts(", "t"),
    "GRAPHQL_VALIDATION_FAILED": (None, "{ nope }", "t"),
}


def _table_codes() -> set[str]:
    section = README.split("## Errors", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.MULTILINE))


def test_the_table_and_the_scenarios_name_the_same_codes() -> None:
    assert _table_codes() == set(SCENARIOS)


@pytest.mark.parametrize("code", sorted(SCENARIOS))
async def test_each_code_is_produced(code: str) -> None:
    upstream, query, token = SCENARIOS[code]
    async with open_app(upstream) as h:
        result = await h.gql(query, token=token)
    assert [e["extensions"]["code"] for e in result["errors"]] == [code]

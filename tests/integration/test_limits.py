"""Limits refuse abusive operations before any upstream call; tools' introspection still works."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from graphql import get_introspection_query

from graphql_api.upstream.fake import FakePinterest
from tests.helpers import open_app

LIST = 'productGroupProducts(productGroupId: "1", first: 1)'
DEEP = f"{{ {LIST} {{ edges {{ node {{ pin {{ media {{ ... on PinMediaWithImage {{ images {{ size150x150 {{ url }} }} }} }} }} }} }} }} }}"  # noqa: E501
ALIASES = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
ROOTS = "{ " + " ".join(f'p{i}: pin(id: "{i}") {{ id }}' for i in range(11)) + " }"
COSTLY = (
    "{ "
    + " ".join(
        f'l{i}: productGroupProducts(productGroupId: "1", first: 250) {{ nodes {{ catalogType }} }}'
        for i in range(6)
    )
    + " }"
)
CYCLIC = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"


@pytest.mark.parametrize(
    ("query", "settings", "code"),
    [
        (DEEP, {"max_depth": 5}, "MAX_DEPTH_LIMIT"),
        (ALIASES, {}, "MAX_ALIASES_LIMIT"),
        (ROOTS, {}, "MAX_ROOT_FIELDS_LIMIT"),
        ("{ " + "__typename " * 200 + "}", {"max_tokens": 100}, "MAX_TOKENS_LIMIT"),
        (  # six listings of 250 in pages of 100 from the start: 6 * ceil(250 / 100) = 18
            COSTLY,
            {"upstream_page_size": 100, "max_upstream_cost": 17},
            "COST_ESTIMATED_TOO_EXPENSIVE",
        ),
        (CYCLIC, {}, "GRAPHQL_VALIDATION_FAILED"),
    ],
    ids=["depth", "aliases", "root fields", "tokens", "upstream cost", "introspection cycle"],
)
async def test_each_limit_refuses_before_any_upstream_call(
    query: str, settings: dict[str, int], code: str
) -> None:
    async with open_app(**settings) as h:  # type: ignore[arg-type]
        response = await h.post(query, headers={"Accept": "application/graphql-response+json"})
        assert response.status_code == 400
        (error, *_) = response.json()["errors"]
        assert error["extensions"]["code"] == code
        assert h.requests == []
    if code.startswith(("MAX_", "COST")):
        assert "limit" in error["message"]


async def test_the_cost_counts_variables() -> None:
    query = """query($n: Int) { a: productGroupProducts(productGroupId: "1", first: $n) {
        nodes { catalogType } } b: productGroupProducts(productGroupId: "2", first: $n) {
        nodes { catalogType } } }"""
    async with open_app(upstream_page_size=10, max_upstream_cost=10) as h:
        # two listings in pages of 10: 2 * ceil(10 / 10) = 2, then 2 * ceil(100 / 10) = 20
        small = await h.gql(query, {"n": 10})
        assert "errors" not in small
        large = await h.gql(query, {"n": 100})
        assert large["errors"][0]["extensions"]["code"] == "COST_ESTIMATED_TOO_EXPENSIVE"


async def test_the_standard_introspection_queries_keep_working() -> None:
    async with open_app() as h:
        for options in (
            {},
            {
                "descriptions": True,
                "specified_by_url": True,
                "directive_is_repeatable": True,
                "schema_description": True,
                "input_value_deprecation": True,
            },
        ):
            result = await h.gql(get_introspection_query(**options))
            assert "errors" not in result, result
            assert result["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_queries_within_the_limits_run() -> None:
    async with open_app() as h:
        result = await h.gql(DEEP)
        assert "errors" not in result
        ok = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
        assert "errors" not in await h.gql(ok)


class _Blocked(BaseException):  # not an Exception: the app's error handling lets it through
    pass


@contextmanager
def _fails_when_blocked(seconds: float) -> Iterator[None]:
    """Fail the test, instead of hanging it, if it is still running after ``seconds``:
    ``asyncio.wait_for`` alone cannot interrupt code that blocks the event loop."""

    def expire(*_: Any) -> None:
        raise _Blocked(f"still running after {seconds} s: the event loop is blocked")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _fan_out(levels: int, leaf: str, on: str = "Query") -> str:
    """Fragments that each spread the next one twice: 2 ** levels paths in under 1.3 KB."""
    chain = " ".join(f"fragment F{i} on {on} {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    return f"{chain} fragment F{levels} on {on} {{ {leaf} }}"


# shape -> (operation, last fragment's selection, type condition, error code or None: data)
FAN_OUTS = {
    "pin": ("{ ...F0 }", 'pin(id: "1") { id }', "Query", "UNAUTHENTICATED"),
    "typename": ("{ ...F0 }", "__typename", "Query", None),
    "introspection": ("{ __schema { types { ...F0 } } }", "name", "__Type", None),
}


@pytest.mark.parametrize("levels", [20, 30])
@pytest.mark.parametrize("shape", sorted(FAN_OUTS))
async def test_fragment_fan_outs_are_answered_at_once_while_healthz_is_served(
    shape: str, levels: int
) -> None:
    """Validation used to walk every path: 5 s at 20 levels, hours at 30, /healthz waiting."""
    operation, leaf, on, code = FAN_OUTS[shape]
    query = f"{operation} {_fan_out(levels, leaf, on)}"
    assert len(query.encode()) < 1300
    async with open_app() as h:
        started = time.monotonic()
        with _fails_when_blocked(20):
            response, health = await asyncio.wait_for(
                asyncio.gather(h.post(query, token=None), h.client.get("/healthz")), timeout=20
            )
        assert time.monotonic() - started < 2  # the bug made it seconds to hours
        assert health.status_code == 200
        body = response.json()
        codes = [e["extensions"]["code"] for e in body.get("errors", ())]
        assert codes == ([code] if code else []), body
        assert h.requests == []


def _alias_fan_out(per_level: int) -> str:
    """Aliases in fragments spread under the aliases of the fragment above: within 30 aliases
    in the text, per_level ** 6 copies of each URL per product."""

    def aliased(field: str, below: str = "") -> str:
        return " ".join(f"{field}{i}: {field}{below}" for i in range(per_level))

    return (
        '{ productGroupProducts(productGroupId: "1", first: 250) { ...C } } '
        f"fragment C on CatalogProductConnection {{ {aliased('nodes', ' { ...N }')} }} "
        f"fragment N on CatalogProduct {{ {aliased('pin', ' { ...P }')} }} "
        f"fragment P on Pin {{ {aliased('media', ' { ...M }')} }} "
        f"fragment M on PinMedia {{ ... on PinMediaWithImage {{ {aliased('images', ' { ...I }')} }}"
        " } "
        f"fragment I on ImageSize {{ {aliased('size150x150', ' { ...S }')} }} "
        f"fragment S on ImageDetails {{ {aliased('url')} }}"
    )


async def test_aliases_fanned_out_through_fragments_are_refused() -> None:
    """Five aliases a level, six levels: 30 aliases in the text, 19,530 once expanded (it used
    to take 10 s to compile, or 6 s and 68 MB to execute on graphql-core)."""
    async with open_app() as h:
        started = time.monotonic()
        with _fails_when_blocked(20):
            response = await asyncio.wait_for(h.post(_alias_fan_out(5)), timeout=20)
        assert time.monotonic() - started < 2
        (error,) = response.json()["errors"]
        assert error["extensions"]["code"] == "MAX_ALIASES_LIMIT"
        assert "19530 aliases once its fragments are expanded" in error["message"]
        assert h.requests == []
        aliased = " ".join(f'p{i}: pin(id: "{PIN}") {{ id }}' for i in range(5))
        assert "errors" not in await h.gql(f"{{ ...P ...P }} fragment P on Query {{ {aliased} }}")


PIN = FakePinterest().items[0]["pin"]["id"]  # a Pin of the demo catalog


async def test_fields_merged_by_response_key_count_once() -> None:
    """A root field reached through two spreads of a fragment is one field: one root field,
    one upstream request, within a cost of 1."""
    query = f'{{ ...P ...P ... {{ ...P }} }} fragment P on Query {{ pin(id: "{PIN}") {{ id }} }}'
    async with open_app(max_root_fields=1, max_upstream_cost=1) as h:
        result = await h.gql(query)
        assert "errors" not in result, result
        assert len(h.requests) == 1


IMAGE = "... on PinMediaWithImage { images { size150x150 { url } } }"
REPEATED = f'pin(id: "{PIN}") {{ media {{ {IMAGE} }} }} '


async def test_field_merging_is_checked_within_a_budget() -> None:
    """Comparing same-named fields grows with their square: 200 copies of a nested field (0.85 s
    of graphql-core's checks) are refused; 20 pass. (The budget counts comparisons, not time:
    "Validation aborted." shows it stopped them.)"""
    async with open_app() as h:
        refused = await h.post("{ " + REPEATED * 200 + "}")
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert error["message"] == "Validation aborted."
        assert "errors" not in await h.gql("{ " + REPEATED * 20 + "}")
        assert len(h.requests) == 1

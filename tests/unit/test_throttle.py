"""The per-caller throttle status (graphql_api.throttle): what is read of rate-limit headers,
what is ignored, when a status is forgotten, and the per-request count of upstream requests."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphql_api.throttle import SPENT, Spent, Throttle, sent, uncounted
from tests.helpers import Clock


def _headers(limit: str, remaining: str, reset: str | None = None) -> dict[str, str]:
    headers = {"x-ratelimit-limit": limit, "x-ratelimit-remaining": remaining}
    if reset is not None:
        headers["x-ratelimit-reset"] = reset
    return headers


def test_a_callers_status_is_its_last_headers_until_the_reset() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    throttle.observe("alice", _headers("100", "98", "30"))
    throttle.observe("alice", _headers("100", "97", "29.2"))  # the most recent wins
    assert throttle.status("alice") == {
        "maximumAvailable": 100,
        "currentlyAvailable": 97,
        "resetSeconds": 30,  # 29.2 rounded up
    }
    assert throttle.status("bob") is None
    clock.advance(29)
    assert throttle.status("alice") == {
        "maximumAvailable": 100,
        "currentlyAvailable": 97,
        "resetSeconds": 1,
    }
    clock.advance(0.2)  # the limit has reset: what was seen says nothing any more
    assert throttle.status("alice") is None
    assert len(throttle) == 0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # The IETF draft's list form: the first policy's quota, parameters ignored.
        (_headers("100, 1000;w=3600", "99", "10"), (100, 99, 10)),
        (_headers("100;w=60", "99"), (100, 99, None)),
        # The draft's header names, when Pinterest's are absent.
        ({"ratelimit-limit": "50", "ratelimit-remaining": "7", "ratelimit-reset": "5"}, (50, 7, 5)),
        # An epoch reset within the next day, and a remaining above the limit (clamped).
        (_headers("10", "12", str(1_000_000 + 90)), (10, 10, 90)),
        # A reset that is no time: kept without one, for the window.
        (_headers("10", "3", "soon"), (10, 3, None)),
        (_headers("10", "3", "-5"), (10, 3, None)),
        (_headers("10", "3", str(1_000_000 + 3 * 86_400)), (10, 3, None)),
    ],
)
def test_headers_are_read_leniently(
    headers: dict[str, str], expected: tuple[int, int, int | None]
) -> None:
    throttle = Throttle(clock=Clock())
    throttle.observe("c", headers)
    limit, remaining, reset = expected
    status = throttle.status("c")
    assert status is not None
    assert (status["maximumAvailable"], status["currentlyAvailable"]) == (limit, remaining)
    assert status.get("resetSeconds") == reset


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-reset": "30"},
        _headers("lots", "3"),
        _headers("100", "-1"),
        _headers("100", "nan"),
        _headers("inf", "3"),
        _headers("1e400", "3"),
        _headers("", ""),
        {"x-ratelimit-limit": "100"},
    ],
)
def test_unreadable_headers_change_nothing(headers: dict[str, str]) -> None:
    throttle = Throttle(clock=Clock())
    throttle.observe("c", headers)
    assert throttle.status("c") is None
    throttle.observe("c", _headers("100", "40"))
    throttle.observe("c", headers)  # garbage after a good answer: the good one stays
    assert throttle.status("c") == {"maximumAvailable": 100, "currentlyAvailable": 40}


def test_a_status_without_a_reset_is_kept_for_the_window() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock, window=60)
    throttle.observe("c", _headers("100", "40"))
    clock.advance(59.9)
    assert throttle.status("c") is not None
    clock.advance(0.1)
    assert throttle.status("c") is None


def test_callers_are_bounded_least_recently_seen_out_first() -> None:
    throttle = Throttle(clock=Clock(), max_callers=3)
    for caller in ("a", "b", "c"):
        throttle.observe(caller, _headers("10", "1", "30"))
    throttle.observe("a", _headers("10", "2", "30"))  # seen again: the most recent
    throttle.observe("d", _headers("10", "3", "30"))
    assert len(throttle) == 3
    assert throttle.status("b") is None
    assert [throttle.status(c) is not None for c in ("a", "c", "d")] == [True, True, True]


@given(
    st.dictionaries(
        st.sampled_from(["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]),
        st.text(max_size=30),
    )
)
def test_any_header_text_is_read_or_ignored_never_an_error(headers: dict[str, str]) -> None:
    throttle = Throttle(clock=Clock())
    throttle.observe("c", headers)
    status = throttle.status("c")
    if status is not None:
        assert 0 <= status["currentlyAvailable"] <= status["maximumAvailable"]
        assert status.get("resetSeconds", 0) >= 0


async def test_tasks_count_into_the_request_that_starts_them_unless_uncounted() -> None:
    spent = Spent()
    token = SPENT.set(spent)
    try:
        sent()
        await asyncio.create_task(_send_later())  # a copy of this context: counted
        background = asyncio.create_task(_send_later(), context=uncounted())
        await background
    finally:
        SPENT.reset(token)
    sent()  # outside any request: counted nowhere, no error
    assert spent.requests == 2


async def _send_later() -> None:
    await asyncio.sleep(0)
    sent()

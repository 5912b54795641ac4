"""Cursor encoding and page slicing (pure functions)."""

from __future__ import annotations

import pytest

from graphql_api.errors import BadUserInput
from graphql_api.pagination import (
    START,
    Position,
    check_first,
    decode_cursor,
    encode_cursor,
    fingerprint,
    take,
)


@pytest.mark.parametrize("position", [START, Position("bm", 3), Position("x" * 300, 249)])
def test_cursor_round_trip(position: Position) -> None:
    cursor = encode_cursor(position, query="q1", page_size=250)
    assert cursor.startswith("c1.")
    assert "bm" not in cursor  # opaque
    assert decode_cursor(cursor, query="q1", page_size=250) == position


def test_foreign_and_stale_cursors() -> None:
    cursor = encode_cursor(Position("bm", 3), query="q1", page_size=250)
    with pytest.raises(BadUserInput, match="another query"):
        decode_cursor(cursor, query="q2", page_size=250)
    with pytest.raises(BadUserInput, match="page size"):
        decode_cursor(cursor, query="q1", page_size=100)


def test_offset_beyond_page_size_is_malformed() -> None:
    cursor = encode_cursor(Position("bm", 300), query="q1", page_size=250)
    with pytest.raises(BadUserInput, match="Malformed"):
        decode_cursor(cursor, query="q1", page_size=250)


def test_fingerprint_is_stable_and_distinguishes() -> None:
    assert fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    assert fingerprint(["x", "1"]) != fingerprint(["x", "2"])


@pytest.mark.parametrize(("first", "expected"), [(None, 25), (0, 0), (250, 250)])
def test_check_first(first: int | None, expected: int) -> None:
    assert check_first(first, default=25, maximum=250) == expected


@pytest.mark.parametrize("first", [-1, 251])
def test_check_first_refuses(first: int) -> None:
    with pytest.raises(BadUserInput):
        check_first(first, default=25, maximum=250)


def test_take_within_a_page() -> None:
    part = take(["a", "b", "c"], page_bookmark=None, next_bookmark="n", offset=1, count=1)
    assert part.items == [("b", Position(None, 2))]
    assert part.next == Position("n", 0)


def test_take_to_the_end_of_a_page_points_at_the_next() -> None:
    part = take(["a", "b"], page_bookmark="p", next_bookmark="n", offset=0, count=5)
    assert part.items == [("a", Position("p", 1)), ("b", Position("n", 0))]


def test_take_on_the_last_page() -> None:
    part = take(["a", "b"], page_bookmark="p", next_bookmark=None, offset=1, count=5)
    assert part.items == [("b", Position("p", 2))]
    assert part.next is None

"""Opaque cursors and the slicing of canonical upstream pages: pure functions, no I/O.

The facade always asks the upstream for pages of one canonical size and slices them, so a
client's ``first`` never changes what is fetched. A cursor names a position in that sequence of
pages: the bookmark of the upstream page that holds the next item (``None`` for the first page)
and an offset into it. It also carries the canonical page size (a bookmark is only valid with
the page size it was produced under) and a fingerprint of the query it belongs to, so a cursor
from another query, or from another page size, is refused as ``BAD_USER_INPUT``.

Wire form: ``"c1." + base64url(JSON [fingerprint, page_size, bookmark, offset])``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import orjson

from graphql_api.errors import BadUserInput

__all__ = [
    "START",
    "Position",
    "Slice",
    "check_first",
    "decode_cursor",
    "encode_cursor",
    "fingerprint",
    "take",
]

_PREFIX = "c1."
_MAX_CURSOR_LENGTH = 4096

T = TypeVar("T")


class Position(NamedTuple):
    """Where the next item is: page ``bookmark`` (``None``: the first page), ``offset`` in it.

    A named tuple: one is made per product served, and a tuple is the cheapest to make."""

    bookmark: str | None
    offset: int


START = Position(None, 0)


def fingerprint(identity: Any) -> str:
    """A short stable hash of what makes a query a query (operation, path, body, account)."""
    canonical = orjson.dumps(identity, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()[:9]).decode()


def encode_cursor(position: Position, *, query: str, page_size: int) -> str:
    payload = orjson.dumps([query, page_size, position.bookmark, position.offset])
    return _PREFIX + base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_cursor(cursor: str, *, query: str, page_size: int) -> Position:
    """The position a cursor names; ``BadUserInput`` unless it is ours, for this query."""
    if not cursor.startswith(_PREFIX) or len(cursor) > _MAX_CURSOR_LENGTH:
        raise BadUserInput("Malformed cursor: pass a cursor exactly as this API returned it.")
    body = cursor[len(_PREFIX) :]
    try:
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise BadUserInput(
            "Malformed cursor: pass a cursor exactly as this API returned it."
        ) from exc
    if not (
        isinstance(data, list)
        and len(data) == 4
        and isinstance(data[0], str)
        and type(data[1]) is int
        and (data[2] is None or (isinstance(data[2], str) and data[2]))
        and type(data[3]) is int
        and 0 <= data[3] <= data[1]
    ):
        raise BadUserInput("Malformed cursor: pass a cursor exactly as this API returned it.")
    if data[0] != query:
        raise BadUserInput("This cursor belongs to another query (other arguments).")
    if data[1] != page_size:
        raise BadUserInput("This cursor has expired (the page size changed); start again.")
    return Position(data[2], data[3])


def check_first(first: int | None, *, default: int, maximum: int) -> int:
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise BadUserInput(f"`first` must be between 0 and {maximum}, not {first}.")
    return first


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """Items taken from one page, each with the position just after it."""

    items: list[tuple[T, Position]]
    next: Position | None  # where to continue in the following page, None at the end


def take(
    items: Sequence[T],
    *,
    page_bookmark: str | None,
    next_bookmark: str | None,
    offset: int,
    count: int,
) -> Slice[T]:
    """Take up to ``count`` items of one page from ``offset``.

    ``next`` is where the caller continues when it needs more than this page had: the next
    page's start, or ``None`` when this was the last page. The position after the last item of a
    page is written as the start of the next page, so resuming there costs no refetch.
    """
    end = min(len(items), offset + count)
    taken: list[tuple[T, Position]] = []
    for index in range(offset, end):
        after = index + 1
        if after >= len(items) and next_bookmark is not None:
            position = Position(next_bookmark, 0)
        else:
            position = Position(page_bookmark, after)
        taken.append((items[index], position))
    following = Position(next_bookmark, 0) if next_bookmark is not None else None
    return Slice(taken, following)

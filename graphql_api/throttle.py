"""What a GraphQL request cost upstream, and what the upstream still allows its caller: the
numbers of ``extensions.cost`` (docs/cost.md, "In every response").

- **Spent**: the upstream requests a GraphQL request made. The executor opens a :class:`Spent`
  for the request in :data:`SPENT` (a context variable) while it executes; the client calls
  :func:`sent` for every attempt that reaches the upstream (retries included). Tasks copy the
  context they are created in, so a single-flight fetch counts into the request that started it
  (its followers made no request), and a background refresh is started in an
  :func:`uncounted` context: the response it was started by did not wait for it.
- **Throttle**: per caller (the identity of the resilience layer and of the cache keys: an HMAC
  of the token, never the token), the last rate-limit headers the upstream sent for that
  caller: a bounded LRU in the process, an entry forgotten once its reset time has passed.
"""

from __future__ import annotations

import contextvars
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import NamedTuple

__all__ = ["SPENT", "Spent", "Throttle", "sent", "uncounted"]

# Headers read, first found wins: Pinterest's, then the IETF draft's older names.
_LIMIT = ("x-ratelimit-limit", "ratelimit-limit")
_REMAINING = ("x-ratelimit-remaining", "ratelimit-remaining")
_RESET = ("x-ratelimit-reset", "ratelimit-reset")
_DAY = 86_400.0  # a reset further away than this is no usable value
_MAX_COUNT = 10**12  # a limit or remaining above this is garbage


class Spent:
    """The upstream requests of one GraphQL request so far."""

    __slots__ = ("requests",)

    def __init__(self) -> None:
        self.requests = 0


SPENT: contextvars.ContextVar[Spent | None] = contextvars.ContextVar(
    "graphql_api_spent", default=None
)


def sent() -> None:
    """An attempt reached the upstream: count it into the running request, if any."""
    spent = SPENT.get()
    if spent is not None:
        spent.requests += 1


def uncounted() -> contextvars.Context:
    """A copy of the current context in which no request counts what is sent (for a task that
    may outlive the request that starts it)."""
    context = contextvars.copy_context()
    context.run(SPENT.set, None)
    return context


class _Seen(NamedTuple):
    limit: int
    remaining: int
    reset_at: float | None  # wall-clock seconds; None: the upstream did not say
    until: float  # forgotten from then on


def _header(headers: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def _count(value: str | None) -> int | None:
    """A non-negative count: ``100``, or the first item of a list (``100, 100;w=60``, the IETF
    draft's form), its parameters ignored; anything else is ``None``."""
    if value is None:
        return None
    item = value.split(",", 1)[0].split(";", 1)[0].strip()
    try:
        number = float(item)
    except ValueError:
        return None
    if not math.isfinite(number) or not 0 <= number <= _MAX_COUNT:
        return None
    return int(number)


def _reset_at(value: str | None, now: float) -> float | None:
    """When the limit resets: ``value`` is seconds from now (up to a day), or an epoch time
    within the next day; anything else is ``None``."""
    if value is None:
        return None
    try:
        number = float(value.split(";", 1)[0].strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if number <= _DAY:
        return now + number
    return number if now < number <= now + _DAY else None


class Throttle:
    """The last rate-limit status the upstream sent for each caller, at most ``max_callers``
    of them (least recently seen out first). A status without a reset time is kept for
    ``window`` seconds (Pinterest's standard limits are per minute)."""

    def __init__(
        self, *, clock: Callable[[], float], max_callers: int = 10_000, window: float = 60.0
    ) -> None:
        self._clock = clock
        self._max_callers = max_callers
        self._window = window
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def observe(self, caller: str, headers: Mapping[str, str]) -> None:
        """Note what an upstream response for ``caller`` said of its limit. Headers that are
        absent or unreadable change nothing (never an error)."""
        limit = _count(_header(headers, _LIMIT))
        if limit is None:  # most answers, where the upstream sends none
            return
        remaining = _count(_header(headers, _REMAINING))
        if remaining is None:
            return
        now = self._clock()
        reset_at = _reset_at(_header(headers, _RESET), now)
        until = reset_at if reset_at is not None else now + self._window
        self._seen[caller] = _Seen(limit, min(remaining, limit), reset_at, until)
        self._seen.move_to_end(caller)
        while len(self._seen) > self._max_callers:
            self._seen.popitem(last=False)

    def status(self, caller: str) -> dict[str, int] | None:
        """``caller``'s ``throttleStatus`` (``maximumAvailable``, ``currentlyAvailable`` and,
        when the upstream said, ``resetSeconds``: whole seconds until the limit resets, rounded
        up), or ``None``: nothing seen, or its reset time has passed."""
        seen = self._seen.get(caller)
        if seen is None:
            return None
        now = self._clock()
        if now >= seen.until:
            del self._seen[caller]
            return None
        status = {"maximumAvailable": seen.limit, "currentlyAvailable": seen.remaining}
        if seen.reset_at is not None:
            status["resetSeconds"] = math.ceil(seen.reset_at - now)
        return status

    def __len__(self) -> int:
        return len(self._seen)

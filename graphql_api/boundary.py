"""The last line of defence at the HTTP edge: an unexpected exception becomes a GraphQL-shaped
JSON answer with ``INTERNAL_SERVER_ERROR``, never a text/plain 500, and its traceback is logged
once per kind and interval instead of once per request.

Expected failures never get here: the upstream's (httpx) and Redis' are translated where they
happen (:mod:`graphql_api.upstream.client`, the Redis module) into :mod:`graphql_api.errors` or a
fallback. What arrives here is a bug, so it is answered plainly and reported to operators.
"""

from __future__ import annotations

import logging
import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["INTERNAL_ERROR_BODY", "ErrorBoundary", "ErrorReporter"]

_log = logging.getLogger("graphql_api.errors")

INTERNAL_ERROR_BODY: dict[str, Any] = {
    "errors": [{"message": "Unexpected error.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
}


class ErrorReporter:
    """Logs an unexpected exception with its traceback, at most once per ``interval`` seconds
    for each kind (exception type and the line that raised it); repeats within the interval
    are counted and the count is given with the next traceback of that kind."""

    def __init__(
        self,
        interval: float = 60.0,
        *,
        clock: Callable[[], float],  # monotonic seconds: the app's ``Timer.monotonic``
        max_kinds: int = 256,
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._max_kinds = max_kinds
        # kind -> (time of its last traceback, repeats suppressed since)
        self._kinds: OrderedDict[str, tuple[float, int]] = OrderedDict()

    @staticmethod
    def kind(error: BaseException) -> str:
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
        return f"{type(error).__module__}.{type(error).__qualname__}@{where}"

    def report(self, error: BaseException) -> None:
        kind = self.kind(error)
        now = self._clock()
        last, suppressed = self._kinds.get(kind, (None, 0))
        if last is not None and now - last < self._interval:
            self._kinds[kind] = (last, suppressed + 1)
            return
        self._kinds[kind] = (now, 0)
        self._kinds.move_to_end(kind)
        while len(self._kinds) > self._max_kinds:
            self._kinds.popitem(last=False)
        more = f" ({suppressed} more since, not logged)" if suppressed else ""
        _log.error("unexpected error: %s%s", type(error).__name__, more, exc_info=error)


class ErrorBoundary:
    """ASGI middleware: whatever the app raises before it has started its response is answered
    with a JSON 500 in the GraphQL error shape (``INTERNAL_SERVER_ERROR``) and reported once;
    after the response has started, the connection can only be closed (reported the same way)."""

    def __init__(self, app: ASGIApp, reporter: ErrorReporter) -> None:
        self.app = app
        self.reporter = reporter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as error:
            self.reporter.report(error)
            if started:
                return  # the server closes the connection: nothing more can be said
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json; charset=utf-8"),
                        (b"cache-control", b"private, no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(INTERNAL_ERROR_BODY)})

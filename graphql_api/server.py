"""How the service runs under uvicorn: the server configuration built from the settings, and
uvicorn's httptools protocol with a deadline on each request's arrival.

uvicorn times a connection out only *between* requests (its keep-alive timeout, armed when a
response completes). A connection that opens and never sends a request, or sends its headers a
byte at a time, is held for ever: a few thousand of them exhaust a replica's file descriptors
(slowloris). :class:`ArrivalDeadlineProtocol` closes such a connection once ``idle_timeout``
passes without a complete request (head and body). It subclasses uvicorn's protocol,
overriding four of its callbacks; ``tests/e2e/test_server.py`` fails if a uvicorn release
changes them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graphql_api.config import Settings

__all__ = ["ArrivalDeadlineProtocol", "server_config"]


class ArrivalDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; a connection must send each request whole within the
    keep-alive timeout of opening (or of its previous response), or it is closed."""

    _arrival_deadline: asyncio.TimerHandle | None = None

    def _arm_arrival_deadline(self) -> None:
        self._disarm_arrival_deadline()
        self._arrival_deadline = self.loop.call_later(self.timeout_keep_alive, self._close_idle)

    def _disarm_arrival_deadline(self) -> None:
        if self._arrival_deadline is not None:
            self._arrival_deadline.cancel()
            self._arrival_deadline = None

    def _close_idle(self) -> None:
        self._arrival_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_arrival_deadline()

    def on_message_complete(self) -> None:
        self._disarm_arrival_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request has arrived already
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._arm_arrival_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_arrival_deadline()
        super().connection_lost(exc)


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration the service runs with."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=ArrivalDeadlineProtocol,
        timeout_keep_alive=settings.idle_timeout,  # type: ignore[arg-type]  # a float works
        log_config=None,  # the root logger, configured by the CLI: JSON lines with request ids
        access_log=False,  # one access line per request comes from RequestIdMiddleware
        proxy_headers=False,
        server_header=False,
    )

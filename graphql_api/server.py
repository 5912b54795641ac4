"""How the service runs under uvicorn: the server configuration built from the settings, and
uvicorn's httptools protocol with a deadline on each request's arrival.

uvicorn times a connection out only *between* requests (its keep-alive timeout, armed when a
response completes). A connection that opens and never sends a request, or sends its headers a
byte at a time, is held for ever: a few thousand of them exhaust a replica's file descriptors
(slowloris). :class:`ArrivalDeadlineProtocol` closes such a connection once ``idle_timeout``
passes without a complete request (head and body). It subclasses uvicorn's protocol,
overriding four of its callbacks; ``tests/e2e/test_server.py`` fails if a uvicorn release
changes them.

:class:`Server` is uvicorn's server with our lines in place of its own: one when it has started
(where it listens, GraphiQL, the profile, cache and upstream: :func:`startup_fields`), one when
it has stopped (docs/logging.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import urllib.parse
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from graphql_api import __version__
from graphql_api.config import Settings

__all__ = ["ArrivalDeadlineProtocol", "Server", "server_config", "startup_fields"]

_log = logging.getLogger("graphql_api.server")
_EVERY_INTERFACE = frozenset({"0.0.0.0", "::", ""})


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


def _host(parts: urllib.parse.SplitResult) -> str:
    host = parts.hostname or ""
    return f"[{host}]" if ":" in host else host


def _upstream(url: str) -> str:
    """The upstream's base URL as a log may show it: no user, password or query."""
    parts = urllib.parse.urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{_host(parts)}{port}{parts.path}"


def startup_fields(settings: Settings, port: int) -> dict[str, Any]:
    """What the startup line tells (docs/logging.md): never a token or a password."""
    host = settings.host
    shown = "localhost" if host in _EVERY_INTERFACE else host
    endpoint = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/graphql"
    return {
        "version": __version__,
        "listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "graphql": endpoint,
        "graphiql": endpoint if settings.graphiql_enabled else None,
        "profile": settings.env,
        "cache": settings.cache.shown,
        "upstream": "embedded demo catalog"
        if settings.demo
        else _upstream(settings.pinterest_api_base_url),
        "compiled_execution": settings.compiled_execution,
        "pid": os.getpid(),
    }


class Server(uvicorn.Server):
    """uvicorn's server, telling its start (:func:`startup_fields`) and stop in one line each
    (uvicorn's own lines are quieted by ``configure_logging``)."""

    def __init__(self, config: uvicorn.Config, settings: Settings) -> None:
        super().__init__(config)
        self.settings = settings

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        bound = [s.getsockname() for server in self.servers for s in server.sockets]
        port = bound[0][1] if bound else self.config.port
        demo = " (demo mode: serving the embedded demo catalog)" if self.settings.demo else ""
        _log.info(f"graphql-api started{demo}", extra=startup_fields(self.settings, port))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        _log.info("graphql-api stopped")

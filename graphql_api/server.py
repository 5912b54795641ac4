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
it has stopped (docs/logging.md). It also stops the way an orchestrator expects:

- The first SIGTERM starts a *drain*: at once /readyz answers 503 ``{"status": "draining"}``
  (the flag ``"draining"`` in the lifespan state, :class:`graphql_api.app.State`) and every
  response carries ``Connection: close`` (added to uvicorn's default headers: nothing more on a
  request's path), so a load balancer takes the replica out and keep-alive connections move
  off, while every request is still served. ``drain_delay`` seconds later uvicorn's own
  shutdown runs: the listening socket closes, in-flight requests get ``shutdown_timeout``
  seconds (uvicorn's ``timeout_graceful_shutdown``), then the lifespan's shutdown.
- SIGINT (Ctrl-C), or a second SIGTERM, skips the drain (or cuts it short): uvicorn's shutdown
  at once. A second SIGINT stops waiting for in-flight requests (uvicorn's force exit).
- The signal is not raised again once stopped (uvicorn does, so its process dies of it): the
  process exits 0 after a clean stop, the exit code the deployment documents.

Under ``--workers N`` each worker process runs this server on the socket the supervisor bound
(:mod:`graphql_api.workers`). The drain overrides uvicorn's ``handle_exit``, ``on_tick`` and
``capture_signals``; ``tests/e2e/test_workers.py`` fails if a uvicorn release changes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from types import FrameType
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
        timeout_graceful_shutdown=settings.shutdown_timeout,  # type: ignore[arg-type]  # a float works
        workers=settings.workers,
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
        "workers": settings.workers,
        "pid": os.getpid(),
    }


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_CLOSE = (b"connection", b"close")


class Server(uvicorn.Server):
    """uvicorn's server, telling its start (:func:`startup_fields`), drain and stop in one line
    each (uvicorn's own lines are quieted by ``configure_logging``), draining on SIGTERM (the
    module's docstring). ``supervised``: a worker of :mod:`graphql_api.workers`, whose
    supervisor forwards the signals it gets (a Ctrl-C reaches the worker twice: from the
    terminal and from the supervisor; it is one Ctrl-C, not a force exit)."""

    def __init__(
        self, config: uvicorn.Config, settings: Settings, *, supervised: bool = False
    ) -> None:
        super().__init__(config)
        self.settings = settings
        self.supervised = supervised
        self.drain_ends: float | None = None  # time.monotonic() the drain ends at, once begun
        self._drain_told = False

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """uvicorn's, without raising the signal again after the shutdown: exit code 0."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: it sets flags, the loop (on_tick) does the rest.
        if (
            sig == signal.SIGTERM
            and self.started
            and not self.should_exit
            and self.drain_ends is None
            and self.settings.drain_delay > 0
        ):
            self.drain_ends = time.monotonic() + self.settings.drain_delay
            self.lifespan.state["draining"] = True  # /readyz: 503 (graphql_api.app.readyz)
            self.config.encoded_headers = [*self.config.encoded_headers, _CLOSE]  # each second
            self.server_state.default_headers = [*self.server_state.default_headers, _CLOSE]
            return
        if self.supervised and sig == signal.SIGINT and self.should_exit:
            return  # the supervisor passing on the terminal's Ctrl-C: the same one
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain_ends is not None and not self._drain_told:
            self._drain_told = True
            _log.info(
                "graphql-api draining: not ready, still serving",
                extra={"drain_delay": self.settings.drain_delay},
            )
        if self.drain_ends is not None and time.monotonic() >= self.drain_ends:
            self.should_exit = True  # uvicorn's shutdown from here (a SIGINT now: force exit)
        return await super().on_tick(counter)

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

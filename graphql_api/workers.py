"""``graphql-api serve --workers N``: a supervisor process and N worker processes on one port.

The supervisor binds the socket once (uvicorn's ``Config.bind_socket``) and runs uvicorn's own
multiprocess supervisor (``uvicorn.supervisors.multiprocess``): workers started with
multiprocessing's *spawn* (each imports the service afresh: nothing is shared but the socket),
a health check over a pipe every half second (a worker that does not answer within
``timeout_worker_healthcheck`` seconds is killed and replaced), and a worker that exits with
uvicorn's ``STARTUP_FAILURE`` code stops it all rather than being started again and again. Two
small subclasses put the service in it, where uvicorn would run its plain server:

- :class:`_Worker` (uvicorn's ``Process``) configures logging in the worker (the same scrubbed
  secrets) and runs our :class:`~graphql_api.server.Server` (the arrival-deadline protocol, the
  startup and stop lines, the drain); the app is built in the worker, by uvicorn's app factory
  (:func:`worker_app`), while the health-check thread already answers.
- :class:`_Supervisor` (uvicorn's ``Multiprocess``) starts :class:`_Worker` wherever uvicorn
  starts a ``Process``; gives a starting worker :data:`FIRST_ANSWER_WITHIN` seconds to answer
  its first health check (uvicorn waits 5 s, blocking, then kills it); logs a dead worker
  (``WARNING``, its pid and exit code) and replaces it; passes SIGTERM (each worker drains) or
  SIGINT (no drain) on to every worker, a second one too; and marks each worker that exits dead
  for Prometheus. SIGHUP, SIGTTIN and SIGTTOU (uvicorn's restart, one more and one fewer
  worker) are ignored with a line saying so: restart the service, or change
  ``GRAPHQL_API_WORKERS``, instead.

Writing our own supervisor on multiprocessing would take about as many lines as the overrides,
without uvicorn's health checks; ``tests/e2e/test_workers.py`` fails if a uvicorn release
changes what the subclasses rely on.

Metrics: the workers write their figures to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus-client's multiprocess mode, which ``/metrics`` aggregates). When it is unset the
supervisor sets it to a private temporary directory it removes at exit; when set, it uses that
directory and empties it (its ``*.db`` files) at start.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from graphql_api.config import Settings
from graphql_api.server import Server, server_config, startup_fields

__all__ = ["FIRST_ANSWER_WITHIN", "MULTIPROC_DIR", "supervise", "worker_app"]

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Seconds a new worker may take to answer its first health check: starting, a worker imports
# the service (seconds on a busy or CPU-limited machine) before it can answer; uvicorn's 5 s
# would kill it, again and again.
FIRST_ANSWER_WITHIN = 60.0
_log = logging.getLogger("graphql_api.workers")


def worker_app(settings: Settings) -> Any:
    """The app, built in a worker (uvicorn calls this factory as its server starts). A worker
    that cannot build it exits with ``STARTUP_FAILURE``: the supervisor then stops."""
    from graphql_api.app import create_app

    try:
        return create_app(settings)
    except Exception:
        _log.exception("graphql-api worker could not build the app")
        sys.exit(STARTUP_FAILURE)


_PR_SET_PDEATHSIG = 1  # prctl(2)


def _stop_with(supervisor: int) -> None:
    """In a worker: a SIGTERM (so the worker drains and exits) when its supervisor dies, even
    killed with SIGKILL, which passes nothing on (Linux's parent-death signal; uvicorn's
    workers run on). Elsewhere, or should prctl fail, the worker runs on as uvicorn's do."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return
    if os.getppid() != supervisor:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


class _Worker(Process):
    """A worker process running our server (uvicorn's runs its plain one)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], settings: Settings):
        self.settings = settings
        self.starting_until: float | None = None  # until its first answer to a health check
        self.supervisor = os.getpid()
        super().__init__(config, sockets)

    def start(self) -> None:
        super().start()
        self.starting_until = time.monotonic() + FIRST_ANSWER_WITHIN
        self.parent_conn.send(b"ping")  # answered once the worker has imported what it runs

    def healthy(self, timeout: float) -> bool:
        """uvicorn's health check (an answer within ``timeout`` seconds), once the worker has
        answered its first; until then, alive and within :data:`FIRST_ANSWER_WITHIN` of its
        start, without waiting on it."""
        if self.starting_until is None:
            return self.is_alive(timeout)
        if not self.process.is_alive():
            return False
        try:
            if self.parent_conn.poll():
                self.parent_conn.recv()
                self.starting_until = None
                return True
        except (OSError, EOFError):
            return False
        return time.monotonic() < self.starting_until

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # in the worker
        """uvicorn's, with our logging: the health checks are answered from the start (the
        service's imports take seconds on a busy machine), then the server runs."""
        _stop_with(self.supervisor)
        server = self.server  # built before the health-check thread reads it
        threading.Thread(target=self.always_pong, daemon=True).start()
        from graphql_api.cli import exit_now, secrets_of
        from graphql_api.observability import configure_logging

        settings = self.settings
        configure_logging(settings.log_level, settings.log_format, secrets_of(settings))
        server.run(sockets)  # a worker that cannot start exits 3 from here (SystemExit)
        exit_now(0)

    @property
    def server(self) -> Server:
        if self._server is None:
            self._server = Server(self.config, self.settings, supervised=True)
        return cast(Server, self._server)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, starting :class:`_Worker` processes (module docstring)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], settings: Settings):
        super().__init__(config, sockets)  # handles the signals from here on
        self.settings = settings
        self.failed = False  # a worker could not start
        self.stop_signal = signal.SIGTERM  # what the workers get when the supervisor stops

    def _start(self) -> _Worker:
        worker = _Worker(self.config, self.sockets, self.settings)
        worker.start()
        return worker

    def init_processes(self) -> None:
        self.processes = [self._start() for _ in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if cast(_Worker, process).healthy(self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # dead, or hung (no answer to the health check)
            process.join()
            fields = {"pid": process.pid, "exit_code": process.exitcode}
            _forget(process)
            if process.exitcode == STARTUP_FAILURE:
                _log.error("graphql-api worker failed to start: stopping", extra=fields)
                self.failed = True
                self.stop_signal = signal.SIGINT  # no drain: it never served
                self.should_exit.set()
                return
            _log.warning("graphql-api worker died: starting another", extra=fields)
            self.processes[index] = self._start()

    def handle_int(self) -> None:
        self.stop_signal = signal.SIGINT
        super().handle_int()

    def handle_hup(self) -> None:
        _log.warning("graphql-api supervisor: SIGHUP ignored (restart the service instead)")

    def handle_ttin(self) -> None:
        _log.warning("graphql-api supervisor: SIGTTIN ignored (GRAPHQL_API_WORKERS sets workers)")

    def handle_ttou(self) -> None:
        _log.warning("graphql-api supervisor: SIGTTOU ignored (GRAPHQL_API_WORKERS sets workers)")

    def terminate_all(self) -> None:
        for sock in self.sockets:  # our copy: each worker keeps its own through its drain
            sock.close()
        self._signal_all(self.stop_signal)

    def join_all(self) -> None:
        for process in self.processes:
            while process.process.is_alive():
                process.process.join(0.1)
                for sig in tuple(self.signal_queue):  # a second SIGTERM, a SIGINT: passed on
                    self.signal_queue.remove(sig)
                    if sig in (signal.SIGINT, signal.SIGTERM):
                        self._signal_all(sig)
            _forget(process)

    def _signal_all(self, sig: int) -> None:
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)


def _forget(process: Process) -> None:
    """A worker has exited: its live gauges leave the aggregated metrics."""
    if process.pid is not None:
        mark_process_dead(process.pid)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _metrics_directory() -> Iterator[Path]:
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # a previous run's figures
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="graphql-api-metrics-"))
    os.environ[MULTIPROC_DIR] = str(path)  # before the workers start: they inherit it
    try:
        yield path
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(path, ignore_errors=True)


def supervise(settings: Settings) -> int:
    """Run ``settings.workers`` workers on one socket until SIGTERM or SIGINT; the exit code
    (0 after a clean stop, 1 when the socket or a worker could not start, 2 when the tracing
    asked for cannot be given)."""
    from graphql_api.tracing import TracingUnavailable, from_environ

    try:  # what the workers would refuse at startup, refused once here
        tracing = from_environ()
    except TracingUnavailable as exc:
        print(f"graphql-api: {exc}", file=sys.stderr)
        return 2
    if tracing is not None:
        tracing.shutdown()
    config = server_config(functools.partial(worker_app, settings), settings, factory=True)
    try:
        sock = config.bind_socket()
    except SystemExit:  # uvicorn's STARTUP_FAILURE, logged: the port taken
        return 1
    with sock, _metrics_directory() as metrics:
        supervisor = _Supervisor(config, [sock], settings)
        fields = startup_fields(settings, sock.getsockname()[1])
        _log.info("graphql-api supervisor started", extra={**fields, "metrics_dir": str(metrics)})
        supervisor.run()
        _log.info("graphql-api supervisor stopped", extra={"failed": supervisor.failed})
    return 1 if supervisor.failed else 0

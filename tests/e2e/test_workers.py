"""The real CLI stopping as an orchestrator stops it, and under ``--workers N``
(graphql_api/workers.py: a supervisor and N worker processes on one port).

The drain (graphql_api/server.py): on SIGTERM /readyz answers 503 at once while every request
is still served (with ``Connection: close``); ``GRAPHQL_API_DRAIN_DELAY`` seconds later the
listening socket closes, in-flight requests finish, and the process exits 0. SIGINT or a second
SIGTERM skip it. The in-flight request is held by an upstream served over HTTP that answers a
gated product group only when the test opens the gate, so nothing here depends on speed: the
figures the tests measure (SIGTERM to readyz 503, to the socket closed, to exit) are printed
(``pytest -s``), and only the contract's lower bound (the socket stays open for the drain) is
asserted.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from graphql_api.server import Server
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app
from tests.helpers import (
    LOOPBACK_TLS,
    Service,
    free_port,
    http_get,
    http_post,
    serve_in_thread,
    start_cli,
)

pytestmark = pytest.mark.e2e
GATED = "7"  # the product group whose upstream answer waits for the test's gate
QUERY = """query($group: ID!) { productGroupProducts(productGroupId: $group, first: 2) {
  nodes { pin { id } } } }"""
WAIT = 20.0  # seconds any one wait may take on a loaded machine before the test fails


@dataclass
class GatedUpstream:
    """The fake Pinterest over HTTP; a request for product group ``GATED`` is answered once the
    gate is open (``arrived`` is set when one is waiting)."""

    url: str = ""
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def upstream() -> Iterator[GatedUpstream]:
    gated = GatedUpstream()
    inner = asgi_app(FakePinterest(build_catalog(30)))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and f"/product_groups/{GATED}/" in scope["path"]:
            gated.arrived.set()
            for _ in range(int(WAIT * 100)):
                if gated.gate.is_set():
                    break
                await asyncio.sleep(0.01)
        await inner(scope, receive, send)

    with serve_in_thread(app) as url:
        gated.url = url
        try:
            yield gated
        finally:
            gated.gate.set()  # never leave a request hanging


def _environment(upstream: GatedUpstream, **more: str) -> dict[str, str]:
    return {
        "PINTEREST_API_BASE_URL": upstream.url,
        "GRAPHQL_API_RETRY_ATTEMPTS": "1",
        "GRAPHQL_API_UPSTREAM_TIMEOUT": str(WAIT),
        "GRAPHQL_API_REQUEST_DEADLINE": str(3 * WAIT),
        **more,
    }


def _query(base: str, group: str, client: httpx.Client | None = None) -> httpx.Response:
    body = {"query": QUERY, "variables": {"group": group}}
    headers = {"Authorization": "Bearer tok"}
    if client is not None:
        return client.post(f"{base}/graphql", json=body, headers=headers)
    return http_post(f"{base}/graphql", json=body, headers=headers, timeout=3 * WAIT)


def _answered(response: httpx.Response) -> httpx.Response:
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return response


def _in_flight(pool: ThreadPoolExecutor, base: str, upstream: GatedUpstream) -> Future[Any]:
    """A GraphQL request held at the upstream until the gate opens."""
    pending = pool.submit(_query, base, GATED)
    assert upstream.arrived.wait(WAIT), "the request did not reach the upstream"
    return pending


def _until(check: Any, what: str) -> float:
    """Polls ``check()`` until true (bounded); the monotonic time it became true."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {WAIT} s")


def _draining(base: str) -> bool:
    response = http_get(f"{base}/readyz", timeout=5)
    if response.status_code == 200:
        return False
    assert (response.status_code, response.json()) == (503, {"status": "draining"})
    return True


def _refused(base: str) -> bool:
    port = int(base.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _log(path: Path) -> list[dict[str, Any]]:
    """The JSON lines written so far (a line still being written is left out)."""
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line) for line in lines if line.startswith("{")]


def _messages(path: Path, logger: str = "graphql_api.server") -> list[str]:
    return [line["message"] for line in _log(path) if line["logger"] == logger]


def _report(what: str, **seconds: float) -> None:
    print(f"\n{what}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in seconds.items()))


# --- the drain -----------------------------------------------------------------------------


def test_sigterm_drains_while_serving_and_a_second_sigterm_ends_it(
    tmp_path: Path, upstream: GatedUpstream
) -> None:
    log = tmp_path / "service.log"
    environment = _environment(upstream, GRAPHQL_API_DRAIN_DELAY="120")
    with (
        start_cli(log, **environment) as service,
        ThreadPoolExecutor(2) as pool,
        httpx.Client(timeout=WAIT, verify=LOOPBACK_TLS) as kept_alive,
    ):
        assert _query(service.url, "1", kept_alive).headers.get("connection") != "close"
        pending = _in_flight(pool, service.url, upstream)
        sent = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        not_ready = _until(lambda: _draining(service.url), "readyz 503 draining")
        # Still serving everything, each response closing its connection.
        assert http_get(f"{service.url}/healthz").status_code == 200
        fresh = _query(service.url, "1")
        assert _answered(fresh).headers["connection"] == "close"
        reused = _query(service.url, "1", kept_alive)  # on the connection opened before
        assert _answered(reused).headers["connection"] == "close"
        assert service.process.poll() is None
        assert not _refused(service.url)
        upstream.gate.set()
        _answered(pending.result(timeout=WAIT))
        service.process.send_signal(signal.SIGTERM)  # a second one: stop now
        assert service.process.wait(timeout=WAIT) == 0
        stopped = time.monotonic()
    _report("drain ended by a second SIGTERM", readyz_503=not_ready - sent, exit=stopped - sent)
    assert _messages(log)[-2:] == ["graphql-api draining: not ready, still serving",
                                   "graphql-api stopped"]  # fmt: skip
    (draining,) = [line for line in _log(log) if line["message"].startswith("graphql-api drain")]
    assert draining["drain_delay"] == 120


def test_after_the_drain_it_stops_accepting_finishes_in_flight_requests_and_exits_0(
    tmp_path: Path, upstream: GatedUpstream
) -> None:
    drain = 1.0
    log = tmp_path / "service.log"
    environment = _environment(upstream, GRAPHQL_API_DRAIN_DELAY=str(drain))
    with start_cli(log, **environment) as service, ThreadPoolExecutor(1) as pool:
        pending = _in_flight(pool, service.url, upstream)
        sent = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        not_ready = _until(lambda: _draining(service.url), "readyz 503 draining")
        closed = _until(lambda: _refused(service.url), "the listening socket closed")
        assert closed - sent >= drain  # never before the drain is over
        assert service.process.poll() is None  # waiting for the request in flight
        upstream.gate.set()
        _answered(pending.result(timeout=WAIT))
        assert service.process.wait(timeout=WAIT) == 0
        stopped = time.monotonic()
    _report(
        f"drain of {drain} s",
        readyz_503=not_ready - sent,
        socket_closed=closed - sent,
        exit_after_the_gate=stopped - sent,
    )
    assert _messages(log)[-2:] == ["graphql-api draining: not ready, still serving",
                                   "graphql-api stopped"]  # fmt: skip


def test_sigint_skips_the_drain(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    with start_cli(log, "--demo", GRAPHQL_API_DRAIN_DELAY="120") as service:
        service.process.send_signal(signal.SIGINT)
        assert service.process.wait(timeout=WAIT) == 0  # well within the 120 s drain
    assert "graphql-api stopped" in _messages(log)
    assert not any(message.startswith("graphql-api drain") for message in _messages(log))


def test_a_port_taken_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "graphql_api", "serve", "--demo", "--port", str(port)],
            capture_output=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr


def test_the_uvicorn_internals_the_drain_relies_on() -> None:
    """uvicorn's Server calls ``handle_exit(sig, frame)`` from the signal handlers that
    ``capture_signals`` installs, ``on_tick(counter)`` from ``main_loop`` (its result ends the
    loop), and builds each response's headers from ``server_state.default_headers``, refreshed
    from ``config.encoded_headers``; the lifespan state is copied into each request's scope."""
    source = inspect.getsource(uvicorn.Server)
    assert "with self.capture_signals():" in source
    assert "signal.signal(sig, self.handle_exit)" in source
    assert "should_exit = await self.on_tick(counter)" in source
    assert "self.server_state.default_headers = date_header + self.config.encoded_headers" in (
        source
    )
    for name in ("handle_exit", "on_tick", "capture_signals", "startup", "shutdown"):
        ours, theirs = getattr(Server, name), getattr(uvicorn.Server, name)
        assert inspect.signature(ours).parameters == inspect.signature(theirs).parameters, name
    from uvicorn.protocols.http import httptools_impl

    protocol = inspect.getsource(httptools_impl)
    assert "default_headers=self.server_state.default_headers" in protocol
    assert '"state": self.app_state.copy()' in protocol
    assert "app_state=self.lifespan.state" in source


# --- workers -------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        status = Path(f"/proc/{pid}/status").read_text()
    except (ProcessLookupError, FileNotFoundError):  # gone, or gone between the two
        return False
    return "zombie" not in status


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _worker_pids(log: Path) -> list[int]:
    """The pids of the workers' startup lines, in order."""
    return [
        line["pid"]
        for line in _log(log)
        if line["logger"] == "graphql_api.server"
        and line["message"].startswith("graphql-api started")
    ]


def _supervisor_line(log: Path) -> dict[str, Any]:
    (line,) = [x for x in _log(log) if x["message"] == "graphql-api supervisor started"]
    return line


def _serving(log: Path, count: int) -> list[int]:
    """Waits (bounded) until ``count`` workers have written their startup line."""
    _until(lambda: len(_worker_pids(log)) >= count, f"{count} workers started")
    return _worker_pids(log)


def _answered_by(log: Path, path: str, status: int = 200) -> set[int]:
    """The pids of the access lines of ``path`` with ``status``."""
    return {
        line["pid"]
        for line in _log(log)
        if line["logger"] == "graphql_api.access"
        and (line["path"], line["status"]) == (path, status)
    }


def _spread(service: Service, log: Path, pids: set[int], path: str, status: int) -> None:
    """Sends requests to ``path`` (each on a new connection, 4 at a time, at most 400) until
    each of ``pids`` has answered one with ``status``."""

    def ask(_: int) -> int:
        return http_get(f"{service.url}{path}", timeout=WAIT).status_code

    with ThreadPoolExecutor(4) as pool:
        for _ in range(100):
            assert set(pool.map(ask, range(4))) == {status}
            if pids <= _answered_by(log, path, status):
                return
    raise AssertionError(
        f"{path}: not every worker answered {status}: {_answered_by(log, path, status)}"
    )


def _stopped_cleanly(service: Service, log: Path, workers: list[int]) -> None:
    """After the supervisor's exit: no worker left, and the metrics directory it made gone."""
    assert not [pid for pid in workers if _alive(pid)]
    assert not Path(_supervisor_line(log)["metrics_dir"]).exists()
    assert _messages(log, "graphql_api.workers")[-1] == "graphql-api supervisor stopped"


def test_two_workers_serve_one_port_and_stop_at_once_on_sigint(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    with start_cli(log, "--demo", "--workers", "2", GRAPHQL_API_DRAIN_DELAY="120") as service:
        workers = _serving(log, 2)
        assert len(set(workers)) == 2
        assert set(workers) == _children(service.pid) & set(workers)  # the supervisor's own
        supervisor = _supervisor_line(log)
        assert (supervisor["workers"], supervisor["pid"]) == (2, service.pid)
        assert Path(supervisor["metrics_dir"]).is_dir()
        _answered(_query(service.url, "1"))
        _spread(service, log, set(workers), "/healthz", 200)
        service.process.send_signal(signal.SIGINT)  # passed on: no drain
        assert service.process.wait(timeout=WAIT) == 0  # well within the 120 s drain
    _stopped_cleanly(service, log, workers)
    assert not any(message.startswith("graphql-api drain") for message in _messages(log))
    assert _messages(log).count("graphql-api stopped") == 2


def test_sigterm_drains_every_worker_and_in_flight_requests_complete(
    tmp_path: Path, upstream: GatedUpstream
) -> None:
    log = tmp_path / "service.log"
    environment = _environment(upstream, GRAPHQL_API_DRAIN_DELAY="120")
    with start_cli(log, "--workers", "2", **environment) as service, ThreadPoolExecutor(1) as pool:
        workers = _serving(log, 2)
        pending = _in_flight(pool, service.url, upstream)
        sent = time.monotonic()
        service.process.send_signal(signal.SIGTERM)

        def draining() -> list[int]:
            messages = ((line["pid"], line["message"]) for line in _log(log))
            return sorted(pid for pid, m in messages if m.startswith("graphql-api drain"))

        # The supervisor passes the signal on from its loop (every half second): each worker
        # says when its drain begins; from then on its /readyz is 503.
        _until(lambda: draining() == sorted(workers), "both workers draining")
        _spread(service, log, set(workers), "/readyz", 503)  # readyz 503 from both
        not_ready = time.monotonic()
        assert _answered(_query(service.url, "1")).headers["connection"] == "close"
        service.process.send_signal(signal.SIGTERM)  # a second one: passed on, the drain ends
        closed = _until(lambda: _refused(service.url), "the listening socket closed")
        assert service.process.poll() is None  # a worker waits for the request in flight
        upstream.gate.set()
        _answered(pending.result(timeout=WAIT))
        assert service.process.wait(timeout=WAIT) == 0
        stopped = time.monotonic()
    _report(
        "2 workers, drain ended by a second SIGTERM",
        readyz_503_from_both=not_ready - sent,
        socket_closed=closed - sent,
        exit_after_the_gate=stopped - sent,
    )
    _stopped_cleanly(service, log, workers)
    assert _messages(log).count("graphql-api stopped") == 2


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_1.db").write_bytes(b"a previous run's")
    log = tmp_path / "service.log"
    with start_cli(
        log, "--demo", "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics)
    ) as service:
        first, second = _serving(log, 2)
        assert not (metrics / "counter_1.db").exists()  # emptied at start
        os.kill(first, signal.SIGKILL)
        _answered(_query(service.url, "1"))  # the other worker answers meanwhile
        third = _serving(log, 3)[2]
        assert third not in (first, second)
        (died,) = [line for line in _log(log) if line["level"] == "WARNING"]
        assert died["message"] == "graphql-api worker died: starting another"
        assert (died["pid"], died["exit_code"]) == (first, -signal.SIGKILL)
        _spread(service, log, {third}, "/healthz", 200)  # the new one serves
        assert service.stop(timeout=WAIT) == 0
    assert not [pid for pid in (first, second, third) if _alive(pid)]
    assert metrics.is_dir()  # given: kept


def test_the_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL passes nothing on: each worker's parent-death signal (SIGTERM) stops it, as a
    SIGTERM would, instead of it serving on as an orphan."""
    log = tmp_path / "service.log"
    with start_cli(log, "--demo", "--workers", "2") as service:
        workers = _serving(log, 2)
        service.process.kill()
        assert service.process.wait(timeout=WAIT) == -signal.SIGKILL
        _until(lambda: not [pid for pid in workers if _alive(pid)], "both workers gone")
    stopped = [line["pid"] for line in _log(log) if line["message"] == "graphql-api stopped"]
    assert sorted(stopped) == sorted(workers)


def test_a_worker_that_cannot_start_stops_the_service(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"format": "something else"}')  # refused when a worker builds the app
    log = tmp_path / "service.log"
    port = free_port()
    with log.open("wb") as output:
        done = subprocess.run(
            [sys.executable, "-m", "graphql_api", "serve", "--demo", "--workers", "2",
             "--port", str(port), "--operations-allowlist", str(manifest)],
            stdout=output, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1, log.read_text()
    failed = [line for line in _log(log) if line["level"] == "ERROR"]
    assert "graphql-api worker failed to start: stopping" in [x["message"] for x in failed]
    assert _messages(log, "graphql_api.workers")[-1] == "graphql-api supervisor stopped"
    assert not _worker_pids(log)


def test_the_uvicorn_internals_the_supervisor_relies_on() -> None:
    """uvicorn's Multiprocess starts a ``Process`` only in the methods ``_Supervisor`` overrides
    (``restart_all`` from ``handle_hup``, overridden too), runs them from ``run``; its Process
    runs ``self.server`` after starting the health-check thread, as ``_Worker.target`` does."""
    from uvicorn.supervisors import multiprocess

    from graphql_api.workers import _Supervisor, _Worker

    starting = {
        name
        for name, method in inspect.getmembers(multiprocess.Multiprocess, inspect.isfunction)
        if "Process(self.config, self.sockets)" in inspect.getsource(method)
    }
    assert starting == {"init_processes", "keep_subprocess_alive", "restart_all", "handle_ttin"}
    overridden = {name for name in vars(_Supervisor) if callable(vars(_Supervisor)[name])}
    assert starting - {"restart_all"} <= overridden
    assert {"handle_hup", "handle_int", "terminate_all", "join_all"} <= overridden
    callers = {
        name
        for name, method in inspect.getmembers(multiprocess.Multiprocess, inspect.isfunction)
        if "self.restart_all()" in inspect.getsource(method)
    }
    assert callers == {"handle_hup"}
    run = inspect.getsource(multiprocess.Multiprocess.run)
    for step in ("self.init_processes()", "self.handle_signals()", "self.keep_subprocess_alive()",
                 "self.terminate_all()", "self.join_all()"):  # fmt: skip
        assert step in run, step
    target = inspect.getsource(multiprocess.Process.target)
    assert "threading.Thread(target=self.always_pong, daemon=True).start()" in target
    assert "self.server.run(sockets)" in target
    assert "self.child_conn.send(self.server.started)" in inspect.getsource(
        multiprocess.Process.pong
    )
    assert "if process.exitcode == STARTUP_FAILURE:" in inspect.getsource(
        multiprocess.Multiprocess.keep_subprocess_alive
    )
    for name in ("target", "server", "__init__"):
        assert name in vars(_Worker)
    params = inspect.signature(multiprocess.Process.target).parameters
    assert list(params) == list(inspect.signature(_Worker.target).parameters)


def _requests_counted(text: str) -> float:
    """graphql_api_requests_total summed over its labels, in a /metrics answer."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "graphql_api_requests"
        for sample in family.samples
        if sample.name == "graphql_api_requests_total"
    )


def test_every_scrape_counts_every_workers_requests(tmp_path: Path) -> None:
    """Requests answered by both workers; scrapes answered by both workers: each counts them
    all (the supervisor's PROMETHEUS_MULTIPROC_DIR, read by /metrics in every worker)."""
    log = tmp_path / "service.log"
    with start_cli(log, "--demo", "--workers", "2") as service:
        workers = set(_serving(log, 2))
        sent = 0
        with ThreadPoolExecutor(4) as pool:
            for _ in range(100):  # until both workers have answered a query
                answers = list(pool.map(lambda _: _query(service.url, "1"), range(4)))
                sent += len(answers)
                assert {answer.status_code for answer in answers} == {200}
                if workers <= _answered_by(log, "/graphql"):
                    break
        assert workers <= _answered_by(log, "/graphql"), "one worker answered every query"
        scrapes: list[float] = []
        for _ in range(100):  # until both workers have answered a scrape
            scrapes.append(_requests_counted(http_get(f"{service.url}/metrics").text))
            if workers <= _answered_by(log, "/metrics"):
                break
        assert workers <= _answered_by(log, "/metrics"), "one worker answered every scrape"
        assert set(scrapes) == {sent}
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=WAIT) == 0

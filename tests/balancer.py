"""HAProxy in front of replicas of the real service, for tests/e2e/test_balanced.py.

:class:`HAProxy` runs Debian's haproxy binary on the configuration the project ships
(``deploy/haproxy/haproxy.cfg``), its ``LB_*`` variables pointing at loopback replicas, and
reads its servers' states from its stats socket (``show stat``). :class:`Replica` is one
service process (``graphql-api serve``, through :func:`tests.helpers.start_cli`) on a port of
its own, which the test can stop and start again on that port.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers import Service, free_port, installed, start_cli

__all__ = ["CONFIG", "HAProxy", "Replica", "haproxy_binary", "until"]

CONFIG = Path(__file__).parents[1] / "deploy" / "haproxy" / "haproxy.cfg"
_DEBIAN_BINARY = "/usr/sbin/haproxy"  # not on PATH for every user: Debian puts it in sbin


def haproxy_binary() -> str:
    """haproxy (CI installs Debian's package; a developer machine without it skips the tests
    that need it, CI fails instead). Debian's is in /usr/sbin, often not on PATH."""
    return installed("haproxy", "haproxy", _DEBIAN_BINARY)


def until(condition: Callable[[], bool], seconds: float, what: str, step: float = 0.02) -> float:
    """Poll ``condition`` until true (at most ``seconds``); the monotonic time it became true."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(step)
    pytest.fail(f"{what}: not within {seconds} s")


class HAProxy:
    """haproxy in the foreground on ``deploy/haproxy/haproxy.cfg``, listening on a free loopback
    port, balancing ``servers`` (``host:port``, named ``replica_1``...); more ``LB_*`` settings
    in ``settings`` (e.g. ``LB_CHECK_INTER="200ms"``). Its log (stderr) goes to
    ``directory/haproxy.log``."""

    BACKEND = "graphql_api"

    def __init__(self, binary: str, servers: list[str], directory: Path, **settings: str):
        self.port = free_port()
        self.socket_path = directory / "haproxy.sock"
        self.log_path = directory / "haproxy.log"
        self.names = [f"replica_{n}" for n in range(1, len(servers) + 1)]
        self._command = [binary, "-db", "-f", str(CONFIG)]
        self._environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("LB_")},  # not the caller's
            "LB_BIND": f"127.0.0.1:{self.port}",
            **{f"LB_SERVER_{n}": server for n, server in enumerate(servers, 1)},
            "LB_STATS_SOCKET": str(self.socket_path),
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self._command, env=self._environment, stdout=log, stderr=subprocess.STDOUT
            )
        until(self._answers, 10, f"haproxy starts (log: {self.log_path})", step=0.05)

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            pytest.fail(f"haproxy exited: {self.log_path.read_text()}")
        try:
            self.stats()
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # haproxy: SIGTERM is a hard stop, at once
            self.process.wait(timeout=10)
            self.process = None

    def command(self, line: str) -> str:
        """One command on the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[str, dict[str, str]]:
        """``show stat`` of the backend: {server name or "BACKEND": its columns}."""
        lines = self.command("show stat").lstrip("# ").splitlines()
        rows = csv.DictReader(line for line in lines if line)
        return {row["svname"]: row for row in rows if row["pxname"] == self.BACKEND}

    def states(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it: "UP", "DOWN", or a transition ("UP 1/2":
        up, one check failed; "DOWN 1/2": down, one check passed)."""
        return {name: row["status"] for name, row in self.stats().items() if name in self.names}

    def wait(self, name: str, state: str, seconds: float) -> float:
        """Wait until HAProxy sees server ``name`` in ``state``; the monotonic time it did."""
        return until(lambda: self.states()[name] == state, seconds, f"{name} {state}")


class Replica:
    """One replica: the real CLI on ``port``, its output in ``directory/<name>-<start>.log``;
    started again on the same port after a stop."""

    def __init__(self, name: str, directory: Path, environment: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self._directory = directory
        self._environment = environment
        self._stack = ExitStack()
        self.starts = 0
        self.service: Service | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._directory / f"{self.name}-{self.starts}.log"

    def start(self) -> Service:
        """Start it (returns once it answers /healthz)."""
        self.starts += 1
        environment = {**self._environment, "GRAPHQL_API_PORT": str(self.port)}
        cli = start_cli(self.log_path, **environment)
        self.service = self._stack.enter_context(cli)
        return self.service

    def interrupt(self) -> None:
        """SIGINT: stop at once, without the drain (teardown)."""
        if self.service is not None and self.service.process.poll() is None:
            self.service.process.send_signal(signal.SIGINT)

    def close(self) -> None:
        """Stop it (if it runs) and wait for it."""
        self._stack.close()
        self.service = None

"""Three replicas of the real service (``graphql-api serve``, three processes) on one real Redis,
behind a real HAProxy running the configuration the project ships (deploy/haproxy/haproxy.cfg),
over a fake upstream served over HTTP, under steady load from many callers:

(a) a walk of a product group whose pages land on different replicas returns every product
    once and asks the upstream for each page once, as one replica would;
(b) a rolling restart of the three replicas (SIGTERM, start again on the same port, one at a
    time) fails no request, and no item ever reaches another caller than the one who asked;
(c) a replica told to stop answers /readyz with 503 at once and keeps serving, so HAProxy
    marks it DOWN (for its 503, not for a refused connection) before it stops accepting.

The check interval is short and the drain delay long (see DRAIN_DELAY): the timings are
measured and printed (``pytest -s``), never asserted; only what HAProxy and the replica did
while the other waited is.
"""

from __future__ import annotations

import asyncio
import math
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from graphql_api.upstream.fake import caller_mark
from tests.balancer import HAProxy, Replica, haproxy_binary, until
from tests.helpers import LOOPBACK_TLS, http_get, http_post, serve_in_thread
from tests.replicas import Upstream, replica_environment

pytestmark = pytest.mark.e2e

PRODUCTS = 120
PAGE_SIZE = 20  # the replicas' upstream page size: a walk of group 1 is 6 upstream pages
CALLERS = tuple(f"caller-{n}-token" for n in range(16))
WALKER, ALONE = "walker-token", "alone-token"
# HAProxy sees a draining replica within inter * fall (0.4 s); the rule is
# drain_delay >= inter * fall + inter + margin, here with a margin of 2 s for a busy machine.
CHECKS = {"LB_CHECK_INTER": "200ms", "LB_CHECK_FALL": "2", "LB_CHECK_RISE": "2"}
DRAIN_DELAY = 2.6
PAGE = """query Page($group: ID!, $after: String) {
  productGroupProducts(productGroupId: $group, first: 7, after: $after) {
    nodes { pin { id note } } pageInfo { hasNextPage endCursor } } }"""


@dataclass
class Cluster:
    upstream: Upstream
    haproxy: HAProxy
    replicas: list[Replica]


@pytest.fixture(scope="module")
def cluster(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The three replicas behind HAProxy, for the module's tests (cold starts are slow on a
    busy machine); each test leaves the three running and UP."""
    binary = haproxy_binary()  # skips before anything starts when there is none
    tmp_path = tmp_path_factory.mktemp("balanced")
    upstream = Upstream([*CALLERS, WALKER, ALONE], PRODUCTS)
    with serve_in_thread(upstream.app) as upstream_url:
        environment = replica_environment(
            redis_server,
            upstream_url,
            GRAPHQL_API_UPSTREAM_PAGE_SIZE=str(PAGE_SIZE),
            GRAPHQL_API_CACHE_TTL="300",  # nothing is refreshed during the test
            GRAPHQL_API_DRAIN_DELAY=str(DRAIN_DELAY),
            GRAPHQL_API_SHUTDOWN_TIMEOUT="10",
        )
        replicas = [Replica(f"replica_{n}", tmp_path, environment) for n in (1, 2, 3)]
        haproxy = HAProxy(binary, [r.address for r in replicas], tmp_path, **CHECKS)
        try:
            with ThreadPoolExecutor(3) as pool:  # cold starts, side by side
                for started in [pool.submit(replica.start) for replica in replicas]:
                    started.result()
            haproxy.start()
            for replica in replicas:
                haproxy.wait(replica.name, "UP", 10)
            yield Cluster(upstream, haproxy, replicas)
        finally:
            haproxy.stop()
            for replica in replicas:
                replica.interrupt()  # no drain: all three stop at once
            for replica in replicas:
                replica.close()


@dataclass
class Outcome:
    answered: int = 0  # responses checked
    failures: list[str] = field(default_factory=list)  # not a 200 with data and no errors
    strangers: list[str] = field(default_factory=list)  # items marked for another caller


class Load:
    """``tokens`` callers walking product groups 1-3 through ``url`` in a thread of its own,
    each with its own connections, a pause between requests; every response checked. Bounded:
    at most ``seconds``, whatever the test does."""

    def __init__(
        self, url: str, tokens: tuple[str, ...], pause: float = 0.1, seconds: float = 240
    ) -> None:
        self.url, self.tokens, self.pause, self.seconds = url, tokens, pause, seconds
        self.outcome = Outcome()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> Outcome:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the load did not stop"
        return self.outcome

    def wait(self, answered: int, seconds: float = 30) -> None:
        """Wait until the callers have had ``answered`` responses in all."""
        until(lambda: self.outcome.answered >= answered, seconds, f"{answered} answers")

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except TimeoutError:  # the bound: the test waiting for answers fails
            self.outcome.failures.append(f"the load stopped after {self.seconds} s")

    async def _run(self) -> None:
        async with asyncio.timeout(self.seconds), asyncio.TaskGroup() as tasks:
            for n, token in enumerate(self.tokens):
                tasks.create_task(self._caller(token, str(1 + n % 3)))

    async def _caller(self, token: str, group: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        # A client lets its idle connections go before HAProxy closes them (its timeout
        # http-keep-alive, 5 s): never a request sent on a connection being closed.
        limits = httpx.Limits(keepalive_expiry=2)
        async with httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=30, limits=limits, verify=LOOPBACK_TLS
        ) as client:
            after: str | None = None
            while not self._stop.is_set():
                body = {"query": PAGE, "variables": {"group": group, "after": after}}
                try:
                    response = await client.post("/graphql", json=body)
                    after = self._check(token, response)
                except Exception as error:  # a transport error, or a body not as expected
                    self.outcome.failures.append(f"{token}: {error!r}")
                    after = None
                self.outcome.answered += 1
                await asyncio.sleep(self.pause)

    def _check(self, token: str, response: httpx.Response) -> str | None:
        """Record a failure or a stranger's item; the cursor of the next page."""
        result: dict[str, Any] = (
            orjson.loads(response.content) if response.status_code == 200 else {}
        )
        if result.get("errors") or not result.get("data"):
            self.outcome.failures.append(f"{token}: {response.status_code} {response.text[:200]}")
            return None
        connection = result["data"]["productGroupProducts"]
        mark = caller_mark(token)
        strangers = [node for node in connection["nodes"] if node["pin"]["note"] != mark]
        self.outcome.strangers += [f"{token}: {node}" for node in strangers]
        page = connection["pageInfo"]
        return page["endCursor"] if page["hasNextPage"] else None


def _walk(url: str, token: str) -> tuple[list[str], list[str]]:
    """Group 1 page by page at ``url``: the products' ids and the requests' ids."""
    ids: list[str] = []
    request_ids: list[str] = []
    after: str | None = None
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, verify=LOOPBACK_TLS
    ) as client:
        for n in range(PRODUCTS):  # bounded: a page has at least one product
            request_ids.append(f"{token}-{n}")
            response = client.post(
                "/graphql",
                json={"query": PAGE, "variables": {"group": "1", "after": after}},
                headers={"X-Request-ID": request_ids[-1]},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            result = orjson.loads(response.content)
            assert "errors" not in result, result["errors"]
            connection = result["data"]["productGroupProducts"]
            ids += [node["pin"]["id"] for node in connection["nodes"]]
            if not connection["pageInfo"]["hasNextPage"]:
                return ids, request_ids
            after = connection["pageInfo"]["endCursor"]
    pytest.fail("the walk did not end")


def _served(replica: Replica, request_ids: list[str]) -> set[str]:
    """Which of ``request_ids`` the replica's access log (every start of it) shows."""
    wanted = set(request_ids)
    seen: set[str] = set()
    for log in replica.log_path.parent.glob(f"{replica.name}-*.log"):
        for line in log.read_bytes().splitlines():
            record = orjson.loads(line) if line.startswith(b"{") else {}
            if record.get("message") == "request" and record.get("request_id") in wanted:
                seen.add(record["request_id"])
    return seen


def test_a_walk_across_replicas_asks_the_upstream_as_one_replica(cluster: Cluster) -> None:
    upstream, balancer = cluster.upstream, cluster.haproxy
    catalog = [str(item["pin"]["id"]) for item in upstream.fake.items]
    pages = math.ceil(PRODUCTS / PAGE_SIZE)
    with Load(balancer.url, CALLERS) as load:
        load.wait(len(CALLERS))
        one = cluster.replicas[0].service
        assert one is not None
        alone, _ = _walk(one.url, ALONE)  # one replica alone, for comparison
        walked, request_ids = _walk(balancer.url, WALKER)
        outcome = load.stop()
    assert alone == catalog
    assert upstream.requests_of(ALONE) == pages
    # Through the balancer: every product once, in order, from pages served by several
    # replicas, and no more upstream requests than the one replica made.
    assert walked == catalog
    served = {r.name: _served(r, request_ids) for r in cluster.replicas}
    assert set().union(*served.values()) == set(request_ids), served
    assert sum(1 for ids in served.values() if ids) >= 2, served
    assert upstream.requests_of(WALKER) == upstream.requests_of(ALONE) == pages
    assert outcome.failures == []
    assert outcome.strangers == []
    assert outcome.answered > len(CALLERS)


@dataclass
class Restart:
    """What one replica's restart showed, in seconds from its SIGTERM."""

    name: str
    not_ready: float | None = None  # /readyz answered 503 {"status": "draining"}
    down: float = 0.0  # HAProxy saw it DOWN
    down_check: str = ""  # why: HAProxy's last check status and code (L7STS 503: the 503)
    alive_at_down: bool = False  # the process still ran when HAProxy saw it DOWN
    served_at_down: str = ""  # a query sent to it directly then: status, Connection header
    refused: float = 0.0  # a connection to its port was refused
    exited: float = 0.0
    exit_code: int | None = None
    started: float = 0.0  # it answered /healthz again
    up: float = 0.0  # HAProxy saw it UP again

    def line(self) -> str:
        def s(value: float | None) -> str:
            return "-" if value is None else f"{value:.2f}"

        return (
            f"{self.name}: 503 {s(self.not_ready)} DOWN {s(self.down)} ({self.down_check}, "
            f"served {self.served_at_down}) refused {s(self.refused)} exit {s(self.exited)} "
            f"(code {self.exit_code}) started {s(self.started)} UP {s(self.up)}"
        )


def _readyz(url: str) -> int | None:
    """/readyz's status (503 only with the drain's body), None once connections fail."""
    try:
        response = http_get(f"{url}/readyz", timeout=2)
    except httpx.TransportError:
        return None
    if response.status_code == 503:
        assert response.json() == {"status": "draining"}, response.text
    return response.status_code


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _restart(cluster: Cluster, replica: Replica) -> Restart:
    """SIGTERM ``replica``, follow its drain through /readyz, HAProxy and its port, start it
    again on its port and wait until HAProxy sees it UP."""
    assert replica.service is not None
    service, balancer, name = replica.service, cluster.haproxy, replica.name
    seen = Restart(name)
    sigterm = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    readyz: list[int | None] = []

    def changed() -> bool:
        readyz.append(_readyz(service.url))
        return readyz[-1] != 200

    changed_at = until(changed, 10, "readyz changes")
    if readyz[-1] == 503:  # not ready, still answering (None: it stopped accepting at once)
        seen.not_ready = changed_at - sigterm
    seen.down = balancer.wait(name, "DOWN", DRAIN_DELAY + 10) - sigterm
    seen.alive_at_down = service.process.poll() is None
    row = balancer.stats()[name]
    seen.down_check = f"{row['check_status']} {row['check_code']}".strip()
    try:
        response = http_post(
            f"{service.url}/graphql",
            json={"query": PAGE, "variables": {"group": "1"}},
            headers={"Authorization": f"Bearer {CALLERS[0]}"},
            timeout=10,
        )
        seen.served_at_down = f"{response.status_code} {response.headers.get('connection')}"
    except httpx.TransportError as error:
        seen.served_at_down = type(error).__name__
    seen.refused = until(lambda: not _accepts(replica.port), 30, "stops accepting") - sigterm
    seen.exit_code = service.process.wait(timeout=30)
    seen.exited = time.monotonic() - sigterm
    replica.close()
    replica.start()
    seen.started = time.monotonic() - sigterm
    seen.up = balancer.wait(name, "UP", 15) - sigterm
    return seen


def test_b_rolling_restart_under_load_fails_nothing(cluster: Cluster) -> None:
    balancer = cluster.haproxy
    counted = balancer.stats()["BACKEND"]
    with Load(balancer.url, CALLERS) as load:
        load.wait(len(CALLERS))
        restarts: list[Restart] = []
        for replica in cluster.replicas:
            answered = load.outcome.answered
            restarts.append(_restart(cluster, replica))
            print(f"\n{restarts[-1].line()}", end="")
            assert load.outcome.answered > answered  # the load ran throughout
        load.wait(load.outcome.answered + len(CALLERS))  # and still runs on the new three
        outcome = load.stop()
    backend = balancer.stats()["BACKEND"]
    print(
        f"\n{outcome.answered} answers, {len(outcome.failures)} failed; HAProxy retries "
        f"{backend['wretr']}, redispatches {backend['wredis']}, connection errors "
        f"{backend['econ']}, response errors {backend['eresp']}"
    )
    assert outcome.failures == []
    assert outcome.strangers == []
    # Not thanks to HAProxy's retries (deploy/haproxy/haproxy.cfg: for replicas that die
    # without draining): it retried and redispatched nothing, the drain alone did it.
    assert (backend["wretr"], backend["wredis"]) == (counted["wretr"], counted["wredis"])
    # (c) Each replica answered /readyz with 503 while still answering (not a refused
    # connection); HAProxy took it out for that 503 (L7STS: the check's status, not L4CON)
    # while it still ran and served queries (Connection: close); it exited 0.
    for seen in restarts:
        assert seen.not_ready is not None, seen
        assert seen.down_check == "L7STS 503", seen
        assert seen.alive_at_down, seen
        assert seen.served_at_down == "200 close", seen
        assert seen.exit_code == 0, seen

"""The real server: `python -m graphql_api serve --demo` under uvicorn on a loopback port."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from graphql_api.app import EXAMPLE_QUERY
from graphql_api.upstream.demo_catalog import build_catalog
from tests.helpers import http_get, http_post, serve_cli

pytestmark = pytest.mark.e2e
IDLE_TIMEOUT = 1.0  # seconds (default 5): the idle-connection tests wait for it


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server") / "server.log"


@pytest.fixture(scope="module")
def server(log_path: Path) -> Iterator[str]:
    with serve_cli(log_path, GRAPHQL_API_IDLE_TIMEOUT=str(IDLE_TIMEOUT)) as base:
        yield base


def test_health(server: str) -> None:
    assert http_get(f"{server}/healthz").json() == {"status": "ok"}


def test_example_query_over_http(server: str) -> None:
    response = http_post(f"{server}/graphql", json={"query": EXAMPLE_QUERY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    connection = response.json()["data"]["productGroupProducts"]
    assert len(connection["nodes"]) == 10
    assert connection["pageInfo"]["hasNextPage"] is True
    demo = [item["pin"]["id"] for item in build_catalog()]  # what --demo serves
    assert [node["pin"]["id"] for node in connection["nodes"]] == demo[:10]
    following = http_post(
        f"{server}/graphql",
        json={"query": EXAMPLE_QUERY, "variables": {"after": connection["pageInfo"]["endCursor"]}},
    )
    nodes = following.json()["data"]["productGroupProducts"]["nodes"]
    assert [node["pin"]["id"] for node in nodes] == demo[10:20]


def test_get_query(server: str) -> None:
    response = http_get(f"{server}/graphql", params={"query": "{ __typename }"})
    assert response.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"cost": {"requestedQueryCost": 0, "actualQueryCost": 0}},
    }


def test_graphiql_page_is_served_offline(server: str) -> None:
    page = http_get(f"{server}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "productGroupProducts" in page.text
    for asset in ("graphiql.min.js", "graphiql.min.css", "react.production.min.js", "boot.js"):
        assert f"/graphiql/static/{asset}" in page.text
        assert http_get(f"{server}/graphiql/static/{asset}").status_code == 200


def _closed_by_server(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (reads until EOF, at most 10 s)."""
    started = time.monotonic()
    sock.settimeout(10)
    while sock.recv(4096):
        pass
    return time.monotonic() - started


def test_a_connection_that_sends_nothing_is_closed(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        waited = _closed_by_server(sock)  # recv times out (an error) if it is never closed
    assert waited >= IDLE_TIMEOUT * 0.5


def test_a_connection_that_trickles_its_headers_is_closed(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        _closed_by_server(sock)


def test_keep_alive_serves_requests_and_closes_when_idle(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        for _ in range(2):  # two requests on one connection, the second after a pause
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while not reply.endswith(b'{"status":"ok"}'):
                reply += sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200")
            time.sleep(IDLE_TIMEOUT / 4)
        _closed_by_server(sock)


def test_a_client_gone_before_its_body_arrived_is_no_error(server: str, log_path: Path) -> None:
    """A caller that closes its connection halfway through its body: no traceback, no 500, an
    access line with 499, and the server goes on serving."""
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"query": "{'
        )
    lines: list[dict[str, object]] = []
    for _ in range(100):  # the access line is written once the server has seen the close
        lines = [orjson.loads(line) for line in log_path.read_bytes().splitlines()]
        if any(line.get("status") == 499 for line in lines):
            break
        time.sleep(0.1)
    assert [line["path"] for line in lines if line.get("status") == 499] == ["/graphql"]
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")]
    assert not [line for line in lines if line.get("status") == 500]
    assert http_get(f"{server}/healthz").json() == {"status": "ok"}


def test_every_response_reports_its_cost(server: str) -> None:
    """extensions.cost over real HTTP: a cold listing cost its one upstream page, the same
    request again none (answered from the caches), a request error nothing."""
    query = '{ productGroupProducts(productGroupId: "7", first: 3) { nodes { pin { id } } } }'
    cold = http_post(f"{server}/graphql", json={"query": query}).json()
    warm = http_post(f"{server}/graphql", json={"query": query}).json()
    assert cold["data"] == warm["data"]
    requested = cold["extensions"]["cost"]["requestedQueryCost"]
    assert cold["extensions"]["cost"] == {"requestedQueryCost": requested, "actualQueryCost": 1}
    assert warm["extensions"]["cost"] == {"requestedQueryCost": requested, "actualQueryCost": 0}
    invalid = http_post(f"{server}/graphql", json={"query": "{ nope }"}).json()
    assert invalid["extensions"]["cost"] == {"requestedQueryCost": 0, "actualQueryCost": 0}

"""The facade as an Apollo Federation v2 subgraph, proven with the real Apollo tools (Node):
@apollo/composition composes it with a second subgraph, and a real @apollo/gateway serves
queries that cross the two."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    parse,
    value_from_ast_untyped,
)

from graphql_api.app import create_app
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app
from tests.helpers import serve_in_thread, settings

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
CATALOG = build_catalog(40)
PIN_IDS = [item["pin"]["id"] for item in CATALOG]


@pytest.fixture(scope="module")
def node() -> str:
    binary = shutil.which("node")
    if binary is None or not (HERE / "node_modules" / "@apollo" / "gateway").is_dir():
        message = "Node and `npm ci --prefix tests/federation` are needed for these tests"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def _saves(pin_id: str) -> int:
    return sum(int(digit) for digit in pin_id)


def _cost_directives(sdl: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The @cost and @listSize of an SDL's types and fields, by coordinate (``Type``,
    ``Type.field``), with their arguments."""
    found: dict[str, dict[str, dict[str, Any]]] = {}

    def note(coordinate: str, directives: Any) -> None:
        for directive in directives or ():
            if directive.name.value in ("cost", "listSize"):
                arguments = {
                    a.name.value: value_from_ast_untyped(a.value) for a in directive.arguments
                }
                found.setdefault(coordinate, {})[directive.name.value] = arguments

    for definition in parse(sdl).definitions:
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            note(definition.name.value, definition.directives)
            for field in definition.fields or ():
                note(f"{definition.name.value}.{field.name.value}", field.directives)
    return found


PAGES = {
    "cost": {"weight": 1},
    "listSize": {
        "slicingArguments": ["first"],
        "sizedFields": ["edges", "nodes"],
        "requireOneSlicingArgument": False,
    },
}
FREE = {"cost": {"weight": 0}}


def test_composition_has_no_errors_and_no_hints_and_keeps_the_costs(node: str) -> None:
    result = subprocess.run(
        [node, "compose.mjs", f"catalog={ROOT / 'schema.graphql'}", "reviews=reviews.graphql"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    outcome = json.loads(result.stdout)
    assert outcome["errors"] == []
    assert outcome["hints"] == []
    supergraph = outcome["supergraphSdl"]
    assert 'type Pin\n  @join__type(graph: CATALOG, key: "id")' in supergraph
    assert "saves: Int! @join__field(graph: REVIEWS)" in supergraph
    # The subgraph's cost directives, every one of them in the supergraph (the interface's
    # field has none: the cost spec allows none there).
    ours = _cost_directives((ROOT / "schema.graphql").read_text())
    assert ours == {
        "Query.productGroupProducts": PAGES,
        "Query.productsByFilter": PAGES,
        "Query.pin": {"cost": {"weight": 1}},
        "Pin": {"cost": {"weight": 1}},
        "RetailProduct.pin": FREE,
        "HotelProduct.pin": FREE,
        "CreativeAssetsProduct.pin": FREE,
    }
    assert _cost_directives(supergraph) == ours


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _node_server(node: str, log: Path, script: str, *args: str) -> Iterator[None]:
    """A Node server of this folder, until the block ends; it prints "ready <url>" once up."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [node, script, *args], cwd=HERE, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            for _ in range(600):
                if "ready" in log.read_text():
                    break
                if process.poll() is not None:
                    raise RuntimeError(f"{script} exited: {log.read_text()}")
                time.sleep(0.05)
            else:
                raise RuntimeError(f"{script} did not start: {log.read_text()}")
            yield
        finally:
            process.kill()
            process.wait()


class Federation:
    def __init__(self, fake: FakePinterest, gateway: str, catalog: str) -> None:
        self.fake, self.gateway, self.catalog = fake, gateway, catalog

    def query(self, url: str, query: str, token: str) -> dict[str, Any]:
        response = httpx.post(
            url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture(scope="module")
def federation(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    logs = tmp_path_factory.mktemp("federation")
    fake = FakePinterest(CATALOG, accept_any_token=False, tokens={"fed-a", "fed-b", "fed-c"})
    reviews_port, gateway_port = _free_port(), _free_port()
    reviews_url = f"http://127.0.0.1:{reviews_port}/"
    with (
        serve_in_thread(asgi_app(fake)) as upstream,
        serve_in_thread(create_app(settings(pinterest_api_base_url=f"{upstream}/v5"))) as catalog,
        _node_server(node, logs / "reviews.log", "reviews-subgraph.mjs", str(reviews_port)),
        _node_server(
            node,
            logs / "gateway.log",
            "gateway.mjs",
            str(gateway_port),
            f"{catalog}/graphql",
            reviews_url,
        ),
    ):
        yield Federation(fake, f"http://127.0.0.1:{gateway_port}/", f"{catalog}/graphql")


PAGE = """{ productGroupProducts(productGroupId: "1", first: 6) {
  nodes { __typename catalogType pin { id title link } } pageInfo { hasNextPage endCursor } } }"""


def test_a_page_of_products_with_the_other_subgraphs_fields(federation: Federation) -> None:
    crossing = PAGE.replace("pin { id title link }", "pin { id title link saves staffNote }")
    through_gateway = federation.query(federation.gateway, crossing, "fed-a")
    direct = federation.query(federation.catalog, PAGE, "fed-a")
    assert "errors" not in through_gateway, through_gateway
    nodes = through_gateway["data"]["productGroupProducts"]["nodes"]
    for node in nodes:  # the reviews subgraph's fields, on every Pin
        pin = node["pin"]
        assert pin.pop("saves") == _saves(pin["id"])
        assert pin.pop("staffNote") == f"note for {pin['id']}"
    assert through_gateway["data"] == direct["data"]


def test_entity_lookups_use_the_callers_token_batched_and_deduplicated(
    federation: Federation,
) -> None:
    ids = [PIN_IDS[3], PIN_IDS[5], PIN_IDS[3], PIN_IDS[7]]
    before = len(federation.fake.requests)
    fields = "id title saves pinMetrics { allTime { comment } }"
    query = f"{{ staffPicks(ids: {json.dumps(ids)}) {{ {fields} }} }}"
    result = federation.query(federation.gateway, query, "fed-b")
    assert "errors" not in result, result
    picks = result["data"]["staffPicks"]
    assert [pick["id"] for pick in picks] == ids
    titles = {item["pin"]["id"]: item["pin"]["title"] for item in CATALOG}
    assert [pick["title"] for pick in picks] == [titles[i] for i in ids]
    lookups = federation.fake.requests[before:]
    assert sorted(r.url.path for r in lookups) == sorted(f"/v5/pins/{i}" for i in set(ids))
    assert {r.headers["authorization"] for r in lookups} == {"Bearer fed-b"}
    assert {r.url.params.get("pin_metrics") for r in lookups} == {"true"}


def test_unknown_ids_are_null_entities_with_errors(federation: Federation) -> None:
    ids = [PIN_IDS[9], "1", PIN_IDS[11]]
    result = federation.query(
        federation.gateway, f"{{ staffPicks(ids: {json.dumps(ids)}) {{ id title }} }}", "fed-c"
    )
    picks = result["data"]["staffPicks"]
    assert picks[0]["title"]
    assert picks[2]["title"]
    assert picks[1] is None or picks[1]["title"] is None
    assert any(error.get("extensions", {}).get("code") == "NOT_FOUND" for error in result["errors"])

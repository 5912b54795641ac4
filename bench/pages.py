"""What a page costs: parse time and bytes per page, the Redis form, the compiled projection.

    python -m bench.pages

Prints a markdown table (:func:`report`): for demo pages of 25 and 250 products and the seed
page, the CPU time to parse the response bytes into a page (median of many runs, in ms), the
``orjson.loads`` floor for the same bytes, the JSON's size and the parsed page's (pympler's deep
size, and ``models.footprint``'s estimate), the time to dump and load the Redis form, and the
compiled plan's projection of the page's products (``nodes`` of bench/run.py's query) into a
response. In process, no server; run it by hand (timings depend on the machine and its load).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from graphql import OperationDefinitionNode, parse
from pympler import asizeof
from strawberry.relay import PageInfo

from graphql_api.compiled import compile_operation, source_types
from graphql_api.internals import graphql_schema
from graphql_api.schema import schema
from graphql_api.schema.connections import CatalogProductConnection
from graphql_api.upstream import models
from graphql_api.upstream.demo_catalog import build_catalog

__all__ = ["report"]

SEED_PAGE = Path(__file__).parents[1] / "tests" / "data" / "seed_page.json"
# bench/run.py's selection: what a product listing typically asks for.
QUERY = """{ productGroupProducts(productGroupId: "1") { nodes { __typename catalogType
  pin { id title link media { mediaType } }
  ... on RetailProduct { metadata { itemId price currency availability } } } } }"""


def _cpu_ms(run: Callable[[], object], budget: float = 1.5, at_least: int = 15) -> float:
    """Median CPU time of ``run`` in ms, over as many runs as ``budget`` seconds allow."""
    times: list[float] = []
    started = time.process_time()
    while len(times) < at_least or time.process_time() - started < budget:
        before = time.process_time()
        run()
        times.append(time.process_time() - before)
        if len(times) >= 2000:
            break
    return statistics.median(times) * 1000


def _parser() -> Callable[[bytes], Any]:
    """The client's parse of a response body (before msgspec: orjson.loads, then pydantic)."""
    parse_page_json = getattr(models, "parse_page_json", None)
    if parse_page_json is not None:
        return parse_page_json  # type: ignore[no-any-return]
    return lambda body: models.parse_page(orjson.loads(body))


def _projection() -> Callable[[Any], Any]:
    core_schema = graphql_schema(schema)
    document = parse(QUERY)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    compiled = compile_operation(core_schema, operation, {}, {}, source_types(core_schema))
    (plan,) = compiled.plans.values()
    return plan


def _connection(page: Any) -> CatalogProductConnection:
    return CatalogProductConnection(
        edges=[],
        nodes=list(page.items),
        page_info=PageInfo(
            has_next_page=False, has_previous_page=False, start_cursor=None, end_cursor=None
        ),
    )


def _pages() -> list[tuple[str, bytes]]:
    catalog = build_catalog(250)
    return [
        (f"demo, {count} products", orjson.dumps({"items": catalog[:count], "bookmark": "abc"}))
        for count in (25, 250)
    ] + [("seed page (indented)", SEED_PAGE.read_bytes())]


def report() -> str:
    parse_body = _parser()
    project = _projection()
    footprint = getattr(models, "footprint", None)
    rows = [
        "| page | parse (ms CPU) | orjson.loads (ms) | parse / orjson | JSON bytes "
        "| parsed bytes | parsed / JSON | footprint / parsed | dump (ms) | load (ms) "
        "| projection (ms) |",
        "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |",
    ]
    gc.collect()
    for name, body in _pages():
        page = parse_body(body)
        dumped = models.dump_page(page)
        assert models.load_page(dumped) == page
        connection = _connection(page)
        parse_ms = _cpu_ms(lambda body=body: parse_body(body))  # type: ignore[misc]
        floor_ms = _cpu_ms(lambda body=body: orjson.loads(body))  # type: ignore[misc]
        dump_ms = _cpu_ms(lambda page=page: models.dump_page(page))  # type: ignore[misc]
        load_ms = _cpu_ms(lambda dumped=dumped: models.load_page(dumped))  # type: ignore[misc]
        project_ms = _cpu_ms(lambda c=connection: project(c))  # type: ignore[misc]
        parsed: int = asizeof.asizeof(page)  # type: ignore[no-untyped-call]
        estimate = f"{footprint(page) / parsed:.2f}" if footprint is not None else "-"
        rows.append(
            f"| {name} | {parse_ms:.2f} | {floor_ms:.2f} | {parse_ms / floor_ms:.2f} "
            f"| {len(body):,} | {parsed:,} | {parsed / len(body):.2f} | {estimate} "
            f"| {dump_ms:.2f} | {load_ms:.2f} | {project_ms:.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    print(report())


if __name__ == "__main__":
    main()

"""The processes the benchmark runs: the fake upstream, and the service with its comparison
routes. Both are ASGI apps built from the environment, for ``uvicorn --factory``.

- ``upstream``: the in-process fake of the Pinterest API over HTTP, with a latency
  (``BENCH_UPSTREAM_LATENCY`` seconds) and ``/_stats`` (requests served so far).
- ``service``: the facade as configured by the environment (``GRAPHQL_API_*``), plus
  ``/strawberry``: the same schema and context behind a default Strawberry ``GraphQLRouter``
  (Strawberry's own execution, no caches), and ``/plain/{n}``: the first ``n`` products of the
  same cached page as plain JSON in the shape of the benchmark's query, the floor.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from strawberry.fastapi import GraphQLRouter

from graphql_api.app import create_app
from graphql_api.config import Settings
from graphql_api.schema import schema
from graphql_api.schema.context import Context
from graphql_api.service import Listing
from graphql_api.upstream.demo_catalog import build_catalog
from graphql_api.upstream.fake import FakePinterest, asgi_app

TOKEN = "bench-token"


def upstream() -> Any:
    fake = FakePinterest(build_catalog(1000))
    inner = asgi_app(fake, latency=float(os.environ.get("BENCH_UPSTREAM_LATENCY", "0")))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/_stats":
            body = orjson.dumps({"requests": len(fake.requests)})
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    return app


def _project(product: Any) -> dict[str, Any]:
    """One product in the shape of bench.run.QUERY's selection."""
    pin = product.pin
    out: dict[str, Any] = {
        "__typename": type(product).__name__,
        "catalogType": product.catalog_type.value,
        "pin": {
            "id": pin.id,
            "title": pin.title,
            "link": pin.link,
            "media": {"mediaType": pin.media.media_type if pin.media else None},
        },
    }
    metadata = product.metadata
    if hasattr(metadata, "item_id"):
        out["metadata"] = {
            "itemId": metadata.item_id,
            "price": metadata.price,
            "currency": metadata.currency,
            "availability": metadata.availability.value,
        }
    return out


def service() -> FastAPI:
    settings = Settings()
    app = create_app(settings)

    async def context(request: Request) -> Context:
        return Context(request.state.resources.service, TOKEN, max_first=settings.max_first)

    app.include_router(GraphQLRouter(schema, context_getter=context), prefix="/strawberry")

    @app.get("/plain/{count}")
    async def plain(count: int, request: Request) -> Response:
        lookup = await request.state.resources.service.page(
            TOKEN,
            Listing("product_group_products", product_group_id="1"),
            None,
            pin_metrics=False,
        )
        nodes = [_project(product) for product in lookup.value.items[:count]]
        body = {"data": {"productGroupProducts": {"nodes": nodes}}}
        return Response(orjson.dumps(body), media_type="application/json")

    return app

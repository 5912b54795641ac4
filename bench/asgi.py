"""One ``POST /graphql`` straight through an app's ASGI interface: no server, no socket, so a
benchmark measures the app's own CPU (bench.cold, bench.request_cpu)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

__all__ = ["post"]


async def post(app: Any, state: Mapping[str, Any], body: bytes, *, token: str) -> bytes:
    """One POST /graphql through the ASGI interface (with the lifespan's ``state``, as a
    server passes it); the response body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("bench", 80),
        "state": dict(state),
    }
    sent = False
    chunks: list[bytes] = []
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Future()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    content = b"".join(chunks)
    if status != [200] or b'"errors"' in content:
        raise RuntimeError(f"{status}: {content[:500]!r}")
    return content

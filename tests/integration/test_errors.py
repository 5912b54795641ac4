"""Upstream failures map to stable codes; nothing internal reaches the client."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Handler, json_response, open_app, without_cost

QUERY = '{ productGroupProducts(productGroupId: "1", first: 2) { nodes { catalogType } } }'
TOKEN = "secret-token-abc123"


def _raises(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def _bytes(status: int, content: bytes) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=content)

    return handler


CASES = [
    (json_response(400, {"code": 1, "message": "bad"}), "BAD_USER_INPUT", 400, 1),
    (json_response(401, {"code": 2, "message": "no"}), "UNAUTHENTICATED", 401, 2),
    (json_response(403, {"code": 3, "message": "no"}), "FORBIDDEN", 403, 3),
    (json_response(404, {"code": 4180, "message": "gone"}), "NOT_FOUND", 404, 4180),
    (json_response(409, {"code": 4182, "message": "x"}), "CONFLICT", 409, 4182),
    (json_response(409, {"code": 4183, "message": "x"}), "CONFLICT", 409, 4183),
    (json_response(429, {"code": 8, "message": "slow"}), "RATE_LIMITED", 429, 8),
    (json_response(500, {"code": 9, "message": "oops"}), "UPSTREAM_UNAVAILABLE", 500, 9),
    (json_response(502, {}), "UPSTREAM_UNAVAILABLE", 502, None),
    (_bytes(503, b"<html>Service Unavailable</html>"), "UPSTREAM_UNAVAILABLE", 503, None),
    (json_response(504, {"code": 0, "message": "x"}), "UPSTREAM_UNAVAILABLE", 504, 0),
    (json_response(418, {"code": 5, "message": "teapot"}), "UPSTREAM_ERROR", 418, 5),
    (_bytes(200, b"{not json"), "UPSTREAM_ERROR", 200, None),
    (json_response(200, {"items": "nope"}), "UPSTREAM_ERROR", 200, None),
    (json_response(200, ["a", "list"]), "UPSTREAM_ERROR", 200, None),
    (_raises(httpx.ReadTimeout("read timed out")), "UPSTREAM_TIMEOUT", None, None),
    (_raises(httpx.ConnectTimeout("connect timed out")), "UPSTREAM_TIMEOUT", None, None),
    (_raises(httpx.ConnectError("refused")), "UPSTREAM_UNAVAILABLE", None, None),
    (_raises(httpx.RemoteProtocolError("bad")), "UPSTREAM_UNAVAILABLE", None, None),
]


@pytest.mark.parametrize(("handler", "code", "status", "upstream_code"), CASES)
async def test_upstream_failures_map_to_codes(
    handler: Handler, code: str, status: int | None, upstream_code: int | None
) -> None:
    async with open_app(handler) as h:
        response = await h.post(QUERY, token=TOKEN)
        assert response.status_code == 200  # never the upstream's status
        body = response.json()
        assert body["data"] is None
        (error,) = body["errors"]
        assert error["path"] == ["productGroupProducts"]
        extensions = error["extensions"]
        assert extensions["code"] == code
        assert extensions.get("upstreamStatus") == status
        assert extensions.get("upstreamCode") == upstream_code
        text = response.text
        for leak in (TOKEN, "Bearer", "Traceback", "httpx", "api.pinterest.com", "oops", "teapot"):
            assert leak not in text


# Without Retry-After (or X-RateLimit-Reset), the caller is held for a second.
@pytest.mark.parametrize(("header", "seconds"), [("30", 30), ("0", 0), (None, 1)])
async def test_rate_limited_carries_retry_after(header: str | None, seconds: int | None) -> None:
    headers = {"Retry-After": header} if header is not None else None
    async with open_app(json_response(429, {"code": 8, "message": "x"}, headers)) as h:
        (error,) = (await h.gql(QUERY))["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"].get("retryAfter") == seconds


async def test_rate_limited_reads_an_http_date() -> None:
    headers = {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
    async with open_app(json_response(429, {"code": 8, "message": "x"}, headers)) as h:
        (error,) = (await h.gql(QUERY))["errors"]
        assert error["extensions"]["retryAfter"] == 86_400  # believed up to a day


async def test_failures_are_not_cached() -> None:
    answers = iter([httpx.Response(500, json={}), httpx.Response(200, json={"items": []})])

    async with open_app(lambda request: next(answers)) as h:
        first = await h.gql(QUERY)
        assert first["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        second = await h.gql(QUERY)
        assert without_cost(second) == {"data": {"productGroupProducts": {"nodes": []}}}
        assert len(h.requests) == 2


async def test_no_token_is_unauthenticated_without_upstream_call() -> None:
    async with open_app() as h:
        for query in (QUERY, '{ pin(id: "1") { id } }'):
            result = await h.gql(query, token=None)
            assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        result = await h.gql(QUERY, headers={"Authorization": "Basic dXNlcjpwYXNz"}, token=None)
        assert result["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert h.requests == []


async def test_introspection_needs_no_token() -> None:
    async with open_app() as h:
        result = await h.gql("{ __schema { queryType { name } } }", token=None)
        assert result == {
            "data": {"__schema": {"queryType": {"name": "Query"}}},
            "extensions": {"cost": {"requestedQueryCost": 0, "actualQueryCost": 0}},
        }


async def test_callers_token_is_forwarded() -> None:
    async with open_app() as h:
        await h.gql(QUERY, token="caller-1")
        assert h.requests[0].headers["authorization"] == "Bearer caller-1"


async def test_service_token_wins_over_the_callers() -> None:
    async with open_app(pinterest_access_token="service-token") as h:
        await h.gql(QUERY, token="caller-1")
        await h.gql(QUERY, token=None)
        assert [r.headers["authorization"] for r in h.requests] == ["Bearer service-token"]


async def test_unexpected_exception_is_masked() -> None:
    async with open_app(_raises(RuntimeError("internal detail /etc/passwd"))) as h:
        response = await h.post(QUERY)
        (error,) = response.json()["errors"]
        assert error["message"] == "Unexpected error."
        assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
        assert "passwd" not in response.text
        assert "RuntimeError" not in response.text


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ productGroupProducts(productGroupId: 1 { nodes }", "GRAPHQL_PARSE_FAILED"),
        ("{ productGroupProducts { nodes { catalogType } } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_request_errors_carry_apollo_codes(query: str, code: str) -> None:
    async with open_app() as h:
        result = await h.gql(query)
        assert result["errors"][0]["extensions"]["code"] == code
        assert h.requests == []


async def test_bad_variable_is_bad_user_input() -> None:
    async with open_app() as h:
        result = await h.gql(
            'query($first: Int) { productGroupProducts(productGroupId: "1", first: $first)'
            " { nodes { catalogType } } }",
            {"first": "many"},
        )
        assert result["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert h.requests == []

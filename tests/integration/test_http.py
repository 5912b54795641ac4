"""GraphQL over HTTP: methods, media types, status codes, headers, body limits."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import Harness, open_app

QUERY = '{ productGroupProducts(productGroupId: "1", first: 1) { nodes { catalogType } } }'
GQL = "application/graphql-response+json"


async def _post(
    h: Harness,
    body: bytes | str,
    *,
    accept: str | None = None,
    content_type: str | None = "application/json",
) -> httpx.Response:
    all_headers = {"Authorization": "Bearer t"}
    if accept is not None:
        all_headers["Accept"] = accept
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    return await h.client.post("/graphql", content=body, headers=all_headers)


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GQL, GQL),
        (f"application/json;q=0.5, {GQL}", GQL),
        ("application/*", "application/json"),
    ],
)
async def test_negotiates_the_response_media_type(accept: str | None, media: str) -> None:
    async with open_app() as h:
        response = await _post(h, '{"query": "{ __typename }"}', accept=accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    assert response.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"cost": {"requestedQueryCost": 0, "actualQueryCost": 0}},
    }


async def test_unacceptable_media_type_is_406() -> None:
    async with open_app() as h:
        response = await _post(h, '{"query": "{ __typename }"}', accept="text/xml")
    assert response.status_code == 406


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_posts_other_than_utf8_json_never_execute(content_type: str | None) -> None:
    async with open_app() as h:
        response = await _post(
            h, f'{{"query": {QUERY!r}}}'.replace("'", '"'), content_type=content_type
        )
        assert response.status_code == 415
        assert h.requests == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('{"query": 5}', 400),
        ('{"query": "{ __typename }", "variables": [1]}', 400),
        ('{"variables": {}}', 400),
        ("", 400),
    ],
)
async def test_malformed_requests_are_400(body: str, status: int) -> None:
    async with open_app() as h:
        for accept in ("application/json", GQL):
            response = await _post(h, body, accept=accept)
            assert response.status_code == status
            assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ productGroupProducts(", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_request_errors_are_400_without_data_with_graphql_response_json(
    query: str, code: str
) -> None:
    async with open_app() as h:
        strict = await h.post(query, headers={"Accept": GQL})
        legacy = await h.post(query, headers={"Accept": "application/json"})
    assert strict.status_code == 400
    assert "data" not in strict.json()
    assert strict.json()["errors"][0]["extensions"]["code"] == code
    assert legacy.status_code == 200
    assert legacy.json()["errors"][0]["extensions"]["code"] == code


async def test_variable_coercion_failure_is_a_request_error() -> None:
    query = QUERY.replace("{ productGroupProducts", "query($n: Int) { productGroupProducts")
    query = query.replace("first: 1", "first: $n")
    async with open_app() as h:
        strict = await h.post(query, {"n": "x"}, headers={"Accept": GQL})
        assert strict.status_code == 400
        assert strict.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert h.requests == []


async def test_field_errors_keep_200_and_data() -> None:
    async with open_app() as h:
        response = await h.post(QUERY.replace("first: 1", "first: -1"), headers={"Accept": GQL})
    assert response.status_code == 200
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_get_runs_queries_and_refuses_mutations() -> None:
    async with open_app() as h:
        query = await h.client.get(
            "/graphql", params={"query": QUERY}, headers={"Authorization": "Bearer t"}
        )
        assert query.json()["data"]["productGroupProducts"]["nodes"]
        variables = await h.client.get(
            "/graphql",
            params={
                "query": "query($id: ID!) { pin(id: $id) { id } }",
                "variables": '{"id": "813744226420795884"}',
            },
            headers={"Authorization": "Bearer t"},
        )
        assert variables.json()["data"]["pin"]["id"] == "813744226420795884"
        mutation = await h.client.get(
            "/graphql", params={"query": "mutation { __typename }"}, headers={"Accept": GQL}
        )
        assert mutation.status_code == 405
        assert mutation.headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_are_405(method: str) -> None:
    async with open_app() as h:
        response = await h.client.request(method, "/graphql", content=b"{}")
    assert response.status_code == 405


async def test_bodies_over_the_limit_are_413_before_execution() -> None:
    padding = " " * 3000
    async with open_app(max_body_bytes=2048) as h:
        response = await _post(h, f'{{"query": "{{ __typename }}{padding}"}}')
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


async def test_token_dependent_responses_are_private_and_vary() -> None:
    async with open_app() as h:
        response = await h.post(QUERY)
    assert response.headers["cache-control"] == "private, no-store"
    assert "Authorization" in response.headers["vary"]


async def test_every_response_has_a_request_id() -> None:
    async with open_app() as h:
        mine = await h.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
        assigned = await h.client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert mine.headers["x-request-id"] == "abc-123"
    assert len(assigned.headers["x-request-id"]) == 32

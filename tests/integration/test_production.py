"""The production profile: no introspection, GraphiQL or suggestions unless enabled; CORS."""

from __future__ import annotations

from tests.helpers import open_app

TYPO = '{ productGroupProducts(productGroupId: "1") { nodez { catalogType } } }'


async def test_development_defaults() -> None:
    async with open_app() as h:
        assert "errors" not in await h.gql("{ __schema { queryType { name } } }")
        page = await h.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        typo = await h.gql(TYPO)
        assert "Did you mean" in typo["errors"][0]["message"]


async def test_production_turns_introspection_graphiql_and_suggestions_off() -> None:
    async with open_app(env="production") as h:
        refused = await h.gql("{ __schema { queryType { name } } }")
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert "introspection" in refused["errors"][0]["message"]
        assert "errors" not in await h.gql("{ __typename }")
        page = await h.client.get("/graphql", headers={"Accept": "text/html"})
        assert not page.headers["content-type"].startswith("text/html")
        assert (await h.client.get("/graphiql/static/boot.js")).status_code == 404
        typo = await h.gql(TYPO)
        message = typo["errors"][0]["message"]
        assert "nodez" in message
        assert "Did you mean" not in message
        assert "nodes" not in message


async def test_production_can_enable_them_explicitly() -> None:
    async with open_app(env="production", introspection=True, graphiql=True) as h:
        assert "errors" not in await h.gql("{ __schema { queryType { name } } }")
        page = await h.client.get("/graphql", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")


async def test_cors_allows_only_listed_origins() -> None:
    async with open_app(cors_origins="https://shop.example, https://admin.example") as h:
        allowed = await h.client.options(
            "/graphql",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        denied = await h.client.options(
            "/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in denied.headers
    async with open_app() as h:
        none = await h.client.options(
            "/graphql",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in none.headers

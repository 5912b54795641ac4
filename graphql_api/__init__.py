"""graphql_api: a GraphQL facade over the Pinterest API v5 catalog-product endpoints."""

__version__ = "0.1.0"

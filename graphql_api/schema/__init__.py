"""The GraphQL schema: an Apollo Federation v2 subgraph."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation import Schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graphql_api.schema import inputs, types
from graphql_api.schema.masking import mask_errors
from graphql_api.schema.resolvers import Query
from graphql_api.schema.response_notes import ResponseNotes
from graphql_api.schema.types import (
    CreativeAssetsProduct,
    HotelProduct,
    OtherPinMedia,
    PinMediaWithImage,
    PinMediaWithImageAndVideo,
    PinMediaWithImages,
    PinMediaWithVideo,
    PinMediaWithVideos,
    RetailProduct,
)

__all__ = ["build_schema", "schema"]


class _Schema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Every error list of every path passes here exactly once, before it is returned.
        mask_errors(errors)


def build_schema() -> Schema:
    return _Schema(
        query=Query,
        types=[
            RetailProduct,
            HotelProduct,
            CreativeAssetsProduct,
            PinMediaWithImage,
            PinMediaWithVideo,
            PinMediaWithImages,
            PinMediaWithVideos,
            PinMediaWithImageAndVideo,
            OtherPinMedia,
        ],
        # Parsing and validating a document costs more than executing it on a cache hit:
        # both are cached by document (bounded LRU).
        extensions=[
            ResponseNotes,
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
        ],
        config=StrawberryConfig(scalar_map={**types.SCALARS, **inputs.SCALARS}),
    )


schema = build_schema()

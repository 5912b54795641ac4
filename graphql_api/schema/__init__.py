"""The GraphQL schema: an Apollo Federation v2 subgraph."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation import Schema
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graphql_api.errors import APIError

from graphql_api.schema import inputs, types
from graphql_api.schema.masking import MaskUnexpectedErrors
from graphql_api.schema.resolvers import Query
from graphql_api.schema.types import (
    CreativeAssetsProduct,
    HotelProduct,
    OtherPinMedia,
    Pin,
    PinMediaWithImage,
    PinMediaWithImageAndVideo,
    PinMediaWithImages,
    PinMediaWithVideo,
    PinMediaWithVideos,
    RetailProduct,
)

__all__ = ["build_schema", "schema"]


_log = logging.getLogger("graphql_api.errors")


class _Schema(Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what is unexpected, with its traceback, for operators; expected errors
        (ours, parse and validation errors) are the client's business and stay out of logs."""
        for error in errors:
            original = error.original_error
            if original is not None and not isinstance(original, APIError):
                _log.error("unexpected error at %s", error.path, exc_info=original)


def build_schema() -> Schema:
    return _Schema(
        query=Query,
        types=[
            RetailProduct, HotelProduct, CreativeAssetsProduct,
            PinMediaWithImage, PinMediaWithVideo, PinMediaWithImages, PinMediaWithVideos,
            PinMediaWithImageAndVideo, OtherPinMedia,
        ],
        # Parsing and validating a document costs more than executing it on a cache hit:
        # both are cached by document (bounded LRU).
        extensions=[
            MaskUnexpectedErrors,
            lambda: ParserCache(maxsize=1024),
            lambda: ValidationCache(maxsize=1024),
        ],
        config=StrawberryConfig(scalar_map={**types.SCALARS, **inputs.SCALARS}),
    )


schema = build_schema()

"""The GraphQL schema: an Apollo Federation v2 subgraph."""

from __future__ import annotations

from strawberry.federation import Schema
from strawberry.schema.config import StrawberryConfig

from graphql_api.schema import inputs, types
from graphql_api.schema.resolvers import Query
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


def build_schema() -> Schema:
    return Schema(
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
        config=StrawberryConfig(scalar_map={**types.SCALARS, **inputs.SCALARS}),
    )


schema = build_schema()

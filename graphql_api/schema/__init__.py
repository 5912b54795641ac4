"""The GraphQL schema: an Apollo Federation v2 subgraph."""

from __future__ import annotations

from typing import Any

from strawberry.federation import Schema
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from graphql_api.errors import BadUserInput
from graphql_api.internals import graphql_schema
from graphql_api.schema import graph, inputs, types
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


class _Schema(Schema):
    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Strawberry's, one representation at a time: an invalid one (no ``__typename``, a type
        that is no entity here, no ``id``) is a null entity with its error, not a failed batch."""
        results: list[Any] = []
        for index, representation in enumerate(representations):
            if (
                not isinstance(representation, dict)
                or representation.get("__typename") not in _ENTITIES
                or "id" not in representation
            ):
                results.append(
                    BadUserInput(
                        f"Representation {index} is not an entity of this subgraph with an id "
                        f"({', '.join(sorted(_ENTITIES))})."
                    )
                )
                continue
            results.extend(super().entities_resolver(info, [representation]))
        return results


_ENTITIES = frozenset({"Catalog", "Pin", "ProductGroup"})


def build_schema() -> Schema:
    """The schema, checked against the models its types read (:func:`types.check_models`)."""
    built = _Schema(
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
            graph.Catalog,
            graph.ProductGroup,
        ],
        config=StrawberryConfig(scalar_map={**types.SCALARS, **inputs.SCALARS, **graph.SCALARS}),
    )
    types.check_models(graphql_schema(built))
    return built


schema = build_schema()

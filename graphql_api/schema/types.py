"""Strawberry output types. Their sources are the frozen upstream models themselves
(:mod:`graphql_api.upstream.models`): fields are plain attributes, no per-field resolvers.

Each object type names the model it reads with ``is_type_of``; the interfaces and the union
pick their concrete type from the model's class.
"""

from __future__ import annotations

from typing import Annotated, Any, NewType

import strawberry
from graphql import GraphQLAbstractType, GraphQLResolveInfo
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from graphql_api.errors import UpstreamError
from graphql_api.schema.context import Context
from graphql_api.upstream import models as m

__all__ = [
    "SCALARS",
    "CatalogProduct",
    "CatalogType",
    "CreativeAssetsProduct",
    "CreativeAssetsVisibility",
    "DateTime",
    "HotelProduct",
    "Pin",
    "ProductAvailability",
    "RetailProduct",
]

DateTime = NewType("DateTime", str)

SCALARS: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="An RFC 3339 date-time, passed through exactly as the Pinterest API sent it.",
        specified_by_url="https://scalars.graphql.org/chillicream/date-time.html",
        serialize=str,
        parse_value=str,
    )
}

# The upstream models' enums are the GraphQL enums (unknown upstream values read UNKNOWN).
strawberry.enum(m.CatalogType, description="Type of the catalog entity (UNKNOWN: a newer value).")
strawberry.enum(m.ProductAvailability, description="Product availability (UNKNOWN: a newer value).")
strawberry.enum(
    m.CreativeAssetsVisibility, description="Creative assets visibility (UNKNOWN: a newer value)."
)
CatalogType = m.CatalogType
ProductAvailability = m.ProductAvailability
CreativeAssetsVisibility = m.CreativeAssetsVisibility


def _reads(model: type) -> Any:
    """``is_type_of`` for a Strawberry type whose source objects are ``model`` instances."""

    def is_type_of(cls: type, obj: Any, info: GraphQLResolveInfo[Any]) -> bool:
        return isinstance(obj, model)

    is_type_of.model = model  # type: ignore[attr-defined]  # read by graphql_api.compiled
    return classmethod(is_type_of)


# --- Pin media --------------------------------------------------------------------------------


@strawberry.type(description="An image at one size.")
class ImageDetails:
    url: str
    width: int | None
    height: int | None
    is_type_of = _reads(m.ImageDetails)


@strawberry.type(description="The sizes an image is available at (the spec's keys 150x150 ...).")
class ImageSize:
    size_150x150: ImageDetails | None = strawberry.field(name="size150x150")
    size_400x300: ImageDetails | None = strawberry.field(name="size400x300")
    size_600x: ImageDetails | None = strawberry.field(name="size600x")
    size_1200x: ImageDetails | None = strawberry.field(name="size1200x")
    is_type_of = _reads(m.ImageSize)


@strawberry.type(description="One image of a multi-image or mixed Pin.")
class ImageMetadata:
    item_type: str | None
    title: str | None
    description: str | None
    link: str | None
    images: ImageSize | None
    is_type_of = _reads(m.ImageMetadata)


@strawberry.type(description="One video of a multi-video or mixed Pin.")
class VideoMetadata:
    item_type: str | None
    cover_image_url: str | None
    video_url: str | None = strawberry.field(description="Video URL (720p); limited apps only.")
    duration: float | None = strawberry.field(description="Duration in milliseconds.")
    height: int | None
    width: int | None
    is_type_of = _reads(m.VideoMetadata)


PinMediaItem = Annotated[
    ImageMetadata | VideoMetadata,
    strawberry.union("PinMediaItem", description="An item of a mixed-media Pin."),
]


@strawberry.interface(description="Pin media: an image, a video, or several of either.")
class PinMedia:
    media_type: str = strawberry.field(
        description="image, video, multiple_images, multiple_videos, multiple_mixed, or newer."
    )

    @classmethod
    def resolve_type(
        cls, obj: Any, info: GraphQLResolveInfo[Any], abstract_type: GraphQLAbstractType
    ) -> str:
        return _MEDIA_TYPE_NAMES[type(obj)]


@strawberry.type
class PinMediaWithImage(PinMedia):
    images: ImageSize | None
    is_type_of = _reads(m.PinMediaWithImage)


@strawberry.type
class PinMediaWithVideo(PinMedia):
    images: ImageSize | None
    cover_image_url: str | None
    video_url: str | None = strawberry.field(description="Video URL (720p); limited apps only.")
    duration: float | None = strawberry.field(description="Duration in milliseconds.")
    height: int | None
    width: int | None
    is_type_of = _reads(m.PinMediaWithVideo)


@strawberry.type
class PinMediaWithImages(PinMedia):
    items: list[ImageMetadata]
    is_type_of = _reads(m.PinMediaWithImages)


@strawberry.type
class PinMediaWithVideos(PinMedia):
    items: list[VideoMetadata]
    is_type_of = _reads(m.PinMediaWithVideos)


@strawberry.type
class PinMediaWithImageAndVideo(PinMedia):
    items: list[PinMediaItem]
    is_type_of = _reads(m.PinMediaWithImageAndVideo)


@strawberry.type(description="Media of a media_type this API does not know yet.")
class OtherPinMedia(PinMedia):
    is_type_of = _reads(m.OtherPinMedia)


_MEDIA_TYPE_NAMES: dict[type, str] = {
    m.PinMediaWithImage: "PinMediaWithImage",
    m.PinMediaWithVideo: "PinMediaWithVideo",
    m.PinMediaWithImages: "PinMediaWithImages",
    m.PinMediaWithVideos: "PinMediaWithVideos",
    m.PinMediaWithImageAndVideo: "PinMediaWithImageAndVideo",
    m.OtherPinMedia: "OtherPinMedia",
}


# --- Pin --------------------------------------------------------------------------------------


@strawberry.type(description="Pin metrics over one time window.")
class PinMetricsWindow:
    impression: int | None
    pin_click: int | None
    clickthrough: int | None
    reaction: int | None
    comment: int | None
    is_type_of = _reads(m.PinMetricsWindow)


@strawberry.type(description="Pin metrics (fetched only when selected).")
class PinMetrics:
    last_90_days: PinMetricsWindow | None
    all_time: PinMetricsWindow | None
    is_type_of = _reads(m.PinMetrics)


@strawberry.type(description="The owner of the board a Pin is on.")
class BoardOwner:
    username: str | None
    is_type_of = _reads(m.BoardOwner)


@strawberry.federation.type(keys=["id"], description="A Pinterest Pin.")
class Pin:
    id: strawberry.ID
    created_at: DateTime | None
    link: str | None
    title: str | None
    description: str | None
    dominant_color: str | None = strawberry.field(description="Hex colour, e.g. #6E7874.")
    alt_text: str | None
    creative_type: str | None
    board_id: strawberry.ID | None
    board_section_id: strawberry.ID | None
    board_owner: BoardOwner | None
    is_owner: bool | None
    media: PinMedia | None
    parent_pin_id: strawberry.ID | None
    is_standard: bool | None
    has_been_promoted: bool | None
    note: str | None
    pin_metrics: PinMetrics | None = strawberry.field(
        description="Metrics; selecting this asks the upstream for them (pin_metrics=true)."
    )
    is_type_of = _reads(m.Pin)

    @classmethod
    def resolve_reference(cls, info: Info[Context, None], id: strawberry.ID) -> Any:
        """Federation: resolve a ``Pin`` entity with ``GET /pins/{id}`` (batched per request)."""
        return info.context.load_pin(str(id), pin_metrics=info.context.selects(info, "pinMetrics"))


# --- Products ---------------------------------------------------------------------------------


@strawberry.type(description="Metadata of a retail product.")
class RetailProductMetadata:
    item_id: str
    item_group_id: str | None
    availability: ProductAvailability
    price: float
    sale_price: float | None
    currency: str
    is_type_of = _reads(m.RetailMetadata)


@strawberry.type(description="Metadata of a hotel product.")
class HotelProductMetadata:
    hotel_id: str
    is_type_of = _reads(m.HotelMetadata)


@strawberry.type(description="Metadata of a creative assets product.")
class CreativeAssetsProductMetadata:
    creative_assets_id: str
    visibility: CreativeAssetsVisibility
    is_type_of = _reads(m.CreativeAssetsMetadata)


@strawberry.interface(description="A catalog product: its Pin and its catalog's metadata.")
class CatalogProduct:
    catalog_type: CatalogType
    pin: Pin

    @classmethod
    def resolve_type(
        cls, obj: Any, info: GraphQLResolveInfo[Any], abstract_type: GraphQLAbstractType
    ) -> str:
        if isinstance(obj, m.BrokenProduct):
            raise UpstreamError(
                f"The Pinterest API returned a malformed product: {obj.reason}.",
                upstream_status=200,
            )
        return _PRODUCT_TYPE_NAMES[type(obj)]


@strawberry.type
class RetailProduct(CatalogProduct):
    metadata: RetailProductMetadata
    is_type_of = _reads(m.RetailProduct)


@strawberry.type
class HotelProduct(CatalogProduct):
    metadata: HotelProductMetadata
    is_type_of = _reads(m.HotelProduct)


@strawberry.type
class CreativeAssetsProduct(CatalogProduct):
    metadata: CreativeAssetsProductMetadata
    is_type_of = _reads(m.CreativeAssetsProduct)


_PRODUCT_TYPE_NAMES: dict[type, str] = {
    m.RetailProduct: "RetailProduct",
    m.HotelProduct: "HotelProduct",
    m.CreativeAssetsProduct: "CreativeAssetsProduct",
}

"""Pydantic models of the upstream's pages, products and Pins, parsed leniently.

The upstream is loosely specified and varies in the wild, so parsing never fails a page for
what can be read past: extra fields are ignored, unknown enum values become ``UNKNOWN``,
``pin_metrics`` is read in all its shapes, items without ``catalog_type`` are retail, and an item
whose ``catalog_type`` disagrees with its metadata is typed by its metadata. Only an item that
fits no type becomes a :class:`BrokenProduct`, reported as an ``UPSTREAM_ERROR`` at its path.

Models are frozen: a page parsed once can be shared by every request that reads it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)

__all__ = [
    "BoardOwner",
    "BrokenProduct",
    "CatalogType",
    "CreativeAssetsMetadata",
    "CreativeAssetsProduct",
    "CreativeAssetsVisibility",
    "HotelMetadata",
    "HotelProduct",
    "ImageDetails",
    "ImageMetadata",
    "ImageSize",
    "OtherPinMedia",
    "Page",
    "Pin",
    "PinMediaWithImage",
    "PinMediaWithImageAndVideo",
    "PinMediaWithImages",
    "PinMediaWithVideo",
    "PinMediaWithVideos",
    "PinMetrics",
    "PinMetricsWindow",
    "Product",
    "ProductAvailability",
    "RetailMetadata",
    "RetailProduct",
    "VideoMetadata",
    "dump_page",
    "footprint",
    "load_page",
    "parse_page",
    "parse_pin",
]


class _Lenient(enum.Enum):
    """An enum whose unknown upstream values read as ``UNKNOWN`` rather than failing."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__["UNKNOWN"]


class CatalogType(_Lenient):
    RETAIL = "RETAIL"
    HOTEL = "HOTEL"
    CREATIVE_ASSETS = "CREATIVE_ASSETS"
    UNKNOWN = "UNKNOWN"


class ProductAvailability(_Lenient):
    IN_STOCK = "IN_STOCK"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PREORDER = "PREORDER"
    UNKNOWN = "UNKNOWN"


class CreativeAssetsVisibility(_Lenient):
    VISIBLE = "VISIBLE"
    HIDDEN = "HIDDEN"
    UNKNOWN = "UNKNOWN"


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="ignore", coerce_numbers_to_str=True, populate_by_name=True
    )


# --- Pin media ------------------------------------------------------------------------------


class ImageDetails(_Model):
    url: str
    width: int | None = None
    height: int | None = None


class ImageSize(_Model):
    size_150x150: ImageDetails | None = Field(None, alias="150x150")
    size_400x300: ImageDetails | None = Field(None, alias="400x300")
    size_600x: ImageDetails | None = Field(None, alias="600x")
    size_1200x: ImageDetails | None = Field(None, alias="1200x")


class ImageMetadata(_Model):
    item_type: str | None = None
    title: str | None = None
    description: str | None = None
    link: str | None = None
    images: ImageSize | None = None


class VideoMetadata(_Model):
    item_type: str | None = None
    cover_image_url: str | None = None
    video_url: str | None = None
    duration: float | None = None
    height: int | None = None
    width: int | None = None


def _media_item_kind(value: Any) -> str:
    # Called with raw JSON when parsing and with model instances when serialising.
    if isinstance(value, VideoMetadata):
        return "video"
    if isinstance(value, Mapping):
        item_type = value.get("item_type")
        if item_type == "video" or (
            item_type != "image" and ("video_url" in value or "cover_image_url" in value)
        ):
            return "video"
    return "image"


MediaItem = Annotated[
    Annotated[ImageMetadata, Tag("image")] | Annotated[VideoMetadata, Tag("video")],
    Discriminator(_media_item_kind),
]


class PinMediaWithImage(_Model):
    media_type: Literal["image"]
    images: ImageSize | None = None


class PinMediaWithVideo(_Model):
    media_type: Literal["video"]
    images: ImageSize | None = None
    cover_image_url: str | None = None
    video_url: str | None = None
    duration: float | None = None
    height: int | None = None
    width: int | None = None


class PinMediaWithImages(_Model):
    media_type: Literal["multiple_images"]
    items: tuple[ImageMetadata, ...] = ()


class PinMediaWithVideos(_Model):
    media_type: Literal["multiple_videos"]
    items: tuple[VideoMetadata, ...] = ()


class PinMediaWithImageAndVideo(_Model):
    media_type: Literal["multiple_mixed"]
    items: tuple[MediaItem, ...] = ()


class OtherPinMedia(_Model):
    """Media of a ``media_type`` the spec does not list (the seed sample has ``"string"``)."""

    media_type: str


_MEDIA_TYPES = frozenset({"image", "video", "multiple_images", "multiple_videos", "multiple_mixed"})


def _media_kind(value: Any) -> str:
    # Called with raw JSON when parsing and with model instances when serialising.
    kind = (
        value.get("media_type")
        if isinstance(value, Mapping)
        else getattr(value, "media_type", None)
    )
    return kind if isinstance(kind, str) and kind in _MEDIA_TYPES else "other"


PinMedia = Annotated[
    Annotated[PinMediaWithImage, Tag("image")]
    | Annotated[PinMediaWithVideo, Tag("video")]
    | Annotated[PinMediaWithImages, Tag("multiple_images")]
    | Annotated[PinMediaWithVideos, Tag("multiple_videos")]
    | Annotated[PinMediaWithImageAndVideo, Tag("multiple_mixed")]
    | Annotated[OtherPinMedia, Tag("other")],
    Discriminator(_media_kind),
]


# --- Pin metrics ----------------------------------------------------------------------------


class PinMetricsWindow(_Model):
    impression: int | None = None
    pin_click: int | None = None
    clickthrough: int | None = None
    reaction: int | None = None
    comment: int | None = None


class PinMetrics(_Model):
    # Dumped as "90d", the upstream's key, so a dumped page parses back the same.
    last_90_days: PinMetricsWindow | None = Field(None, serialization_alias="90d")
    all_time: PinMetricsWindow | None = None


_WINDOW_FIELDS = tuple(PinMetricsWindow.model_fields)
_WINDOW_KEYS = frozenset({"90d", "lifetime_metrics", "all_time"})
# GraphQL Int is 32-bit: a count it cannot carry reads as unknown (null), not as an error.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _window(value: Any) -> dict[str, int] | None:
    if not isinstance(value, Mapping):
        return None
    return {
        key: int(v)
        for key in _WINDOW_FIELDS
        if isinstance(v := value.get(key), int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and _INT_MIN <= v <= _INT_MAX
    }


def _normalize_metrics(value: Any) -> dict[str, Any] | None:
    """Read ``pin_metrics`` in every shape seen: a dict, a list of dicts with nulls, or either
    wrapped in ``{"pin_metrics": ...}``; ``lifetime_metrics`` or ``all_time``. Never raises."""
    if isinstance(value, Mapping) and "pin_metrics" in value and not _WINDOW_KEYS & set(value):
        value = value["pin_metrics"]
    if isinstance(value, Mapping):
        parts: list[Mapping[str, Any]] = [value]
    elif isinstance(value, list):
        parts = [part for part in value if isinstance(part, Mapping)]
    else:
        return None
    last_90_days = all_time = None
    for part in parts:
        last_90_days = last_90_days or _window(part.get("90d"))
        all_time = (
            all_time or _window(part.get("lifetime_metrics")) or _window(part.get("all_time"))
        )
    if last_90_days is None and all_time is None:
        return None
    return {"last_90_days": last_90_days, "all_time": all_time}


# --- Pin --------------------------------------------------------------------------------------


class BoardOwner(_Model):
    username: str | None = None


class Pin(_Model):
    id: str
    created_at: str | None = None
    link: str | None = None
    title: str | None = None
    description: str | None = None
    dominant_color: str | None = None
    alt_text: str | None = None
    creative_type: str | None = None
    board_id: str | None = None
    board_section_id: str | None = None
    board_owner: BoardOwner | None = None
    is_owner: bool | None = None
    media: PinMedia | None = None
    parent_pin_id: str | None = None
    is_standard: bool | None = None
    has_been_promoted: bool | None = None
    note: str | None = None
    pin_metrics: Annotated[PinMetrics | None, BeforeValidator(_normalize_metrics)] = None


# --- Products ---------------------------------------------------------------------------------


class RetailMetadata(_Model):
    item_id: str
    item_group_id: str | None = None
    availability: ProductAvailability
    price: float
    sale_price: float | None = None
    currency: str


class HotelMetadata(_Model):
    hotel_id: str


class CreativeAssetsMetadata(_Model):
    creative_assets_id: str
    visibility: CreativeAssetsVisibility


class RetailProduct(_Model):
    catalog_type: CatalogType = CatalogType.RETAIL
    metadata: RetailMetadata
    pin: Pin


class HotelProduct(_Model):
    catalog_type: CatalogType = CatalogType.HOTEL
    metadata: HotelMetadata
    pin: Pin


class CreativeAssetsProduct(_Model):
    catalog_type: CatalogType = CatalogType.CREATIVE_ASSETS
    metadata: CreativeAssetsMetadata
    pin: Pin


class BrokenProduct(_Model):
    """An item that fits no product type; its position is kept so the error has a path."""

    reason: str


Product = RetailProduct | HotelProduct | CreativeAssetsProduct | BrokenProduct

_TAG_BY_CLASS: dict[type, str] = {
    RetailProduct: "RETAIL",
    HotelProduct: "HOTEL",
    CreativeAssetsProduct: "CREATIVE_ASSETS",
    BrokenProduct: "broken",
}


def _product_kind(value: Any) -> str:
    # Parsed items are model instances; a dumped page (the cache's JSON) has their dicts.
    if isinstance(value, Mapping):
        return "broken" if "reason" in value else str(value.get("catalog_type"))
    return _TAG_BY_CLASS.get(type(value), "broken")


ProductItem = Annotated[
    Annotated[RetailProduct, Tag("RETAIL")]
    | Annotated[HotelProduct, Tag("HOTEL")]
    | Annotated[CreativeAssetsProduct, Tag("CREATIVE_ASSETS")]
    | Annotated[BrokenProduct, Tag("broken")],
    Discriminator(_product_kind),
]

_PRODUCT_BY_TYPE: dict[str, type[RetailProduct | HotelProduct | CreativeAssetsProduct]] = {
    "RETAIL": RetailProduct,
    "HOTEL": HotelProduct,
    "CREATIVE_ASSETS": CreativeAssetsProduct,
}
_TYPE_BY_METADATA_KEY = {
    "item_id": "RETAIL",
    "hotel_id": "HOTEL",
    "creative_assets_id": "CREATIVE_ASSETS",
}


def _parse_item(raw: Any) -> Product:
    if not isinstance(raw, Mapping):
        return BrokenProduct(reason="item is not an object")
    declared = raw.get("catalog_type") or "RETAIL"
    metadata = raw.get("metadata")
    candidates = [declared] if isinstance(declared, str) and declared in _PRODUCT_BY_TYPE else []
    if isinstance(metadata, Mapping):
        candidates += [t for k, t in _TYPE_BY_METADATA_KEY.items() if k in metadata]
    for catalog_type in dict.fromkeys(candidates):
        model = _PRODUCT_BY_TYPE[catalog_type]
        try:
            return model.model_validate(
                {"metadata": metadata, "pin": raw.get("pin"), "catalog_type": catalog_type}
            )
        except ValidationError:
            continue
    return BrokenProduct(reason="item matches no catalog product type")


class Page(_Model):
    """One upstream page: products in upstream order and the bookmark of the next page."""

    items: tuple[ProductItem, ...]
    bookmark: str | None = None


def parse_page(data: Any) -> Page:
    """Parse a decoded upstream page; raise ``ValueError`` if it is not a page at all."""
    if not isinstance(data, Mapping) or not isinstance(items := data.get("items"), list):
        raise ValueError("not a page: no 'items' list")
    bookmark = data.get("bookmark")
    if bookmark is not None and not isinstance(bookmark, str):
        raise ValueError("not a page: 'bookmark' is not a string")
    return Page(items=tuple(_parse_item(item) for item in items), bookmark=bookmark or None)


def dump_page(page: Page) -> bytes:
    """A parsed page as JSON that :func:`load_page` reads back equal (for shared caches)."""
    return page.model_dump_json(by_alias=True).encode()


def load_page(data: bytes) -> Page:
    """A page from :func:`dump_page`'s JSON."""
    return Page.model_validate_json(data)


_PIN = TypeAdapter(Pin)


def parse_pin(data: Any) -> Pin:
    """Parse a decoded ``GET /pins/{id}`` answer; raise ``ValueError`` if it is not a Pin."""
    try:
        return _PIN.validate_python(data)
    except ValidationError as exc:
        raise ValueError("not a pin") from exc


def footprint(value: Page | Pin) -> int:
    """Bytes a parsed page or Pin holds in memory (an estimate, cheap to compute): what the
    caches' byte bounds count."""
    return len(dump_page(value)) * 4 if isinstance(value, Page) else 2048

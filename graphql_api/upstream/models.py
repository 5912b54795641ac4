"""Frozen msgspec structs of the upstream's pages, products and Pins, parsed leniently.

The upstream is loosely specified and varies in the wild, so parsing never fails a page for
what can be read past: extra fields are ignored, unknown enum values become ``UNKNOWN``, numbers
are read as strings where a string is expected (and scalars otherwise as pydantic's lax mode reads
them), ``pin_metrics`` is read in all its shapes, items without ``catalog_type`` are retail, and an
item whose ``catalog_type`` disagrees with its metadata is typed by its metadata. Only an item
that fits no type becomes a :class:`BrokenProduct`, reported as an ``UPSTREAM_ERROR`` at its path.

Two paths read a page, and give equal results (a test holds them to it):

- **fast**: msgspec decodes the response bytes straight into the structs, strictly typed (the
  product and media variants are tagged unions on ``catalog_type`` and ``media_type``). This is
  the common shape, and most of the cost is msgspec's C code.
- **lenient**: when the fast path refuses something (``msgspec.ValidationError``), the page is
  decoded to Python values and each item is read on its own: by the fast typed conversion if it
  passes, else field by field with the rules above (:func:`_read_item`).

Values are frozen all the way down (structs, tuples, enums, strings, numbers): a page parsed once
is shared by every request that reads it, and no caller can change it.
"""

from __future__ import annotations

import contextlib
import enum
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeAlias, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType, field
from msgspec.structs import force_setattr

from graphql_api.upstream.urls import mask_url

__all__ = [
    "LOCAL_FIELDS",
    "AvailableFilterValues",
    "BoardOwner",
    "BrokenItem",
    "BrokenProduct",
    "Catalog",
    "CatalogType",
    "ComparisonOperator",
    "CreativeAssetsMetadata",
    "CreativeAssetsProduct",
    "CreativeAssetsVisibility",
    "CurrencyCriteria",
    "Feed",
    "FeedCredentials",
    "FeedFormat",
    "FeedProcessingSchedule",
    "FeedStatus",
    "FilterOperatorType",
    "FilterOperatorTypeCriteria",
    "FilterValues",
    "Gender",
    "HotelMetadata",
    "HotelProduct",
    "ImageDetails",
    "ImageMetadata",
    "ImageSize",
    "Listing",
    "MediaType",
    "MultipleCountriesCriteria",
    "MultipleGenderCriteria",
    "MultipleMediaTypesCriteria",
    "MultipleStringCriteria",
    "MultipleStringListCriteria",
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
    "PricingCriteria",
    "PricingCurrencyCriteria",
    "Product",
    "ProductAvailability",
    "ProductCounts",
    "ProductGroup",
    "ProductGroupFilterKey",
    "ProductGroupFilters",
    "ProductGroupStatus",
    "ProductGroupType",
    "RetailMetadata",
    "RetailProduct",
    "Uint32Criteria",
    "VideoMetadata",
    "check_readers",
    "dump_listing",
    "dump_page",
    "dump_pin",
    "footprint",
    "listing_type",
    "load_listing",
    "load_page",
    "load_pin",
    "parse_catalogs_json",
    "parse_feed_json",
    "parse_feeds_json",
    "parse_filter_values_json",
    "parse_page",
    "parse_page_json",
    "parse_pin",
    "parse_pin_json",
    "parse_product_counts_json",
    "parse_product_group_json",
    "parse_product_groups_json",
]


class _Lenient(enum.Enum):
    """An enum whose unknown upstream values read as ``UNKNOWN`` rather than failing (msgspec
    calls ``_missing_`` for a string it does not know, as ``Enum(value)`` does)."""

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


class _Frozen(msgspec.Struct, frozen=True, gc=False):
    """Immutable, and untracked by the cycle collector (a parsed value holds no cycles).

    Subclasses say ``frozen=True`` again: mypy reads each class's keywords on their own."""


# GraphQL Int is 32-bit: a count it cannot carry reads as unknown (null), not as an error.
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_Int32 = Annotated[int, Meta(ge=_INT_MIN, le=_INT_MAX)]


# --- Pin media ------------------------------------------------------------------------------


class ImageDetails(_Frozen, frozen=True):
    url: str
    width: int | None = None
    height: int | None = None


class ImageSize(_Frozen, frozen=True):
    size_150x150: ImageDetails | None = field(default=None, name="150x150")
    size_400x300: ImageDetails | None = field(default=None, name="400x300")
    size_600x: ImageDetails | None = field(default=None, name="600x")
    size_1200x: ImageDetails | None = field(default=None, name="1200x")


class ImageMetadata(_Frozen, frozen=True):
    item_type: str | None = None
    title: str | None = None
    description: str | None = None
    link: str | None = None
    images: ImageSize | None = None


class VideoMetadata(_Frozen, frozen=True):
    item_type: str | None = None
    cover_image_url: str | None = None
    video_url: str | None = None
    duration: float | None = None
    height: int | None = None
    width: int | None = None


class _MixedItem(_Frozen, frozen=True):
    """What the fast path decodes an item of mixed media into (every field of both kinds; the
    video keys ``UNSET`` when absent), before :func:`_media_item` tells the kinds apart."""

    item_type: str | None = None
    title: str | None = None
    description: str | None = None
    link: str | None = None
    images: ImageSize | None = None
    cover_image_url: str | UnsetType | None = UNSET
    video_url: str | UnsetType | None = UNSET
    duration: float | None = None
    height: int | None = None
    width: int | None = None


# Each kind's fields, read off the mixed item by name (so a new field of either follows; the
# check below makes sure _MixedItem has it).
_IMAGE_VALUES = operator.attrgetter(*ImageMetadata.__struct_fields__)
_VIDEO_VALUES = operator.attrgetter(*VideoMetadata.__struct_fields__)


def _media_item(raw: _MixedItem) -> ImageMetadata | VideoMetadata:
    item_type, video_url, cover = raw.item_type, raw.video_url, raw.cover_image_url
    if item_type == "video" or (item_type != "image" and (video_url or cover) is not UNSET):
        return VideoMetadata(*[None if v is UNSET else v for v in _VIDEO_VALUES(raw)])
    return ImageMetadata(*_IMAGE_VALUES(raw))


class _Media(_Frozen, frozen=True, tag_field="media_type"):
    # The tag is the class's: ``media_type`` is a class attribute, as a field would read.
    media_type: ClassVar[str]


class PinMediaWithImage(_Media, frozen=True, tag="image"):
    media_type: ClassVar[str] = "image"
    images: ImageSize | None = None


class PinMediaWithVideo(_Media, frozen=True, tag="video"):
    media_type: ClassVar[str] = "video"
    images: ImageSize | None = None
    cover_image_url: str | None = None
    video_url: str | None = None
    duration: float | None = None
    height: int | None = None
    width: int | None = None


class PinMediaWithImages(_Media, frozen=True, tag="multiple_images"):
    media_type: ClassVar[str] = "multiple_images"
    items: tuple[ImageMetadata, ...] = ()


class PinMediaWithVideos(_Media, frozen=True, tag="multiple_videos"):
    media_type: ClassVar[str] = "multiple_videos"
    items: tuple[VideoMetadata, ...] = ()


if TYPE_CHECKING:
    _MixedItems: TypeAlias = tuple[ImageMetadata | VideoMetadata, ...]
else:  # decoded as _MixedItem, told apart in __post_init__
    _MixedItems = tuple[_MixedItem, ...]


class PinMediaWithImageAndVideo(_Media, frozen=True, tag="multiple_mixed"):
    media_type: ClassVar[str] = "multiple_mixed"
    items: _MixedItems = ()

    def __post_init__(self) -> None:
        items: Any = self.items
        if items and type(items[0]) is _MixedItem:
            force_setattr(self, "items", tuple(map(_media_item, items)))


class OtherPinMedia(_Media, frozen=True, tag="other"):
    """Media of a ``media_type`` the spec does not list (the seed sample has ``"string"``).

    Its tag ``"other"`` only serves the cache's form: an upstream ``media_type`` the spec does not
    list is read by the lenient path, which keeps it as it came."""

    media_type: str = field(name="value")  # type: ignore[misc]  # a field here, not the tag


PinMedia = (
    PinMediaWithImage
    | PinMediaWithVideo
    | PinMediaWithImages
    | PinMediaWithVideos
    | PinMediaWithImageAndVideo
    | OtherPinMedia
)
_MEDIA_BY_TYPE: dict[str, type[PinMedia]] = {
    "image": PinMediaWithImage,
    "video": PinMediaWithVideo,
    "multiple_images": PinMediaWithImages,
    "multiple_videos": PinMediaWithVideos,
    "multiple_mixed": PinMediaWithImageAndVideo,
}


# --- Pin metrics ----------------------------------------------------------------------------


class PinMetricsWindow(_Frozen, frozen=True):
    impression: _Int32 | None = None
    pin_click: _Int32 | None = None
    clickthrough: _Int32 | None = None
    reaction: _Int32 | None = None
    comment: _Int32 | None = None


class PinMetrics(_Frozen, frozen=True):
    # Dumped as "90d", the upstream's key, so a dumped Pin reads back the same.
    last_90_days: PinMetricsWindow | None = field(default=None, name="90d")
    all_time: PinMetricsWindow | None = None


class _RawMetrics(_Frozen, frozen=True):
    """``pin_metrics`` as the fast path decodes it (keys ``UNSET`` when absent), before
    :func:`_metrics` reads it as :func:`_normalize_metrics` reads the Python values."""

    last_90_days: PinMetricsWindow | UnsetType | None = field(default=UNSET, name="90d")
    lifetime_metrics: PinMetricsWindow | UnsetType | None = UNSET
    all_time: PinMetricsWindow | UnsetType | None = UNSET
    pin_metrics: _RawMetrics | tuple[_RawMetrics | None, ...] | UnsetType | None = UNSET


_RawMetricsValue: TypeAlias = _RawMetrics | tuple[_RawMetrics | None, ...] | None
_EMPTY_WINDOW = PinMetricsWindow()


def _or(a: Any, b: Any) -> Any:
    """``a or b`` where an empty window is falsy (as the empty dict of :func:`_window` is) and
    ``UNSET`` (an absent key) reads as ``None``."""
    if a is not None and a is not UNSET and a != _EMPTY_WINDOW:
        return a
    return None if b is UNSET else b


def _metrics(value: _RawMetricsValue) -> PinMetrics | None:
    """:func:`_normalize_metrics` on the fast path's values, step by step."""
    if (
        type(value) is _RawMetrics
        and value.pin_metrics is not UNSET
        and value.last_90_days is UNSET
        and value.lifetime_metrics is UNSET
        and value.all_time is UNSET
    ):
        value = value.pin_metrics
    if value is None:
        return None
    parts = (value,) if type(value) is _RawMetrics else value
    last_90_days = all_time = None
    for part in parts:  # type: ignore[union-attr]
        if part is not None:
            last_90_days = _or(last_90_days, part.last_90_days)
            all_time = _or(_or(all_time, part.lifetime_metrics), part.all_time)
    if last_90_days is None and all_time is None:
        return None
    return PinMetrics(last_90_days, all_time)


_WINDOW_FIELDS = PinMetricsWindow.__struct_fields__
_WINDOW_KEYS = frozenset({"90d", "lifetime_metrics", "all_time"})


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


def _normalize_metrics(value: Any) -> PinMetrics | None:
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
    return PinMetrics(
        None if last_90_days is None else PinMetricsWindow(**last_90_days),
        None if all_time is None else PinMetricsWindow(**all_time),
    )


# --- Pin --------------------------------------------------------------------------------------


class BoardOwner(_Frozen, frozen=True):
    username: str | None = None


if TYPE_CHECKING:
    _MetricsField: TypeAlias = PinMetrics | None
else:  # decoded as the upstream sends it, read in __post_init__
    _MetricsField = _RawMetricsValue


class Pin(_Frozen, frozen=True):
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
    pin_metrics: _MetricsField = None

    def __post_init__(self) -> None:
        metrics: Any = self.pin_metrics
        if metrics is not None and type(metrics) is not PinMetrics:
            force_setattr(self, "pin_metrics", _metrics(metrics))


# --- Products ---------------------------------------------------------------------------------


class RetailMetadata(_Frozen, frozen=True, kw_only=True):  # required after optional fields
    item_id: str
    item_group_id: str | None = None
    availability: ProductAvailability
    price: float
    sale_price: float | None = None
    currency: str


class HotelMetadata(_Frozen, frozen=True):
    hotel_id: str


class CreativeAssetsMetadata(_Frozen, frozen=True):
    creative_assets_id: str
    visibility: CreativeAssetsVisibility


class _Product(_Frozen, frozen=True, tag_field="catalog_type"):
    # The tag is the class's: ``catalog_type`` is a class attribute, as a field would read.
    catalog_type: ClassVar[CatalogType]


class RetailProduct(_Product, frozen=True, tag="RETAIL"):
    catalog_type: ClassVar[CatalogType] = CatalogType.RETAIL
    metadata: RetailMetadata
    pin: Pin


class HotelProduct(_Product, frozen=True, tag="HOTEL"):
    catalog_type: ClassVar[CatalogType] = CatalogType.HOTEL
    metadata: HotelMetadata
    pin: Pin


class CreativeAssetsProduct(_Product, frozen=True, tag="CREATIVE_ASSETS"):
    catalog_type: ClassVar[CatalogType] = CatalogType.CREATIVE_ASSETS
    metadata: CreativeAssetsMetadata
    pin: Pin


class BrokenProduct(_Product, frozen=True, tag="broken"):
    """An item that fits no product type; its position is kept so the error has a path.

    Its tag ``"broken"`` only serves the cache's form: the fast path never answers one."""

    reason: str


Product = RetailProduct | HotelProduct | CreativeAssetsProduct | BrokenProduct


# --- Pages ------------------------------------------------------------------------------------


class Page:
    """One upstream page: products in upstream order and the bookmark of the next page.

    Immutable like the structs it holds; it also keeps its :func:`footprint`, an estimate made
    when it was parsed (not part of its value: equal pages compare equal whatever they cost)."""

    __slots__ = ("_footprint", "bookmark", "items")
    items: tuple[Product, ...]
    bookmark: str | None
    _footprint: int

    def __init__(
        self,
        items: tuple[Product, ...],
        bookmark: str | None = None,
        *,
        footprint: int | None = None,
    ) -> None:
        if footprint is None:  # not read from JSON: from the JSON it dumps to
            footprint = _page_footprint(len(_ENCODER.encode(items)))
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "bookmark", bookmark)
        object.__setattr__(self, "_footprint", footprint)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"immutable type: {type(self).__name__!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"immutable type: {type(self).__name__!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Page:
            return NotImplemented
        return self.bookmark == other.bookmark and self.items == other.items

    def __hash__(self) -> int:
        return hash((self.items, self.bookmark))

    def __repr__(self) -> str:
        return f"Page(items={self.items!r}, bookmark={self.bookmark!r})"


class _FastPage(_Frozen, frozen=True):
    """A page as the fast path decodes it, whole."""

    items: tuple[Product, ...]
    bookmark: str | None = None


class _SplitPage(_Frozen, frozen=True):
    """A page whose items are decoded one by one, so an odd item costs only its own reading."""

    items: tuple[msgspec.Raw, ...]
    bookmark: str | None = None


class _CachedPage(_Frozen, frozen=True, array_like=True):
    """A page in the shared (Redis) cache: our own canonical form, decoded strictly."""

    items: tuple[Product, ...]
    bookmark: str | None
    footprint: int


_ANY = msgspec.json.Decoder()
_FAST_PAGE = msgspec.json.Decoder(_FastPage)
_SPLIT_PAGE = msgspec.json.Decoder(_SplitPage)
_ITEM = msgspec.json.Decoder(Product)
# An item without catalog_type is retail: a tagged struct decoded alone needs no tag.
_RETAIL = msgspec.json.Decoder(RetailProduct)
_PIN = msgspec.json.Decoder(Pin)
_ENCODER = msgspec.json.Encoder()
# The shared cache's form is MessagePack: a quarter faster to read than the same structs as JSON,
# and a tenth smaller (a 250-product demo page: 2.6 ms and 463 KB against 3.4 ms and 529 KB).
_CACHE_ENCODER = msgspec.msgpack.Encoder()
_CACHED_PAGE = msgspec.msgpack.Decoder(_CachedPage)
_CACHED_PIN = msgspec.msgpack.Decoder(Pin)


def _fast(item: Any) -> bool:
    """Whether a product from the fast path is the one the lenient reading gives: the tags that
    exist only for the cache's form (``"other"`` media, ``"broken"`` items) say it is not."""
    return type(item) is not BrokenProduct and type(item.pin.media) is not OtherPinMedia


def parse_page_json(data: bytes) -> Page:
    """Parse an upstream page from its JSON; raise ``msgspec.DecodeError`` if it is not JSON,
    and ``ValueError`` (not a ``DecodeError``) if it is not a page at all."""
    size = _page_footprint(len(data))
    try:
        page = _FAST_PAGE.decode(data)
    except msgspec.ValidationError:
        pass
    else:
        if all(map(_fast, page.items)):
            return Page(page.items, page.bookmark or None, footprint=size)
    try:
        split = _SPLIT_PAGE.decode(data)
    except msgspec.ValidationError:
        return _parse_values(_ANY.decode(data), size)  # not a page, or one that says why
    return Page(tuple(map(_split_item, split.items)), split.bookmark or None, footprint=size)


def _split_item(raw: msgspec.Raw) -> Product:
    try:
        item = _ITEM.decode(raw)
    except msgspec.ValidationError:
        try:
            item = _RETAIL.decode(raw)
        except msgspec.ValidationError:
            return _read_item(_ANY.decode(raw))
    return item if _fast(item) else _read_item(_ANY.decode(raw))


def parse_page(data: Any) -> Page:
    """Parse a decoded upstream page; raise ``ValueError`` if it is not a page at all."""
    return _parse_values(data, None)


def _parse_values(data: Any, footprint: int | None) -> Page:
    if not isinstance(data, Mapping) or not isinstance(items := data.get("items"), list):
        raise ValueError("not a page: no 'items' list")
    bookmark = data.get("bookmark")
    if bookmark is not None and not isinstance(bookmark, str):
        raise ValueError("not a page: 'bookmark' is not a string")
    return Page(tuple(map(_read_item, items)), bookmark or None, footprint=footprint)


def parse_pin_json(data: bytes) -> Pin:
    """Parse a ``GET /pins/{id}`` answer from its JSON; raise ``msgspec.DecodeError`` if it is
    not JSON, and ``ValueError`` (not a ``DecodeError``) if it is not a Pin."""
    try:
        pin = _PIN.decode(data)
    except msgspec.ValidationError:
        return parse_pin(_ANY.decode(data))
    return pin if type(pin.media) is not OtherPinMedia else parse_pin(_ANY.decode(data))


def parse_pin(data: Any) -> Pin:
    """Parse a decoded ``GET /pins/{id}`` answer; raise ``ValueError`` if it is not a Pin."""
    try:
        pin: Pin = _read_pin(data)
    except _Invalid:
        raise ValueError("not a pin") from None
    return pin


def dump_page(page: Page) -> bytes:
    """A parsed page as MessagePack that :func:`load_page` reads back equal, its footprint with
    it (for shared caches)."""
    return _CACHE_ENCODER.encode(_CachedPage(page.items, page.bookmark, page._footprint))


def load_page(data: bytes) -> Page:
    """A page from :func:`dump_page`'s bytes; ``ValueError`` if they are not one."""
    cached = _CACHED_PAGE.decode(data)
    return Page(cached.items, cached.bookmark, footprint=cached.footprint)


def dump_pin(pin: Pin) -> bytes:
    """A parsed Pin as MessagePack that :func:`load_pin` reads back equal (for shared caches)."""
    return _CACHE_ENCODER.encode(pin)


def load_pin(data: bytes) -> Pin:
    """A Pin from :func:`dump_pin`'s bytes; ``ValueError`` if they are not one."""
    return _CACHED_PIN.decode(data)


# --- Footprint --------------------------------------------------------------------------------

# What a parsed page holds in memory (pympler's deep size) per byte of the JSON it was read from,
# plus what any page holds: measured on demo pages of 25 and 250 products (1.83-1.90 bytes per
# byte) and the seed page; ``bench/pages.py`` prints the ratios again, a test keeps them within
# [0.8, 1.5] of the real size.
_PAGE_FACTOR, _PAGE_BYTES = 1.8, 1000
# A Pin's, per byte of its canonical JSON less about what its nulls take there (a null field costs
# JSON bytes, not memory): measured on the demo catalog's Pins, the spec's and a minimal one.
_PIN_FACTOR, _PIN_BYTES, _NULL_BYTES = 1.85, 180, 16


def _page_footprint(json_bytes: int) -> int:
    return int(_PAGE_FACTOR * json_bytes) + _PAGE_BYTES


# The catalog graph's values, the same way (measured on the demo graph's catalogs, feeds, product
# groups, counts and filter values against their deep size less the enum members they share with
# every other value: within [0.7, 1.6] of it, give or take the fixed cost of a small value).
_GRAPH_FACTOR, _GRAPH_BYTES = 2.3, 100
_RATIOS: dict[type, tuple[float, int]] = {Pin: (_PIN_FACTOR, _PIN_BYTES)}


def footprint(value: object) -> int:
    """Bytes a parsed page, Pin or other cached value holds in memory: an estimate, what the
    caches' byte bounds count. A page's is made once, when it is parsed (from the length of its
    JSON), and kept on it; any other value's from the length of its JSON, encoded again
    (microseconds for a Pin; a page of 250 product groups, about a millisecond)."""
    if type(value) is Page:
        return value._footprint
    factor, fixed = _RATIOS.get(type(value), (_GRAPH_FACTOR, _GRAPH_BYTES))
    encoded = _ENCODER.encode(value)
    return int(factor * (len(encoded) - _NULL_BYTES * encoded.count(b":null"))) + fixed


# --- The lenient reading ----------------------------------------------------------------------


class _Invalid(Exception):
    """A value that does not fit where it is read."""


_INVALID = _Invalid()
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_INT_TEXT = re.compile(r"[+-]?\d+(?:\.0*)?")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # coerce_numbers_to_str
    raise _INVALID


def _int(value: Any) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_TEXT.fullmatch(text := value.strip()):
        return int(text.partition(".")[0])
    raise _INVALID


def _float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise _INVALID


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and (text := value.lower()) in _TRUE | _FALSE:
        return text in _TRUE
    raise _INVALID


_Reader = Callable[[Any], Any]
_SCALARS: dict[Any, _Reader] = {str: _str, int: _int, float: _float, bool: _bool}


def _optional(read: _Reader) -> _Reader:
    return lambda value: None if value is None else read(value)


def _tuple_of(read: _Reader) -> _Reader:
    def read_tuple(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _INVALID
        return tuple(map(read, value))

    return read_tuple


def _struct(cls: type[msgspec.Struct], **overrides: _Reader) -> _Reader:
    """A reader of ``cls`` from a mapping: each field by its type's rules (or ``overrides``),
    extra keys ignored, a missing required field invalid."""
    fields = []
    for info in msgspec.structs.fields(cls):
        read = overrides.get(info.name) or _reader(info.type)
        fields.append((info.name, info.encode_name, read, info.required))

    def read_struct(value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise _INVALID
        kwargs = {}
        for name, key, read, required in fields:
            if key in value:
                kwargs[name] = read(value[key])
            elif required:
                raise _INVALID
        return cls(**kwargs)

    return read_struct


def _reader(tp: Any) -> _Reader:
    if tp in _SCALARS:
        return _SCALARS[tp]
    args: tuple[Any, ...] = getattr(tp, "__args__", ())
    if type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        return _optional(_reader(inner))
    if isinstance(tp, type) and issubclass(tp, _Lenient):
        return tp  # any value: Enum(value), or UNKNOWN (_missing_)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _struct(tp)
    if getattr(tp, "__origin__", None) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_of(_reader(args[0]))
    raise TypeError(f"no lenient reader for {tp!r}")  # pragma: no cover  # a new field type


def _media_item_kind(value: Any) -> type[ImageMetadata | VideoMetadata]:
    if isinstance(value, Mapping):
        item_type = value.get("item_type")
        if item_type == "video" or (
            item_type != "image" and ("video_url" in value or "cover_image_url" in value)
        ):
            return VideoMetadata
    return ImageMetadata


_MEDIA_ITEM_READERS = {ImageMetadata: _struct(ImageMetadata), VideoMetadata: _struct(VideoMetadata)}
_MEDIA_READERS: dict[type, _Reader] = {
    cls: _struct(cls) for cls in _MEDIA_BY_TYPE.values() if cls is not PinMediaWithImageAndVideo
}
_MEDIA_READERS[PinMediaWithImageAndVideo] = _struct(
    PinMediaWithImageAndVideo,
    items=_tuple_of(lambda value: _MEDIA_ITEM_READERS[_media_item_kind(value)](value)),
)


def _read_media(value: Any) -> PinMedia:
    """Media by its ``media_type``; one the spec does not list is :class:`OtherPinMedia`."""
    if not isinstance(value, Mapping):
        raise _INVALID
    kind = value.get("media_type")
    cls = _MEDIA_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return OtherPinMedia(_str(kind))
    media: PinMedia = _MEDIA_READERS[cls](value)
    return media


_read_pin: _Reader = _struct(Pin, media=_optional(_read_media), pin_metrics=_normalize_metrics)
_METADATA_READERS: dict[str, _Reader] = {
    "RETAIL": _struct(RetailMetadata),
    "HOTEL": _struct(HotelMetadata),
    "CREATIVE_ASSETS": _struct(CreativeAssetsMetadata),
}
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


def _read_item(raw: Any, *, convert: bool = True) -> Product:
    """One item, leniently: as its ``catalog_type`` says, else as its metadata says (each
    candidate by the fast typed conversion first, unless ``convert`` is false, then field by
    field)."""
    if not isinstance(raw, Mapping):
        return BrokenProduct("item is not an object")
    declared = raw.get("catalog_type") or "RETAIL"
    metadata = raw.get("metadata")
    candidates = [declared] if isinstance(declared, str) and declared in _PRODUCT_BY_TYPE else []
    if isinstance(metadata, Mapping):
        candidates += [t for k, t in _TYPE_BY_METADATA_KEY.items() if k in metadata]
    pin = raw.get("pin")
    for catalog_type in dict.fromkeys(candidates):
        cls = _PRODUCT_BY_TYPE[catalog_type]
        if convert:
            try:
                product = msgspec.convert({"metadata": metadata, "pin": pin}, cls)
                if _fast(product):
                    return product
            except msgspec.ValidationError:
                pass
        try:
            return cls(_METADATA_READERS[catalog_type](metadata), _read_pin(pin))
        except _Invalid:
            continue
    return BrokenProduct("item matches no catalog product type")


# --- The catalog as a graph (issue 18) ---------------------------------------------------------
#
# Catalogs, feeds, product groups, their product counts and filter values. One struct per
# response schema, with the fields of every vertical variant of it (each optional but the id),
# its ``catalog_type`` saying which vertical it is: lenient as the products are, and simpler than
# tagged unions (the schema layer can split them by ``catalog_type``). Read as Pins are: the fast
# typed decoding first, else field by field (:func:`_struct`); a listing item that fits neither
# is a :class:`BrokenItem` in its place.


class FeedStatus(_Lenient):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    UNKNOWN = "UNKNOWN"


class FeedFormat(_Lenient):
    TSV = "TSV"
    CSV = "CSV"
    XML = "XML"
    UNKNOWN = "UNKNOWN"


class ProductGroupStatus(_Lenient):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    UNKNOWN = "UNKNOWN"


class ProductGroupType(_Lenient):
    """Retail's (``CatalogsProductGroupType``) and hotels' (``ALL_LISTINGS``) in one."""

    MERCHANT_CREATED = "MERCHANT_CREATED"
    ALL_PRODUCTS = "ALL_PRODUCTS"
    BEST_DEALS = "BEST_DEALS"
    PINNER_FAVORITES = "PINNER_FAVORITES"
    TOP_SELLERS = "TOP_SELLERS"
    BACK_IN_STOCK = "BACK_IN_STOCK"
    NEW_ARRIVALS = "NEW_ARRIVALS"
    SHOPIFY_COLLECTIONS = "SHOPIFY_COLLECTIONS"
    I2PC = "I2PC"
    ALL_LISTINGS = "ALL_LISTINGS"
    UNKNOWN = "UNKNOWN"


# The field the service sets on catalogs, feeds and product groups read with an ad account
# (``ad_account_id``: what nested listings are read as), encoded under a name of ours so nothing
# the upstream sends can set it. Not the upstream's: listed in LOCAL_FIELDS.
_AD_ACCOUNT = "_ad_account_id"
LOCAL_FIELDS = frozenset({"ad_account_id"})


class Catalog(_Frozen, frozen=True):
    """``Catalog``: one schema for every vertical."""

    id: str
    name: str | None = None
    catalog_type: CatalogType = CatalogType.UNKNOWN
    created_at: str | None = None  # date-time
    updated_at: str | None = None
    # Ours, not the upstream's: the ad account it was read as (set by the service).
    ad_account_id: str | None = field(default=None, name=_AD_ACCOUNT)


class FeedCredentials(_Frozen, frozen=True):
    """The username a feed is downloaded with. Its password is never read: what is not parsed
    cannot be cached, logged or served."""

    username: str | None = None


class FeedProcessingSchedule(_Frozen, frozen=True):
    time: str | None = None  # "HH:MM"
    timezone: str | None = None


class Feed(_Frozen, frozen=True):
    """``catalogs_feed``: the fields of its retail, hotel and creative assets variants."""

    id: str
    catalog_type: CatalogType = CatalogType.UNKNOWN
    catalog_id: str | None = None
    name: str | None = None
    created_at: str | None = None  # date-time
    updated_at: str | None = None
    credentials: FeedCredentials | None = None
    default_availability: ProductAvailability | None = None
    default_country: str | None = None
    default_currency: str | None = None
    default_locale: str | None = None
    format: FeedFormat | None = None
    location: str | None = None  # masked: no userinfo, no credential-like query values
    preferred_processing_schedule: FeedProcessingSchedule | None = None
    status: FeedStatus | None = None
    # Ours, not the upstream's: the ad account it was read as (set by the service).
    ad_account_id: str | None = field(default=None, name=_AD_ACCOUNT)

    def __post_init__(self) -> None:
        if self.location is not None:
            force_setattr(self, "location", mask_url(self.location))


# Product group filters: ``CatalogsProductGroupFilters`` and its hotel and creative assets
# variants in one, shaped as the ``productsByFilter`` input is (graphql_api/schema/inputs.py):
# ``any_of`` or ``all_of``, a list of keys, each one ``{"MIN_PRICE": {criterion}}``. Read
# leniently, never failing the group: a criterion that does not fit, or a key this API does not
# know, leaves its entry empty in its place (a :class:`ProductGroupFilterKey` with no member set),
# so the list keeps its length and its meaning is not silently changed.


class ComparisonOperator(_Lenient):
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUALS = "GREATER_THAN_OR_EQUALS"
    LESS_THAN = "LESS_THAN"
    LESS_THAN_OR_EQUALS = "LESS_THAN_OR_EQUALS"
    UNKNOWN = "UNKNOWN"


class FilterOperatorType(_Lenient):
    IS = "IS"
    CONTAINS = "CONTAINS"
    UNKNOWN = "UNKNOWN"


class Gender(_Lenient):
    FEMALE = "FEMALE"
    MALE = "MALE"
    UNISEX = "UNISEX"
    UNKNOWN = "UNKNOWN"


class MediaType(_Lenient):
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    UNKNOWN = "UNKNOWN"


_UINT32_MAX = 2**32 - 1
_UInt32 = Annotated[int, Meta(ge=0, le=_UINT32_MAX)]


class PricingCriteria(_Frozen, frozen=True):
    """MIN_PRICE, MAX_PRICE."""

    values: float
    inclusion: bool = True
    negated: bool = False


class PricingCurrencyCriteria(_Frozen, frozen=True):
    """PRICE (hotel)."""

    value: float
    operator: ComparisonOperator
    currency: str
    negated: bool = False


class CurrencyCriteria(_Frozen, frozen=True):
    """CURRENCY. Its ``negated`` can only be false (the spec's enum): not kept."""

    values: str


class MultipleStringCriteria(_Frozen, frozen=True):
    values: tuple[str, ...]
    negated: bool = False


class MultipleStringListCriteria(_Frozen, frozen=True):
    values: tuple[tuple[str, ...], ...]
    negated: bool = False


class FilterOperatorTypeCriteria(_Frozen, frozen=True):
    """CUSTOM_LABEL_n."""

    values: tuple[str, ...]
    filter_operator_type: FilterOperatorType = FilterOperatorType.IS
    negated: bool = False


class Uint32Criteria(_Frozen, frozen=True):
    """CUSTOM_NUMBER_n."""

    operator: ComparisonOperator
    value: _UInt32
    negated: bool = False


class MultipleMediaTypesCriteria(_Frozen, frozen=True):
    values: tuple[MediaType, ...]
    negated: bool = False


class MultipleGenderCriteria(_Frozen, frozen=True):
    values: tuple[Gender, ...]
    negated: bool = False


class MultipleCountriesCriteria(_Frozen, frozen=True):
    values: tuple[str, ...]  # ISO 3166-1 alpha-2
    negated: bool = False


class ProductGroupFilterKey(
    _Frozen, frozen=True, rename="upper", omit_defaults=True, repr_omit_defaults=True
):
    """One entry of ``any_of``/``all_of``: one key (upstream ``MIN_PRICE``: ``min_price``) set,
    the others ``None`` (and left out of its JSON and MessagePack). None set: a key this API does
    not know, or a criterion that did not fit."""

    min_price: PricingCriteria | None = None
    max_price: PricingCriteria | None = None
    price: PricingCurrencyCriteria | None = None
    currency: CurrencyCriteria | None = None
    item_id: MultipleStringCriteria | None = None
    item_group_id: MultipleStringCriteria | None = None
    availability: MultipleStringCriteria | None = None
    brand: MultipleStringCriteria | None = None
    condition: MultipleStringCriteria | None = None
    gender: MultipleGenderCriteria | None = None
    media_type: MultipleMediaTypesCriteria | None = None
    title_keywords: MultipleStringCriteria | None = None
    product_group: MultipleStringCriteria | None = None
    hotel_id: MultipleStringCriteria | None = None
    country: MultipleCountriesCriteria | None = None
    creative_assets_id: MultipleStringCriteria | None = None
    custom_label_0: FilterOperatorTypeCriteria | None = None
    custom_label_1: FilterOperatorTypeCriteria | None = None
    custom_label_2: FilterOperatorTypeCriteria | None = None
    custom_label_3: FilterOperatorTypeCriteria | None = None
    custom_label_4: FilterOperatorTypeCriteria | None = None
    custom_number_0: Uint32Criteria | None = None
    custom_number_1: Uint32Criteria | None = None
    custom_number_2: Uint32Criteria | None = None
    custom_number_3: Uint32Criteria | None = None
    custom_number_4: Uint32Criteria | None = None
    product_type_0: MultipleStringListCriteria | None = None
    product_type_1: MultipleStringListCriteria | None = None
    product_type_2: MultipleStringListCriteria | None = None
    product_type_3: MultipleStringListCriteria | None = None
    product_type_4: MultipleStringListCriteria | None = None
    google_product_category_0: MultipleStringListCriteria | None = None
    google_product_category_1: MultipleStringListCriteria | None = None
    google_product_category_2: MultipleStringListCriteria | None = None
    google_product_category_3: MultipleStringListCriteria | None = None
    google_product_category_4: MultipleStringListCriteria | None = None
    google_product_category_5: MultipleStringListCriteria | None = None
    google_product_category_6: MultipleStringListCriteria | None = None


class ProductGroupFilters(_Frozen, frozen=True, omit_defaults=True, repr_omit_defaults=True):
    """``any_of`` or ``all_of`` (the upstream sends one; both kept if it sends both)."""

    any_of: tuple[ProductGroupFilterKey, ...] | None = None
    all_of: tuple[ProductGroupFilterKey, ...] | None = None


class ProductGroup(_Frozen, frozen=True):
    """``product_group`` (``CatalogsVerticalProductGroup``): the fields of its variants."""

    id: str
    catalog_type: CatalogType = CatalogType.UNKNOWN
    catalog_id: str | None = None
    feed_id: str | None = None
    name: str | None = None
    description: str | None = None
    country: str | None = None
    locale: str | None = None
    created_at: int | None = None  # Unix time (the spec's examples are in milliseconds)
    updated_at: int | None = None
    filters: ProductGroupFilters | None = None
    is_featured: bool | None = None  # deprecated upstream
    status: ProductGroupStatus | None = None
    type: ProductGroupType | None = None
    # Ours, not the upstream's: the ad account it was read as (set by the service).
    ad_account_id: str | None = field(default=None, name=_AD_ACCOUNT)


class ProductCounts(_Frozen, frozen=True):
    """``CatalogsProductGroupProductCountsVertical``: every vertical's counts (``number`` in
    the spec, read as integers)."""

    catalog_type: CatalogType = CatalogType.UNKNOWN
    total: int | None = None
    in_stock: int | None = None
    out_of_stock: int | None = None
    preorder: int | None = None
    videos: int | None = None


class FilterValues(_Frozen, frozen=True):
    """The filter values maps of every vertical, in one (a key a vertical lacks is empty).
    ``gender`` and ``media_type`` are read as the filters' enums (a newer value: ``UNKNOWN``);
    ``availability`` and ``condition``, strings in the filters, keep the strings as sent."""

    ad_image_tags: tuple[str, ...] = ()
    ad_video_tags: tuple[str, ...] = ()
    availability: tuple[str, ...] = ()
    brand: tuple[str, ...] = ()
    condition: tuple[str, ...] = ()
    custom_label_0: tuple[str, ...] = ()
    custom_label_1: tuple[str, ...] = ()
    custom_label_2: tuple[str, ...] = ()
    custom_label_3: tuple[str, ...] = ()
    custom_label_4: tuple[str, ...] = ()
    gender: tuple[Gender, ...] = ()
    google_product_category_0: tuple[str, ...] = ()
    google_product_category_1: tuple[str, ...] = ()
    google_product_category_2: tuple[str, ...] = ()
    google_product_category_3: tuple[str, ...] = ()
    google_product_category_4: tuple[str, ...] = ()
    google_product_category_5: tuple[str, ...] = ()
    google_product_category_6: tuple[str, ...] = ()
    media_type: tuple[MediaType, ...] = ()
    product_type_0: tuple[str, ...] = ()
    product_type_1: tuple[str, ...] = ()
    product_type_2: tuple[str, ...] = ()
    product_type_3: tuple[str, ...] = ()
    product_type_4: tuple[str, ...] = ()


class AvailableFilterValues(_Frozen, frozen=True):
    """``catalogs_available_filter_values``."""

    catalog_type: CatalogType = CatalogType.UNKNOWN
    filter_values: FilterValues = FilterValues()


class BrokenItem(_Frozen, frozen=True):
    """A listing item that fits no type, kept in its place so the error has a path."""

    reason: str


_T = TypeVar("_T")
_E = TypeVar("_E", Catalog, Feed, ProductGroup)


@dataclass(frozen=True, slots=True)
class Listing(Generic[_E]):
    """A page of catalogs, feeds or product groups."""

    items: tuple[_E | BrokenItem, ...]
    bookmark: str | None = None


class _Split(_Frozen, frozen=True):
    items: tuple[msgspec.Raw, ...]
    bookmark: str | None = None


def _uint32(value: Any) -> int:
    number = _int(value)
    if not 0 <= number <= _UINT32_MAX:
        raise _INVALID
    return number


def _alternatives(tp: Any) -> list[Any]:
    return [a for a in getattr(tp, "__args__", (tp,)) if a is not type(None)]


_CRITERIA_READERS: dict[Any, _Reader] = {
    cls: _struct(cls)
    for cls in (
        PricingCriteria,
        PricingCurrencyCriteria,
        CurrencyCriteria,
        MultipleStringCriteria,
        MultipleStringListCriteria,
        FilterOperatorTypeCriteria,
        MultipleMediaTypesCriteria,
        MultipleGenderCriteria,
        MultipleCountriesCriteria,
    )
}
_CRITERIA_READERS[Uint32Criteria] = _struct(Uint32Criteria, value=_uint32)
# (attribute, upstream key, reader of its criterion) of every key
_FILTER_KEYS = [
    (info.name, info.encode_name, _optional(_CRITERIA_READERS[_alternatives(info.type)[0]]))
    for info in msgspec.structs.fields(ProductGroupFilterKey)
]


def _filter_key(value: Any) -> ProductGroupFilterKey:
    """An entry of ``any_of``/``all_of``, each key on its own: one that does not fit is left
    out (an entry with none left is empty, in its place)."""
    kwargs = {}
    if isinstance(value, Mapping):
        for name, key, read in _FILTER_KEYS:
            if key in value:
                with contextlib.suppress(_Invalid):
                    kwargs[name] = read(value[key])
    return ProductGroupFilterKey(**kwargs)


def _filters(value: Any) -> ProductGroupFilters | None:
    """A product group's filters: an object (its ``any_of``/``all_of`` kept if they are lists),
    or nothing."""
    if not isinstance(value, Mapping):
        return None
    kwargs = {}
    for name in ("any_of", "all_of"):
        if isinstance(entries := value.get(name), list):
            kwargs[name] = tuple(map(_filter_key, entries))
    return ProductGroupFilters(**kwargs)


def _filter_values(value: Any) -> FilterValues:
    """A filter values map, each key on its own: a key whose value is not a list is empty; of
    a list, the items that read as strings are kept (numbers read as strings), others dropped."""
    if not isinstance(value, Mapping):
        raise _INVALID
    kwargs = {}
    for name, read in _FILTER_VALUE_READERS.items():
        values = value.get(name)
        if isinstance(values, list):
            kept = []
            for item in values:
                with contextlib.suppress(_Invalid):
                    kept.append(read(_str(item)))
            kwargs[name] = tuple(kept)
    return FilterValues(**kwargs)


def _same(value: str) -> str:
    return value


# Each key's reader of one (string) value: the enum of its items, or the string itself.
_FILTER_VALUE_READERS: dict[str, _Reader] = {
    info.name: info.type.__args__[0] if info.type.__args__[0] is not str else _same
    for info in msgspec.structs.fields(FilterValues)
}


_ENTITY_READERS: dict[type, _Reader] = {
    Catalog: _struct(Catalog),
    Feed: _struct(Feed),
    ProductGroup: _struct(ProductGroup, filters=_filters),
    ProductCounts: _struct(ProductCounts),
    AvailableFilterValues: _struct(AvailableFilterValues, filter_values=_filter_values),
}
_ENTITY_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(cls) for cls in _ENTITY_READERS
}
_FAST_LISTINGS: dict[type, msgspec.json.Decoder[Any]] = {
    cls: msgspec.json.Decoder(tuple[cls, ...])  # type: ignore[valid-type]
    for cls in (Catalog, Feed, ProductGroup)
}
_SPLIT = msgspec.json.Decoder(_Split)


def _entity(cls: type[_T], data: bytes) -> _T:
    """One object of ``cls`` from its JSON: fast, else leniently; ``ValueError`` if it is not
    one (``msgspec.DecodeError`` if not JSON)."""
    try:
        value: _T = _ENTITY_DECODERS[cls].decode(data)
    except msgspec.ValidationError:
        try:
            value = _ENTITY_READERS[cls](_ANY.decode(data))
        except _Invalid:
            raise ValueError(f"not a {cls.__name__}") from None
    return value


def _item(cls: type[_E], raw: msgspec.Raw) -> _E | BrokenItem:
    try:
        return _entity(cls, raw)
    except ValueError:
        return BrokenItem(f"item is not a {cls.__name__}")


def _listing(cls: type[_E], data: bytes) -> Listing[_E]:
    try:
        split = _SPLIT.decode(data)
    except msgspec.ValidationError:
        raise ValueError("not a page: no 'items' list, or a bookmark not a string") from None
    try:  # the common case: every item fits, decoded at once
        items: tuple[_E | BrokenItem, ...] = _FAST_LISTINGS[cls].decode(
            b"[" + b",".join(split.items) + b"]"
        )
    except msgspec.ValidationError:
        items = tuple(_item(cls, raw) for raw in split.items)
    return Listing(items, split.bookmark or None)


def dump_listing(listing: Listing[Any]) -> bytes:
    """A listing page as MessagePack that :func:`load_listing` reads back equal (for shared
    caches): its entities, the broken items apart with their places (a union of untagged
    structs has no MessagePack form), its bookmark. Generic: whatever structs the models hold
    are encoded as msgspec encodes them."""
    entities, broken = [], []
    for index, item in enumerate(listing.items):
        if type(item) is BrokenItem:
            broken.append((index, item.reason))
        else:
            entities.append(item)
    return _CACHE_ENCODER.encode((entities, broken, listing.bookmark))


_CACHED_LISTINGS: dict[type, msgspec.msgpack.Decoder[Any]] = {
    cls: msgspec.msgpack.Decoder(
        tuple[tuple[cls, ...], tuple[tuple[int, str], ...], str | None]  # type: ignore[valid-type]
    )
    for cls in (Catalog, Feed, ProductGroup)
}


def load_listing(cls: type[_E], data: bytes) -> Listing[_E]:
    """A page of ``cls`` from :func:`dump_listing`'s bytes; ``ValueError`` if they are not one."""
    entities, broken, bookmark = _CACHED_LISTINGS[cls].decode(data)
    if not broken:
        return Listing(entities, bookmark)
    items: list[_E | BrokenItem] = list(entities)
    for index, reason in broken:
        if not 0 <= index <= len(items):
            raise ValueError("not a cached listing: a broken item out of place")
        items.insert(index, BrokenItem(reason))
    return Listing(tuple(items), bookmark)


def listing_type(listing: Listing[Any]) -> type[Catalog | Feed | ProductGroup] | None:
    """The type of a listing page's entities (``None``: it has none, only broken items)."""
    for item in listing.items:
        if not isinstance(item, BrokenItem):
            return type(item)
    return None


def parse_catalogs_json(data: bytes) -> Listing[Catalog]:
    """A ``GET /catalogs`` page from its JSON; ``msgspec.DecodeError`` if it is not JSON,
    ``ValueError`` if it is not a page."""
    return _listing(Catalog, data)


def parse_feeds_json(data: bytes) -> Listing[Feed]:
    """A ``GET /catalogs/feeds`` page (as :func:`parse_catalogs_json`)."""
    return _listing(Feed, data)


def parse_product_groups_json(data: bytes) -> Listing[ProductGroup]:
    """A ``GET /catalogs/product_groups`` page (as :func:`parse_catalogs_json`)."""
    return _listing(ProductGroup, data)


def parse_feed_json(data: bytes) -> Feed:
    """A ``GET /catalogs/feeds/{id}`` answer; ``ValueError`` if it is not a feed."""
    return _entity(Feed, data)


def parse_product_group_json(data: bytes) -> ProductGroup:
    """A ``GET /catalogs/product_groups/{id}`` answer; ``ValueError`` if it is not one."""
    return _entity(ProductGroup, data)


def parse_product_counts_json(data: bytes) -> ProductCounts:
    """A ``GET /catalogs/product_groups/{id}/product_counts`` answer."""
    return _entity(ProductCounts, data)


def parse_filter_values_json(data: bytes) -> AvailableFilterValues:
    """A ``GET /catalogs/available_filter_values`` answer."""
    return _entity(AvailableFilterValues, data)


def check_readers() -> None:
    """Raise ``TypeError`` if a model has a field the hand-written parts of the readers would
    drop: the fast path's mixed media item (:class:`_MixedItem`) must have every field of both
    kinds; :func:`_metrics` and :func:`_normalize_metrics` build :class:`PinMetrics` from two
    windows, :func:`_read_item` a product from its metadata and its Pin. Run at import (and by
    the schema's check), so a field added the wrong way fails before anything is served."""
    kinds = (ImageMetadata, VideoMetadata)
    missing = {f for kind in kinds for f in kind.__struct_fields__} - set(
        _MixedItem.__struct_fields__
    )
    if missing:
        raise TypeError(
            f"models._MixedItem lacks {sorted(missing)}: the fast path would drop them from "
            "multiple_mixed media items; add them to it (UNSET by default for video-only keys)"
        )
    if PinMetrics.__struct_fields__ != ("last_90_days", "all_time"):
        raise TypeError(
            f"models.PinMetrics has the fields {PinMetrics.__struct_fields__}: read the new ones "
            "in _metrics (the fast path) and _normalize_metrics (the lenient one)"
        )
    for product in _PRODUCT_BY_TYPE.values():
        if product.__struct_fields__ != ("metadata", "pin"):
            raise TypeError(
                f"models.{product.__name__} has the fields {product.__struct_fields__}: "
                "_read_item builds products from their metadata and Pin only; read the new ones"
            )


check_readers()

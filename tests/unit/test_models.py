"""``parse_page`` / ``parse_pin``: the upstream's pages and Pins read leniently into frozen models.

``tests/data/types/spec_page.json`` is built from the spec's examples (one product of each catalog
type with media of each variant, then the same with every nullable field null); the integration
test ``test_spec_page_fixture_is_derived_from_the_spec`` keeps it in sync with the spec.
"""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec.structs import asdict

from graphql_api.upstream import models as m
from graphql_api.upstream.models import parse_page, parse_pin

DATA = Path(__file__).parents[1] / "data"
SEED_PAGE: dict[str, Any] = json.loads((DATA / "seed_page.json").read_text())
SPEC_PAGE: dict[str, Any] = json.loads((DATA / "types" / "spec_page.json").read_text())

PRODUCT_CLASS = {
    "RETAIL": m.RetailProduct,
    "HOTEL": m.HotelProduct,
    "CREATIVE_ASSETS": m.CreativeAssetsProduct,
}
MEDIA_CLASS = {
    "image": m.PinMediaWithImage,
    "video": m.PinMediaWithVideo,
    "multiple_images": m.PinMediaWithImages,
    "multiple_videos": m.PinMediaWithVideos,
    "multiple_mixed": m.PinMediaWithImageAndVideo,
}
ITEM_CLASS = {"image": m.ImageMetadata, "video": m.VideoMetadata}

PIN = {"id": "1", "title": "a Pin"}
RETAIL = {
    "item_id": "A-1",
    "item_group_id": "A",
    "availability": "IN_STOCK",
    "price": 9.5,
    "sale_price": None,
    "currency": "EUR",
}
HOTEL = {"hotel_id": "H-1"}
CREATIVE = {"creative_assets_id": "C-1", "visibility": "VISIBLE"}


def page(*items: Any, **extra: Any) -> dict[str, Any]:
    return {"items": list(items), "bookmark": None, **extra}


def one(item: Any) -> m.Product:
    (product,) = parse_page(page(item)).items
    return product


def as_json(value: Any) -> Any:
    """A parsed value as the JSON values it dumps to."""
    return msgspec.json.decode(msgspec.json.encode(value))


def readable(window: m.PinMetricsWindow | None) -> dict[str, int] | None:
    """A window as its non-null values; None when nothing in it is readable."""
    values = {k: v for k, v in (asdict(window) if window else {}).items() if v is not None}
    return values or None


# --- the seed sample and the spec's examples ------------------------------------------------


def test_seed_page_parses() -> None:
    result = parse_page(SEED_PAGE)
    assert result.bookmark == "string"
    (product,) = result.items
    assert isinstance(product, m.RetailProduct)
    assert product.catalog_type is m.CatalogType.RETAIL  # absent in the sample
    assert product.metadata == m.RetailMetadata(
        item_id="DS0294-L",
        item_group_id="DS0294",
        availability=m.ProductAvailability.IN_STOCK,
        price=24.99,
        sale_price=14.99,
        currency="USD",
    )
    raw_pin = SEED_PAGE["items"][0]["pin"]
    pin = product.pin
    dumped = {k: v for k, v in as_json(pin).items() if k not in ("media", "pin_metrics")}
    assert dumped == {k: v for k, v in raw_pin.items() if k not in ("media", "pin_metrics")}
    assert pin.media == m.OtherPinMedia(media_type="string")
    assert pin.pin_metrics is not None
    (window_90d_all_time, null) = raw_pin["pin_metrics"]["pin_metrics"]
    assert null is None
    assert readable(pin.pin_metrics.last_90_days) == window_90d_all_time["90d"]
    assert readable(pin.pin_metrics.all_time) == window_90d_all_time["all_time"]


def test_seed_pin_parses_alone() -> None:
    pin = parse_pin(SEED_PAGE["items"][0]["pin"])
    assert pin == parse_page(SEED_PAGE).items[0].pin  # type: ignore[union-attr]


@pytest.mark.parametrize("index", range(len(SPEC_PAGE["items"])))
def test_spec_page_items_parse_to_their_types_and_dump_back_unchanged(index: int) -> None:
    raw = SPEC_PAGE["items"][index]
    product = parse_page(SPEC_PAGE).items[index]
    assert type(product) is PRODUCT_CLASS[raw["catalog_type"]]
    assert isinstance(product, m.RetailProduct | m.HotelProduct | m.CreativeAssetsProduct)
    media = raw["pin"]["media"]
    assert type(product.pin.media) is MEDIA_CLASS[media["media_type"]]
    for got, item in zip(
        getattr(product.pin.media, "items", ()), media.get("items", ()), strict=True
    ):
        assert type(got) is ITEM_CLASS[item["item_type"]]

    dumped = as_json(product)
    metrics = dumped["pin"].pop("pin_metrics")
    assert dumped["pin"].pop("note") is None  # not in the spec's Pin
    want = copy.deepcopy(raw)
    raw_metrics = want["pin"].pop("pin_metrics")
    assert dumped == want
    if raw_metrics is None:
        assert metrics is None
    else:
        assert {k: v for k, v in metrics["90d"].items() if v is not None} == (raw_metrics["90d"])
        assert metrics["all_time"] == raw_metrics["lifetime_metrics"]


@pytest.mark.parametrize("media_type", sorted(MEDIA_CLASS))
def test_parsed_media_dump_and_load_back_equal(media_type: str) -> None:
    raw = next(
        item["pin"]
        for item in SPEC_PAGE["items"]
        if item["pin"]["media"]["media_type"] == media_type
    )
    pin = parse_pin(raw)
    assert m.load_pin(m.dump_pin(pin)) == pin


def test_spec_page_is_one_page_of_every_combination() -> None:
    result = parse_page(SPEC_PAGE)
    assert len(result.items) == len(SPEC_PAGE["items"])
    assert result.bookmark is None
    kinds = {(type(p), type(p.pin.media)) for p in result.items}  # type: ignore[union-attr]
    assert kinds == {(p, media) for p in PRODUCT_CLASS.values() for media in MEDIA_CLASS.values()}


# --- catalog types --------------------------------------------------------------------------


@pytest.mark.parametrize("declared", [..., None, ""], ids=["absent", "null", "empty"])
def test_items_without_catalog_type_are_retail(declared: Any) -> None:
    item: dict[str, Any] = {"metadata": RETAIL, "pin": PIN}
    if declared is not ...:
        item["catalog_type"] = declared
    product = one(item)
    assert isinstance(product, m.RetailProduct)
    assert product.catalog_type is m.CatalogType.RETAIL


@pytest.mark.parametrize(
    ("declared", "metadata", "expected"),
    [
        ("RETAIL", RETAIL, m.RetailProduct),
        ("HOTEL", HOTEL, m.HotelProduct),
        ("CREATIVE_ASSETS", CREATIVE, m.CreativeAssetsProduct),
        ("HOTEL", RETAIL, m.RetailProduct),
        ("RETAIL", HOTEL, m.HotelProduct),
        ("CREATIVE_ASSETS", HOTEL, m.HotelProduct),
        ("HOTEL", CREATIVE, m.CreativeAssetsProduct),
        (None, HOTEL, m.HotelProduct),
        (None, CREATIVE, m.CreativeAssetsProduct),
        ("MARKETPLACE", RETAIL, m.RetailProduct),
        ("MARKETPLACE", HOTEL, m.HotelProduct),
        ("retail", CREATIVE, m.CreativeAssetsProduct),
        (["RETAIL"], RETAIL, m.RetailProduct),  # garbage, not only unknown values
        ({"v": "HOTEL"}, HOTEL, m.HotelProduct),
        (5, CREATIVE, m.CreativeAssetsProduct),
        (True, RETAIL, m.RetailProduct),
    ],
)
def test_an_item_is_typed_by_its_metadata(
    declared: Any, metadata: dict[str, Any], expected: type[msgspec.Struct]
) -> None:
    product = one({"catalog_type": declared, "metadata": metadata, "pin": PIN})
    assert type(product) is expected
    assert (
        product.catalog_type.value
        == {
            m.RetailProduct: "RETAIL",
            m.HotelProduct: "HOTEL",
            m.CreativeAssetsProduct: "CREATIVE_ASSETS",
        }[expected]
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("IN_STOCK", "IN_STOCK"),
        ("OUT_OF_STOCK", "OUT_OF_STOCK"),
        ("PREORDER", "PREORDER"),
        ("LIMITED", "UNKNOWN"),
        ("in_stock", "UNKNOWN"),
        ("", "UNKNOWN"),
        (3, "UNKNOWN"),
    ],
)
def test_availability_reads_unknown_for_new_values(value: Any, expected: str) -> None:
    product = one({"metadata": {**RETAIL, "availability": value}, "pin": PIN})
    assert isinstance(product, m.RetailProduct)
    assert product.metadata.availability is m.ProductAvailability[expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("VISIBLE", "VISIBLE"),
        ("HIDDEN", "HIDDEN"),
        ("ARCHIVED", "UNKNOWN"),
        ("visible", "UNKNOWN"),
    ],
)
def test_visibility_reads_unknown_for_new_values(value: str, expected: str) -> None:
    product = one(
        {
            "catalog_type": "CREATIVE_ASSETS",
            "metadata": {**CREATIVE, "visibility": value},
            "pin": PIN,
        }
    )
    assert isinstance(product, m.CreativeAssetsProduct)
    assert product.metadata.visibility is m.CreativeAssetsVisibility[expected]


# --- extra fields ---------------------------------------------------------------------------


def with_noise(value: Any, key: str = "") -> Any:
    """``value`` with fields the spec does not have added to every object (``pin_metrics`` is
    free-form in the spec, so its inside is left as it is)."""
    if key == "pin_metrics":
        return value
    if isinstance(value, dict):
        noisy = {k: with_noise(v, k) for k, v in value.items()}
        return {
            **noisy,
            "x_new_field": {"nested": [1, "two", None, {"deep": True}]},
            "x_null": None,
            "x_list": [{"a": 1}],
        }
    if isinstance(value, list):
        return [with_noise(v, key) for v in value]
    return value


@pytest.mark.parametrize("data", [SEED_PAGE, SPEC_PAGE], ids=["seed", "spec"])
def test_extra_fields_anywhere_change_nothing(data: dict[str, Any]) -> None:
    noisy = with_noise(data)
    assert noisy["items"][0]["pin"]["media"]["x_null"] is None  # noise reached the depths
    assert parse_page(noisy) == parse_page(data)


def test_extra_fields_on_a_pin_change_nothing() -> None:
    raw = SPEC_PAGE["items"][4]["pin"]
    assert parse_pin(with_noise(raw)) == parse_pin(raw)


def test_extra_image_sizes_are_ignored() -> None:
    images = {
        "75x75": {"url": "u", "width": 75, "height": 75},
        "600x": {"url": "v", "width": 600, "height": None},
    }
    media = parse_pin({"id": "1", "media": {"media_type": "image", "images": images}}).media
    assert isinstance(media, m.PinMediaWithImage)
    assert media.images == m.ImageSize(size_600x=m.ImageDetails(url="v", width=600))


# --- media ----------------------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["string", "carousel", "IMAGE", "", "42"])
def test_unknown_media_type_is_other_media(media_type: str) -> None:
    media = parse_pin({"id": "1", "media": {"media_type": media_type, "images": "?"}}).media
    assert media == m.OtherPinMedia(media_type=media_type)


def test_media_type_number_is_other_media_as_a_string() -> None:
    assert parse_pin({"id": "1", "media": {"media_type": 7}}).media == m.OtherPinMedia(
        media_type="7"
    )


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"item_type": "image", "title": "t"}, m.ImageMetadata),
        ({"item_type": "video", "duration": 1.5}, m.VideoMetadata),
        ({"video_url": "https://v"}, m.VideoMetadata),
        ({"cover_image_url": "https://c"}, m.VideoMetadata),
        ({"title": "t", "images": {}}, m.ImageMetadata),
        ({}, m.ImageMetadata),
        ({"item_type": "image", "cover_image_url": "https://c"}, m.ImageMetadata),
        ({"item_type": "story", "video_url": "https://v"}, m.VideoMetadata),
    ],
)
def test_mixed_media_items_are_told_apart(item: dict[str, Any], expected: type) -> None:
    media = parse_pin({"id": "1", "media": {"media_type": "multiple_mixed", "items": [item]}})
    assert isinstance(media.media, m.PinMediaWithImageAndVideo)
    (got,) = media.media.items
    assert type(got) is expected


def test_media_without_items_has_none() -> None:
    for media_type in ("multiple_images", "multiple_videos", "multiple_mixed"):
        media = parse_pin({"id": "1", "media": {"media_type": media_type}}).media
        assert media is not None
        assert media.items == ()  # type: ignore[union-attr]


# --- pin_metrics ----------------------------------------------------------------------------

W90 = {"pin_click": 7, "impression": 2, "clickthrough": 3}
WALL = {"pin_click": 17, "impression": 12, "clickthrough": 13, "reaction": 10, "comment": 2}
METRIC_SHAPES: dict[str, tuple[Any, Any, Any]] = {
    "spec example": ({"90d": W90, "lifetime_metrics": WALL}, W90, WALL),
    "all_time": ({"90d": W90, "all_time": WALL}, W90, WALL),
    "both all-time keys": ({"lifetime_metrics": WALL, "all_time": W90}, None, WALL),
    "90d only": ({"90d": W90}, W90, None),
    "all-time only": ({"all_time": WALL}, None, WALL),
    "list with null": ([{"90d": W90, "all_time": WALL}, None], W90, WALL),
    "list, null first": ([None, {"90d": W90, "lifetime_metrics": WALL}], W90, WALL),
    "list, windows split": ([{"90d": W90}, None, {"all_time": WALL}], W90, WALL),
    "seed shape": ({"pin_metrics": [{"90d": W90, "all_time": WALL}, None]}, W90, WALL),
    "wrapped dict": ({"pin_metrics": {"90d": W90, "lifetime_metrics": WALL}}, W90, WALL),
    "wrapped null": ({"pin_metrics": None}, None, None),
    "wrapped garbage": ({"pin_metrics": "x"}, None, None),
    "null": (None, None, None),
    "absent": (..., None, None),
    "empty dict": ({}, None, None),
    "empty list": ([], None, None),
    "list of nulls": ([None, None], None, None),
    "string": ("garbage", None, None),
    "number": (42, None, None),
    "float": (4.2, None, None),
    "boolean": (False, None, None),
    "list of strings": (["a", "b"], None, None),
    "nested lists": ([[{"90d": W90}]], None, None),
    "windows not objects": ({"90d": "x", "all_time": [1, 2], "lifetime_metrics": 5}, None, None),
    "non-int values": (
        {
            "90d": {
                "impression": "2",
                "pin_click": 7,
                "clickthrough": None,
                "reaction": True,
                "comment": {"n": 1},
            },
            "lifetime_metrics": {"impression": [1], "comment": 2, "reaction": False},
        },
        {"pin_click": 7},
        {"comment": 2},
    ),
    "float counts": (
        {"90d": {"impression": 2.0, "pin_click": 7}},
        {"impression": 2, "pin_click": 7},
        None,
    ),
    # GraphQL Int is 32-bit: a count it cannot carry reads as unknown (null), not as an error.
    "counts beyond 32 bits": (
        {"all_time": {"impression": 3_000_000_000, "comment": 2}},
        None,
        {"comment": 2},
    ),
    "extra keys": ({"90d": {**W90, "saves": 1}, "30d": W90, "x": [1], "all_time": WALL}, W90, WALL),
}


@pytest.mark.parametrize(
    ("shape", "last_90_days", "all_time"), METRIC_SHAPES.values(), ids=METRIC_SHAPES
)
def test_pin_metrics_in_every_shape(shape: Any, last_90_days: Any, all_time: Any) -> None:
    raw: dict[str, Any] = {"id": "1"} if shape is ... else {"id": "1", "pin_metrics": shape}
    for pin in (parse_pin(raw), one({"metadata": RETAIL, "pin": raw}).pin):  # type: ignore[union-attr]
        metrics = pin.pin_metrics
        assert readable(metrics.last_90_days if metrics else None) == last_90_days
        assert readable(metrics.all_time if metrics else None) == all_time
        assert pin.id == "1"


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_metric_values_are_unreadable_not_fatal(value: float) -> None:
    product = one(
        {
            "metadata": RETAIL,
            "pin": {"id": "1", "pin_metrics": {"90d": {**W90, "impression": value}}},
        }
    )
    assert isinstance(product, m.RetailProduct)
    assert product.pin.pin_metrics is not None
    assert readable(product.pin.pin_metrics.last_90_days) == {"pin_click": 7, "clickthrough": 3}


# --- items that fit no type -----------------------------------------------------------------

BROKEN_ITEMS = {
    "metadata missing": {"catalog_type": "RETAIL", "pin": PIN},
    "metadata null": {"metadata": None, "pin": PIN},
    "metadata a list": {"metadata": [RETAIL], "pin": PIN},
    "pin missing": {"metadata": RETAIL},
    "pin null": {"metadata": HOTEL, "pin": None, "catalog_type": "HOTEL"},
    "pin without id": {"metadata": RETAIL, "pin": {"title": "x"}},
    "pin id an object": {"metadata": RETAIL, "pin": {"id": {"v": 1}}},
    "metadata of no type": {"catalog_type": "HOTEL", "metadata": {"name": "x"}, "pin": PIN},
    "retail metadata without price": {
        "metadata": {k: v for k, v in RETAIL.items() if k != "price"},
        "pin": PIN,
    },
    "item a string": "item",
    "item null": None,
    "item a number": 5,
    "item a list": [RETAIL, PIN],
    "media_type a list": {"metadata": RETAIL, "pin": {**PIN, "media": {"media_type": ["image"]}}},
    "media_type an object": {
        "metadata": RETAIL,
        "pin": {**PIN, "media": {"media_type": {"v": "video"}}},
    },
    "media without media_type": {"metadata": RETAIL, "pin": {**PIN, "media": {"images": {}}}},
}
GOOD = {"metadata": RETAIL, "pin": PIN}


@pytest.mark.parametrize("item", BROKEN_ITEMS.values(), ids=BROKEN_ITEMS)
def test_an_item_that_fits_no_type_is_broken_in_its_place(item: Any) -> None:
    result = parse_page(page(GOOD, item, GOOD))
    first, broken, last = result.items
    assert isinstance(broken, m.BrokenProduct)
    assert broken.reason
    assert first == last == one(GOOD)


# --- lenient parsing never raises for a page ------------------------------------------------


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 7, 2**31, 2**63, rng.randint(-(10**6), 10**6)])
    if kind == "float":
        return rng.choice([0.5, -2.25, 1e300, rng.uniform(-1e6, 1e6)])
    if kind == "str":
        return rng.choice(["", "image", "video", "RETAIL", "HOTEL", "IN_STOCK", "90d", "x", "ü"])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [
        "90d",
        "all_time",
        "lifetime_metrics",
        "pin_metrics",
        "media_type",
        "item_type",
        "video_url",
        "id",
        "x",
    ]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def mutate(rng: random.Random, value: Any) -> Any:
    """``value`` with one field or item replaced by any JSON, or an extra field of any JSON."""
    if rng.random() < 0.1:
        return random_json(rng, depth=1)
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(sorted(value))
        return {**value, key: mutate(rng, value[key])}
    if isinstance(value, dict):
        return {**value, f"x{rng.randint(0, 9)}": random_json(rng)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        return [*value[:i], mutate(rng, value[i]), *value[i + 1 :]]
    return random_json(rng, depth=2)


@pytest.mark.parametrize("seed", range(25))
def test_parse_page_never_fails_for_odd_items(seed: int) -> None:
    """Any JSON in place of any field, extra fields of any shape, items of any JSON: the page
    parses, one product (or BrokenProduct) per item."""
    rng = random.Random(seed)
    sources = [*SPEC_PAGE["items"], *SEED_PAGE["items"]]
    items: list[Any] = []
    for _ in range(50):
        if rng.random() < 0.1:
            items.append(random_json(rng))
        else:
            item = rng.choice(sources)
            for _ in range(rng.randint(1, 3)):
                item = mutate(rng, item)
            items.append(item)
    result = parse_page({"items": items, "bookmark": rng.choice([None, "", "b"])})
    assert len(result.items) == len(items)
    for product in result.items:
        assert isinstance(
            product, m.RetailProduct | m.HotelProduct | m.CreativeAssetsProduct | m.BrokenProduct
        )


# --- pages and Pins that are not ------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [],
        {},
        None,
        "page",
        3,
        {"items": "x"},
        {"items": None},
        {"items": {}},
        {"items": [], "bookmark": 5},
        {"items": [], "bookmark": ["b"]},
        {"items": [], "bookmark": {}},
        {"bookmark": "b"},
        {"data": []},
    ],
    ids=repr,
)
def test_parse_page_refuses_what_is_not_a_page(data: Any) -> None:
    with pytest.raises(ValueError, match="not a page"):
        parse_page(data)


@pytest.mark.parametrize(
    ("bookmark", "expected"),
    [
        (..., None),
        (None, None),
        ("", None),
        ("abc==", "abc=="),
        ("string", "string"),
    ],
)
def test_bookmark(bookmark: Any, expected: str | None) -> None:
    data: dict[str, Any] = {"items": []}
    if bookmark is not ...:
        data["bookmark"] = bookmark
    result = parse_page(data)
    assert result.items == ()
    assert result.bookmark == expected


@pytest.mark.parametrize(
    "data",
    [
        [],
        {},
        None,
        "pin",
        7,
        {"id": None},
        {"id": {"v": 1}},
        {"id": ["1"]},
        {"id": True},
        {"title": "no id"},
    ],
    ids=repr,
)
def test_parse_pin_refuses_what_is_not_a_pin(data: Any) -> None:
    with pytest.raises(ValueError, match="not a pin"):
        parse_pin(data)


@pytest.mark.parametrize(
    ("raw_id", "expected"),
    [
        ("813744226420795884", "813744226420795884"),
        ("string", "string"),
        (12, "12"),
        ("", ""),
    ],
)
def test_pin_ids_are_opaque_strings(raw_id: Any, expected: str) -> None:
    assert parse_pin({"id": raw_id}).id == expected


def test_a_minimal_pin_has_nulls() -> None:
    pin = parse_pin({"id": "1"})
    assert asdict(pin) == {"id": "1", **dict.fromkeys(set(m.Pin.__struct_fields__) - {"id"})}


# --- frozen ---------------------------------------------------------------------------------


def frozen_instances() -> list[tuple[Any, str]]:
    result = parse_page(SPEC_PAGE)
    mixed = next(p for p in result.items if isinstance(p.pin.media, m.PinMediaWithImageAndVideo))  # type: ignore[union-attr]
    retail = next(
        p for p in result.items if isinstance(p, m.RetailProduct) and p.pin.pin_metrics is not None
    )
    assert isinstance(mixed, m.RetailProduct | m.HotelProduct | m.CreativeAssetsProduct)
    assert isinstance(mixed.pin.media, m.PinMediaWithImageAndVideo)
    assert retail.pin.pin_metrics is not None
    assert retail.pin.pin_metrics.all_time is not None
    assert retail.pin.board_owner is not None
    image, video = mixed.pin.media.items
    assert isinstance(image, m.ImageMetadata)
    assert image.images is not None
    assert image.images.size_600x is not None
    return [
        (result, "bookmark"),
        (retail, "catalog_type"),
        (retail, "metadata"),
        (retail.metadata, "price"),
        (retail.pin, "title"),
        (retail.pin, "pin_metrics"),
        (retail.pin.pin_metrics, "all_time"),
        (retail.pin.pin_metrics.all_time, "impression"),
        (retail.pin.board_owner, "username"),
        (mixed.pin.media, "media_type"),
        (image, "title"),
        (image.images, "size_600x"),
        (image.images.size_600x, "url"),
        (video, "video_url"),
        (m.BrokenProduct(reason="r"), "reason"),
    ]


@pytest.mark.parametrize(
    ("instance", "field"),
    frozen_instances(),
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_models_are_frozen(instance: Any, field: str) -> None:
    before = getattr(instance, field)
    with pytest.raises(AttributeError, match="immutable"):
        setattr(instance, field, None)
    with pytest.raises(AttributeError, match="immutable"):
        delattr(instance, field)
    assert getattr(instance, field) == before


def test_page_items_are_a_tuple() -> None:
    result = parse_page(SPEC_PAGE)
    assert isinstance(result.items, tuple)
    with pytest.raises(TypeError):
        result.items[0] = result.items[1]  # type: ignore[index]


def test_dumped_pages_load_back_equal() -> None:
    """The JSON a shared (Redis) cache keeps reads back as the same page."""
    from graphql_api.upstream.demo_catalog import build_catalog

    items: list[Any] = [*build_catalog(300), *SPEC_PAGE["items"], {"metadata": {}, "pin": {}}, 7]
    page = parse_page({"items": items, "bookmark": "next"})
    assert isinstance(page.items[-1], m.BrokenProduct)
    assert m.load_page(m.dump_page(page)) == page


# --- the fast and the lenient paths agree ------------------------------------------------------


def lenient(data: dict[str, Any]) -> m.Page:
    """The page as the lenient reading alone gives it (no typed decoding or conversion)."""
    items = tuple(m._read_item(item, convert=False) for item in data["items"])
    return m.Page(items, data.get("bookmark") or None)


def odd_items(rng: random.Random, count: int) -> list[Any]:
    """Items of every kind: the demo catalog's, the spec's and the seed's, mutated ones, every
    pin_metrics shape and any JSON."""
    from graphql_api.upstream.demo_catalog import build_catalog

    sources = [
        *build_catalog(60, seed=rng.randrange(100)),
        *SPEC_PAGE["items"],
        *SEED_PAGE["items"],
    ]
    items: list[Any] = []
    for _ in range(count):
        roll = rng.random()
        item = copy.deepcopy(rng.choice(sources))
        if roll < 0.05:
            items.append(random_json(rng))
            continue
        if roll < 0.25:
            shape = rng.choice(list(METRIC_SHAPES.values()))[0]
            if shape is ...:
                item["pin"].pop("pin_metrics", None)
            else:
                item["pin"]["pin_metrics"] = shape
        elif roll < 0.6:
            for _ in range(rng.randint(1, 3)):
                item = mutate(rng, item)
        items.append(item)
    return items


def finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(finite, value.values()))
    if isinstance(value, list):
        return all(map(finite, value))
    return True


@pytest.mark.parametrize("seed", range(40))
def test_fast_and_lenient_paths_agree(seed: int) -> None:
    """From the response bytes (typed decoding, the lenient path for what it refuses), from
    Python values, and by the lenient reading alone: the same page, item for item, and the
    same after the cache's form."""
    rng = random.Random(seed)
    data = {"items": odd_items(rng, 40), "bookmark": rng.choice([None, "", "b"])}
    assert finite(data)
    raw = json.dumps(data).encode()
    from_bytes = m.parse_page_json(raw)
    assert from_bytes == parse_page(data) == lenient(data)
    for got, want in zip(from_bytes.items, lenient(data).items, strict=True):
        assert type(got) is type(want)
    assert m.load_page(m.dump_page(from_bytes)) == from_bytes
    for item in data["items"]:
        pin = item.get("pin") if isinstance(item, dict) else None
        try:
            want_pin = parse_pin(pin)
        except ValueError:
            with pytest.raises(ValueError, match="not a pin"):
                m.parse_pin_json(json.dumps(pin).encode())
        else:
            got_pin = m.parse_pin_json(json.dumps(pin).encode())
            assert got_pin == want_pin
            assert m.load_pin(m.dump_pin(got_pin)) == got_pin


@pytest.mark.parametrize("data", [SEED_PAGE, SPEC_PAGE], ids=["seed", "spec"])
def test_fast_and_lenient_paths_agree_on_the_fixtures(data: dict[str, Any]) -> None:
    assert m.parse_page_json(json.dumps(data).encode()) == lenient(data)


def test_fast_and_lenient_paths_agree_on_the_demo_catalog() -> None:
    from graphql_api.upstream.demo_catalog import build_catalog

    data = {"items": build_catalog(), "bookmark": "b"}
    page = m.parse_page_json(json.dumps(data).encode())
    assert page == lenient(data)
    assert m.load_page(m.dump_page(page)) == page


def test_json_that_is_not_json_or_not_a_page() -> None:
    with pytest.raises(msgspec.DecodeError):
        m.parse_page_json(b'{"items": [')
    with pytest.raises(msgspec.DecodeError):
        m.parse_pin_json(b"<html>")
    for not_a_page in (b"[]", b'{"items": {}}', b'{"items": [], "bookmark": 5}'):
        with pytest.raises(ValueError, match="not a page") as info:
            m.parse_page_json(not_a_page)
        assert not isinstance(info.value, msgspec.DecodeError)
    with pytest.raises(ValueError, match="not a pin"):
        m.parse_pin_json(b'{"title": "no id"}')


EMPTY_WINDOW_SHAPES: list[Any] = [
    {"90d": {}},
    {"90d": {"impression": None, "saves": 3}},
    {"lifetime_metrics": {}},
    {"all_time": {}},
    {"lifetime_metrics": {}, "all_time": {}},
    {"lifetime_metrics": {}, "all_time": WALL},
    {"lifetime_metrics": WALL, "all_time": {}},
    {"90d": {}, "all_time": WALL},
    [{"90d": {}}, {"90d": W90}],
    [{"90d": {}}, {}],
    [{"90d": W90}, {"90d": {}}],
    [{"all_time": {}}, None, {"lifetime_metrics": WALL}],
    {"pin_metrics": {"90d": {}}},
    {"pin_metrics": [{"all_time": {}}]},
    {"pin_metrics": {"90d": W90}, "90d": None},
    {"pin_metrics": {"pin_metrics": {"90d": W90}}},
]


@pytest.mark.parametrize(
    "shape", [*(s for s, _, _ in METRIC_SHAPES.values() if s is not ...), *EMPTY_WINDOW_SHAPES]
)
def test_pin_metrics_read_alike_on_both_paths(shape: Any) -> None:
    raw = {"id": "1", "pin_metrics": shape}
    if not finite(shape):
        pytest.skip("not JSON")
    assert m.parse_pin_json(json.dumps(raw).encode()) == parse_pin(raw)
    page = {"items": [{"metadata": RETAIL, "pin": raw}]}
    assert m.parse_page_json(json.dumps(page).encode()) == lenient(page)


# --- frozen all the way down, and the footprint -------------------------------------------------


def leaves(value: Any) -> list[Any]:
    """Every value a parsed value holds, walked through its struct fields and tuples."""
    found = [value]
    if isinstance(value, m.Page):
        found += leaves(value.items) + leaves(value.bookmark)
    elif isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            found += leaves(getattr(value, name))
    elif isinstance(value, tuple):
        for item in value:
            found += leaves(item)
    return found


def test_a_parsed_page_holds_nothing_a_caller_could_change() -> None:
    from graphql_api.upstream.demo_catalog import build_catalog

    data = {"items": [*build_catalog(100), *SPEC_PAGE["items"]], "bookmark": "b"}
    for page in (m.parse_page_json(json.dumps(data).encode()), parse_page(data)):
        values = leaves(m.load_page(m.dump_page(page))) + leaves(page)
        kinds = {type(v) for v in values}
        assert not {list, dict, set, bytearray} & kinds
        for value in values:
            if isinstance(value, msgspec.Struct):
                assert type(value).__struct_config__.frozen, type(value)
        with pytest.raises(AttributeError, match="immutable"):
            page.items = ()  # type: ignore[misc]
        with pytest.raises(AttributeError, match="immutable"):
            del page.bookmark
        assert page.items == m.load_page(m.dump_page(page)).items


def deep_size(value: Any) -> int:
    from pympler import asizeof

    return int(asizeof.asizeof(value))


def demo_page(count: int, offset: int = 0) -> bytes:
    from graphql_api.upstream.demo_catalog import build_catalog

    return json.dumps({"items": build_catalog(offset + count)[offset:], "bookmark": "b"}).encode()


@pytest.mark.parametrize(
    "raw",
    [
        demo_page(25),
        demo_page(25, offset=500),
        demo_page(250),
        demo_page(250, offset=700),
        (DATA / "seed_page.json").read_bytes(),
        json.dumps(SEED_PAGE).encode(),
        json.dumps(SPEC_PAGE).encode(),
    ],
    ids=["demo 25", "demo 25 later", "demo 250", "demo 250 later", "seed", "seed", "spec"],
)
def test_a_page_footprint_is_near_its_deep_size(raw: bytes) -> None:
    for page in (m.parse_page_json(raw), parse_page(json.loads(raw))):
        for value in (page, m.load_page(m.dump_page(page))):
            assert m.footprint(value) == m.footprint(page)
            assert 0.8 <= m.footprint(value) / deep_size(value) <= 1.5


def test_a_pin_footprint_is_near_its_deep_size() -> None:
    from graphql_api.upstream.demo_catalog import build_catalog

    # The spec page's first 15 items: its others are the same with every nullable field null.
    raws = [item["pin"] for item in [*build_catalog(40), *SPEC_PAGE["items"][:15]]]
    for raw in [*raws, {"id": "1"}]:
        pin = parse_pin(raw)
        assert 0.8 <= m.footprint(pin) / deep_size(pin) <= 1.5, raw


def test_a_page_footprint_is_kept_not_counted_again() -> None:
    page = m.parse_page_json(demo_page(25))
    assert m.footprint(page) == m.load_page(m.dump_page(page))._footprint
    assert m.footprint(page) > m.footprint(m.parse_page_json(b'{"items": []}'))

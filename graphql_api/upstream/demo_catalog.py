"""A deterministic demo catalog: raw upstream items, exactly as the Pinterest API v5 returns them.

Used by :class:`graphql_api.upstream.fake.FakePinterest` (the ``--demo`` mode and tests). Items
are plain JSON-ready dicts with snake_case keys. They mix about 70% RETAIL, 15% HOTEL and 15%
CREATIVE_ASSETS products (interleaved), cycle through every Pin media variant of the spec and
through every ``pin_metrics`` shape seen in the wild; about 5% of retail items omit
``catalog_type``, as older responses do. The catalog opens with retail image Pins with a price
(what a newcomer sees first, in GraphiQL and on the first page of product group ``"1"``) and
ends with the seed response sample verbatim (title ``"string"``, media type ``"string"``): the
spec's placeholder stays in every catalog, for lenient parsing, away from the front.
All URLs are fake and never fetched. Pure: no I/O, no global state.

:func:`build_graph` adds the catalog graph around those items, as ``GET /catalogs``,
``/catalogs/feeds`` and ``/catalogs/product_groups`` return it: two catalogs of each vertical (the
first of each holds the products, the second is a new, empty one), a feed per catalog and product
groups described by filters; ``GET /catalogs`` lists the three that hold products first (retail,
hotel, creative assets). Product group ``"1"`` is the first retail catalog's ALL_PRODUCTS group:
that catalog holds every demo item, as the product listing of group ``"1"`` always served.
:func:`catalog_items` says which items a catalog holds; :func:`product_counts` and
:func:`filter_values` describe a list of items as the API's product counts and available filter
values do.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

__all__ = [
    "SEED_ITEM",
    "DemoGraph",
    "build_catalog",
    "build_graph",
    "catalog_items",
    "filter_values",
    "product_counts",
]

T = TypeVar("T")

# The item of the seed response sample, verbatim (no catalog_type, media_type "string").
SEED_ITEM: dict[str, Any] = {
    "metadata": {
        "item_id": "DS0294-L",
        "item_group_id": "DS0294",
        "availability": "IN_STOCK",
        "price": 24.99,
        "sale_price": 14.99,
        "currency": "USD",
    },
    "pin": {
        "id": "813744226420795884",
        "created_at": "2020-01-01T20:10:40-00:00",
        "link": "https://www.pinterest.com/",
        "title": "string",
        "description": "string",
        "dominant_color": "#6E7874",
        "alt_text": "string",
        "creative_type": "REGULAR",
        "board_id": "string",
        "board_section_id": "string",
        "board_owner": {"username": "string"},
        "is_owner": True,
        "media": {"media_type": "string"},
        "parent_pin_id": "string",
        "is_standard": True,
        "has_been_promoted": True,
        "note": "string",
        "pin_metrics": {
            "pin_metrics": [
                {
                    "90d": {"pin_click": 7, "impression": 2, "clickthrough": 3},
                    "all_time": {
                        "pin_click": 7,
                        "impression": 2,
                        "clickthrough": 3,
                        "reaction": 10,
                        "comment": 2,
                    },
                },
                None,
            ]
        },
    },
}

_PIN_ID_BASE = 900_000_000_000_000_000
_EPOCH = datetime(2021, 1, 1, tzinfo=UTC)
_FOUR_YEARS = 4 * 365 * 24 * 3600

_BRANDS = ("Northwind", "Alder & Co", "Lumen", "Fjord", "Casa Verde", "Oakline", "Marlow")
_ADJECTIVES = ("Relaxed", "Classic", "Slim", "Oversized", "Handmade", "Vintage", "Everyday")
# Product name -> materials it is plausibly made of.
_PRODUCTS = (
    ("Shirt", ("Linen", "Organic Cotton", "Oxford Cotton")),
    ("Cardigan", ("Merino Wool", "Cashmere Blend", "Cotton Knit")),
    ("Tote Bag", ("Canvas", "Leather", "Jute")),
    ("Sneakers", ("Leather", "Suede", "Recycled Mesh")),
    ("Table Lamp", ("Ceramic", "Brass", "Rattan")),
    ("Serving Bowl", ("Stoneware", "Olive Wood", "Glass")),
    ("Side Table", ("Oak", "Walnut", "Marble")),
    ("Throw Blanket", ("Wool", "Chunky Knit", "Linen")),
    ("Planter", ("Terracotta", "Concrete", "Ceramic")),
    ("Wall Mirror", ("Brass", "Rattan", "Oak")),
)
_COLOURS = ("Sand", "Navy", "Sage", "Charcoal", "Terracotta", "Ivory")
_SIZES = ("S", "M", "L", "XL")
_HOTEL_KINDS = ("Hotel", "Boutique Hotel", "Resort & Spa", "Inn", "Suites")
_HOTEL_NAMES = ("Grand Harbor", "Seaside", "Old Town", "Alpine Lodge", "Riverside", "Skyline")
_CITIES = ("Lisbon", "Kyoto", "Denver", "Cape Town", "Oslo", "Lima", "Melbourne")
_SEASONS = ("Spring", "Summer", "Autumn", "Holiday", "Back to School")
_CAMPAIGNS = ("Sale", "Lookbook", "New Arrivals", "Gift Guide", "Brand Story")
_FORMATS = ("Story Banner 1080x1920", "Square Post 1080x1080", "Pin 1000x1500", "Video Teaser")
_USERS = ("northwind_home", "alderandco", "lumen.studio", "travelwithfjord", "casaverde")
_CREATIVE_TYPES = {
    "image": ("REGULAR", "SHOPPING", "MAX_WIDTH_REGULAR_COLLECTION"),
    "video": ("VIDEO", "MAX_VIDEO", "MAX_WIDTH_VIDEO_COLLECTION"),
    "multiple_images": ("CAROUSEL", "COLLAGE", "SHOWCASE"),
    "multiple_videos": ("IDEA", "QUIZ"),
    "multiple_mixed": ("COLLECTION", "IDEA", "SHOP_THE_PIN"),
}
_MEDIA_TYPES = tuple(_CREATIVE_TYPES)
# Weighted choices as repeated tuples (``_pick`` from them is faster than ``rng.choices``).
_CATALOG_TYPES = ("RETAIL",) * 14 + ("HOTEL",) * 3 + ("CREATIVE_ASSETS",) * 3
_AVAILABILITIES = ("IN_STOCK",) * 15 + ("OUT_OF_STOCK",) * 4 + ("PREORDER",)
_CURRENCIES = ("USD",) * 8 + ("EUR", "GBP")


def _pick(rng: random.Random, options: Sequence[T]) -> T:
    """``rng.choice``, but from one ``rng.random()`` call: several times faster."""
    return options[int(rng.random() * len(options))]


def _int(rng: random.Random, low: int, high: int) -> int:
    """An int in ``low..high`` (both included), from one ``rng.random()`` call."""
    return low + int(rng.random() * (high - low + 1))


def _hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _images(rng: random.Random) -> dict[str, Any]:
    h = _hash(rng)
    tail = f"{h[:2]}/{h[2:4]}/{h[4:6]}/{h}.jpg"
    tall = _pick(rng, (1.0, 1.25, 1.5))
    sizes = (
        ("150x150", 150, 150),
        ("400x300", 400, 300),
        ("600x", 600, round(600 * tall)),
        ("1200x", 1200, round(1200 * tall)),
    )
    return {
        size: {"width": width, "height": height, "url": f"https://i.pinimg.com/{size}/{tail}"}
        for size, width, height in sizes
    }


def _video(rng: random.Random, *, item_type: bool) -> dict[str, Any]:
    h = _hash(rng)
    tail = f"{h[:2]}/{h[2:4]}/{h[4:6]}/{h}"
    video: dict[str, Any] = {"item_type": "video"} if item_type else {}
    video |= {
        "cover_image_url": f"https://i.pinimg.com/videos/thumbnails/originals/{tail}.0000000.jpg",
        "video_url": f"https://v.pinimg.com/videos/mc/720p/{tail}.mp4",
        "duration": float(_int(rng, 10, 120) * 500),
        "height": 1280,
        "width": 720,
    }
    return video


def _image_item(rng: random.Random, title: str, link: str) -> dict[str, Any]:
    return {
        "item_type": "image",
        "title": title,
        "description": f"Detail of {title}.",
        "link": link,
        "images": _images(rng),
    }


def _media(rng: random.Random, kind: str, title: str, link: str) -> dict[str, Any]:
    count = _int(rng, 2, 4)
    if kind == "image":
        return {"media_type": kind, "images": _images(rng)}
    if kind == "video":
        return {"media_type": kind, **_video(rng, item_type=False), "images": _images(rng)}
    if kind == "multiple_images":
        return {"media_type": kind, "items": [_image_item(rng, title, link) for _ in range(count)]}
    if kind == "multiple_videos":
        return {"media_type": kind, "items": [_video(rng, item_type=True) for _ in range(count)]}
    items = [
        _image_item(rng, title, link) if n % 2 == 0 else _video(rng, item_type=True)
        for n in range(count)
    ]
    return {"media_type": kind, "items": items}


def _metrics(rng: random.Random, shape: int) -> Any:
    impression = _int(rng, 100, 50_000)
    pin_click = _int(rng, 0, impression // 10)
    recent = {
        "pin_click": pin_click,
        "impression": impression,
        "clickthrough": _int(rng, 0, pin_click),
    }
    factor = _int(rng, 1, 6)
    lifetime = {key: value * factor for key, value in recent.items()}
    lifetime |= {"reaction": _int(rng, 0, 500), "comment": _int(rng, 0, 80)}
    if shape == 0:
        return {"90d": recent, "lifetime_metrics": lifetime}
    both = {"90d": recent, "all_time": lifetime}
    if shape == 1:
        return both
    return [both, None] if shape == 2 else {"pin_metrics": [both, None]}


def _retail(rng: random.Random, i: int) -> tuple[dict[str, Any], str, str]:
    brand = _pick(rng, _BRANDS)
    product, materials = _pick(rng, _PRODUCTS)
    title = (
        f"{brand} {_pick(rng, _ADJECTIVES)} {_pick(rng, materials)} {product}"
        f" - {_pick(rng, _COLOURS)}"
    )
    code = "".join(word[0] for word in brand.split() if word[0].isalpha()).upper()
    group = f"{code}{i // 4:04d}"
    price = round(8 + rng.random() * 472, 2)
    sale_price = round(price * (0.5 + rng.random() * 0.45), 2) if rng.random() < 0.4 else None
    metadata = {
        "item_id": f"{code}{i:05d}-{_pick(rng, _SIZES)}",
        "item_group_id": group if rng.random() < 0.8 else None,
        "availability": _pick(rng, _AVAILABILITIES),
        "price": price,
        "sale_price": sale_price if sale_price is not None and sale_price < price else None,
        "currency": _pick(rng, _CURRENCIES),
    }
    slug = title.lower().replace(" - ", "-").replace(" & ", "-").replace(" ", "-")
    return metadata, title, f"https://shop.example.com/products/{slug}-{i}"


def _hotel(rng: random.Random, i: int) -> tuple[dict[str, Any], str, str]:
    city = _pick(rng, _CITIES)
    title = f"The {_pick(rng, _HOTEL_NAMES)} {_pick(rng, _HOTEL_KINDS)}, {city}"
    link = f"https://stays.example.com/{city.lower().replace(' ', '-')}/{i}"
    return {"hotel_id": f"HTL-{i:05d}"}, title, link


def _creative(rng: random.Random, i: int) -> tuple[dict[str, Any], str, str]:
    title = f"{_pick(rng, _SEASONS)} {_pick(rng, _CAMPAIGNS)} {_pick(rng, _FORMATS)}"
    visibility = "VISIBLE" if rng.random() < 0.8 else "HIDDEN"
    metadata = {"creative_assets_id": f"CA-{i:05d}", "visibility": visibility}
    return metadata, title, f"https://brand.example.com/campaigns/{i}"


_BUILDERS = {"RETAIL": _retail, "HOTEL": _hotel, "CREATIVE_ASSETS": _creative}


def _item(rng: random.Random, i: int) -> dict[str, Any]:
    catalog_type = _pick(rng, _CATALOG_TYPES)
    metadata, title, link = _BUILDERS[catalog_type](rng, i)
    kind = _MEDIA_TYPES[i % len(_MEDIA_TYPES)]
    created = _EPOCH + timedelta(seconds=int(rng.random() * _FOUR_YEARS))
    pin = {
        "id": str(_PIN_ID_BASE + i),
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "link": link,
        "title": title[:100],
        "description": f"{title}. Saved from {link.split('/')[2]}.",
        "dominant_color": f"#{rng.getrandbits(24):06X}",
        "alt_text": f"Photo of {title}",
        "creative_type": _pick(rng, _CREATIVE_TYPES[kind]),
        "board_id": str(549_755_000_000 + _int(rng, 0, 39)),
        "board_section_id": str(5_000_000_000 + _int(rng, 0, 98)) if rng.random() < 0.4 else None,
        "board_owner": {"username": _pick(rng, _USERS)},
        "is_owner": rng.random() < 0.9,
        "media": _media(rng, kind, title, link),
        "parent_pin_id": str(_PIN_ID_BASE + _int(rng, 1, i - 1)) if i > 1 and i % 9 == 0 else None,
        "is_standard": rng.random() < 0.85,
        "has_been_promoted": rng.random() < 0.3,
        "note": _pick(rng, ("", "Restock soon", "Top seller", "Shot in natural light")),
        "pin_metrics": _metrics(rng, i % 4),
    }
    item: dict[str, Any] = {"catalog_type": catalog_type, "metadata": metadata, "pin": pin}
    if catalog_type == "RETAIL" and rng.random() < 0.05:
        del item["catalog_type"]
    return item


_SHOWCASE = 3  # how many retail image Pins open the catalog


def _showcase(item: dict[str, Any]) -> bool:
    """Whether ``item`` may open the catalog: a retail image Pin with a price."""
    return (
        item.get("catalog_type") == "RETAIL"
        and item["pin"]["media"]["media_type"] == "image"
        and isinstance(item["metadata"].get("price"), float)
    )


def build_catalog(size: int = 1200, *, seed: int = 7) -> list[dict[str, Any]]:
    """``size`` raw upstream items, the same for the same ``seed``: the first (up to three) retail
    image Pins moved to the front, the others in the order they were made, then the seed sample
    last (present in every catalog but the empty one)."""
    rng = random.Random(seed)
    items = [_item(rng, i) for i in range(1, size)]
    front = [n for n, item in enumerate(items) if _showcase(item)][:_SHOWCASE]
    rest = [item for n, item in enumerate(items) if n not in front]
    return [*(items[n] for n in front), *rest, copy.deepcopy(SEED_ITEM)][:size]


@dataclass(frozen=True, slots=True)
class DemoGraph:
    """The demo's catalogs, feeds and product groups, each a raw upstream JSON object.

    ``feed_catalog`` maps a feed id to its catalog's id (a retail feed does not name its catalog
    in the API's answer); ``holds_items`` lists the ids of the catalogs that hold the demo items.
    """

    catalogs: list[dict[str, Any]]
    feeds: list[dict[str, Any]]
    product_groups: list[dict[str, Any]]
    feed_catalog: dict[str, str]
    holds_items: tuple[str, ...]


_VERTICALS = ("RETAIL", "HOTEL", "CREATIVE_ASSETS")
_CATALOG_NAMES = {
    "RETAIL": ("Northwind Home & Apparel", "Marlow Outlet (new)"),
    "HOTEL": ("Harbor Stays", "Alpine Lodges (new)"),
    "CREATIVE_ASSETS": ("Brand Campaign Assets", "Holiday 2026 Assets (new)"),
}
_CATALOG_ID_BASE = 864_344_156_814_050_000
_FEED_ID_BASE = 2_680_059_592_700
_GROUP_ID_BASE = 443_727_193_900
_CREATED = "2022-03-14T15:15:22Z"
_UPDATED = "2022-03-14T15:16:34Z"
_CREATED_MS = 1_621_350_033_000
_UPDATED_MS = 1_622_742_155_000


def _vertical(item: Any) -> str:
    """An item's vertical (older retail items omit ``catalog_type``)."""
    return str(item.get("catalog_type") or "RETAIL") if isinstance(item, dict) else ""


def _feed(feed_id: str, catalog_id: str, vertical: str, name: str) -> dict[str, Any]:
    slug = name.lower().split(" (")[0].replace(" & ", "-").replace(" ", "-")
    feed: dict[str, Any] = {
        "created_at": _CREATED,
        "id": feed_id,
        "updated_at": _UPDATED,
        "catalog_type": vertical,
        "credentials": None,
        "default_currency": "USD" if vertical != "CREATIVE_ASSETS" else None,
        "default_locale": "en-US",
        "format": ("TSV", "CSV", "XML")[_VERTICALS.index(vertical)],
        "location": f"https://feeds.example.com/{slug}.{'tsv' if vertical == 'RETAIL' else 'csv'}",
        "name": f"{name} feed",
        "preferred_processing_schedule": {"time": "02:59", "timezone": "Europe/London"},
        "status": "ACTIVE",
    }
    if vertical == "RETAIL":
        feed |= {"default_availability": "IN_STOCK", "default_country": "US"}
    else:
        feed["catalog_id"] = catalog_id
    if vertical == "CREATIVE_ASSETS":
        feed["default_country"] = "US"
    return feed


def _group(
    group_id: str, catalog: dict[str, Any], feed_id: str, name: str, filters: dict[str, Any]
) -> dict[str, Any]:
    vertical = catalog["catalog_type"]
    everything = filters == {"all_of": []}
    group: dict[str, Any] = {
        "catalog_id": catalog["id"],
        "catalog_type": vertical,
        "created_at": _CREATED_MS,
        "description": f"{name}, in {catalog['name']}.",
        "filters": filters,
        "id": group_id,
        "name": name,
        "updated_at": _UPDATED_MS,
    }
    if vertical == "RETAIL":
        group |= {
            "country": "US",
            "feed_id": feed_id,
            "is_featured": everything,
            "locale": "en-US",
            "status": "ACTIVE",
            "type": "ALL_PRODUCTS" if everything else "MERCHANT_CREATED",
        }
    elif vertical == "HOTEL":
        group["type"] = "ALL_LISTINGS" if everything else "MERCHANT_CREATED"
    return group


def _ids_of(items: Sequence[dict[str, Any]], vertical: str, field: str, count: int) -> list[str]:
    found = [
        str(metadata[field])
        for item in items
        if _vertical(item) == vertical
        and isinstance(metadata := item.get("metadata"), dict)
        and field in metadata
    ]
    return found[:count]


def _group_filters(vertical: str, items: Sequence[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``(name, filters)`` of the first catalog of ``vertical``'s product groups."""
    everything: dict[str, Any] = {"all_of": []}
    if vertical == "RETAIL":
        return [
            ("All products", everything),
            (
                "In stock under $50",
                {
                    "all_of": [
                        {"AVAILABILITY": {"values": ["IN_STOCK"]}},
                        {"MAX_PRICE": {"values": 50, "inclusion": True}},
                        {"CURRENCY": {"values": "USD"}},
                    ]
                },
            ),
            ("Premium", {"all_of": [{"MIN_PRICE": {"values": 300, "inclusion": True}}]}),
            ("Preorders", {"any_of": [{"AVAILABILITY": {"values": ["PREORDER"]}}]}),
            (
                "Linen and wool",
                {"any_of": [{"TITLE_KEYWORDS": {"values": ["Linen", "Wool"]}}]},
            ),
            (
                "Everything but Northwind",
                {
                    "all_of": [
                        {"MIN_PRICE": {"values": 0, "inclusion": True}},
                        {"TITLE_KEYWORDS": {"values": ["Northwind"], "negated": True}},
                    ]
                },
            ),
        ]
    if vertical == "HOTEL":
        return [
            ("All listings", everything),
            ("Lisbon and Kyoto", {"any_of": [{"TITLE_KEYWORDS": {"values": ["Lisbon", "Kyoto"]}}]}),
            (
                "Featured stays",
                {"any_of": [{"HOTEL_ID": {"values": _ids_of(items, vertical, "hotel_id", 5)}}]},
            ),
        ]
    featured = _ids_of(items, vertical, "creative_assets_id", 6)
    return [
        ("All assets", everything),
        ("Featured assets", {"any_of": [{"CREATIVE_ASSETS_ID": {"values": featured}}]}),
        (
            "Other assets",
            {"all_of": [{"CREATIVE_ASSETS_ID": {"values": featured, "negated": True}}]},
        ),
    ]


def build_graph(items: Sequence[dict[str, Any]]) -> DemoGraph:
    """The catalog graph around ``items`` (the output of :func:`build_catalog`)."""
    catalogs: list[dict[str, Any]] = []
    feeds: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    feed_catalog: dict[str, str] = {}
    holds: list[str] = []
    next_group = _GROUP_ID_BASE
    # The catalogs that hold products first (one per vertical), then the new, empty ones.
    for k in range(2):
        for v, vertical in enumerate(_VERTICALS):
            name = _CATALOG_NAMES[vertical][k]
            n = k * len(_VERTICALS) + v + 1
            catalog = {
                "created_at": _CREATED,
                "id": str(_CATALOG_ID_BASE + n),
                "updated_at": _UPDATED,
                "catalog_type": vertical,
                "name": name,
            }
            catalogs.append(catalog)
            feed_id = str(_FEED_ID_BASE + n)
            feeds.append(_feed(feed_id, catalog["id"], vertical, name))
            feed_catalog[feed_id] = catalog["id"]
            if k > 0:  # a new catalog: a feed, no products yet, one group that selects them all
                named: list[tuple[str, Any]] = [(_group_filters(vertical, items)[0])]
            else:
                holds.append(catalog["id"])
                named = _group_filters(vertical, items)
            for g, (group_name, filters) in enumerate(named):
                if vertical == "RETAIL" and k == 0 and g == 0:
                    group_id = "1"  # the whole retail catalog, as the demo always served
                else:
                    next_group += 1
                    group_id = str(next_group)
                groups.append(_group(group_id, catalog, feed_id, group_name, filters))
    return DemoGraph(catalogs, feeds, groups, feed_catalog, tuple(holds))


def catalog_items(
    graph: DemoGraph, catalog: dict[str, Any], items: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The items ``catalog`` holds: the first retail catalog holds every item (the product
    listing of group ``"1"`` serves them all), the first of the others their vertical's items,
    the new catalogs none."""
    if catalog["id"] not in graph.holds_items:
        return []
    if catalog["id"] == graph.holds_items[0]:
        return list(items)
    return [item for item in items if _vertical(item) == catalog["catalog_type"]]


_VIDEO_KINDS = ("video", "multiple_videos", "multiple_mixed")


def _media_type(item: Any) -> str | None:
    pin = item.get("pin") if isinstance(item, dict) else None
    media = pin.get("media") if isinstance(pin, dict) else None
    return media.get("media_type") if isinstance(media, dict) else None


def _has_video(item: Any) -> bool:
    return _media_type(item) in _VIDEO_KINDS


def _title(item: Any) -> str:
    pin = item.get("pin") if isinstance(item, dict) else None
    return str(pin.get("title") or "") if isinstance(pin, dict) else ""


def _availability(item: Any) -> Any:
    metadata = item.get("metadata") if isinstance(item, dict) else None
    return metadata.get("availability") if isinstance(metadata, dict) else None


def product_counts(catalog_type: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``CatalogsProductGroupProductCountsVertical`` of a group whose products are ``items``."""
    counts: dict[str, Any] = {"catalog_type": catalog_type, "total": len(items)}
    if catalog_type != "HOTEL":
        counts["videos"] = sum(1 for item in items if _has_video(item))
    if catalog_type == "RETAIL":
        for state in ("IN_STOCK", "OUT_OF_STOCK", "PREORDER"):
            counts[state.lower()] = sum(1 for item in items if _availability(item) == state)
    return counts


def filter_values(catalog_type: str, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``CatalogsAvailableFilterValues`` of a catalog (or feed) that holds ``items``: the values
    of the filter keys the demo's items carry (availability, media type, brand)."""
    values: dict[str, list[str]] = {}
    if catalog_type != "HOTEL":
        kinds = {_media_type(item) for item in items}
        values["media_type"] = sorted(
            {"VIDEO" if kind in _VIDEO_KINDS else "IMAGE" for kind in kinds & set(_MEDIA_TYPES)}
        )
    if catalog_type == "RETAIL":
        states = {_availability(item) for item in items if _vertical(item) == "RETAIL"}
        values["availability"] = sorted(str(state) for state in states if state)
        brands = {
            brand
            for item in items
            if _vertical(item) == "RETAIL"
            for brand in _BRANDS
            if _title(item).startswith(brand + " ")
        }
        values["brand"] = sorted(brands)
    return {"catalog_type": catalog_type, "filter_values": values}

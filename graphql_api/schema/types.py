"""Strawberry output types. Their sources are the frozen upstream models themselves
(:mod:`graphql_api.upstream.models`): fields are plain attributes, no per-field resolvers.

Each object type names the model it reads with ``is_type_of``; the interfaces and the union
pick their concrete type from the model's class.

**How to add a field**: add it to the model in ``upstream/models.py`` (its type says what the
upstream may send: ``| None`` with a default when it may be missing), then to the Strawberry
type here with the same Python name (``strawberry.field(name=...)`` for another GraphQL name),
nullable when the model's attribute is, and regenerate ``schema.graphql`` (``python -m
graphql_api.sdl > schema.graphql``). The parsers, the cache's form and the compiled plans follow
the model by themselves; :func:`check_models`, run by ``build_schema``, refuses a field its
model lacks, a non-null field over a nullable attribute or a leaf of another type, and an object
type below a model (or in an interface or union) that names no model, before any app is built.
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Annotated, Any, ClassVar, NewType

import msgspec
import strawberry
from graphql import (
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    get_named_type,
    is_abstract_type,
    is_list_type,
    is_non_null_type,
)
from strawberry.federation.schema_directives import Key
from strawberry.federation.types import FieldSet
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from graphql_api.cost import FREE, entity_directives
from graphql_api.errors import UpstreamError
from graphql_api.internals import strawberry_definition
from graphql_api.schema.context import Context
from graphql_api.upstream import models as m
from graphql_api.upstream.operations import PIN

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
    "SchemaModelError",
    "check_models",
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


# The key spelled out (as `keys=["id"]` builds it) to print before the weight of resolving one
# Pin entity: one upstream request (graphql_api.cost).
@strawberry.federation.type(
    directives=[Key(fields=FieldSet("id"), resolvable=strawberry.UNSET), *entity_directives(PIN)],
    description="A Pinterest Pin.",
)
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


# A product's Pin comes with its page: no request of its own (@cost(weight: 0) overrides the Pin
# type's weight). On each concrete type: the cost spec allows no @cost on an interface's fields.
_PAGE_PIN: Pin = strawberry.field(directives=[FREE])


@strawberry.type
class RetailProduct(CatalogProduct):
    pin: Pin = _PAGE_PIN
    metadata: RetailProductMetadata
    is_type_of = _reads(m.RetailProduct)


@strawberry.type
class HotelProduct(CatalogProduct):
    pin: Pin = _PAGE_PIN
    metadata: HotelProductMetadata
    is_type_of = _reads(m.HotelProduct)


@strawberry.type
class CreativeAssetsProduct(CatalogProduct):
    pin: Pin = _PAGE_PIN
    metadata: CreativeAssetsProductMetadata
    is_type_of = _reads(m.CreativeAssetsProduct)


_PRODUCT_TYPE_NAMES: dict[type, str] = {
    m.RetailProduct: "RetailProduct",
    m.HotelProduct: "HotelProduct",
    m.CreativeAssetsProduct: "CreativeAssetsProduct",
}


# --- The check binding the types to their models ---------------------------------------------


class SchemaModelError(TypeError):
    """A Strawberry type that does not fit the model it reads (see :func:`check_models`)."""


# The Python types each leaf the models carry may be (an enum: its own class).
_LEAVES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "ID": (str,),
    "DateTime": (str,),
    "Int": (int,),
    "Float": (float,),
    "Boolean": (bool,),
}
_NULLS = (type(None), msgspec.UnsetType)


def model_of(type_: GraphQLObjectType) -> type | None:
    """The model an object type reads (its ``is_type_of`` made by :func:`_reads`), or ``None``."""
    return getattr(getattr(type_.is_type_of, "__func__", None), "model", None)


def check_models(schema: GraphQLSchema) -> None:
    """Check that each object type that reads a model fits it, or raise
    :class:`SchemaModelError` naming the type, the field and the model: every field without a
    resolver names an attribute of the model (a struct field, a class attribute or a property);
    a non-null field's attribute cannot be ``None`` or ``UNSET``; a list's is a tuple or list;
    a leaf's holds the Python type the leaf serialises (an enum: its class). Every object type
    below a model, and every concrete type of an interface or a union, reads a model."""
    m.check_readers()  # the models' own readers follow their fields
    problems: list[str] = []
    for named in schema.type_map.values():
        if is_abstract_type(named) and not named.name.startswith("__"):
            abstract: GraphQLAbstractType = named
            problems += [
                f"{concrete.name}, a type of {named.name}, names no model "
                "(is_type_of = _reads(model))"
                for concrete in schema.get_possible_types(abstract)
                if model_of(concrete) is None
            ]
        if isinstance(named, GraphQLObjectType) and (model := model_of(named)) is not None:
            problems += _misfits(named, model, schema)
    if problems:
        raise SchemaModelError("The schema does not fit its models:\n- " + "\n- ".join(problems))


def _misfits(type_: GraphQLObjectType, model: type, schema: GraphQLSchema) -> list[str]:
    problems: list[str] = []
    hints = typing.get_type_hints(model)
    for name, graphql_field in type_.fields.items():
        definition = strawberry_definition(graphql_field)
        if definition is None or definition.base_resolver is not None:
            continue  # a resolver reads what it needs
        attribute = definition.python_name
        where = f"{type_.name}.{name} reads {model.__module__}.{model.__qualname__}.{attribute}"
        if attribute not in hints and not isinstance(getattr(model, attribute, None), property):
            problems.append(
                f"{where}, which the model does not have: add it to the model (a msgspec field "
                "or a property) or give the field a resolver"
            )
            continue
        target = get_named_type(graphql_field.type)
        if isinstance(target, GraphQLObjectType) and model_of(target) is None:
            problems.append(
                f"{where}, an object of type {target.name}, which names no model "
                "(is_type_of = _reads(model))"
            )
        if attribute in hints:
            problems += (f"{where}: {p}" for p in _fits(graphql_field.type, hints[attribute]))
    return problems


def _alternatives(annotation: Any) -> list[Any]:
    """The alternatives of a union annotation (``ClassVar`` and ``Annotated`` removed)."""
    origin = typing.get_origin(annotation)
    if origin is ClassVar or origin is Annotated:
        return _alternatives(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [a for arg in typing.get_args(annotation) for a in _alternatives(arg)]
    return [annotation]


def _fits(graphql_type: Any, annotation: Any) -> list[str]:
    alternatives = _alternatives(annotation)
    values = [a for a in alternatives if a not in _NULLS]
    if is_non_null_type(graphql_type):
        if len(values) < len(alternatives):
            return [
                f"the field is non-null but the attribute is {annotation!r}: make the field "
                "nullable, or the attribute required"
            ]
        graphql_type = graphql_type.of_type
    if is_list_type(graphql_type):
        if any(typing.get_origin(v) not in (tuple, list) for v in values):
            return [f"the field is a list but the attribute is {annotation!r}"]
        return [p for v in values for p in _fits(graphql_type.of_type, typing.get_args(v)[0])]
    named = get_named_type(graphql_type)
    if isinstance(named, GraphQLEnumType):
        definition = strawberry_definition(named)
        expected: tuple[type, ...] = (getattr(definition, "wrapped_cls", enum.Enum),)
    elif isinstance(named, GraphQLScalarType):
        expected = _LEAVES.get(named.name, (object,))
    else:
        return []  # an object type: checked as a type of its own
    wrong = [v for v in values if not (isinstance(v, type) and issubclass(v, expected))]
    if wrong:
        return [
            f"{named.name} is read from {', '.join(map(repr, expected))}, the attribute is "
            f"{annotation!r}"
        ]
    return []

"""A field added the wrong way is refused when the schema is built, before any request: the
Strawberry types are checked against the models they read (``schema.types.check_models``), and
the models against their readers (``upstream.models.check_readers``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import msgspec
import pytest
import strawberry

from graphql_api.internals import graphql_schema
from graphql_api.schema import build_schema
from graphql_api.schema.types import Pin, SchemaModelError, _reads, check_models
from graphql_api.upstream import models as m


class Owner(msgspec.Struct, frozen=True):
    username: str | None = None
    count: int | None = None


@strawberry.type
class BoardOwner:
    username: str | None
    followers: int | None  # not on the model
    is_type_of = _reads(Owner)


@strawberry.type
class Window:  # no is_type_of
    impression: int | None


@strawberry.type
class Metrics:
    all_time: Window | None
    is_type_of = _reads(m.PinMetrics)


def _check(type_: type) -> None:
    """Check a schema whose query returns ``type_``."""
    owner = strawberry.field(graphql_type=type_ | None, default=None)
    query = strawberry.type(type("Query", (), {"owner": owner}))
    check_models(graphql_schema(strawberry.Schema(query=query)))


def test_the_schema_fits_its_models() -> None:
    check_models(graphql_schema(build_schema()))


def test_a_field_its_model_lacks_is_refused() -> None:
    with pytest.raises(SchemaModelError) as caught:
        _check(BoardOwner)
    message = str(caught.value)
    assert "BoardOwner.followers reads tests.unit.test_schema_models.Owner.followers" in message
    assert "which the model does not have" in message


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (str, "the field is non-null but the attribute is"),  # over `str | None`
        (str | None, "String is read from"),  # over `int | None`
        (list[str] | None, "the field is a list"),
    ],
)
def test_a_field_that_does_not_fit_its_attribute_is_refused(
    annotation: type, expected: str
) -> None:
    attribute = "username" if annotation is str else "count"
    namespace = {"__annotations__": {attribute: annotation}, "is_type_of": _reads(Owner)}
    wrong = strawberry.type(type("Wrong", (), namespace))
    with pytest.raises(SchemaModelError, match=f"Wrong.{attribute} reads .*Owner.{attribute}: "):
        _check(wrong)
    with pytest.raises(SchemaModelError, match=expected):
        _check(wrong)


def test_an_object_below_a_model_must_name_its_model() -> None:
    with pytest.raises(SchemaModelError, match=r"Metrics.allTime .* type Window, which names no"):
        _check(Metrics)


def test_a_model_field_the_fast_path_would_drop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class VideoMetadata(msgspec.Struct, frozen=True):
        item_type: str | None = None
        subtitles_url: str | None = None  # not on models._MixedItem

    monkeypatch.setattr(m, "VideoMetadata", VideoMetadata)
    with pytest.raises(TypeError, match=r"_MixedItem lacks \['subtitles_url'\]"):
        m.check_readers()
    with pytest.raises(TypeError, match=r"_MixedItem lacks"):
        build_schema()


def test_no_app_is_built_over_a_model_that_lacks_a_field() -> None:
    """The model loses a field its Strawberry type reads: importing the app fails, naming them."""
    script = textwrap.dedent("""
        import msgspec
        from graphql_api.upstream import models

        class BoardOwner(msgspec.Struct, frozen=True):  # without username
            pass

        models.BoardOwner = BoardOwner
        from graphql_api.app import create_app
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "SchemaModelError" in done.stderr
    assert "BoardOwner.username reads __main__.BoardOwner.username" in done.stderr, done.stderr


def test_pin_reads_its_model() -> None:
    assert Pin.is_type_of.__func__.model is m.Pin

"""How each setting reads to a person: its environment variable, flag, kind and default, and the
writer of ``docs/settings.md``.

python -m graphql_api.settings_doc > docs/settings.md

Everything here is derived from the fields of :class:`~graphql_api.config.Settings` (their
annotations, bounds, defaults and descriptions), so ``graphql-api serve --help``, the errors of a
bad value and the settings page say the same thing. A test keeps the committed page equal to
:func:`render_markdown`.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from graphql_api.config import Settings

__all__ = [
    "default_text",
    "env_name",
    "expected",
    "flag",
    "is_bool",
    "kind",
    "metavar",
    "render_markdown",
]

_MIB = 2**20

_HEADER = """\
# Settings

<!-- Generated from graphql_api/config.py: edit the descriptions there, then run
     `python -m graphql_api.settings_doc > docs/settings.md` (a test keeps this page so). -->

Every setting is an environment variable and a flag of `graphql-api serve`; a flag on the
command line wins over the environment. `graphql-api serve --help` lists them with their
defaults. A bad value stops the process before it serves anything (exit code 2, no traceback)
with one line per bad setting naming its flag, its environment variable and what is expected,
never echoing the value (it may be a token or a password):

```console
$ graphql-api serve --port abc
graphql-api: invalid --port (GRAPHQL_API_PORT): expected an integer 0..65535
$ GRAPHQL_API_LOG_FORMAT=xml graphql-api serve
graphql-api: invalid --log-format (GRAPHQL_API_LOG_FORMAT): expected one of json, text
```

Booleans are `--name` / `--no-name` on the command line and `1`/`0`, `true`/`false`, `yes`/`no`
or `on`/`off` in the environment. Sizes are in bytes, durations in seconds (fractions allowed).
How the settings play together: [caching](caching.md), [resilience](resilience.md),
[HTTP and limits](http.md), [deployment](deployment.md).

"""


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"{Settings.model_config.get('env_prefix', '')}{field}".upper()


def flag(field: str) -> str:
    """The command-line flag of a settings field."""
    return "--" + field.replace("_", "-")


def _base(annotation: Any) -> Any:
    """The annotation without ``| None``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def is_bool(field: str) -> bool:
    """Whether the setting is a switch (``--name`` / ``--no-name``)."""
    return _base(Settings.model_fields[field].annotation) is bool


def metavar(field: str) -> str:
    """The placeholder of a flag's value in ``--help``: ``INT``, ``NUM``, ``URL``, ``{a,b}``."""
    base = _base(Settings.model_fields[field].annotation)
    if typing.get_origin(base) is Literal:
        return "{" + ",".join(str(choice) for choice in typing.get_args(base)) + "}"
    if field.endswith("_url"):
        return "URL"
    return {int: "INT", float: "NUM", Path: "PATH"}.get(base, "TEXT")


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounds(info: FieldInfo) -> str:
    low = high = ""
    for rule in info.metadata:
        if isinstance(rule, annotated_types.Ge):
            low = f">= {_number(rule.ge)}"
        elif isinstance(rule, annotated_types.Gt):
            low = f"> {_number(rule.gt)}"
        elif isinstance(rule, annotated_types.Le):
            high = f"<= {_number(rule.le)}"
        elif isinstance(rule, annotated_types.Lt):
            high = f"< {_number(rule.lt)}"
    if low.startswith(">=") and high.startswith("<="):
        return f"{low[3:]}..{high[3:]}"
    return " and ".join(filter(None, [low, high]))


def _kind(field: str) -> tuple[str, str]:
    """(article, kind) of a setting's values."""
    info = Settings.model_fields[field]
    base = _base(info.annotation)
    if base is bool:
        return "", "true or false"
    if typing.get_origin(base) is Literal:
        return "one of ", ", ".join(str(choice) for choice in typing.get_args(base))
    if base is int or base is float:
        name = "integer" if base is int else "number"
        bounds = _bounds(info)
        text = f"{name} {bounds}" if bounds else name
        return ("an " if base is int else "a "), text
    if base is Path:
        return "a ", "file path"
    if base is SecretStr:
        return "", "text (secret)"
    return "", "text"


def kind(field: str) -> str:
    """What a setting's values are: ``integer 0..65535``, ``number > 0``, ``one of json, text``."""
    article, text = _kind(field)
    return article + text if article == "one of " else text


def expected(field: str) -> str:
    """What a bad value of the setting should have been, for the error: ``an integer 1..250``."""
    return "".join(_kind(field))


def default_text(field: str) -> str:
    """The default, as a person reads it: ``8000``, ``on``, ``unset``, ``201326592 (192 MiB)``."""
    default = Settings.model_fields[field].default
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, int) and default >= _MIB and default % _MIB == 0:
        return f"{default} ({default // _MIB} MiB)"
    if isinstance(default, float):
        return _number(default)
    if default == "":
        return "empty"
    return str(default)


def _default_cell(field: str) -> str:
    """The default in code style, its gloss not: ```201326592` (192 MiB)``, ``on``."""
    text = default_text(field)
    default = Settings.model_fields[field].default
    if default is None or isinstance(default, bool) or default == "":
        return text
    value, _, gloss = text.partition(" (")
    return f"`{value}` ({gloss}" if gloss else f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown() -> str:
    """``docs/settings.md``: the header, then one table row per setting."""
    rows = [
        "| environment variable | flag | values | default | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, info in Settings.model_fields.items():
        flags = f"`{flag(name)}`, `--no-{name.replace('_', '-')}`" if is_bool(name) else ""
        rows.append(
            f"| `{env_name(name)}` | {flags or f'`{flag(name)}`'} | {_cell(kind(name))} "
            f"| {_default_cell(name)} | {_cell(info.description or '')} |"
        )
    return _HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())

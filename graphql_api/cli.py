"""``graphql-api serve [--host H] [--port P] [--demo] ...``

Every flag is a field of :class:`~graphql_api.config.Settings` and so also has an environment
variable; a flag given on the command line wins over the environment.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import AliasChoices, ValidationError

from graphql_api import __version__
from graphql_api.config import Settings

__all__ = ["build_parser", "describe_errors", "env_name", "main"]


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"GRAPHQL_API_{field.upper()}"


def _field_of(location: str) -> str | None:
    """The settings field a validation error is about (by name, or by environment alias)."""
    if location in Settings.model_fields:
        return location
    for name in Settings.model_fields:
        if env_name(name).lower() == location.lower():
            return name
    return None


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad setting: its flag, its environment variable and what is allowed.
    Never the value given (a token or a password may be among them)."""
    lines: dict[str, str] = {}
    for problem in error.errors(include_input=False, include_url=False):
        location = str(problem["loc"][0]) if problem["loc"] else ""
        field = _field_of(location)
        if field is None:
            lines.setdefault(location, f"graphql-api: unknown setting {location}")
            continue
        message = str(problem["msg"]).removeprefix("Value error, ")
        flag = "--" + field.replace("_", "-")
        lines.setdefault(field, f"graphql-api: invalid {flag} ({env_name(field)}): {message}")
    return list(lines.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphql-api", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Run the GraphQL service (uvicorn).")
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        # argparse %-formats help strings.
        help_text = f"{field.description} [env {env_name(name)}]".replace("%", "%%")
        if field.annotation is bool:
            serve.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text, dest=name
            )
        else:
            serve.add_argument(flag, default=None, help=help_text, dest=name, metavar="VALUE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if k != "command" and v is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        for line in describe_errors(exc):
            print(line, file=sys.stderr)
        return 2

    import uvicorn

    from graphql_api.app import create_app
    from graphql_api.observability import configure_logging
    from graphql_api.server import server_config

    secrets = tuple(
        secret.get_secret_value()
        for secret in (settings.pinterest_access_token, settings.secret)
        if secret is not None
    ) + tuple(filter(None, [settings.cache.password]))
    configure_logging(settings.log_level, settings.log_format, secrets)
    uvicorn.Server(server_config(create_app(settings), settings)).run()
    return 0

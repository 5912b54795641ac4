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

__all__ = ["build_parser", "env_name", "main"]


def env_name(field: str) -> str:
    """The environment variable of a settings field."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"GRAPHQL_API_{field.upper()}"


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
        # Name the bad settings, never echo their values (a token may be among them).
        bad = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        print(f"graphql-api: invalid settings: {', '.join(bad)}", file=sys.stderr)
        return 2

    import uvicorn

    from graphql_api.app import create_app
    from graphql_api.observability import configure_logging
    from graphql_api.server import server_config

    secrets = tuple(
        secret.get_secret_value()
        for secret in (settings.pinterest_access_token, settings.secret)
        if secret is not None
    )
    configure_logging(settings.log_level, settings.log_format, secrets)
    uvicorn.Server(server_config(create_app(settings), settings)).run()
    return 0

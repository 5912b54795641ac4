"""``graphql-api serve [options]``: run the service.

Every option is a field of :class:`~graphql_api.config.Settings` and so also has an environment
variable; an option given on the command line wins over the environment. The help text, the
errors of a bad value and ``docs/settings.md`` are all built from the fields
(:mod:`graphql_api.settings_doc`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from graphql_api import __version__
from graphql_api.config import Settings
from graphql_api.settings_doc import default_text, env_name, expected, flag, is_bool, metavar

__all__ = ["build_parser", "describe_errors", "env_name", "main", "secrets_of"]

_PROG = "graphql-api"
# Errors of pydantic's own checks (type, bounds, choices) read as "expected <kind>"; those of
# our validators (value_error) already say what is allowed.
_OWN_MESSAGES = frozenset({"value_error", "assertion_error"})


def _field_of(location: str) -> str | None:
    """The settings field a validation error is about (by name, or by environment alias)."""
    if location in Settings.model_fields:
        return location
    for name in Settings.model_fields:
        if env_name(name).lower() == location.lower():
            return name
    return None


def describe_errors(error: ValidationError) -> list[str]:
    """One line per bad setting: its flag, its environment variable and what is expected.
    Never the value given (a token or a password may be among them)."""
    lines: dict[str, str] = {}
    for problem in error.errors(include_input=False, include_url=False):
        location = str(problem["loc"][0]) if problem["loc"] else ""
        field = _field_of(location)
        if field is None:
            lines.setdefault(location, f"{_PROG}: unknown setting {location}")
            continue
        if problem["type"] in _OWN_MESSAGES:
            message = str(problem["msg"]).removeprefix("Value error, ")
        else:
            message = f"expected {expected(field)}"
        lines.setdefault(field, f"{_PROG}: invalid {flag(field)} ({env_name(field)}): {message}")
    return list(lines.values())


def _help(field: str) -> str:
    description = (Settings.model_fields[field].description or "").replace("`", "")
    text = f"{description}\ndefault: {default_text(field)}; env: {env_name(field)}"
    return text.replace("%", "%%")  # argparse %-formats help strings


class _Formatter(argparse.HelpFormatter):
    """argparse's layout, with each line of a help text wrapped on its own (the default and the
    environment variable get a line of their own) and URLs never broken."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return [
            line
            for paragraph in text.splitlines()
            for line in textwrap.wrap(paragraph, width, break_long_words=False)
        ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="A GraphQL facade over the Pinterest API v5 catalog endpoints.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="Run the GraphQL service (uvicorn).",
        usage=f"{_PROG} serve [options]",
        description="Run the GraphQL service. Every option is also an environment variable "
        "(named after each option); an option given here wins. docs/settings.md describes them.",
        formatter_class=_Formatter,
    )
    for name in Settings.model_fields:
        if is_bool(name):
            serve.add_argument(
                flag(name),
                action=argparse.BooleanOptionalAction,
                default=None,
                help=_help(name),
                dest=name,
            )
        else:
            serve.add_argument(
                flag(name), default=None, help=_help(name), dest=name, metavar=metavar(name)
            )
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

    from graphql_api.observability import configure_logging

    secrets = secrets_of(settings)
    configure_logging(settings.log_level, settings.log_format, secrets)
    if settings.workers > 1:  # a supervisor (graphql_api.workers): the app is built in each worker
        from graphql_api.workers import supervise

        return supervise(settings)

    from graphql_api.app import create_app
    from graphql_api.server import Server, server_config
    from graphql_api.tracing import TracingUnavailable

    try:
        app = create_app(settings)
    except TracingUnavailable as exc:  # OTEL_* asks for tracing this install cannot give
        print(f"graphql-api: {exc}", file=sys.stderr)
        return 2
    # Logs from here on: one startup line (graphql_api.server) says what is served, and how.
    try:
        Server(server_config(app, settings), settings).run()
    except SystemExit:  # uvicorn's STARTUP_FAILURE (logged): the port taken, the lifespan failed
        return 1
    return 0  # stopped by SIGTERM or SIGINT, cleanly (the drain: graphql_api.server)


def run() -> NoReturn:
    """The ``graphql-api`` command: :func:`main`, then :func:`exit_now`."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Out of a stopped service at once. It has nothing left to clean up (the lifespan has
    flushed the traces and closed its clients), so the interpreter's own teardown (freeing every
    object one by one: about 0.6 s for a served app, seconds under load, in each stop of a
    rolling restart) is skipped once the logs and the standard streams are flushed."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing more to say anyway
            stream.flush()
    os._exit(code)


def secrets_of(settings: Settings) -> tuple[str, ...]:
    """What no log line may show: the tokens and the Redis password."""
    return tuple(
        secret.get_secret_value()
        for secret in (settings.pinterest_access_token, settings.secret)
        if secret is not None
    ) + tuple(filter(None, [settings.cache.password]))

"""The README's first two commands are the run and test commands CI uses; the docs pages name
every setting and every error code."""

from __future__ import annotations

import re
from pathlib import Path

from graphql_api.config import Settings
from graphql_api.errors import APIError

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
SETTINGS_PAGE = (ROOT / "docs" / "settings.md").read_text()
ERRORS_PAGE = (ROOT / "docs" / "errors.md").read_text()


def _commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.DOTALL)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_first_commands_serve_the_demo_and_run_the_tests() -> None:
    serve, test = _commands()[:2]
    assert serve.endswith("graphql-api serve --demo")
    assert test.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command_exactly() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert _commands()[1] in ci


def test_every_setting_is_documented() -> None:
    from graphql_api.cli import env_name

    for name in Settings.model_fields:
        assert f"`{env_name(name)}`" in SETTINGS_PAGE, name
        assert f"`--{name.replace('_', '-')}`" in SETTINGS_PAGE, name


def test_every_error_code_is_documented() -> None:
    import graphql_api.errors as errors

    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, APIError)
    }
    codes |= {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"}
    for code in codes:
        assert f"| `{code}` |" in ERRORS_PAGE, code

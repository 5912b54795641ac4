"""`docs/settings.md` is generated from the Settings class, and says what the CLI does."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from graphql_api import cli
from graphql_api.config import Settings
from graphql_api.settings_doc import env_name, flag, render_markdown

PAGE = Path(__file__).parents[2] / "docs" / "settings.md"


def test_the_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_markdown(), (
        "docs/settings.md is stale: run `python -m graphql_api.settings_doc > docs/settings.md`"
    )


def test_every_setting_has_its_row_with_a_meaning() -> None:
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `([A-Z0-9_]+)` \|.*$", render_markdown(), re.MULTILINE)
    }
    assert set(rows) == {env_name(name) for name in Settings.model_fields}
    for name, info in Settings.model_fields.items():
        assert f"`{flag(name)}`" in rows[env_name(name)]
        assert len(info.description or "") > 20, name
        assert rows[env_name(name)].count(" | ") == 4, name  # no stray | in a cell


def test_the_page_shows_what_the_cli_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``$ command`` of the page's console block, run through main(), prints the lines
    shown under it."""
    block = re.search(r"```console\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    examples = re.findall(r"^\$ (.*)\n((?:[^$].*\n)+)", block.group(1), re.MULTILINE)
    assert len(examples) >= 2
    for command, shown in examples:
        words = shlex.split(command)
        program = words.index("graphql-api")
        with monkeypatch.context() as patched:
            for assignment in words[:program]:
                patched.setenv(*assignment.split("=", 1))
            assert cli.main(words[program + 1 :]) == 2
        assert capsys.readouterr().err == shown, command

"""``graphql-api serve``: help a person can read, and a bad value that names its flag and its
environment variable, through ``main(argv)`` and through the real console process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from graphql_api import cli
from graphql_api.config import Settings
from graphql_api.settings_doc import default_text, env_name, expected, flag


def _serve_help(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        cli.main(["serve", "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _option_blocks(help_text: str) -> dict[str, str]:
    """Each option's block of the help text (its line and the indented lines after it),
    by its first flag."""
    blocks: dict[str, str] = {}
    current = ""
    for line in help_text.splitlines():
        if line.startswith("  --"):
            current = line.split()[0].rstrip(",")
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += "\n" + line
        else:
            current = ""
    return blocks


def test_every_option_shows_its_default_and_its_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    help_text = _serve_help(capsys)
    blocks = _option_blocks(help_text)
    assert set(blocks) == {flag(name) for name in Settings.model_fields}
    for name in Settings.model_fields:
        words = " ".join(blocks[flag(name)].split())  # unwrapped
        assert f"default: {default_text(name)}; env: {env_name(name)}" in words, name
    assert " ".join(blocks["--port"].split()).startswith("--port INT TCP port to bind")
    assert blocks["--demo"].startswith("  --demo, --no-demo ")
    assert blocks["--introspection"].startswith("  --introspection, --no-introspection")
    assert blocks["--log-format"].split()[:2] == ["--log-format", "{json,text}"]


def test_the_help_has_no_raw_noise(capsys: pytest.CaptureFixture[str]) -> None:
    help_text = _serve_help(capsys)
    assert help_text.startswith("usage: graphql-api serve [options]\n")
    for noise in ("VALUE", "None", "%(", "`", "annotation=", "PydanticUndefined", "[env "):
        assert noise not in help_text, noise


def test_defaults_read_as_a_person_writes_them() -> None:
    assert default_text("port") == "8000"
    assert default_text("demo") == "off"
    assert default_text("response_cache") == "on"
    assert default_text("secret") == "unset"
    assert default_text("cache_ttl") == "60"
    assert default_text("redis_timeout") == "0.05"
    assert default_text("cache_max_bytes") == "201326592 (192 MiB)"
    assert expected("port") == "an integer 0..65535"
    assert expected("max_first") == "an integer >= 250"
    assert expected("redis_timeout") == "a number > 0 and <= 1"
    assert expected("env") == "one of development, production"


# Not formatted: a table of cases, a row or two each.
@pytest.mark.parametrize(
    ("argv", "environ", "line"),
    [
        (["--port", "abc"], {}, "--port (GRAPHQL_API_PORT): expected an integer 0..65535"),
        ([], {"GRAPHQL_API_PORT": "abc"},
         "--port (GRAPHQL_API_PORT): expected an integer 0..65535"),
        ([], {"GRAPHQL_API_PORT": "70000"},
         "--port (GRAPHQL_API_PORT): expected an integer 0..65535"),
        (["--max-first", "10"], {},
         "--max-first (GRAPHQL_API_MAX_FIRST): expected an integer >= 250"),
        ([], {"GRAPHQL_API_DEMO": "maybe"}, "--demo (GRAPHQL_API_DEMO): expected true or false"),
        ([], {"GRAPHQL_API_INTROSPECTION": "maybe"},
         "--introspection (GRAPHQL_API_INTROSPECTION): expected true or false"),
        (["--cache-ttl", "-1"], {}, "--cache-ttl (GRAPHQL_API_CACHE_TTL): expected a number > 0"),
        (["--env", "prod"], {},
         "--env (GRAPHQL_API_ENV): expected one of development, production"),
        # Our own validators' messages (the start of the line):
        (["--cache-url", "foo://x"], {}, "--cache-url (GRAPHQL_API_CACHE_URL): use memory://"),
        ([], {"GRAPHQL_API_CACHE_URL": "rediss://"},
         "--cache-url (GRAPHQL_API_CACHE_URL): a Redis URL needs a host"),
        (["--log-level", "loud"], {}, "--log-level (GRAPHQL_API_LOG_LEVEL): use one of debug"),
        (["--redis-timeout", "-1"], {},
         "--redis-timeout (GRAPHQL_API_REDIS_TIMEOUT): expected a number > 0 and <= 1"),
    ],
)  # fmt: skip
def test_a_bad_value_names_the_flag_the_variable_and_what_is_expected(
    argv: list[str],
    environ: dict[str, str],
    line: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["serve", *argv]) == 2
    (error,) = capsys.readouterr().err.splitlines()  # one line, no traceback
    assert error.startswith(f"graphql-api: invalid {line}")


@pytest.mark.parametrize(
    ("argv", "environ"),
    [(["--port", "abc"], {}), ([], {"GRAPHQL_API_PORT": "abc"})],
    ids=["flag", "environment"],
)
def test_the_console_process_exits_2_with_the_line_and_no_traceback(
    argv: list[str], environ: dict[str, str]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "graphql_api", "serve", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **environ},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "graphql-api: invalid --port (GRAPHQL_API_PORT): expected an integer 0..65535"
    ]


def test_a_tristate_switch_still_reads_its_profile_default() -> None:
    parsed = cli.build_parser().parse_args(["serve", "--no-introspection", "--graphiql"])
    assert (parsed.introspection, parsed.graphiql, parsed.demo) == (False, True, None)

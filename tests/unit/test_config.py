"""Settings: the environment names of DESIGN.md, a CLI flag for each, secrets never shown."""

from __future__ import annotations

import pytest
import uvicorn

from graphql_api import cli
from graphql_api.config import Settings
from tests.helpers import settings


def test_defaults() -> None:
    s = settings()
    assert s.pinterest_api_base_url == "https://api.pinterest.com/v5"
    assert s.pinterest_access_token is None
    assert s.cache_url == "memory://"
    assert s.upstream_page_size == 250
    assert s.max_first == 250
    assert (s.host, s.port, s.demo) == ("127.0.0.1", 8000, False)


def test_design_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINTEREST_API_BASE_URL", "http://127.0.0.1:9/v5")
    monkeypatch.setenv("PINTEREST_ACCESS_TOKEN", "tok-123")
    monkeypatch.setenv("GRAPHQL_API_CACHE_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("GRAPHQL_API_DEMO", "1")
    monkeypatch.setenv("GRAPHQL_API_PORT", "9001")
    s = settings()
    assert s.pinterest_api_base_url == "http://127.0.0.1:9/v5"
    assert s.pinterest_access_token is not None
    assert s.pinterest_access_token.get_secret_value() == "tok-123"
    assert s.cache_url == "redis://127.0.0.1:6379/0"
    assert s.demo is True
    assert s.port == 9001


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINTEREST_ACCESS_TOKEN", "tok-canary-123")
    monkeypatch.setenv("GRAPHQL_API_SECRET", "hmac-canary-456")
    s = settings()
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "canary" not in text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("upstream_page_size", 0),
        ("upstream_page_size", 251),
        ("max_first", 249),
        ("port", -1),
    ],
)
def test_bounds_are_validated(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        settings(**{name: value})


def test_every_setting_is_a_flag_with_its_environment_variable() -> None:
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in help_text
        assert cli.env_name(name) in help_text
    assert cli.env_name("pinterest_access_token") == "PINTEREST_ACCESS_TOKEN"
    assert cli.env_name("cache_url") == "GRAPHQL_API_CACHE_URL"
    assert cli.env_name("demo") == "GRAPHQL_API_DEMO"


def test_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHQL_API_PORT", "9001")
    captured: list[uvicorn.Config] = []

    def fake_run(server: uvicorn.Server) -> None:
        captured.append(server.config)

    monkeypatch.setattr("uvicorn.Server.run", fake_run)
    assert cli.main(["serve", "--demo", "--port", "9100", "--host", "0.0.0.0"]) == 0
    assert captured[0].port == 9100
    assert captured[0].host == "0.0.0.0"


def test_invalid_settings_name_the_setting_not_the_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINTEREST_ACCESS_TOKEN", "tok-canary-789")
    assert cli.main(["serve", "--upstream-page-size", "999"]) == 2
    err = capsys.readouterr().err
    assert "upstream_page_size" in err
    assert "999" not in err
    assert "canary" not in err

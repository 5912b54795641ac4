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


def test_every_setting_is_a_flag_with_its_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--help"])
    help_text = capsys.readouterr().out
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
    assert err.splitlines() == [
        "graphql-api: invalid --upstream-page-size (GRAPHQL_API_UPSTREAM_PAGE_SIZE): "
        "expected an integer 1..250"
    ]
    assert "999" not in err
    assert "canary" not in err


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "redis://127.0.0.1:6379/0",
        "redis://cache",
        "redis://app:s3cret@cache.internal:6380/2",
        "redis://:s3cret@cache:6379",
        "rediss://cache:6380/0?ssl_cert_reqs=none",
        "rediss://cache:6380/0?ssl_check_hostname=false",
    ],
)
def test_cache_urls_the_service_can_use(url: str) -> None:
    assert settings(cache_url=url).cache_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo://x", "use memory://, redis://"),
        ("memcached://cache:11211", "use memory://, redis://"),
        ("memory://elsewhere", "memory:// takes no host"),
        ("redis://", "needs a host"),
        ("rediss://", "needs a host"),
        ("redis://cache:notaport/0", "port must be a number"),
        ("redis://cache:99999/0", "port must be a number"),
        ("redis://cache:0/0", "port must be a number"),
        ("redis://[::1/0", "not a URL"),
        ("redis://cache:6379/zero", "must be a number"),
        ("redis://cache/0?socket_timeout=5", "unsupported Redis URL option 'socket_timeout'"),
        ("redis://cache/0?ssl_cert_reqs=none", "needs a rediss:// URL"),
        ("rediss://cache/0?ssl_ca_certs=/nonexistent/ca.pem", "no such file"),
        ("rediss://cache/0?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
    ],
)
def test_cache_urls_refused_with_what_is_allowed(url: str, says: str) -> None:
    with pytest.raises(ValueError, match="cache_url") as refused:
        settings(cache_url=url)
    assert says in str(refused.value)


def test_log_levels() -> None:
    assert settings(log_level="WARNING").log_level == "warning"
    with pytest.raises(ValueError, match="debug, info, warning, error, critical"):
        settings(log_level="loud")


def test_every_bad_setting_has_its_line_and_no_secret_is_echoed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Not formatted: the command line as one would type it.
    argv = ["serve", "--cache-url", "mysql://root:pw-canary-31@db/0", "--log-level", "x",
            "--port", "-1"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert [line.split(" (")[0] for line in err.splitlines()] == [
        "graphql-api: invalid --port",
        "graphql-api: invalid --cache-url",
        "graphql-api: invalid --log-level",
    ]
    assert "canary" not in err
    assert "mysql" not in err


def test_the_redis_password_is_not_in_the_settings_repr() -> None:
    s = settings(cache_url="redis://app:pw-canary-42@cache:6379/0")
    assert "canary" not in repr(s)


def test_the_process_exits_2_with_one_line_and_no_traceback() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "graphql_api", "serve", "--cache-url", "rediss://"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "graphql-api: invalid --cache-url (GRAPHQL_API_CACHE_URL): a Redis URL needs a host: "
        "use memory://, redis://[user:password@]host[:port][/db] or rediss://..."
    ]

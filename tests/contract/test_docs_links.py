"""Every relative link in README.md and docs/*.md points to a file that exists, and an anchor to
a heading of that file (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_EXTERNAL = ("http://", "https://", "mailto:")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def links(page: Path) -> list[str]:
    text = _CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    return [target for target in _LINK.findall(text) if not target.startswith(_EXTERNAL)]


def test_the_slugs_are_githubs() -> None:
    assert slug("When Redis or the upstream fails") == "when-redis-or-the-upstream-fails"
    assert slug("HTTP, limits and safety") == "http-limits-and-safety"
    assert slug("When a client misbehaves, or the service has a bug") == (
        "when-a-client-misbehaves-or-the-service-has-a-bug"
    )
    assert slug("The API: types and pagination") == "the-api-types-and-pagination"


def test_the_pages_link_each_other() -> None:
    assert len(PAGES) >= 10
    linked = {
        (page.parent / target.split("#")[0]).resolve()
        for page in PAGES
        for target in links(page)
        if target.split("#")[0]
    }
    assert {page.resolve() for page in PAGES} - linked <= {(ROOT / "README.md").resolve()}


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert broken == []

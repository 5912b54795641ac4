"""The self-hosted GraphiQL page: local assets only, strict-CSP friendly, safe config."""

from __future__ import annotations

import base64
import hashlib
import json
from html.parser import HTMLParser

import pytest

from graphql_api.graphiql import CSP, STATIC_DIR, STATIC_PATH, render_graphiql

DEFAULT_QUERY = 'query Hello {\n  hello(name: "graphiql")\n}\n'

# Vendored files are byte-identical to the npm tarballs; these are the `integrity`
# values Strawberry's graphiql.html uses for the same unpkg URLs.
PINNED_SHA384 = {
    "react.production.min.js": "tMH8h3BGESGckSAVGZ82T9n90ztNXxvdwvdM6UoR56cYcf+0iGXBliJ29D+wZ/x8",
    "react-dom.production.min.js": (
        "bm7MnzvK++ykSwVJ2tynSE5TRdN+xL418osEVF2DE/L/gfWHj91J2Sphe582B1Bh"
    ),
    "graphiql.min.js": "HbRVEFG0JGJZeAHCJ9Xm2+tpknBQ7QZmNlO/DgZtkZ0aJSypT96YYGRNod99l9Ie",
    "graphiql.min.css": "Mq3vbRBY71jfjQAt/DcjxUIYY33ksal4cgdRt9U/hNPvHBCaT2JfJ/PTRiPKf0aM",
    "plugin-explorer.umd.js": "2oonKe47vfHIZnmB6ZZ10vl7T0Y+qrHQF2cmNTaFDuPshpKqpUMGMc9jgj9MLDZ9",
    "plugin-explorer.css": "5DFJlDPW2tSATRbM8kzoP1j194jexLswuNmClWoRr2Q0x7R68JIQzPHZ02Faktwi",
}
LICENSES = ("react", "react-dom", "graphiql", "plugin-explorer")


class _Page(HTMLParser):
    """Collects tags, asset URLs and script bodies of a rendered page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script, self._body = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._body)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._body.append(data)

    @property
    def urls(self) -> list[str]:
        return [
            url
            for _, attrs in self.tags
            for name in ("src", "href")
            if (url := attrs.get(name)) is not None
        ]

    def config(self) -> tuple[str, object]:
        (raw,) = [body for attrs, body in self.scripts if attrs.get("id") == "graphiql-config"]
        return raw, json.loads(raw)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _asset_urls(page: _Page) -> list[str]:
    return [url for url in page.urls if not url.startswith("data:")]


def test_page_references_only_local_assets() -> None:
    page = _parse(render_graphiql(default_query=DEFAULT_QUERY))
    urls = _asset_urls(page)
    assert urls, "no assets referenced"
    for url in page.urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
    assert all(url.startswith(STATIC_PATH + "/") for url in urls), urls
    assert {"graphiql.min.js", "graphiql.min.css", "boot.js"} <= {
        url.rsplit("/", 1)[1] for url in urls
    }


def test_every_referenced_asset_exists() -> None:
    page = _parse(render_graphiql(default_query=DEFAULT_QUERY))
    for url in _asset_urls(page):
        path = STATIC_DIR / url.removeprefix(STATIC_PATH + "/")
        assert path.is_file(), url
        assert path.resolve().parent == STATIC_DIR.resolve(), url


def test_no_inline_script_or_style() -> None:
    page = _parse(render_graphiql(default_query=DEFAULT_QUERY))
    assert not [tag for tag, _ in page.tags if tag == "style"]
    assert not [attrs for _, attrs in page.tags if "style" in attrs]
    assert not [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)]
    for attrs, body in page.scripts:
        if attrs.get("type") == "application/json":
            continue  # data block, never executed
        assert attrs.get("src"), attrs
        assert not body.strip(), body


@pytest.mark.parametrize("name", [f"{name}.LICENSE" for name in LICENSES] + ["README.md"])
def test_license_files_exist(name: str) -> None:
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    if name.endswith(".LICENSE"):
        assert "MIT License" in text
        assert "Permission is hereby granted" in text


@pytest.mark.parametrize(("name", "digest"), PINNED_SHA384.items())
def test_vendored_files_match_pinned_versions(name: str, digest: str) -> None:
    data = (STATIC_DIR / name).read_bytes()
    assert base64.b64encode(hashlib.sha384(data).digest()).decode() == digest


def test_boot_script_reads_the_config_block() -> None:
    boot = (STATIC_DIR / "boot.js").read_text(encoding="utf-8")
    assert 'getElementById("graphiql-config")' in boot
    assert "createFetcher({ url: config.endpoint })" in boot


def test_default_query_and_endpoint_are_json_escaped() -> None:
    html = render_graphiql(endpoint="/api/graphql", default_query=DEFAULT_QUERY)
    raw, config = _parse(html).config()
    assert config == {"endpoint": "/api/graphql", "defaultQuery": DEFAULT_QUERY}
    assert json.dumps(DEFAULT_QUERY, ensure_ascii=False) in raw
    assert "\n" not in raw  # the query's newlines are JSON escapes


@pytest.mark.parametrize(
    "query",
    [
        "{ hello } # </script><script>alert(1)</script>",
        "# </SCRIPT ><img src=x onerror=alert(1)>",
        "# <!-- <script> & ]]> \u2028 &lt;/script&gt;",
    ],
)
def test_script_close_in_default_query_cannot_break_out(query: str) -> None:
    html = render_graphiql(default_query=query)
    page = _parse(html)
    raw, config = page.config()
    assert config == {"endpoint": "/graphql", "defaultQuery": query}
    assert not {"<", ">", "&"} & set(raw)
    assert html.lower().count("</script") == len(page.scripts)
    assert [tag for tag, _ in page.tags if tag == "img"] == []


def test_static_path_is_configurable_and_attribute_escaped() -> None:
    page = _parse(render_graphiql(default_query="", static_path='/x/"><b>/'))
    assert [tag for tag, _ in page.tags if tag == "b"] == []
    assert all(url.startswith('/x/"><b>/') for url in _asset_urls(page))


def test_csp_is_strict() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CSP.split(";") if part.strip()
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in CSP

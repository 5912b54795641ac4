"""Self-hosted GraphiQL page that works offline and under a strict CSP.

All scripts and styles (pinned React, GraphiQL and explorer-plugin builds, see
``static/graphiql/README.md``) are served from :data:`STATIC_DIR`, mounted by the
app at :data:`STATIC_PATH`. The page has no inline script or style: ``boot.js``
reads its settings from a JSON data block, which browsers never execute.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

__all__ = ["CSP", "EXAMPLE_QUERY", "STATIC_DIR", "STATIC_PATH", "render_graphiql"]

STATIC_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"
STATIC_PATH = "/graphiql/static"

# Content-Security-Policy to send with the page. Known, accepted limitation of
# `style-src 'self'`: GraphiQL's dialogs (react-remove-scroll) try to inject a
# <style> tag to lock page scrolling; the browser blocks it (one CSP report in
# the console per dialog) and the dialogs still work. No 'unsafe-inline' or
# 'unsafe-eval' is needed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

# The query GraphiQL opens with: the path from a catalog to its products, then a page of the
# demo catalog (the demo's first catalogs and products are real-looking ones).
EXAMPLE_QUERY = """\
# Explore: catalogs, their product groups and a few products of each.
# Then a page of product group 1 (the whole demo retail catalog):
# press the run button, pass productGroupProducts.pageInfo.endCursor
# as $after for its next page. Select pinMetrics on a Pin to fetch
# metrics.
query Explore($first: Int = 10, $after: String) {
  catalogs(first: 2) {
    nodes {
      id
      name
      catalogType
      productGroups(first: 2) {
        nodes {
          id
          name
          products(first: 2) {
            nodes { pin { id title } }
          }
        }
      }
    }
  }
  productGroupProducts(
    productGroupId: "1"
    first: $first
    after: $after
  ) {
    pageInfo { hasNextPage endCursor }
    nodes {
      __typename
      catalogType
      pin {
        id
        title
        link
        media {
          mediaType
          ... on PinMediaWithImage {
            images { size400x300 { url width height } }
          }
        }
      }
      ... on RetailProduct {
        metadata { itemId price salePrice currency availability }
      }
      ... on HotelProduct { metadata { hotelId } }
      ... on CreativeAssetsProduct {
        metadata { creativeAssetsId visibility }
      }
    }
  }
}
"""

_STYLES = ("graphiql.min.css", "plugin-explorer.css", "page.css")
_SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
    "boot.js",
)


def _json_for_script(value: object) -> str:
    """JSON that cannot close its ``<script>`` element nor open a comment/CDATA."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_graphiql(
    *, endpoint: str = "/graphql", default_query: str, static_path: str = STATIC_PATH
) -> str:
    """Return the GraphiQL HTML page for ``endpoint``, opening with ``default_query``."""
    base = escape(static_path.rstrip("/"), quote=True)
    styles = "".join(f'  <link rel="stylesheet" href="{base}/{name}">\n' for name in _STYLES)
    scripts = "".join(f'  <script src="{base}/{name}" defer></script>\n' for name in _SCRIPTS)
    config = _json_for_script({"endpoint": endpoint, "defaultQuery": default_query})
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n'
        '  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '  <meta name="referrer" content="no-referrer">\n'
        "  <title>GraphiQL</title>\n"
        '  <link rel="icon" href="data:,">\n'
        f"{styles}"
        f'  <script type="application/json" id="graphiql-config">{config}</script>\n'
        f"{scripts}"
        '</head>\n<body>\n  <div id="graphiql">Loading…</div>\n</body>\n</html>\n'
    )

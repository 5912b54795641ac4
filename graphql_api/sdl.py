"""The subgraph SDL: what ``_service { sdl }`` returns, and the writer of ``schema.graphql``.

python -m graphql_api.sdl > schema.graphql
"""

from __future__ import annotations

import sys

from strawberry.printer import print_schema

from graphql_api.schema import schema

__all__ = ["render_sdl"]


def render_sdl() -> str:
    return print_schema(schema)


if __name__ == "__main__":
    sys.stdout.write(render_sdl())

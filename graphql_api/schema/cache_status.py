"""Tells the client, in the response's ``extensions``, when it got stale cached pages."""

from __future__ import annotations

import math
from typing import Any

from strawberry.extensions import SchemaExtension

from graphql_api.schema.context import Context

__all__ = ["CacheStatus"]


class CacheStatus(SchemaExtension):
    """``extensions.cache = {stale: true, ageSeconds}`` when a stale page was served."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.stale_age is not None:
            return {"cache": {"stale": True, "ageSeconds": math.floor(context.stale_age)}}
        return {}

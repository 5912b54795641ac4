"""What the response says beside its data: stale cached pages (``extensions.cache``) and the
errors of partial pages (data and an error for the same field)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_api.schema.context import Context

__all__ = ["ResponseNotes"]


class ResponseNotes(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        result = self.execution_context.result
        if not isinstance(context, Context) or not context.partial_errors or result is None:
            return
        notes = [
            GraphQLError(error.message, path=path, original_error=error)
            for error, path in context.partial_errors
        ]
        result.errors = [*(result.errors or []), *notes]

    def get_results(self) -> dict[str, Any]:
        """``extensions.cache = {stale: true, ageSeconds}`` when a stale page was served."""
        context = self.execution_context.context
        if isinstance(context, Context) and context.stale_age is not None:
            return {"cache": {"stale": True, "ageSeconds": math.floor(context.stale_age)}}
        return {}

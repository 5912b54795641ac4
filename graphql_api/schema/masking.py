"""Error masking: our errors keep their message and code, request errors get Apollo's codes,
and anything unexpected becomes ``INTERNAL_SERVER_ERROR`` with no detail."""

from __future__ import annotations

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from graphql_api.errors import APIError

__all__ = ["MaskUnexpectedErrors"]

_MASKED = "Unexpected error."


def _request_error_code(error: GraphQLError) -> str:
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=self._needs_work, error_message=_MASKED)

    @staticmethod
    def _needs_work(error: GraphQLError) -> bool:
        if isinstance(error.original_error, APIError):
            return False
        return not (error.extensions and "code" in error.extensions)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is None:  # parse, validation and variable errors: keep them
            error.extensions = {**(error.extensions or {}), "code": _request_error_code(error)}
            return error
        return GraphQLError(
            _MASKED, nodes=error.nodes, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )

"""Error masking, applied to every error list the schema produces (parse, validation,
variables, execution, extension failures): our errors keep their message and code, request
errors get Apollo's codes, and anything unexpected becomes ``INTERNAL_SERVER_ERROR`` with no
detail (logged with its traceback for operators)."""

from __future__ import annotations

import logging

from graphql import GraphQLError

from graphql_api.errors import APIError

__all__ = ["MASKED_MESSAGE", "mask_errors"]

MASKED_MESSAGE = "Unexpected error."
_log = logging.getLogger("graphql_api.errors")
_ONE_OF_VARIABLE_ERRORS = ("OneOf Input Object", "Value for member field", "Field '")


def _request_error_code(error: GraphQLError) -> str:
    if error.message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if error.message.startswith("Variable '$"):
        return "BAD_USER_INPUT"
    if not error.locations and error.message.startswith(_ONE_OF_VARIABLE_ERRORS):
        # Strawberry checks @oneOf in variable values with a validation rule that reports no
        # location; a bad variable value is the client's input, as for graphql-core's errors.
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


def mask_errors(errors: list[GraphQLError]) -> None:
    """Give every error a code and mask the unexpected ones, in place."""
    for error in errors:
        original = error.original_error
        if isinstance(original, APIError):
            continue  # our message and extensions (graphql-core copied them from the error)
        if error.path is None and (original is None or isinstance(original, GraphQLError)):
            if not (error.extensions or {}).get("code"):  # a request error: readable as it is
                error.extensions = {**(error.extensions or {}), "code": _request_error_code(error)}
            continue
        _log.error("unexpected error at %s", error.path, exc_info=original or error)
        error.message = MASKED_MESSAGE
        error.extensions = {"code": "INTERNAL_SERVER_ERROR"}
        error.original_error = None

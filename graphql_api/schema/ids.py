"""Pinterest ids: numeric strings (the spec's ``^\\d+$`` for pin, product group, feed, catalog and
ad account ids), checked before any upstream call so a bad one is ``BAD_USER_INPUT``, never an
upstream request (``GET /pins/`` for an empty id) or a URL too long to send."""

from __future__ import annotations

import re

from graphql_api.errors import BadUserInput

__all__ = ["AD_ACCOUNT_ID_DIGITS", "ID_DIGITS", "check_id"]

# Pinterest ids are 64-bit numbers (up to 20 digits); the spec bounds only ad account ids (18).
ID_DIGITS = 32
AD_ACCOUNT_ID_DIGITS = 18
_DIGITS = re.compile(r"[0-9]+")  # ASCII digits: ``\d`` would take any Unicode digit


def check_id(value: object, argument: str, *, digits: int = ID_DIGITS) -> str:
    """``value`` as an id string, or ``BAD_USER_INPUT`` naming ``argument`` (never echoing the
    value, which may be 90 KB of anything)."""
    text = str(value)
    if len(text) > digits or not _DIGITS.fullmatch(text):
        raise BadUserInput(f"`{argument}` must be a Pinterest id: 1 to {digits} digits (0-9).")
    return text

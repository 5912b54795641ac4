"""Masking of URLs that may carry credentials (a feed's ``location``).

:func:`mask_url` drops the userinfo (``user:password@``) and replaces the value of every
credential-like query (or fragment) parameter with ``REDACTED``; the rest of the URL is kept as
it was written. A string that is not a URL at all is dropped: what cannot be masked is not kept.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = ["REDACTED", "mask_url"]

REDACTED = "REDACTED"

# Parameter names (lower case, "-" and "_" removed) that hold a credential: exactly these ...
_NAMES = frozenset({"key", "sig", "pwd", "pass", "code", "session", "sessionid", "jwt"})
# ... or containing one of these (x-amz-security-token, X-Amz-Signature, access_token, api_key,
# client_secret, Authorization, X-Goog-Credential ...)
_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
    "auth",
)
_PREFIXES = ("x-amz-", "x-goog-")


def _secret(name: str) -> bool:
    raw = unquote_plus(name).strip().lower()
    compact = raw.replace("-", "").replace("_", "")
    return compact in _NAMES or any(p in compact for p in _PARTS) or raw.startswith(_PREFIXES)


def _mask_params(params: str) -> str:
    parts = []
    for part in params.split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={REDACTED}" if eq and value and _secret(name) else part)
    return "&".join(parts)


def mask_url(url: str) -> str | None:
    """``url`` without its userinfo and with the values of credential-like parameters
    replaced; ``None`` if it cannot be read as a URL. Masking a masked URL changes nothing."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    netloc = parts.netloc.rpartition("@")[2]
    fragment = _mask_params(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, _mask_params(parts.query), fragment))

"""The per-request context: the service and the caller's upstream token."""

from __future__ import annotations

from strawberry.fastapi import BaseContext

from graphql_api.errors import APIError, Unauthenticated
from graphql_api.service import CatalogService
from graphql_api.upstream.models import Pin
from graphql_api.upstream.resilience import Deadline

__all__ = ["Context", "bearer_token"]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Context(BaseContext):
    def __init__(
        self,
        service: CatalogService,
        upstream_token: str | None,
        *,
        max_first: int,
        deadline: Deadline | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.max_first = max_first
        self.deadline = deadline
        self._token = upstream_token
        self.stale_age: float | None = None  # the oldest stale page this response used
        # Errors beside data (a partial page): (error, path) pairs added to the response.
        self.partial_errors: list[tuple[APIError, list[str | int]]] = []

    def used_stale(self, age: float | None) -> None:
        if age is not None:
            self.stale_age = max(self.stale_age or 0.0, age)

    @property
    def token(self) -> str:
        """The token to call the upstream with; ``UNAUTHENTICATED`` before any call if none."""
        if self._token is None:
            raise Unauthenticated()
        return self._token

    async def load_pin(self, pin_id: str, *, pin_metrics: bool) -> Pin:
        """One Pin for the caller (``NOT_FOUND`` if the upstream has none)."""
        return await self.service.pin(
            self.token, pin_id, pin_metrics=pin_metrics, deadline=self.deadline
        )

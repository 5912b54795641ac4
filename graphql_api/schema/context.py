"""The per-request context: the service, the caller's upstream token, the request's deadline
and its Pin loader."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from functools import cached_property
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from graphql_api.cache import Lookup
from graphql_api.errors import APIError, Unauthenticated
from graphql_api.internals import raw_info
from graphql_api.schema.ids import check_id
from graphql_api.schema.selection import selects
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
        pin_concurrency: int = 8,
    ) -> None:
        super().__init__()
        self.service = service
        self.max_first = max_first
        self.pin_concurrency = pin_concurrency  # concurrent Pin lookups of one request
        self.deadline = deadline
        self._token = upstream_token
        self.stale_age: float | None = None  # the oldest stale page this response used
        # Errors beside data (a partial page): (error, path) pairs added to the response.
        self.partial_errors: list[tuple[APIError, list[str | int]]] = []
        # The cache entries the response is built from (for the response cache).
        self.sources: list[Lookup[Any]] = []
        # Below each root field, the field names its compiled plan selects (set by execution).
        self.selected_below: dict[str, frozenset[str]] = {}

    def selects(self, info: Info[Any, Any], field_name: str) -> bool:
        """Whether ``field_name`` is selected below the current field: known from the compiled
        plan for a root field, else read from the document."""
        raw = raw_info(info)
        names = self.selected_below.get(str(raw.path.key)) if raw.path.prev is None else None
        return field_name in names if names is not None else selects(raw, field_name)

    def used(self, lookups: Iterable[Lookup[Any]]) -> None:
        """Note the cache entries a field was built from, and the oldest stale one."""
        for lookup in lookups:
            self.sources.append(lookup)
            if lookup.stale:
                self.stale_age = max(self.stale_age or 0.0, lookup.age)

    @property
    def token(self) -> str:
        """The token to call the upstream with; ``UNAUTHENTICATED`` before any call if none."""
        if self._token is None:
            raise Unauthenticated()
        return self._token

    def load_pin(self, pin_id: str, *, pin_metrics: bool) -> Awaitable[Pin]:
        """One Pin for the caller (``NOT_FOUND`` if the upstream has none). Lookups of one
        request are batched and deduplicated (entity lookups name many Pins at once).

        A future, not a coroutine: Strawberry's entity resolver may drop it unawaited when a
        later representation of the batch is invalid, and a future dropped does not warn.
        An id that is no Pinterest id raises ``BAD_USER_INPUT`` here, before any upstream call
        (for an entity: a null entity with that error)."""
        return self._pins.load((check_id(pin_id, "id"), pin_metrics))

    @cached_property
    def _pins(self) -> DataLoader[tuple[str, bool], Pin]:
        return DataLoader(load_fn=self._fetch_pins)

    async def _fetch_pins(self, keys: list[tuple[str, bool]]) -> list[Pin | BaseException]:
        """Each Pin, or its error (one bad id fails its entity, not the batch)."""
        bound = asyncio.Semaphore(self.pin_concurrency)

        async def one(pin_id: str, pin_metrics: bool) -> Pin | BaseException:
            async with bound:
                try:
                    lookup = await self.service.pin(
                        self.token, pin_id, pin_metrics=pin_metrics, deadline=self.deadline
                    )
                except APIError as error:
                    return error
                self.used((lookup,))
                return lookup.value

        return await asyncio.gather(*(one(*key) for key in keys))

"""The per-request context: the request's inputs (the service, the caller's upstream token, the
request's deadline and limits: fixed), its loaders (Pins, product groups, catalogs), and one
collector of what it produced
(partial errors, the cache entries used and how stale, the compiled plan's selections)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
from graphql_api.upstream.models import Catalog, Pin, ProductGroup
from graphql_api.upstream.resilience import Deadline

__all__ = ["Collector", "Context", "Inputs", "bearer_token"]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True, slots=True)
class Inputs:
    """What a request is served with: fixed before execution starts."""

    service: CatalogService
    token: str | None  # the caller's upstream token (None: UNAUTHENTICATED at the first call)
    max_first: int
    deadline: Deadline | None = None
    pin_concurrency: int = 8  # concurrent Pin lookups of one request


class Collector:
    """What a request produced besides its data, written only through these methods (by the
    resolvers, the Pin loader and the executor) and read by the executor and the endpoint."""

    __slots__ = ("_errors", "_selected_below", "_sources", "_stale_age")

    def __init__(self) -> None:
        self._errors: list[tuple[APIError, list[str | int]]] = []
        self._stale_age: float | None = None
        self._sources: list[Lookup[Any]] = []
        self._selected_below: Mapping[str, frozenset[str]] = {}

    def partial_error(self, error: APIError, path: list[str | int]) -> None:
        """An error beside data (a partial page), at ``path`` in the response."""
        self._errors.append((error, path))

    def used(self, lookups: Iterable[Lookup[Any]]) -> None:
        """Note the cache entries a field was built from, and the oldest stale one."""
        for lookup in lookups:
            self._sources.append(lookup)
            if lookup.stale:
                self._stale_age = max(self._stale_age or 0.0, lookup.age)

    def planned(self, selected_below: Mapping[str, frozenset[str]]) -> None:
        """Below each root field, the field names its compiled plan selects (the executor)."""
        self._selected_below = selected_below

    @property
    def partial_errors(self) -> Sequence[tuple[APIError, list[str | int]]]:
        """Errors beside data: (error, path) pairs added to the response."""
        return self._errors

    @property
    def stale_age(self) -> float | None:
        """The age of the oldest stale page the response used (``None``: all fresh)."""
        return self._stale_age

    @property
    def sources(self) -> Sequence[Lookup[Any]]:
        """The cache entries the response is built from (for the response cache)."""
        return self._sources

    def selected_below(self, root: str) -> frozenset[str] | None:
        return self._selected_below.get(root)


class Context(BaseContext):
    """A request's :class:`Inputs` (read-only) and its :class:`Collector`."""

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
        self.inputs = Inputs(service, upstream_token, max_first, deadline, pin_concurrency)
        self.collector = Collector()

    @property
    def service(self) -> CatalogService:
        return self.inputs.service

    @property
    def max_first(self) -> int:
        return self.inputs.max_first

    @property
    def deadline(self) -> Deadline | None:
        return self.inputs.deadline

    def selects(self, info: Info[Any, Any], field_name: str) -> bool:
        """Whether ``field_name`` is selected below the current field: known from the compiled
        plan for a root field, else read from the document."""
        raw = raw_info(info)
        names = self.collector.selected_below(str(raw.path.key)) if raw.path.prev is None else None
        return field_name in names if names is not None else selects(raw, field_name)

    @property
    def token(self) -> str:
        """The token to call the upstream with; ``UNAUTHENTICATED`` before any call if none."""
        if self.inputs.token is None:
            raise Unauthenticated()
        return self.inputs.token

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
        bound = asyncio.Semaphore(self.inputs.pin_concurrency)

        async def one(pin_id: str, pin_metrics: bool) -> Pin | BaseException:
            async with bound:
                try:
                    lookup = await self.service.pin(
                        self.token, pin_id, pin_metrics=pin_metrics, deadline=self.deadline
                    )
                except APIError as error:
                    return error
                self.collector.used((lookup,))
                return lookup.value

        return await asyncio.gather(*(one(*key) for key in keys))

    # Entity keys: (id, the ad account it is read as).
    def load_product_group(
        self, product_group_id: str, *, ad_account_id: str | None = None
    ) -> Awaitable[ProductGroup]:
        """One product group for the caller (``NOT_FOUND`` if none): the lookups of one
        request tick are one batch (``service.product_groups_by_id``: one upstream request for
        many ids). A future, as :meth:`load_pin`'s; a bad id is ``BAD_USER_INPUT`` here."""
        return self._product_groups.load((check_id(product_group_id, "id"), ad_account_id))

    def load_catalog(
        self, catalog_id: str, *, ad_account_id: str | None = None
    ) -> Awaitable[Catalog]:
        """One catalog for the caller (``NOT_FOUND`` if none), from its ``GET /catalogs``
        pages (``service.catalog``); the lookups of one request are deduplicated."""
        return self._catalogs.load((check_id(catalog_id, "id"), ad_account_id))

    @cached_property
    def _product_groups(self) -> DataLoader[tuple[str, str | None], ProductGroup]:
        return DataLoader(load_fn=self._fetch_product_groups)

    @cached_property
    def _catalogs(self) -> DataLoader[tuple[str, str | None], Catalog]:
        return DataLoader(load_fn=self._fetch_catalogs)

    async def _fetch_product_groups(
        self, keys: list[tuple[str, str | None]]
    ) -> list[ProductGroup | BaseException]:
        """One batch per ad account (usually one), each product group or its error."""
        accounts: dict[str | None, list[str]] = {}
        for product_group_id, ad_account_id in keys:
            accounts.setdefault(ad_account_id, []).append(product_group_id)
        found: dict[tuple[str, str | None], ProductGroup | BaseException] = {}

        async def batch(ad_account_id: str | None, ids: list[str]) -> None:
            try:
                results = await self.service.product_groups_by_id(
                    self.token, ids, ad_account_id=ad_account_id, deadline=self.deadline
                )
            except APIError as error:  # the batch failed: each of its groups with the error
                found.update(((one, ad_account_id), error) for one in ids)
                return
            for one, result in zip(ids, results, strict=True):
                if isinstance(result, Lookup):
                    self.collector.used((result,))
                    found[one, ad_account_id] = result.value
                else:
                    found[one, ad_account_id] = result

        await asyncio.gather(*(batch(account, ids) for account, ids in accounts.items()))
        return [found[key] for key in keys]

    async def _fetch_catalogs(
        self, keys: list[tuple[str, str | None]]
    ) -> list[Catalog | BaseException]:
        async def one(catalog_id: str, ad_account_id: str | None) -> Catalog | BaseException:
            try:
                lookup = await self.service.catalog(
                    self.token, catalog_id, ad_account_id=ad_account_id, deadline=self.deadline
                )
            except APIError as error:
                return error
            self.collector.used((lookup,))
            return lookup.value

        return await asyncio.gather(*(one(*key) for key in keys))

"""``/graphql`` over HTTP, per the GraphQL-over-HTTP spec.

- ``POST`` with ``Content-Type: application/json`` (UTF-8) and ``GET`` with URL parameters;
  mutations never run over GET (405). Other methods: 405; other POST bodies: 415.
- The response is ``application/graphql-response+json`` when the client accepts it, otherwise
  ``application/json``; anything else it asks for is 406. With ``graphql-response+json``, request
  errors (unparsable or invalid documents, bad variables, refused limits) are 400 without
  ``data``; with ``application/json`` they are 200, as legacy clients expect.
- Bodies larger than the limit are 413 (``REQUEST_TOO_LARGE``) before they are read whole.
- Responses vary with the caller's token: ``Cache-Control: private, no-store`` and
  ``Vary: Authorization, Accept``.
- Automatic persisted queries and the operations allow-list (:mod:`graphql_api.persisted`).
- Every response from here reports its cost in ``extensions.cost`` (unless the setting turns it
  off): the estimate, the upstream requests made, and the caller's throttle status when the
  upstream sent one (:mod:`graphql_api.throttle`, docs/cost.md). Cached responses are kept
  without it, and it is spliced into their bytes on a hit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.requests import ClientDisconnect

from graphql_api.boundary import INTERNAL_ERROR_BODY, ErrorReporter
from graphql_api.execution import Executor, Outcome
from graphql_api.persisted import AutomaticPersistedQueries, sha256
from graphql_api.response_cache import ResponseCache
from graphql_api.schema.context import Context
from graphql_api.throttle import Throttle

if TYPE_CHECKING:
    from graphql_api.tracing import RequestTrace, Tracing

__all__ = ["GRAPHQL_RESPONSE", "JSON", "GraphQLHTTP", "Serving"]

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_HEADERS = {"Cache-Control": "private, no-store", "Vary": "Authorization, Accept"}
_CACHED = Outcome({}, request_error=False, operation="cached", cached=True)


class Serving(Protocol):
    """What the endpoint reads of the app's lifespan resources (``graphql_api.app.Resources``)."""

    @property
    def apq(self) -> AutomaticPersistedQueries | None: ...

    @property
    def responses(self) -> ResponseCache | None: ...

    @property
    def throttle(self) -> Throttle | None: ...


R = TypeVar("R", bound=Serving)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


@dataclass(frozen=True, slots=True)
class _Params:
    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def _media_types(accept: str) -> list[tuple[float, str]]:
    ranges = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            ranges.append((quality, media.lower()))
    return sorted(ranges, key=lambda r: -r[0])


def negotiate(accept: str | None) -> str | None:
    """The response media type for an ``Accept`` header, or ``None`` (406)."""
    if not accept or not accept.strip():
        return JSON
    for _, media in _media_types(accept):
        if media == GRAPHQL_RESPONSE:
            return GRAPHQL_RESPONSE
        if media in (JSON, "*/*", "application/*"):
            return JSON
    return None


def _string_or_none(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _HTTPError(400, f"`{name}` must be a string.", "BAD_REQUEST")


def _map_or_none(value: Any, name: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise _HTTPError(400, f"`{name}` must be an object.", "BAD_REQUEST")


def _json_param(value: str | None, name: str) -> Any:
    if value is None or value == "":
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise _HTTPError(400, f"`{name}` is not valid JSON.", "BAD_REQUEST") from None


class GraphQLHTTP(Generic[R]):
    """The endpoint. Built with the app; per request it reads the app's lifespan resources
    (``resources(request)``: ``None`` before the lifespan has run, or after: a 500) and builds
    the request's context from them."""

    def __init__(
        self,
        executor: Executor,
        *,
        resources: Callable[[Request], R | None],
        context: Callable[[Request, R], Awaitable[Context]],
        max_body_bytes: int,
        allowlist: dict[str, str] | None,
        graphiql: Callable[[Request], HTMLResponse] | None,
        observe: Callable[[Outcome], None] = lambda outcome: None,
        caller: Callable[[Request, R], str | None] = lambda request, resources: None,
        reporter: ErrorReporter,
        tracing: Tracing | None = None,
        report_cost: bool = True,
    ) -> None:
        self.executor = executor
        self._resources = resources
        self._context = context
        self._max_body_bytes = max_body_bytes
        self._allowlist = allowlist
        self._graphiql = graphiql
        self._observe = observe
        self._caller = caller  # the caller's identity (an HMAC of the token), if any
        self._reporter = reporter
        self._tracing = tracing  # None: off, and nothing of it on the request path
        self._report_cost = report_cost  # extensions.cost in every response

    async def __call__(self, request: Request) -> Response:
        if (
            self._graphiql is not None
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        ):
            return self._graphiql(request)
        if self._tracing is None:
            return await self._serve(request, None)
        trace = self._tracing.request(request)
        status = 500
        try:
            response = await self._serve(request, trace)
            status = response.status_code
            return response
        finally:
            trace.end(status)

    async def _serve(self, request: Request, trace: RequestTrace | None) -> Response:
        try:
            return await self._handle(request, trace)
        except Exception as error:  # a bug: answered in the GraphQL shape, reported once
            self._reporter.report(error)
            outcome = Outcome(INTERNAL_ERROR_BODY, request_error=False, operation="failed")
            self._done(outcome, trace)
            media = negotiate(request.headers.get("accept")) or JSON
            return self._respond(INTERNAL_ERROR_BODY, 500, media)

    def _done(self, outcome: Outcome, trace: RequestTrace | None) -> None:
        self._observe(outcome)
        if trace is not None:
            trace.outcome = outcome

    async def _handle(self, request: Request, trace: RequestTrace | None) -> Response:
        resources = self._resources(request)
        if resources is None:
            raise RuntimeError("/graphql before the app's lifespan has started, or after it")
        media = negotiate(request.headers.get("accept"))
        # The caller's identity (an HMAC): the response cache's key, and its throttle status.
        caller = self._caller(request, resources) if resources.responses is not None else None
        try:
            if media is None:
                raise _HTTPError(406, f"Accept {JSON} or {GRAPHQL_RESPONSE}.", "NOT_ACCEPTABLE")
            params = await self._params(request)
            query = await self._query(params, resources.apq)
            if trace is not None:
                operation = self.executor.operation(query, params.operation_name)
                trace.document(query, operation.node if operation is not None else None)
            responses = resources.responses
            cache_key = self._response_key(caller, resources, query, params)
            if responses is not None and cache_key is not None:
                cached = responses.get(cache_key)
                if cached is not None:
                    self._done(_CACHED, trace)
                    answer = cached.body
                    if self._report_cost:  # no upstream request: its actual cost is 0
                        answer = _spliced(
                            answer, self._cost(request, resources, caller, cached.requested)
                        )
                    return self._respond_bytes(answer, 200, media)
            context = await self._context(request, resources)
            outcome = await self.executor.run(
                query,
                variables=params.variables,
                operation_name=params.operation_name,
                context=context,
                allow_mutations=request.method == "POST",
            )
        except _HTTPError as error:
            body: dict[str, Any] = {
                "errors": [{"message": error.message, "extensions": {"code": error.code}}]
            }
            outcome = Outcome(body, request_error=True)
            self._done(outcome, trace)
            if self._report_cost:  # nothing was estimated, nothing sent
                body["extensions"] = {"cost": self._cost(request, resources, caller)}
            return self._respond(body, error.status, media or JSON, error.headers)
        self._done(outcome, trace)
        if trace is not None:
            trace.lookups = context.collector.sources
        body = outcome.body
        cost = (
            self._cost(request, resources, caller, outcome.requested, outcome.actual)
            if self._report_cost
            else None
        )
        if outcome.forbidden_method:
            return self._respond(_with_cost(body, cost), 405, media, {"Allow": "POST"})
        status = 400 if outcome.request_error and media == GRAPHQL_RESPONSE else 200
        complete = not outcome.request_error and body.keys() == {"data"}
        if responses is not None and cache_key is not None and complete:
            encoded = orjson.dumps(body)  # kept without its cost, which is this request's
            sources = context.collector.sources
            responses.put(cache_key, encoded, sources, requested=outcome.requested)
            if cost is not None:
                encoded = _spliced(encoded, cost)
        else:
            encoded = orjson.dumps(_with_cost(body, cost))
        return self._respond_bytes(encoded, status, media)

    def _cost(
        self,
        request: Request,
        resources: R,
        caller: str | None,
        requested: int = 0,
        actual: int = 0,
    ) -> dict[str, Any]:
        """``extensions.cost``: the estimate and the upstream requests made, in upstream
        requests, and the caller's ``throttleStatus`` when the upstream sent one for it (its
        identity computed here if the response cache did not need it)."""
        cost: dict[str, Any] = {"requestedQueryCost": requested, "actualQueryCost": actual}
        throttle = resources.throttle
        if throttle is not None and len(throttle):
            if caller is None:
                caller = self._caller(request, resources)
            status = throttle.status(caller) if caller is not None else None
            if status is not None:
                cost["throttleStatus"] = status
        return cost

    def _response_key(
        self, caller: str | None, resources: R, query: str, params: _Params
    ) -> tuple[str, ...] | None:
        """The response cache's key for this request, when its answer may be cached."""
        if resources.responses is None:
            return None
        document = self.executor.prepare(query).cache_key
        if caller is None or document is None:
            return None
        return resources.responses.key(caller, document, params.operation_name, params.variables)

    @classmethod
    def _respond(
        cls, body: dict[str, Any], status: int, media: str, headers: dict[str, str] | None = None
    ) -> Response:
        return cls._respond_bytes(orjson.dumps(body), status, media, headers)

    @staticmethod
    def _respond_bytes(
        body: bytes, status: int, media: str, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            body,
            status_code=status,
            media_type=f"{media}; charset=utf-8",
            headers={**_HEADERS, **(headers or {})},
        )

    async def _params(self, request: Request) -> _Params:
        if request.method == "GET":
            args = request.query_params
            return _Params(
                args.get("query"),
                args.get("operationName") or None,
                _map_or_none(_json_param(args.get("variables"), "variables"), "variables"),
                _map_or_none(_json_param(args.get("extensions"), "extensions"), "extensions"),
            )
        if request.method != "POST":
            raise _HTTPError(405, "Use GET or POST.", "METHOD_NOT_ALLOWED", {"Allow": "GET, POST"})
        media, *parameters = (
            p.strip().lower() for p in request.headers.get("content-type", "").split(";")
        )
        charset = next(
            (p.split("=", 1)[1] for p in parameters if p.startswith("charset=")), "utf-8"
        )
        if media != JSON or charset.strip('"') not in ("utf-8", "utf8"):
            raise _HTTPError(415, "POST a UTF-8 application/json body.", "UNSUPPORTED_MEDIA_TYPE")
        body = await self._body(request)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _HTTPError(400, "The body is not valid JSON.", "BAD_REQUEST") from None
        if not isinstance(data, dict):
            raise _HTTPError(400, "The body must be a JSON object.", "BAD_REQUEST")
        return _Params(
            _string_or_none(data.get("query"), "query"),
            _string_or_none(data.get("operationName"), "operationName"),
            _map_or_none(data.get("variables"), "variables"),
            _map_or_none(data.get("extensions"), "extensions"),
        )

    async def _body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        too_large = _HTTPError(
            413, f"The body is larger than {self._max_body_bytes} bytes.", "REQUEST_TOO_LARGE"
        )
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self._max_body_bytes:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            # Gone before its body arrived: nobody reads the answer; 499 (nginx's "client
            # closed request") tells the access log and the metrics why. Not an error of ours.
            raise _HTTPError(
                499, "The client closed the connection before its body arrived.", "BAD_REQUEST"
            ) from None
        return b"".join(chunks)

    async def _query(self, params: _Params, apq: AutomaticPersistedQueries | None) -> str:
        """The query text: sent, persisted (APQ), or from the allow-list."""
        query = params.query
        persisted = (params.extensions or {}).get("persistedQuery")
        if persisted is not None:
            digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
            if not isinstance(digest, str) or persisted.get("version", 1) != 1:
                raise _HTTPError(400, "Unsupported persistedQuery extension.", "BAD_REQUEST")
            if query is not None:
                if sha256(query) != digest:
                    raise _HTTPError(400, "provided sha does not match query", "BAD_REQUEST")
                if apq is not None:
                    await apq.put(digest, query)
            elif self._allowlist is not None and digest in self._allowlist:
                query = self._allowlist[digest]
            elif apq is None:
                raise _HTTPError(200, "PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")
            else:
                query = await apq.get(digest)
                if query is None:
                    raise _HTTPError(200, "PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
        if query is None or not query.strip():
            raise _HTTPError(400, "Send a `query` (or a persisted query's hash).", "BAD_REQUEST")
        if self._allowlist is not None and sha256(query) not in self._allowlist:
            raise _HTTPError(
                400, "This operation is not in the allow-list.", "PERSISTED_QUERY_NOT_IN_LIST"
            )
        return query


def _with_cost(body: dict[str, Any], cost: dict[str, Any] | None) -> dict[str, Any]:
    """``body`` with ``extensions.cost`` beside its other extensions (a new dict: the body may
    be shared)."""
    if cost is None:
        return body
    return {**body, "extensions": {**body.get("extensions", {}), "cost": cost}}


def _spliced(body: bytes, cost: dict[str, Any]) -> bytes:
    """``body``, a JSON object without ``extensions`` (the response cache keeps only
    ``{"data": ...}``), with ``extensions.cost`` written into its bytes: one copy, no parse."""
    return b"".join((memoryview(body)[:-1], b',"extensions":{"cost":', orjson.dumps(cost), b"}}"))

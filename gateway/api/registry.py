"""Route registry: one declaration per endpoint gives the aiohttp route, its roles and its OpenAPI entry.

Because the OpenAPI document is generated from the same declarations the server routes with, the
document cannot drift from the implementation; a test also checks both directions.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.api.keys import MAX_BODY, ROUTES
from gateway.errors import BadRequest, PayloadTooLarge
from gateway.jsonbody import json_object

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One endpoint."""

    method: str
    path: str
    handler: Handler
    roles: frozenset[str] | None
    summary: str
    tag: str
    body: dict[str, Any] | None = None
    query: tuple[dict[str, Any], ...] = ()
    ok: int = 200
    response: dict[str, Any] | None = None
    idempotent: bool = False
    demo_only: bool = False
    content_type: str = "application/json"
    in_openapi: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class Api:
    """Collects routes; components add theirs with :meth:`route`."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(self, method: str, path: str, *, roles: frozenset[str] | None, summary: str, tag: str,
              body: dict[str, Any] | None = None, query: tuple[dict[str, Any], ...] = (), ok: int = 200,
              response: dict[str, Any] | None = None, idempotent: bool = False, demo_only: bool = False,
              content_type: str = "application/json", in_openapi: bool = True) -> Callable[[Handler], Handler]:
        """Decorator registering ``handler`` for ``method path``."""

        def deco(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, roles, summary, tag, body, query, ok, response,
                                     idempotent, demo_only, content_type, in_openapi))
            return handler

        return deco


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response with compact, UTF-8 output."""
    return web.Response(text=json.dumps(data, ensure_ascii=False, separators=(",", ":")), status=status,
                        content_type="application/json")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400/413 problems otherwise."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(f"request body exceeds {request.app[MAX_BODY]} bytes") from None
    if not raw:
        raise BadRequest("request body must be a JSON object")
    doc = json_object(raw)
    # Fields the route's schema does not know are refused, never ignored: a client sending e.g.
    # "discount" at checkout must not believe it was applied.
    route = request.app[ROUTES].get(request.match_info.route.handler) if ROUTES in request.app else None
    schema = route.body if route is not None else None
    if schema is not None and schema.get("additionalProperties") is False:
        unknown = set(doc) - set(schema.get("properties", {}))
        if unknown:
            raise BadRequest(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    return doc


def int_param(request: web.Request, name: str, lo: int = 0, hi: int = 2**62) -> int:
    """A path or query integer within bounds."""
    raw = request.match_info.get(name, request.query.get(name))
    try:
        v = int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise BadRequest(f"{name} must be an integer {lo}..{hi}", field=name)
    return v

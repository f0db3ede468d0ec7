"""Typed application keys shared by the HTTP handlers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from gateway.api.registry import Route
    from gateway.app import Gateway

GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
MAX_BODY: web.AppKey[int] = web.AppKey("max_body_key")
CLIENT: web.RequestKey[Any] = web.RequestKey("client")
ROUTES: web.AppKey[dict[Any, Route]] = web.AppKey("routes")  # handler -> its route (auth, body schema, OpenAPI)


def gw(request: web.Request) -> Gateway:
    """The gateway behind a request."""
    return request.app[GATEWAY]


def client_name(request: web.Request) -> str:
    """Name of the authenticated client."""
    c: Any = request.get(CLIENT)
    return str(c.name) if c is not None else "anonymous"

"""aiohttp application factory: routing from the registries, auth by role, problem+json errors, limits."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway.api import pos, system
from gateway.api.keys import CLIENT, GATEWAY, MAX_BODY, ROUTES
from gateway.api.registry import Api, Handler, Route
from gateway.errors import BadRequest, Forbidden, GatewayError, NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(err: GatewayError) -> web.Response:
    """An RFC 9457 problem document."""
    headers = {"WWW-Authenticate": 'Bearer realm="storegw"'} if err.status == 401 else None
    return web.Response(status=err.status, text=json.dumps(err.problem(), ensure_ascii=False), content_type=PROBLEM_JSON,
                        headers=headers)


def _http_problem(exc: web.HTTPException) -> GatewayError:
    if exc.status == 404:
        return NotFound("no such resource")
    if exc.status == 413:
        return PayloadTooLarge("request body too large")
    err = GatewayError(exc.reason)
    err.status, err.title = exc.status, exc.reason
    err.type = {405: "method-not-allowed", 400: "bad-request"}.get(exc.status, "http-error")
    return err


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into problem+json; unexpected ones are logged and answered 500."""
    try:
        return await handler(request)
    except GatewayError as err:
        if err.status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, err.detail)
        return problem_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_http_problem(exc))
    except (ValueError, UnicodeError) as exc:
        return problem_response(BadRequest(f"bad request: {exc}"))
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return problem_response(GatewayError("internal error; see the gateway log"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the bearer token and the route's roles."""
    g = request.app[GATEWAY]
    route = request.app[ROUTES].get(request.match_info.route.handler)
    roles = route.roles if route is not None else None
    if roles is None:
        request[CLIENT] = None
        return await handler(request)
    auth = request.headers.get("Authorization", "")
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    if token is None and request.path == "/api/v1/events":
        token = request.query.get("token")  # browsers cannot set headers on a WebSocket
    client = g.clients.authenticate(token)
    if client.role not in roles:
        raise Forbidden(f"role {client.role} may not {request.method} {request.path}", role=client.role)
    request[CLIENT] = client
    g.metrics["http_authenticated"] += 1
    return await handler(request)


@web.middleware
async def count_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count responses by status class for /metrics."""
    resp = await handler(request)
    g = request.app[GATEWAY]
    key = f"http_{resp.status // 100}xx"
    g.metrics[key] = g.metrics.get(key, 0) + 1
    return resp


STATUS_PATHS = ("/", "/api/v1/status")
STATUS_ROLES = frozenset({"technician", "manager", "admin"})


def all_routes(gateway: Gateway) -> list[Route]:
    """Core routes plus the components' routes, without demo routes outside demo mode.

    With ``[http] status_public = false`` the status page and its API need a technician, manager
    or admin token; the routes say so themselves, so the middleware and OpenAPI agree.
    """
    apis: list[Api] = [system.api, pos.api, *gateway.extra_apis]
    routes = [r for a in apis for r in a.routes if gateway.demo or not r.demo_only]
    if not gateway.config.http.status_public:
        routes = [dataclasses.replace(r, roles=STATUS_ROLES) if r.path in STATUS_PATHS and r.roles is None else r
                  for r in routes]
    return routes


def build_app(gateway: Gateway) -> web.Application:
    """The aiohttp application for a gateway (tests call this directly)."""
    max_body = gateway.config.http.max_body_bytes
    app = web.Application(middlewares=[count_middleware, errors_middleware, auth_middleware], client_max_size=max_body)
    app[GATEWAY] = gateway
    app[MAX_BODY] = max_body
    routes = all_routes(gateway)
    by_handler: dict[Any, Route] = {r.handler: r for r in routes}
    app[ROUTES] = by_handler
    for r in routes:
        app.router.add_route(r.method, r.path, r.handler)
    return app

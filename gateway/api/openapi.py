"""OpenAPI 3.1 document generated from the route registry (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.api import schemas as S
from gateway.api.keys import ROUTES

PARAM_RE = re.compile(r"{(\w+)}")


def build_openapi(app: web.Application) -> dict[str, Any]:
    """The document for the routes this app serves."""
    paths: dict[str, dict[str, Any]] = {}
    for route in app[ROUTES].values():
        if not route.in_openapi:
            continue
        op: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "tags": [route.tag],
            "responses": _responses(route),
        }
        params = [dict(p) for p in route.query]
        named = {p["name"] for p in params}
        for name in PARAM_RE.findall(route.path):
            if name not in named:
                params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        if route.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                           "description": "Unique per operation; a retry with the same key returns the first result",
                           "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"}})
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
        if route.roles is not None:
            op["security"] = [{"bearer": []}]
            op["x-roles"] = sorted(route.roles)
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "storegw API", "version": __version__,
                 "description": "Store gateway: sales, receipts, devices and diagnostics. Money is integer cents."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Problem": S.PROBLEM},
        },
    }


def _responses(route: Any) -> dict[str, Any]:
    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    ok: dict[str, Any] = {"description": "Success"}
    if route.content_type == "application/json":
        ok["content"] = {"application/json": {"schema": route.response or {"type": "object"}}}
    elif route.content_type == "text/plain":
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif route.content_type == "text/html":
        ok["content"] = {"text/html": {"schema": {"type": "string"}}}
    out: dict[str, Any] = {str(route.ok): ok}
    if route.path == "/api/v1/events":
        out = {"101": {"description": "Switching to WebSocket"}}
    out["400"] = {"description": "Malformed request", **problem}
    if route.roles is not None:
        out["401"] = {"description": "Missing or unknown token", **problem}
        out["403"] = {"description": "Role not allowed", **problem}
    out["404"] = {"description": "Not found", **problem}
    if route.body is not None:
        out["409"] = {"description": "Conflicts with the current state", **problem}
        out["413"] = {"description": "Body too large", **problem}
    out["503"] = {"description": "A device, the TSE or another dependency is unavailable", **problem}
    return out

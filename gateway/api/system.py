"""Operations over HTTP: health, metrics, status, OpenAPI, ledger checks, clients, live events, demo scan."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from aiohttp import WSMsgType, web

from gateway.api import schemas as S
from gateway.api.keys import CLIENT, gw
from gateway.api.registry import Api, json_response, read_json
from gateway.auth import ADMIN, ANY, SELL, TECH
from gateway.errors import BadRequest, NotFound

api = Api()
STATIC = Path(__file__).parent / "static"


@api.route("GET", "/healthz", roles=None, summary="Liveness/readiness probe", tag="system")
async def healthz(request: web.Request) -> web.StreamResponse:
    """200 when the ledger is open and the loop answers."""
    g = gw(request)
    return json_response({"status": "ok", "version": g.version, "last_seq": g.ledger.last_seq})


@api.route("GET", "/metrics", roles=None, summary="Prometheus metrics", tag="system", content_type="text/plain")
async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text exposition format 0.0.4."""
    return web.Response(text=gw(request).metrics_text(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


@api.route("GET", "/", roles=None, summary="Status page (HTML)", tag="system", content_type="text/html")
async def status_page(request: web.Request) -> web.StreamResponse:
    """The technician's status page; it polls /api/v1/status."""
    return web.FileResponse(STATIC / "status.html", headers={"Cache-Control": "no-store"})


@api.route("GET", "/static/{name}", roles=None, summary="Status page assets", tag="system", in_openapi=False)
async def static_file(request: web.Request) -> web.StreamResponse:
    """CSS and JS of the status page."""
    name = request.match_info["name"]
    if name not in ("status.js", "status.css"):
        raise NotFound("no such asset")
    return web.FileResponse(STATIC / name)


@api.route("GET", "/api/v1/status", roles=None, summary="Gateway status (devices, links, ledger, errors)", tag="system")
async def status(request: web.Request) -> web.StreamResponse:
    """Everything the status page shows."""
    return json_response(gw(request).status())


@api.route("GET", "/api/v1/openapi.json", roles=None, summary="This OpenAPI document", tag="system")
async def openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI 3.1 document generated from the route registry."""
    from gateway.api.openapi import build_openapi

    return json_response(build_openapi(request.app))


@api.route("GET", "/api/v1/whoami", roles=ANY, summary="The calling client and its role", tag="system")
async def whoami(request: web.Request) -> web.StreamResponse:
    """Name and role of the token."""
    return json_response(request[CLIENT].to_dict())


@api.route("GET", "/api/v1/ledger/stats", roles=TECH, summary="Ledger statistics", tag="ledger")
async def ledger_stats(request: web.Request) -> web.StreamResponse:
    """Size, head, counts by type."""
    return json_response(gw(request).ledger.stats())


@api.route("POST", "/api/v1/ledger/verify", roles=TECH, summary="Verify the journal hash chain now", tag="ledger")
async def ledger_verify(request: web.Request) -> web.StreamResponse:
    """Runs in an executor; returns the result."""
    ledger = gw(request).ledger
    result = await asyncio.get_running_loop().run_in_executor(None, ledger.verify)
    return json_response(result.to_dict())


@api.route("GET", "/api/v1/devices", roles=SELL | TECH, summary="Devices known to the gateway", tag="devices")
async def devices(request: web.Request) -> web.StreamResponse:
    """Devices with state and role."""
    return json_response({"devices": gw(request).devices()})


@api.route("GET", "/api/v1/clients", roles=ADMIN, summary="List API clients", tag="admin")
async def list_clients(request: web.Request) -> web.StreamResponse:
    """Clients without secrets."""
    return json_response({"clients": gw(request).clients.list()})


@api.route("POST", "/api/v1/clients", roles=ADMIN, summary="Create a client; the token is returned once", tag="admin",
           body=S.CLIENT_IN, ok=201)
async def add_client(request: web.Request) -> web.StreamResponse:
    """New client with a role."""
    b = await read_json(request)
    name, role = b.get("name"), b.get("role")
    if not isinstance(name, str) or not isinstance(role, str):
        raise BadRequest("name and role must be strings")
    token = gw(request).clients.add(name, role)
    return json_response({"name": name, "role": role, "token": token}, 201)


@api.route("DELETE", "/api/v1/clients/{name}", roles=ADMIN, summary="Revoke a client", tag="admin",
           query=({"name": "name", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}},))
async def revoke_client(request: web.Request) -> web.StreamResponse:
    """Revoke a client's token."""
    gw(request).clients.revoke(request.match_info["name"])
    return json_response({"revoked": request.match_info["name"]})


@api.route("POST", "/api/v1/demo/scan", roles=SELL | TECH, summary="Inject a barcode as if scanned (demo mode only)",
           tag="demo", body=S.SCAN_IN, demo_only=True)
async def demo_scan(request: web.Request) -> web.StreamResponse:
    """Publish a scan event from the demo scanner."""
    b = await read_json(request)
    code = b.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= 64 or not code.isprintable():
        raise BadRequest("code must be 1-64 printable characters", field="code")
    dev = b.get("device", "scanner-demo")
    if not isinstance(dev, str) or not dev:
        raise BadRequest("device must be a string", field="device")
    sims = gw(request).components.get("simulators")
    if sims is not None and getattr(sims, "scanner", None) is not None and dev == "scanner-demo":
        # Through the simulated serial scanner: pty -> scanner driver -> bus, like a real scan.
        event = await getattr(sims, "scan")(code)  # noqa: B009 - the demo component, not a protocol member
    else:
        event = gw(request).inject_scan(dev, code)
    return json_response({"event_id": event.event_id, "topic": event.topic, "data": event.data})


@api.route("GET", "/api/v1/events", roles=ANY, summary="WebSocket of live events with replay from a journal seq",
           tag="events", query=({"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},))
async def events(request: web.Request) -> web.StreamResponse:
    """Replays journal entries after ``since``, then streams ledger and device events live."""
    raw_since = request.query.get("since")
    since: int | None = None
    if raw_since is not None:
        if not raw_since.isdigit():
            raise BadRequest("since must be a non-negative integer", field="since")
        since = int(raw_since)
    g = gw(request)
    ws = web.WebSocketResponse(heartbeat=20)
    if not ws.can_prepare(request).ok:
        raise BadRequest("this endpoint needs a WebSocket upgrade")
    await ws.prepare(request)
    sub = g.bus.subscribe("#", maxsize=5000)
    sent_seq = 0
    try:
        if since is not None:
            after = since
            while True:
                batch = g.ledger.entries_since(after, 500)
                for e in batch:
                    await ws.send_str(json.dumps({"kind": "ledger", "replay": True, **e.to_dict()}, ensure_ascii=False))
                    after = sent_seq = e.seq
                if len(batch) < 500:
                    break
        reader = asyncio.create_task(_drain_incoming(ws))
        try:
            while not ws.closed:
                get = asyncio.create_task(sub.get())
                done, _ = await asyncio.wait({get, reader}, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    get.cancel()
                    break
                ev = get.result()
                if ev.seq is not None:
                    if ev.seq <= sent_seq:
                        continue
                    sent_seq = ev.seq
                    msg = {"kind": "ledger", **ev.data}
                else:
                    msg = {"kind": "event", "topic": ev.topic, "event_id": ev.event_id, "ts": ev.ts, "data": ev.data}
                await ws.send_str(json.dumps(msg, ensure_ascii=False))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    finally:
        sub.close()
        await ws.close()
    return ws


async def _drain_incoming(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
            break

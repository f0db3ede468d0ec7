"""Device endpoints: one device's status and its commands (print, open drawer, read weight, …)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from gateway.api.keys import client_name, gw
from gateway.api.registry import Api, json_response, read_json
from gateway.auth import SELL, TECH
from gateway.errors import BadRequest, Unavailable
from gateway.idempotency import IdemKey

if TYPE_CHECKING:
    from gateway.devices.manager import DeviceManager

api = Api()
DEV = {"name": "dev_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
ACTION = {"name": "action", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


def manager(request: web.Request) -> DeviceManager:
    """The device manager, or 503 when devices are disabled."""
    m = gw(request).components.get("devices")
    if m is None:
        raise Unavailable("the device manager is not running")
    return m  # type: ignore[return-value]


@api.route("GET", "/api/v1/devices/{dev_id}", roles=SELL | TECH, summary="One device with state", tag="devices", query=(DEV,))
async def get_device(request: web.Request) -> web.StreamResponse:
    """A device by id or role."""
    return json_response(manager(request).get(request.match_info["dev_id"]).to_dict())


@api.route("POST", "/api/v1/devices/{dev_id}/commands/{action}", roles=SELL | TECH, summary="Run a device command",
           tag="devices", query=(DEV, ACTION), body={"type": "object"})
async def device_command(request: web.Request) -> web.StreamResponse:
    """Run ``action`` with the JSON body as parameters; print and drawer actions need an Idempotency-Key."""
    m = manager(request)
    dev = m.get(request.match_info["dev_id"])
    action = request.match_info["action"]
    params = await read_json(request) if request.can_read_body else {}
    idem = None
    if action in dev.adapter.idempotent_actions:
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise BadRequest(f"{action} has an effect: send an Idempotency-Key header", field="Idempotency-Key")
        idem = IdemKey.make(key, client_name(request), f"device:{dev.id}:{action}", params)
    return json_response(await m.command(dev.id, action, params, idem))

"""Card terminal endpoints: abort the payment in progress, terminal state, registration."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.keys import gw
from gateway.api.registry import Api, json_response
from gateway.auth import SELL, TECH
from gateway.errors import Unavailable

api = Api()


def _card(request: web.Request) -> Any:
    card = gw(request).components.get("card")
    if card is None:
        raise Unavailable("no card terminal configured")
    return card


@api.route("POST", "/api/v1/payments/card/abort", roles=SELL, summary="Abort the card payment in progress", tag="payments")
async def abort(request: web.Request) -> web.StreamResponse:
    """Sends 06 B0 to the terminal; the waiting sale then fails with the terminal's abort."""
    return json_response({"aborted": await _card(request).abort()})


@api.route("GET", "/api/v1/payments/card", roles=SELL | TECH, summary="Card terminal state", tag="payments")
async def state(request: web.Request) -> web.StreamResponse:
    """Terminal id, registration, counters, pending intents."""
    return json_response(_card(request).status())


@api.route("POST", "/api/v1/payments/card/register", roles=TECH, summary="Register at the card terminal again", tag="payments")
async def register(request: web.Request) -> web.StreamResponse:
    """Registration (06 00), e.g. after the terminal was swapped."""
    return json_response(await _card(request).register())

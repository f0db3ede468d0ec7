"""The commands the gateway answers over MQTT, bound to its services and devices.

Device commands (``gateway/device/{dev}/cmd/{action}``) go through the device manager, so they
are serialised per device exactly like HTTP commands; money, print and drawer commands are
``persist``ed so a retried ``request_id`` never repeats the effect. Gateway commands cover the
selling path: open a cart, add a line, check out (long-running: the card terminal's progress is
streamed as ``progress`` replies), a one-shot sale, the X report.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from gateway.auth import MANAGE, SELL, TECH
from gateway.idempotency import IdemKey
from gateway.mqtt.commands import CommandContext, CommandRegistry, Param
from gateway.pos.reports import x_report


def _opt(name: str, kind: str = "str", **bounds: Any) -> Param:
    return Param(name, kind, required=False, **bounds)


# action: (persist — has an effect that must not repeat, parameters)
DEVICE_ACTIONS: dict[str, tuple[bool, list[Param]]] = {
    "receipt": (True, [Param("receipt_no", "int", min=1), _opt("wait", "bool")]),
    "print": (True, [Param("lines", "list", max_len=200), _opt("title", max_len=64), _opt("wait", "bool")]),
    "test_page": (True, []),
    "reprint": (True, [Param("job_id", max_len=128), _opt("copy_id", max_len=128)]),
    "open_drawer": (True, [_opt("immediate", "bool")]),
    "status": (False, []),
    "read_weight": (False, [_opt("immediate", "bool")]),
    "zero": (False, []), "tare": (False, []), "clear_tare": (False, []),
    "show": (False, [Param("lines", "list", max_len=2)]),
    "clear": (False, []), "thanks": (False, []),
    "item": (False, [Param("name", max_len=64), Param("price", "int", min=-10**9, max=10**9), _opt("total", "int", min=-10**9, max=10**9)]),
    "total": (False, [Param("total", "int", min=-10**9, max=10**9)]),
}


def register_commands(registry: CommandRegistry, gw: Any) -> None:
    """Register device and gateway commands on ``registry``."""
    for action, (persist, params) in DEVICE_ACTIONS.items():
        registry.register("*", action, _device_handler(gw, action), roles=SELL | TECH, persist=persist, params=params,
                          description=f"device command {action}; arguments as for HTTP")

    async def cart_open(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return await gw.carts.open(ctx.client_id)

    async def cart_add(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return await gw.carts.add_line(args["cart_id"], args["code"], args.get("qty"), args.get("weight_g"),
                                       str(args.get("weight_source") or ""))

    def idem(ctx: CommandContext, scope: str, args: dict[str, Any]) -> IdemKey | None:
        # The sale's own idempotency record (stored with the receipt) and the card payment's
        # reference both come from the request id, as over HTTP with an Idempotency-Key.
        return IdemKey.make(ctx.request_id, ctx.client_id, f"mqtt:{scope}", args) if ctx.request_id else None

    async def cart_checkout(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return await _with_progress(gw, ctx, gw.sales.finish(cashier=ctx.client_id, cart_id=args["cart_id"],
                                                              payments=args["payments"], idem=idem(ctx, "checkout", args)))

    async def sale(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return await _with_progress(gw, ctx, gw.sales.finish(cashier=ctx.client_id, lines=args["lines"],
                                                              payments=args["payments"], idem=idem(ctx, "sale", args)))

    async def report(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        return x_report(gw.ledger)

    registry.register("gateway", "cart.open", cart_open, roles=SELL, description="open a cart")
    registry.register("gateway", "cart.add_line", cart_add, roles=SELL, params=[
        Param("cart_id", max_len=64), Param("code", max_len=64), Param("qty", "int", required=False, min=1, max=9999),
        Param("weight_g", "int", required=False, min=1, max=100000), Param("weight_source", required=False, max_len=16)],
        description="add a product by code")
    registry.register("gateway", "cart.checkout", cart_checkout, roles=SELL, persist=True, long_running=True, self_idempotent=True, params=[
        Param("cart_id", max_len=64), Param("payments", "list", max_len=20)],
        description="pay and finish a cart; card terminal progress is streamed")
    registry.register("gateway", "sale", sale, roles=SELL, persist=True, long_running=True, self_idempotent=True, params=[
        Param("lines", "list", max_len=500), Param("payments", "list", max_len=20)], description="one-shot sale")
    registry.register("gateway", "report.x", report, roles=MANAGE, description="X report")


def _device_handler(gw: Any, action: str) -> Any:
    async def handler(args: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        mgr = gw.components.get("devices")
        from gateway.errors import Unavailable

        if mgr is None:
            raise Unavailable("no device manager")
        dev = mgr.get(ctx.target)
        if action == "receipt" and "receipt_no" in args and "receipt" not in args:
            args = {**args, "receipt": gw.sales.receipt(int(args["receipt_no"]))}
        return dict(await dev.run(action, args))

    return handler


async def _with_progress(gw: Any, ctx: CommandContext, work: Any) -> dict[str, Any]:
    """Run ``work`` while forwarding card terminal progress events to the requester."""
    sub = gw.bus.subscribe("device.*.evt.progress", maxsize=100)
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            get = asyncio.ensure_future(sub.get())
            done, _ = await asyncio.wait({task, get}, return_when=asyncio.FIRST_COMPLETED)
            if get in done:
                with contextlib.suppress(Exception):
                    await ctx.progress({"terminal": get.result().data})
            else:
                get.cancel()
        return dict(task.result())
    finally:
        sub.close()
        if not task.done():
            task.cancel()

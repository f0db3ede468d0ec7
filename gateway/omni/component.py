"""The omnichannel component: builds the services, wires them into the sale path and runs the timers.

Wiring done by :meth:`OmniComponent.attach` (before the ledger opens): the projections, the
customers table, the ``voucher`` payment method, the sale commit hooks (reservation conversion,
vouchers, loyalty, the till's stock check and ATP) and the promotion line hook. Background work:
at start and then every ``expiry_check_interval_s`` expired reservations and uncollected orders
are released (so deadlines passed while the gateway was down are caught up) and unconfirmed
offline voucher and loyalty changes are reconciled with HQ; every ``atp_snapshot_interval_s`` a
full ATP snapshot is journaled. HQ request/reply is bound with :meth:`OmniComponent.bind_hq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from gateway.errors import Conflict
from gateway.ledger import Txn
from gateway.omni.config import OmniConfig
from gateway.omni.customers import CustomerService
from gateway.omni.hq import CallableHq, Responder
from gateway.omni.loyalty import LoyaltyProjection, LoyaltyService
from gateway.omni.orders import OrderService, OrdersProjection
from gateway.omni.promotions import PromotionService, PromotionsProjection
from gateway.omni.returns import ReturnService
from gateway.omni.stock import StockLevelsProjection, StockService, free_qty, is_tracked
from gateway.omni.vouchers import VoucherService, VouchersProjection

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger(__name__)


def omni_projections() -> list[Any]:
    """The projections of the omnichannel services (after the core ones)."""
    return [StockLevelsProjection(), OrdersProjection(), VouchersProjection(), LoyaltyProjection(), PromotionsProjection()]


class OmniComponent:
    """Stock, orders, reservations, returns, vouchers, loyalty, promotions and customers of one store."""

    name = "omni"

    def __init__(self, gw: Gateway, cfg: OmniConfig | None = None, hq: Responder | None = None) -> None:
        if gw.opened:
            raise RuntimeError("build the omni component before the ledger opens (it adds projections and migrations)")
        self.gw = gw
        self.cfg = cfg or gw.config.get(OmniConfig)
        self.hq = CallableHq(hq, self.cfg.hq_timeout_s)
        led = gw.ledger
        self.stock = StockService(led, gw.config.store.id, self.cfg.online_buffer_milli, gw.idem)
        self.orders = OrderService(led, self.stock, gw.sales, self.cfg)
        self.vouchers = VoucherService(led, gw.sales, self.hq, self.cfg)
        self.loyalty = LoyaltyService(led, self.hq, self.cfg)
        self.promotions = PromotionService(led)
        self.returns = ReturnService(led, gw.sales, self.stock, self.hq, self.cfg)
        self.customers = CustomerService(led)
        self._task: asyncio.Task[None] | None = None
        self.last_run: dict[str, Any] = {}
        for proj in omni_projections():
            led.add_projection(proj)
        gw.payments.register(self.vouchers)
        sales = gw.sales
        # Order matters: the reservation must convert before the stock check counts its hold.
        sales.commit_hooks.extend([self.orders.on_receipt, self.vouchers.on_receipt, self.loyalty.on_receipt, self.on_receipt])
        sales.line_hooks.append(self.promotions.line_hook)

    def bind_hq(self, responder: Responder | None) -> None:
        """Use ``responder(op, body)`` for HQ look-ups (``None``: behave as offline)."""
        self.hq.fn = responder

    def on_receipt(self, txn: Txn, type_: str, receipt: dict[str, Any]) -> None:
        """Commit hook: refuse a till sale that would take held or non-existent stock; journal ATP of what moved."""
        if receipt.get("training"):
            return
        codes = sorted(c for c in {ln["code"] for ln in receipt.get("lines", ()) if not ln.get("voided")} if is_tracked(txn.conn, c))
        if type_ == "sale.finished":
            short = [c for c in codes if free_qty(txn.conn, c) < 0]
            if short and self.cfg.till_stock_check == "enforce":
                raise Conflict(f"product {short[0]} is not available: its stock is held for orders or reservations, "
                               "or the stock level is wrong (count it)", codes=short)
            if short:
                log.warning("sale %s took held or missing stock of %s", receipt["receipt_no"], ", ".join(short))
        self.stock.done(txn, codes)

    async def run_due(self) -> dict[str, Any]:
        """One round of the timers: expiry, reconciliation with HQ."""
        out: dict[str, Any] = {"expired": await self.orders.expire_due()}
        if self.gw.ledger.query_one("SELECT COUNT(*) FROM omni_voucher_pending"):
            out["vouchers"] = await self.vouchers.reconcile()
        if self.gw.ledger.query_one("SELECT COUNT(*) FROM omni_loyalty_pending"):
            out["loyalty"] = await self.loyalty.reconcile()
        self.last_run = out
        return out

    async def start(self) -> None:
        """Catch up on deadlines that passed while stopped, then run the timers."""
        await self.run_due()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        next_snapshot = time.monotonic() + self.cfg.atp_snapshot_interval_s if self.cfg.atp_snapshot_interval_s else float("inf")
        while True:
            await asyncio.sleep(self.cfg.expiry_check_interval_s)
            try:
                await self.run_due()
                if time.monotonic() >= next_snapshot:
                    await self.stock.snapshot()
                    next_snapshot = time.monotonic() + self.cfg.atp_snapshot_interval_s
            except Exception:
                log.exception("omnichannel timer round failed")

    async def stop(self) -> None:
        """Stop the timers."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def status(self) -> dict[str, Any]:
        """Counts for the status page."""
        q = self.gw.ledger.query_one
        return {
            "state": "ok",
            "hq_bound": self.hq.fn is not None,
            "open_orders": q("SELECT COUNT(*) FROM omni_orders WHERE state IN ('open', 'picked', 'partially_collected')"),
            "held_reservations": q("SELECT COUNT(*) FROM omni_reservations WHERE state='held'"),
            "unconfirmed_voucher_redemptions": q("SELECT COUNT(*) FROM omni_voucher_pending"),
            "unconfirmed_loyalty_changes": q("SELECT COUNT(*) FROM omni_loyalty_pending"),
            "last_run": self.last_run,
        }

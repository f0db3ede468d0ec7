"""What the store does with HQ's messages: one ``apply_<type>(txn, message)`` per schema, run in the inbound transaction.

The HQ link validates each message against its schema, records it and calls the handlers
registered with :func:`register_inbound` inside ONE transaction; a redelivered message never
reaches them twice. Each applier journals its own effect (``order.received``,
``reservation.created``, ``stock.adjusted`` …) so the projections rebuild from the journal alone.
Price lists are applied by the HQ link's own price scheduler (effective times).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from gateway.ledger import Txn
from gateway.omni.stock import parse_lines
from gateway.pos.catalog import Catalog, validate_product

if TYPE_CHECKING:
    from gateway.omni.component import OmniComponent


class Registry(Protocol):
    """The part of the HQ link's ``InboundHandlers`` used here."""

    def register(self, type_: str, fn: Any) -> None:
        """Call ``fn(txn, message)`` for messages of ``type_``."""


class OmniInbound:
    """The appliers, bound to the omnichannel services."""

    def __init__(self, omni: OmniComponent) -> None:
        self.omni = omni

    def apply_order(self, txn: Txn, message: dict[str, Any]) -> None:
        """A click & collect order (paid online) to hold for pickup, or its cancellation."""
        self.omni.orders.receive_order(txn, message)

    def apply_reservation(self, txn: Txn, message: dict[str, Any]) -> None:
        """A reserve & collect hold until ``expires_at``, or its release."""
        self.omni.orders.receive_reservation(txn, message)

    def apply_stock_adjustment(self, txn: Txn, message: dict[str, Any]) -> None:
        """A stock correction decided at HQ (once per ``adjustment_id``)."""
        ref = f"hq:{message['adjustment_id']}"
        if txn.one("SELECT 1 FROM journal WHERE type='stock.adjusted' AND json_extract(payload, '$.ref')=?", (ref,)):
            return
        raw = [{"code": ln["code"], "qty": ln["qty_delta"]} for ln in message["lines"]]
        self.omni.stock.adjust_in(txn, parse_lines(txn.conn, raw, signed=True), message["reason"], ref)

    def apply_stock_transfer(self, txn: Txn, message: dict[str, Any]) -> None:
        """Goods announced or shipped to this store (in transit), or a cancelled transfer."""
        me = self.omni.stock.store_id
        tid = message["transfer_id"]
        if message["to_store"] != me:
            return
        if message["status"] == "cancelled":
            if txn.one("SELECT 1 FROM omni_transit WHERE transfer_id=?", (tid,)):
                codes = [r[0] for r in txn.execute("SELECT code FROM omni_transit WHERE transfer_id=?", (tid,)).fetchall()]
                txn.append("transfer.cancelled", f"transfer:{tid}", {"transfer_id": tid})
                self.omni.stock.done(txn, codes)
            return
        self.omni.stock.announce_in(txn, tid, message["from_store"], parse_lines(txn.conn, message["lines"]))

    def apply_loyalty(self, txn: Txn, message: dict[str, Any]) -> None:
        """HQ's authoritative balance of a loyalty account."""
        self.omni.loyalty.apply_hq(txn, message)

    def apply_voucher(self, txn: Txn, message: dict[str, Any]) -> None:
        """A voucher issued elsewhere, its balance, or its cancellation."""
        self.omni.vouchers.apply_hq(txn, message)

    def apply_promotion(self, txn: Txn, message: dict[str, Any]) -> None:
        """A promotion to apply at the till within its time window."""
        self.omni.promotions.apply_hq(txn, message)

    def apply_product(self, txn: Txn, message: dict[str, Any]) -> None:
        """Products (master data) from HQ: upserted into the catalog with one summarising journal entry."""
        products = [validate_product(dict(p, group=p.get("group", ""))) for p in message["products"] if p.get("active", True)]
        Catalog.upsert(txn, products)
        txn.append("catalog.imported", "catalog", {"source": "hq", "products": len(products), "rejected": 0})


HANDLED = ("order", "reservation", "stock_adjustment", "stock_transfer", "loyalty", "voucher", "promotion", "product")


def register_inbound(handlers: Registry, omni: OmniComponent) -> None:
    """Register every applier with the HQ link's handler registry."""
    inbound = OmniInbound(omni)
    for t in HANDLED:
        handlers.register(t, getattr(inbound, f"apply_{t}"))

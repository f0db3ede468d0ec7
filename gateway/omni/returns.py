"""Cross-channel returns and exchanges: online orders returned in the store, and an exchange as one transaction.

An online order is looked up at HQ (``order.lookup``) for what was paid per product. Offline the
rule ``online_returns_offline`` decides: ``refuse``; ``local`` (only orders this store knows,
e.g. collected here, with their recorded prices); ``voucher`` (any order, refunded only to a
voucher, at the recorded or current shelf price). Money goes back through the till as a return
receipt (``sale.returned`` with ``order_id``; cash, card via the payment registry, or a new
voucher) or, with ``refund_method="original"``, HQ refunds the online payment and the store
only journals ``order.returned``. Either way the goods go back into stock and the quantities
already returned per order are checked again inside the committing transaction.

An exchange is a return receipt of a store sale plus a sale receipt for the new goods, both
committed in ONE ledger transaction (:meth:`SaleService.commit_receipts`): either both exist or
neither does.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from gateway.errors import BadRequest, Conflict, GatewayError, NotFound
from gateway.idempotency import IdemKey
from gateway.ledger import Ledger, Txn
from gateway.omni.config import OmniConfig
from gateway.omni.hq import HqClient, HqRejected, HqUnavailable
from gateway.omni.stock import Line, StockService, lines_json, parse_lines, product_unit
from gateway.pos.money import div_round
from gateway.pos.pricing import settle, totals
from gateway.pos.sales import SaleService, return_totals

log = logging.getLogger(__name__)


def returned_of_order(conn: sqlite3.Connection, order_id: str) -> dict[str, int]:
    """Quantities (thousandths) of an online order already returned at this store, per code."""
    rows = conn.execute("SELECT payload FROM journal WHERE type IN ('sale.returned', 'order.returned') "
                        "AND json_extract(payload, '$.order_id') = ?", (order_id,)).fetchall()
    out: dict[str, int] = {}
    for (raw,) in rows:
        for ln in json.loads(raw)["lines"]:
            out[ln["code"]] = out.get(ln["code"], 0) + abs(ln["qty_milli"])
    return out


class ReturnService:
    """Returns of online orders and exchanges of store sales."""

    def __init__(self, ledger: Ledger, sales: SaleService, stock: StockService, hq: HqClient, cfg: OmniConfig) -> None:
        self.ledger = ledger
        self.sales = sales
        self.stock = stock
        self.hq = hq
        self.cfg = cfg

    async def lookup_order(self, order_id: str, refund_method: str) -> tuple[dict[str, dict[str, Any]], bool]:
        """Per-code ``{qty_milli, price, vat_id}`` of an order, and whether HQ answered."""
        try:
            reply = await self.hq.request("order.lookup", {"order_id": order_id})
        except HqRejected as err:
            raise NotFound(f"HQ does not know order {order_id}: {err.detail}") from None
        except HqUnavailable:
            return self._offline_order(order_id, refund_method), False
        conn = self.ledger.reader
        out: dict[str, dict[str, Any]] = {}
        for ln in reply.get("lines", []):
            qty_milli = ln["qty"] if product_unit(conn, ln["code"])[0] == "kg" else ln["qty"] * 1000
            out[ln["code"]] = {"qty_milli": qty_milli, "price": int(ln["price"]), "vat_id": ln.get("vat_id")}
        return out, True

    def _offline_order(self, order_id: str, refund_method: str) -> dict[str, dict[str, Any]]:
        """What the store may rely on for an order while HQ is unreachable (rule ``online_returns_offline``)."""
        rule = self.cfg.online_returns_offline
        if rule == "refuse":
            raise HqUnavailable("HQ is unreachable and online orders are only returned online (omni.online_returns_offline)")
        if rule == "voucher" and refund_method != "voucher":
            raise Conflict("HQ is unreachable: online orders can only be refunded to a voucher now", rule=rule)
        row = self.ledger.query("SELECT lines FROM omni_orders WHERE order_id=?", (order_id,))
        if row:
            # Only what was handed over here can come back: goods of an open or expired order never left the store.
            handed = {ln["code"]: {"qty_milli": ln["handed_milli"], "price": ln["price"]}
                      for ln in json.loads(row[0][0]) if ln["handed_milli"] > 0}
            if not handed:
                raise Conflict(f"order {order_id} was not handed over at this store: nothing of it can be returned", rule=rule)
            return handed
        if rule == "local":
            raise Conflict(f"HQ is unreachable and order {order_id} is not known at this store", rule=rule)
        return {}

    def _lines(self, conn: sqlite3.Connection, order: dict[str, dict[str, Any]], wanted: list[Line], order_id: str,
               online: bool) -> list[dict[str, Any]]:
        done = returned_of_order(conn, order_id)
        out = []
        for i, (code, q) in enumerate(wanted, start=1):
            known = order.get(code)
            if known is None and (online or order):
                raise BadRequest(f"order {order_id} has no product {code}", field="items")
            try:
                product = self.sales.catalog.lookup(code, conn)
            except NotFound:
                if known is None:
                    raise
                product = None
            bought = known["qty_milli"] if known else q
            if q + done.get(code, 0) > bought:
                raise Conflict(f"only {bought - done.get(code, 0)} thousandths of {code} are left to return", code=code)
            unit_price = known["price"] if known else product.price  # type: ignore[union-attr]
            unit = product.unit if product else "piece"
            amount = div_round(unit_price * q, 1000)  # exact for pieces (q is a multiple of 1000), half-up for grams
            vat_id = (known or {}).get("vat_id") or (product.vat_id if product else 1)
            ln: dict[str, Any] = {"line": i, "code": code, "name": product.name if product else code, "vat_id": vat_id,
                                  "unit": unit, "unit_price": unit_price, "qty_milli": -q, "gross": -amount, "discount": 0,
                                  "amount": -amount, "share": 0, "total": -amount, "voided": False, "group": product.group if product else ""}
            if unit == "piece":
                ln["qty"] = -(q // 1000)
            else:
                ln["weight_g"] = -q
            out.append(ln)
        return out

    async def return_order(self, order_id: str, items: Any, *, cashier: str, refund_method: str = "cash",
                           idem: IdemKey | None = None) -> dict[str, Any]:
        """Return goods of an online order; refund at the till or (``original``) by HQ."""
        if not isinstance(order_id, str) or not order_id:
            raise BadRequest("order_id is required", field="order_id")
        return await self.sales.idem.once(idem, lambda: self._return_order(order_id, items, cashier, refund_method, idem))

    async def _return_order(self, order_id: str, items: Any, cashier: str, refund_method: str, idem: IdemKey | None) -> dict[str, Any]:
        async with self.sales.receipt_lock(("order", order_id)):
            return await self._return_order_locked(order_id, items, cashier, refund_method, idem)

    async def _return_order_locked(self, order_id: str, items: Any, cashier: str, refund_method: str,
                                   idem: IdemKey | None) -> dict[str, Any]:
        if refund_method != "original":
            self.sales.payments.get(refund_method)
        order, online = await self.lookup_order(order_id, refund_method)
        wanted = parse_lines(self.ledger.reader, items, field="items")
        lines = self._lines(self.ledger.reader, order, wanted, order_id, online)

        def check(txn: Txn) -> None:
            fresh = self._lines(txn.conn, order, wanted, order_id, online)
            if [ln["gross"] for ln in fresh] != [ln["gross"] for ln in lines]:
                raise Conflict("the order changed while returning; retry")

        if refund_method == "original":
            def fn(txn: Txn) -> dict[str, Any]:
                if idem is not None and (prior := self.sales.idem.lookup(idem, txn.conn)) is not None:
                    return prior[1]
                check(txn)
                payload = {"order_id": order_id, "lines": lines, "refund": "hq", "amount": -sum(ln["gross"] for ln in lines),
                           "cashier": cashier, "hq_confirmed": online}
                entry = txn.append("order.returned", f"order:{order_id}", payload)
                self.stock.done(txn, [c for c, _ in wanted])
                result = dict(payload, seq=entry.seq)
                if idem is not None:
                    self.sales.idem.record(txn, idem, 201, result, entry.seq)
                return result

            return await self.ledger.write(fn)
        tot = return_totals(lines, self.sales.cfg.vat_rates)
        method = self.sales.payments.get(refund_method)
        details = await method.refund(-tot["gross"], f"order-return:{order_id}", None)
        payment: dict[str, Any] = {"method": refund_method, "amount": tot["gross"]}
        if details:
            payment["details"] = details
        draft: dict[str, Any] = {"kind": "return", "original": None, "order_id": order_id, "channel": "online_return",
                                 "cashier": cashier, "lines": lines, "totals": tot, "payments": [payment], "change": 0,
                                 "training": self.sales.cfg.training, "hq_confirmed": online}
        await self.sales.sign("return", draft)
        return await self.sales.commit_refunded("sale.returned", draft, idem, check)

    async def exchange(self, receipt_no: int, items: Any, new_lines: Any, payments: Any, *, cashier: str,
                       refund_method: str = "cash", idem: IdemKey | None = None) -> dict[str, Any]:
        """Return lines of a store sale and sell new goods in one transaction; returns both receipts."""
        if idem is not None:
            async with self.sales.idem.lock(idem):
                prior = self.sales.idem.lookup(idem)
                if prior is not None:
                    return _exchange_result(*prior[1]["receipts"])
                return await self._exchange(receipt_no, items, new_lines, payments, cashier, refund_method, idem)
        return await self._exchange(receipt_no, items, new_lines, payments, cashier, refund_method, idem)

    async def _exchange(self, receipt_no: int, items: Any, new_lines: Any, payments: Any, cashier: str,
                        refund_method: str, idem: IdemKey | None) -> dict[str, Any]:
        async with self.sales.receipt_lock(receipt_no):
            return await self._exchange_locked(receipt_no, items, new_lines, payments, cashier, refund_method, idem)

    async def _exchange_locked(self, receipt_no: int, items: Any, new_lines: Any, payments: Any, cashier: str,
                               refund_method: str, idem: IdemKey | None) -> dict[str, Any]:
        sales = self.sales
        orig, build = sales.return_lines(self.ledger.reader, receipt_no, items)
        back = build(self.ledger.reader)
        method = sales.payments.get(refund_method)
        priced = sales.price_lines(new_lines)
        for hook in sales.line_hooks:
            hook(priced, None)
        tot = totals(priced, rates=sales.cfg.vat_rates)
        pays = sales.check_payments(payments)
        recorded, change = settle(tot["gross"], pays, sales.payments.cash_names)
        ret_tot = return_totals(back, sales.cfg.vat_rates)
        ref = idem.key if idem else f"exchange:{receipt_no}"
        await sales.charge(recorded, ref)
        try:
            details = await method.refund(-ret_tot["gross"], f"return:{receipt_no}", None)
        except GatewayError:
            await sales.reverse(recorded, ref)
            raise
        refund_pay: dict[str, Any] = {"method": refund_method, "amount": ret_tot["gross"]}
        if details:
            refund_pay["details"] = details
        training = orig.get("training", False)
        ret_draft: dict[str, Any] = {"kind": "return", "original": receipt_no, "cashier": cashier, "lines": back, "totals": ret_tot,
                                     "payments": [refund_pay], "change": 0, "training": training, "exchange": True}
        sale_draft: dict[str, Any] = {"kind": "sale", "cashier": cashier, "lines": priced, "totals": tot, "payments": recorded,
                                      "change": change, "training": training, "exchange_of": receipt_no}
        await sales.sign("return", ret_draft)
        await sales.sign("sale", sale_draft)

        def check(txn: Txn) -> None:
            if [ln["total"] for ln in build(txn.conn)] != [ln["total"] for ln in back]:
                raise Conflict("the receipt changed while exchanging; retry")

        try:
            ret, sale = await sales.commit_receipts([("sale.returned", ret_draft), ("sale.finished", sale_draft)], idem, check)
        except GatewayError:
            log.error("exchange of receipt %s: refunded %s %s but the receipts could not be committed: reconcile by hand",
                      receipt_no, refund_method, ret_tot["gross"])
            await sales.reverse(recorded, ref)
            raise
        return _exchange_result(ret, sale)


def _exchange_result(ret: dict[str, Any], sale: dict[str, Any]) -> dict[str, Any]:
    """Both receipts of an exchange and what the customer pays (positive) or gets back (negative)."""
    return {"receipts": [ret, sale], "difference": sale["totals"]["gross"] + ret["totals"]["gross"]}


__all__ = ["ReturnService", "lines_json", "returned_of_order"]

"""From a committed receipt to paper: the printer receipt model, the sale hook, the customer display feed.

``receipt_document`` maps a journaled receipt (sale, void, return, cash movement) and the store
identity to the printer's receipt model with the fiscal block and QR code (§6 KassenSichV fields).
``ReceiptPrinting`` is the post-commit hook: it queues the receipt on the ``receipt-printer`` role
(job id = receipt number, so a retried hook never prints twice) and kicks the drawer when cash
moved. ``CustomerDisplayFeed`` shows the current item, the total and a thank-you on the pole display.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from drivers.printer.receipt import FiscalBlock, Payment, Receipt, ReceiptHeader, ReceiptLine, VatEntry
from gateway.bus import Bus
from gateway.config import StoreConfig
from gateway.pos.money import VAT_LETTERS, format_cents

log = logging.getLogger(__name__)

METHOD_NAMES = {"cash": "Bar", "card": "Karte", "voucher": "Gutschein"}
KIND_TITLES = {"void": "STORNO zu Beleg", "return": "RÜCKGABE zu Beleg", "deposit": "Einlage", "withdrawal": "Entnahme"}


def receipt_document(r: dict[str, Any], store: StoreConfig, copy: bool = False) -> Receipt:
    """The printable receipt of a committed receipt dict."""
    header = ReceiptHeader(store.name, [a.strip() for a in store.address.split(",")], vat_id=store.vat_id)
    lines: list[ReceiptLine] = []
    for ln in r.get("lines", ()):
        if ln.get("voided"):
            continue
        lines.append(ReceiptLine(ln["name"], ln.get("total", ln["amount"]), VAT_LETTERS.get(ln["vat_id"], "?"),
                                 quantity_milli=abs(ln["qty_milli"]) if ln["unit"] == "piece" else 1000,
                                 unit_price_cents=ln.get("unit_price"), weight_g=ln.get("weight_g"), article_no=ln["code"]))
    kind = r.get("kind", "sale")
    if kind in ("deposit", "withdrawal"):
        amount = r["amount"] if kind == "deposit" else -r["amount"]
        lines.append(ReceiptLine(KIND_TITLES[kind] + (f": {r['reason']}" if r.get("reason") else ""), amount, "E"))
        total = amount
    else:
        total = r["totals"]["gross"]
    vat = [VatEntry(VAT_LETTERS.get(v["vat_id"], "?"), v["rate_bp"], v["net"], v["vat"], v["gross"])
           for v in r.get("totals", {}).get("by_vat", ())]
    payments = []
    for p in r.get("payments", ()):
        det = p.get("details") or {}
        extra = [f"{k}: {det[k]}" for k in ("card_name", "masked_pan", "receipt_number", "terminal_id") if det.get(k)]
        payments.append(Payment(METHOD_NAMES.get(p["method"], p["method"]), p.get("tendered", p["amount"]), extra))
    tse = r.get("tse") or {}
    fiscal = None
    if tse and not tse.get("failed"):
        fiscal = FiscalBlock(str(tse.get("serial_number", "")), int(tse.get("transaction_number", 0)),
                             int(tse.get("signature_counter", 0)), str(tse.get("start", "")), str(tse.get("end", "")),
                             str(tse.get("signature", "")), str(tse.get("signature_algorithm", "")),
                             str(tse.get("log_time_format", "utcTime")), str(tse.get("client_id", "")),
                             str(tse.get("process_type", "Kassenbeleg-V1")))
    footer = []
    for p in r.get("payments", ()):
        lines_ = (p.get("details") or {}).get("receipt_lines") or []
        if lines_:  # the card terminal's customer copy goes on the customer's receipt
            footer += ["Kartenzahlung (Kundenbeleg):", *[str(x) for x in lines_][:60], ""]
    if kind in ("void", "return"):
        footer.append(f"{KIND_TITLES[kind]} {r.get('original')}")
    if tse.get("failed"):
        footer.append("TSE ausgefallen: " + str(tse.get("reason", "")))
    footer.append("Vielen Dank für Ihren Einkauf!")
    return Receipt(header, str(r["receipt_no"]), str(r.get("ts", "")), lines, total, cashier=str(r.get("cashier", "")),
                   register_id=store.register_id, vat_table=vat, payments=payments, change_cents=r.get("change", 0),
                   fiscal=fiscal, qr_data=str(tse.get("qr_code", "")) if fiscal else "", footer_lines=footer, copy=copy,
                   training=bool(r.get("training")), tse_failure=bool(tse.get("failed")))


class ReceiptPrinting:
    """Post-commit hook: print the receipt and open the drawer for cash."""

    def __init__(self, gw: Any, role: str = "receipt-printer") -> None:
        self.gw = gw
        self.role = role

    async def __call__(self, receipt: dict[str, Any]) -> None:
        """Queue the receipt; printing problems are logged and shown on the device, never undo a sale."""
        mgr = self.gw.components.get("devices")
        dev = mgr.by_role(self.role) if mgr else None
        if dev is None:
            return
        try:
            await mgr.command(dev.id, "receipt", {"receipt": receipt})
        except Exception as err:
            log.warning("receipt %s not printed: %s", receipt.get("receipt_no"), err)
        for i, p in enumerate(receipt.get("payments", ())):
            lines = (p.get("details") or {}).get("receipt_lines") or []
            if lines:  # the merchant copy of the card slip, kept in the till (job id: once per receipt)
                try:
                    await mgr.command(dev.id, "print", {"lines": [str(x) for x in lines][:200], "title": "Händlerbeleg",
                                                        "job_id": f"receipt-{receipt.get('receipt_no')}-merchant-{i}",
                                                        "wait": False})
                except Exception as err:
                    log.warning("merchant copy of receipt %s not printed: %s", receipt.get("receipt_no"), err)
        cash = any(p["method"] == "cash" and p["amount"] for p in receipt.get("payments", ())) or receipt.get("kind") in (
            "deposit", "withdrawal")
        if cash and "open_drawer" in dev.adapter.actions:
            try:
                await mgr.command(dev.id, "open_drawer", {})
            except Exception as err:
                log.warning("drawer not opened for receipt %s: %s", receipt.get("receipt_no"), err)


class CustomerDisplayFeed:
    """Component ``display-feed``: mirrors the till's cart on the customer display."""

    name = "display-feed"

    def __init__(self, gw: Any, role: str = "customer-display") -> None:
        self.gw = gw
        self.role = role
        self._task: asyncio.Task[None] | None = None
        self.shown = 0

    async def start(self) -> None:
        """Follow cart and sale events."""
        self._task = asyncio.get_running_loop().create_task(self._run(self.gw.bus))

    async def _run(self, bus: Bus) -> None:
        with bus.subscribe("ledger.#") as sub:
            async for ev in sub:
                if ev.topic not in ("ledger.cart.line_added", "ledger.sale.finished"):
                    continue  # most ledger events are nothing for the customer display
                mgr = self.gw.components.get("devices")
                dev = mgr.by_role(self.role) if mgr else None
                if dev is None:
                    continue
                p = ev.data.get("payload", {})
                lines: list[str] | None = None
                if ev.topic == "ledger.cart.line_added":
                    cart = self.gw.carts.get(p["cart_id"])
                    ln = p["line"]
                    lines = [ln["name"][:20], f"{format_cents(ln['amount'])} / {format_cents(cart['totals']['gross'])}"]
                elif ev.topic == "ledger.sale.finished":
                    lines = [f"Summe {format_cents(p['totals']['gross'])}", f"Rückgeld {format_cents(p.get('change', 0))}"]
                if lines:
                    with contextlib.suppress(Exception):
                        await mgr.command(dev.id, "show", {"lines": lines})
                        self.shown += 1

    async def stop(self) -> None:
        """Stop following."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        """Updates sent."""
        return {"state": "ok", "updates": self.shown}

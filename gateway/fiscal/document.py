"""Builds the legal receipt content (:class:`~gateway.fiscal.receipt.Receipt`) of a committed receipt.

The seller comes from the ``[store]`` section, everything else from the journaled receipt: lines,
VAT table as printed (``totals.by_vat``), payments, change, the TSE block or the TSE failure mark,
and the training mark. :func:`receipt_text` renders it as plain text (what a printer prints);
:func:`receipt_json` as JSON for the e-receipt and the POS clients.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from gateway.config import StoreConfig
from gateway.pos.money import VAT_LETTERS, format_cents

from .amounts import comma_amount, thousandths
from .journal_records import parse_time, split_address
from .receipt import Receipt, ReceiptLine, ReceiptPayment, ReceiptTse, Seller, VatLine
from .service import CASH_MOVE_VAT_KEY

_KIND_TITLE = {"sale": "Beleg", "void": "Storno", "return": "Rückgabe", "deposit": "Einlage", "withdrawal": "Entnahme"}
WIDTH = 42


def seller_of(store: StoreConfig) -> Seller:
    """The seller block from ``[store]``."""
    street, postcode, city = split_address(store.address)
    return Seller(store.name, street, postcode, city, "DE", store.vat_id)


def receipt_document(receipt: dict[str, Any], store: StoreConfig, client_id: str = "") -> Receipt:
    """The legal receipt of a committed receipt dict (as returned by ``SaleService``)."""
    tz = ZoneInfo(store.timezone)
    tse_obj: dict[str, Any] = receipt.get("tse") or {"failed": True, "reason": "no TSE configured"}
    issued = parse_time(receipt["ts"]).astimezone(tz)
    started = parse_time(tse_obj["start"]).astimezone(tz) if "start" in tse_obj else issued
    if "end" in tse_obj:
        issued = parse_time(tse_obj["end"]).astimezone(tz)
    kind = receipt.get("kind", "sale")
    training = bool(receipt.get("training"))
    if kind in ("deposit", "withdrawal"):
        amount = receipt["amount"] if kind == "deposit" else -receipt["amount"]
        lines = [ReceiptLine(receipt.get("reason") or _KIND_TITLE[kind], 1000, "Stk", amount, amount, CASH_MOVE_VAT_KEY)]
        vat = [VatLine(CASH_MOVE_VAT_KEY, 0, amount, 0, amount)]
        payments = [ReceiptPayment("cash", amount, True)]
        total = amount
    else:
        lines = [ReceiptLine(ln["name"], ln["qty_milli"], "kg" if ln.get("unit") == "kg" else "Stk", ln["unit_price"],
                             0 if ln.get("voided") else ln.get("total", ln["amount"]), ln["vat_id"], bool(ln.get("voided")))
                 for ln in receipt["lines"]]
        vat = [VatLine(v["vat_id"], v["rate_bp"], v["net"], v["vat"], v["gross"]) for v in receipt["totals"]["by_vat"]]
        payments = [ReceiptPayment(p["method"], p["amount"], p["method"] == "cash") for p in receipt["payments"]]
        total = receipt["totals"]["gross"]
    refs = (f"Bezug: Beleg {receipt['original']}",) if "original" in receipt else ()
    return Receipt(
        seller=seller_of(store), client_serial=str(tse_obj.get("client_id") or client_id or store.register_id),
        bon_id=str(receipt["receipt_no"]), bon_type="AVTraining" if training else "Beleg", issued_at=issued,
        started_at=started, lines=lines, vat=vat, payments=[] if training else payments, total=total,
        tse=ReceiptTse.from_tse_object(tse_obj), tse_failure="" if not tse_obj.get("failed") else str(tse_obj["reason"]),
        training=training, change=int(receipt.get("change", 0)), operator=str(receipt.get("cashier", "")), references=refs,
    )  # fmt: skip


def receipt_json(doc: Receipt, kind: str = "sale") -> dict[str, Any]:
    """JSON form: every legal field, the marks, the TSE block and the QR code content."""
    return {
        "title": _KIND_TITLE.get(kind, "Beleg"),
        "seller": {"name": doc.seller.name, "street": doc.seller.street, "postcode": doc.seller.postcode,
                   "city": doc.seller.city, "vat_id": doc.seller.vat_id},
        "client_serial": doc.client_serial, "bon_id": doc.bon_id, "bon_type": doc.bon_type,
        "started_at": doc.started_at.isoformat(timespec="seconds"), "issued_at": doc.issued_at.isoformat(timespec="seconds"),
        "lines": [{"text": ln.text, "quantity": ln.quantity, "unit": ln.unit, "unit_price": ln.unit_price, "total": ln.total,
                   "vat_key": ln.vat_key, "voided": ln.voided} for ln in doc.lines],
        "vat": [{"vat_key": v.vat_key, "rate_bp": v.rate_bp, "net": v.net, "vat": v.vat, "gross": v.gross} for v in doc.vat],
        "payments": [{"name": p.name, "amount": p.amount, "cash": p.cash} for p in doc.payments],
        "total": doc.total, "change": doc.change, "operator": doc.operator, "references": list(doc.references),
        "training": doc.training, "marks": doc.marks(), "tse_failure": doc.tse_failure,
        "tse": [{"label": k, "value": v} for k, v in doc.tse_lines()],
        "qr_code": doc.tse.qr_code if doc.tse else None,
        "missing_fields": doc.missing_fields(),
    }  # fmt: skip


def _pair(left: str, right: str) -> str:
    return f"{left[: WIDTH - len(right) - 1]:<{WIDTH - len(right)}}{right}"


def receipt_text(doc: Receipt, kind: str = "sale") -> str:
    """Plain-text receipt, 42 columns (80 mm paper); marks first and last so they cannot be missed."""
    out: list[str] = [*doc.marks()]
    out += [doc.seller.name, doc.seller.street, f"{doc.seller.postcode} {doc.seller.city}".strip()]
    if doc.seller.vat_id:
        out.append(f"USt-IdNr.: {doc.seller.vat_id}")
    out += ["-" * WIDTH, f"{_KIND_TITLE.get(kind, 'Beleg')} Nr. {doc.bon_id}", *doc.references]
    for ln in doc.lines:
        letter = VAT_LETTERS.get(ln.vat_key, "?")
        name = ln.text + (" (storniert)" if ln.voided else "")
        out.append(_pair(name, f"{comma_amount(ln.total)} {letter}"))
        if ln.quantity != 1000 or ln.unit == "kg":
            unit = "kg" if ln.unit == "kg" else "Stk"
            out.append(f"  {thousandths(ln.quantity)} {unit} x {comma_amount(ln.unit_price)}")
    out += ["-" * WIDTH, _pair("SUMME EUR", comma_amount(doc.total))]
    for p in doc.payments:
        out.append(_pair(f"  {p.name}", comma_amount(p.amount)))
    if doc.change:
        out.append(_pair("  Rückgeld", comma_amount(doc.change)))
    out.append(_pair("USt", "Netto     USt    Brutto"))
    for v, (rate, net, tax, gross) in zip(doc.vat, doc.vat_table(), strict=True):
        label = f"{VAT_LETTERS.get(v.vat_key, '?')} {rate}"
        out.append(_pair(label, f"{net:>8} {tax:>7} {gross:>8}"))
    out += ["-" * WIDTH, f"Start: {doc.started_at.isoformat(timespec='seconds')}",
            f"Ende:  {doc.issued_at.isoformat(timespec='seconds')}"]
    if doc.operator:
        out.append(f"Bediener: {doc.operator}")
    for label, value in doc.tse_lines():
        out.append(f"{label}: {value}")
    if doc.tse is not None:
        out.append(f"QR: {doc.tse.qr_code}")
    out += doc.marks()
    out.append(f"Gesamt {format_cents(doc.total)}")
    return "\n".join(out) + "\n"

"""X report: running totals of the business day since the last day closing, from the journal."""

from __future__ import annotations

import json
from typing import Any

from gateway.ledger import Ledger
from gateway.pos.projections import RECEIPT_TYPES


def x_report(ledger: Ledger) -> dict[str, Any]:
    """Totals since the last ``day.closed`` entry: counts, gross/net/VAT per rate, payments, cash."""
    since = int(ledger.query_one("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE type='day.closed'") or 0)
    marks = ",".join("?" * len(RECEIPT_TYPES))
    rows = ledger.query(f"SELECT type, payload FROM journal WHERE seq > ? AND type IN ({marks}) ORDER BY seq", (since, *RECEIPT_TYPES))
    counts: dict[str, int] = {}
    by_vat: dict[int, dict[str, int]] = {}
    payments: dict[str, int] = {}
    cash_moves = {"deposit": 0, "withdrawal": 0}
    gross = discount = training = 0
    first = last = None
    for type_, raw in rows:
        p = json.loads(raw)
        if p.get("training"):
            training += 1
            continue
        kind = p.get("kind", type_.split(".")[1])
        counts[kind] = counts.get(kind, 0) + 1
        first = p["receipt_no"] if first is None else first
        last = p["receipt_no"]
        if type_ == "cash.deposit":
            cash_moves["deposit"] += p["amount"]
            continue
        if type_ == "cash.withdrawal":
            cash_moves["withdrawal"] += p["amount"]
            continue
        gross += p["totals"]["gross"]
        discount += p["totals"].get("discount", 0)
        for v in p["totals"]["by_vat"]:
            acc = by_vat.setdefault(v["vat_id"], {"vat_id": v["vat_id"], "rate_bp": v["rate_bp"], "gross": 0, "net": 0, "vat": 0})
            for k in ("gross", "net", "vat"):
                acc[k] += v[k]
        for pay in p["payments"]:
            payments[pay["method"]] = payments.get(pay["method"], 0) + pay["amount"]
    return {
        "since_seq": since,
        "until_seq": ledger.last_seq,
        "receipts": counts,
        "first_receipt": first,
        "last_receipt": last,
        "training_receipts": training,
        "gross": gross,
        "net": sum(v["net"] for v in by_vat.values()),
        "vat": sum(v["vat"] for v in by_vat.values()),
        "discount": discount,
        "by_vat": [by_vat[k] for k in sorted(by_vat)],
        "payments": payments,
        "cash_moves": cash_moves,
        "cash_balance": int(ledger.query_one("SELECT balance FROM cash_balance WHERE id=1") or 0),
    }

"""Store figures HQ consolidates: sales per channel and day, journaled as ``report.daily``, and the stock snapshot.

Channels: ``store`` (till sales), ``reserve_collect`` (reservations paid at the till),
``click_collect`` (online orders handed over here; paid online, so no till revenue) and
``online_return`` (online orders returned here). Days are UTC calendar days of the journal time.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.ledger import Ledger, Txn

TYPES = ("sale.finished", "sale.voided", "sale.returned", "order.handed_over", "order.returned", "voucher.issued", "voucher.redeemed")


def daily_sales(conn: Any, day: str) -> dict[str, Any]:
    """Receipts, gross and items per channel for one UTC day (``YYYY-MM-DD``)."""
    marks = ",".join("?" * len(TYPES))
    rows = conn.execute(f"SELECT type, payload FROM journal WHERE ts >= ? AND ts < ? AND type IN ({marks}) ORDER BY seq",
                        (day, day + "T99", *TYPES)).fetchall()
    channels: dict[str, dict[str, int]] = {}
    vouchers = {"issued": 0, "redeemed": 0}

    def acc(ch: str) -> dict[str, int]:
        return channels.setdefault(ch, {"receipts": 0, "gross": 0, "returns": 0, "returned_gross": 0, "handovers": 0, "items_milli": 0})

    for type_, raw in rows:
        p = json.loads(raw)
        if p.get("training"):
            continue
        if type_ == "voucher.issued":
            vouchers["issued"] += p["amount"]
        elif type_ == "voucher.redeemed":
            vouchers["redeemed"] += p["amount"]
        elif type_ in ("order.handed_over", "order.returned"):
            a = acc("click_collect" if type_ == "order.handed_over" else "online_return")
            a["handovers" if type_ == "order.handed_over" else "returns"] += 1
            a["items_milli"] += sum(ln["qty_milli"] for ln in p["lines"])
        else:
            ch = "online_return" if p.get("order_id") else p.get("channel", "store")
            a = acc(ch)
            if type_ == "sale.finished":
                a["receipts"] += 1
                a["gross"] += p["totals"]["gross"]
                a["items_milli"] += sum(ln["qty_milli"] for ln in p["lines"] if not ln.get("voided"))
            else:
                a["returns"] += 1
                a["returned_gross"] += p["totals"]["gross"]
    return {"day": day, "channels": dict(sorted(channels.items())), "vouchers": vouchers}


async def publish_daily(ledger: Ledger, day: str) -> dict[str, Any]:
    """Journal ``report.daily`` for ``day`` (HQ receives it through the mirror)."""

    def fn(txn: Txn) -> dict[str, Any]:
        report = daily_sales(txn.conn, day)
        txn.append("report.daily", f"report:{day}", report)
        return report

    return await ledger.write(fn)

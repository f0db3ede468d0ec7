"""Store figures HQ consolidates: sales per channel, product and hour of a day (``report.daily``), stock value.

Channels: ``store`` (till sales), ``reserve_collect`` (reservations paid at the till),
``click_collect`` (online orders handed over here; paid online, so no till revenue) and
``online_return`` (online orders returned here). Days are UTC calendar days of the journal time.
"""

from __future__ import annotations

import csv
import io
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
    return {"day": day, "channels": dict(sorted(channels.items())), "vouchers": vouchers, "products": product_sales(conn, day)}


def product_sales(conn: Any, day: str) -> list[dict[str, Any]]:
    """Quantity and gross per product over the day, bestsellers first, slow movers last (net of returns and voids)."""
    rows = conn.execute("SELECT type, payload FROM journal WHERE ts >= ? AND ts < ? AND type IN ('sale.finished', 'sale.voided', "
                        "'sale.returned') ORDER BY seq", (day, day + "T99")).fetchall()
    acc: dict[str, dict[str, Any]] = {}
    for _type, raw in rows:
        p = json.loads(raw)
        if p.get("training"):
            continue
        for ln in p["lines"]:
            if ln.get("voided"):
                continue
            a = acc.setdefault(ln["code"], {"code": ln["code"], "name": ln["name"], "group": ln.get("group", ""), "qty_milli": 0, "gross": 0})
            a["qty_milli"] += ln["qty_milli"]
            a["gross"] += ln["total"]
    return sorted(acc.values(), key=lambda a: (-a["gross"], a["code"]))


def stock_value(conn: Any) -> dict[str, Any]:
    """On-hand stock valued at the current gross shelf price, per product group and in total (cents)."""
    rows = conn.execute("SELECT p.grp, SUM(s.on_hand_milli * p.price / 1000), SUM(s.on_hand_milli) FROM stock s "
                        "JOIN products p ON p.code = s.code WHERE s.on_hand_milli > 0 GROUP BY p.grp ORDER BY p.grp").fetchall()
    groups = [{"group": g, "value": int(v), "qty_milli": int(q)} for g, v, q in rows]
    return {"groups": groups, "total": sum(g["value"] for g in groups)}


def products_csv(products: list[dict[str, Any]]) -> str:
    """The per-product figures as CSV (``;``-separated, as German spreadsheets expect)."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["code", "name", "group", "qty_milli", "gross_cents"])
    for p in products:
        w.writerow([p["code"], p["name"], p["group"], p["qty_milli"], p["gross"]])
    return out.getvalue()


async def publish_daily(ledger: Ledger, day: str) -> dict[str, Any]:
    """Journal ``report.daily`` for ``day`` (HQ receives it through the mirror)."""

    def fn(txn: Txn) -> dict[str, Any]:
        report = daily_sales(txn.conn, day)
        txn.append("report.daily", f"report:{day}", report)
        return report

    return await ledger.write(fn)

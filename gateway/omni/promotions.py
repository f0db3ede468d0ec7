"""Promotions from HQ (percent, amount off, fixed price, multi-buy) applied deterministically to sale lines.

:func:`apply_promotions` is a pure function of the lines, the promotions and the time, so the
till and an HQ preview (``POST /api/v1/promotions/preview``) compute the same discounts. Rules:
a promotion applies inside ``[starts_at, ends_at)`` to the product codes it names; per product
code the promotion giving the largest discount wins (ties: smallest ``promotion_id``); a line
that already carries a manual discount is left alone. ``multi_buy`` counts the quantity of a code
across all its lines (``min_qty`` pieces for ``value`` cents, e.g. 3 for 5.00 €) and spreads the
discount over those lines by their amounts (largest remainder), so totals always add up.
Wiring: ``SaleService.line_hooks`` runs :meth:`PromotionService.line_hook` on one-shot sales.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.pos.money import allocate, div_round, percent_of

KINDS = ("percent", "amount_off", "fixed_price", "multi_buy")


class PromotionsProjection:
    """Table ``omni_promotions``: the current definition of every promotion HQ sent."""

    name = "omni_promotions"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the table."""
        conn.execute("CREATE TABLE IF NOT EXISTS omni_promotions (promotion_id TEXT PRIMARY KEY, data TEXT NOT NULL, "
                     "starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, active INTEGER NOT NULL)")

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the table."""
        conn.execute("DELETE FROM omni_promotions")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold ``promotion.set``."""
        if e.type != "promotion.set":
            return
        p = e.payload
        conn.execute("INSERT OR REPLACE INTO omni_promotions(promotion_id, data, starts_at, ends_at, active) VALUES (?,?,?,?,?)",
                     (p["promotion_id"], json.dumps(p), p["starts_at"], p["ends_at"], 1 if p.get("active", True) else 0))


def _utc(raw: str) -> datetime:
    return datetime.fromisoformat(raw).astimezone(UTC)


def _line_discount(promo: dict[str, Any], qty_milli: int, unit_price: int, gross: int, unit: str) -> int:
    """Discount of one promotion on a quantity of one code (0 when it does not pay off)."""
    kind, value = promo["kind"], int(promo["value"])
    if kind == "percent":
        d = percent_of(gross, min(value, 10000))
    elif kind == "amount_off":
        d = div_round(value * qty_milli, 1000)
    elif kind == "fixed_price":
        d = gross - div_round(value * qty_milli, 1000)
    else:
        if unit == "kg":
            return 0
        n = int(promo.get("min_qty") or 1)
        groups = (qty_milli // 1000) // n
        d = groups * (n * unit_price - value)
    return max(0, min(d, gross))


def apply_promotions(lines: list[dict[str, Any]], promotions: list[dict[str, Any]], now: datetime) -> None:
    """Set ``discount``, ``amount`` and ``promotion`` on live lines without a manual discount (in place)."""
    live = [ln for ln in lines if not ln.get("voided") and not ln.get("discount") and not ln.get("voucher")]
    by_code: dict[str, list[dict[str, Any]]] = {}
    for ln in live:
        by_code.setdefault(ln["code"], []).append(ln)
    valid = [p for p in promotions if p.get("active", True) and p["kind"] in KINDS
             and _utc(p["starts_at"]) <= now < _utc(p["ends_at"])]
    for code, group in sorted(by_code.items()):
        qty = sum(ln["qty_milli"] for ln in group)
        gross = sum(ln["gross"] for ln in group)
        best: tuple[int, str] | None = None
        best_promo: dict[str, Any] | None = None
        for promo in sorted(valid, key=lambda p: p["promotion_id"]):
            if code not in promo["codes"]:
                continue
            d = _line_discount(promo, qty, group[0]["unit_price"], gross, group[0]["unit"])
            if d > 0 and (best is None or d > best[0]):
                best, best_promo = (d, promo["promotion_id"]), promo
        if best is None or best_promo is None:
            continue
        for ln, share in zip(group, allocate(best[0], [ln["gross"] for ln in group]), strict=True):
            ln["discount"] = share
            ln["amount"] = ln["gross"] - share
            ln["promotion"] = best_promo["promotion_id"]


class PromotionService:
    """Promotions from HQ and the pricing hook of the till."""

    def __init__(self, ledger: Ledger, clock: Callable[[], datetime] | None = None) -> None:
        self.ledger = ledger
        self.clock = clock or (lambda: datetime.now(UTC))

    def active(self, conn: sqlite3.Connection | None = None) -> list[dict[str, Any]]:
        """Every active promotion definition (time windows are checked when applying)."""
        rows = (conn or self.ledger.reader).execute("SELECT data FROM omni_promotions WHERE active=1 ORDER BY promotion_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def line_hook(self, lines: list[dict[str, Any]], conn: Any = None) -> None:
        """``SaleService.line_hooks`` entry: apply the promotions valid now."""
        apply_promotions(lines, self.active(conn), self.clock())

    def apply_hq(self, txn: Txn, msg: dict[str, Any]) -> None:
        """HQ's ``promotion`` message: create, change or (``active=false``) end a promotion."""
        keys = ("promotion_id", "name", "kind", "value", "min_qty", "codes", "starts_at", "ends_at", "active")
        txn.append("promotion.set", f"promotion:{msg['promotion_id']}", {k: msg[k] for k in keys if msg.get(k) is not None})

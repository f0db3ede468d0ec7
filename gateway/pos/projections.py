"""Core projections of the till: open carts, stock on hand, cash balance, receipt counter, receipts.

Each is updated from journal entries inside the writer's transaction and can be rebuilt by
replaying the journal (``storegw ledger rebuild``); a test checks that a rebuilt ledger equals
the incrementally updated one.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.ledger import JournalEntry

RECEIPT_TYPES = ("sale.finished", "sale.voided", "sale.returned", "cash.deposit", "cash.withdrawal")
CASH_METHODS = frozenset({"cash"})


class CartsProjection:
    """Open, parked and closed carts with their lines (table ``carts``)."""

    name = "carts"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create ``carts``."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS carts (id TEXT PRIMARY KEY, state TEXT NOT NULL, cashier TEXT NOT NULL, "
            "data TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL, updated_seq INTEGER NOT NULL)"
        )
        conn.execute("CREATE INDEX IF NOT EXISTS carts_state ON carts(state)")

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty ``carts``."""
        conn.execute("DELETE FROM carts")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold cart events and close carts on sale."""
        p = e.payload
        if e.type == "cart.opened":
            data: dict[str, Any] = {"lines": [], "discount": None, "next_line": 1}
            conn.execute(
                "INSERT INTO carts(id, state, cashier, data, created, updated, updated_seq) VALUES (?,?,?,?,?,?,?)",
                (p["cart_id"], "open", p.get("cashier", ""), json.dumps(data, sort_keys=True), e.ts, e.ts, e.seq),
            )
            return
        if not e.type.startswith("cart.") and not (e.type == "sale.finished" and p.get("cart_id")):
            return
        row = conn.execute("SELECT state, data FROM carts WHERE id=?", (p["cart_id"],)).fetchone()
        if row is None:
            return
        state, raw = row
        data = json.loads(raw)
        if e.type == "cart.line_added":
            data["lines"].append(p["line"])
            data["next_line"] = p["line"]["line"] + 1
        elif e.type == "cart.line_voided":
            for ln in data["lines"]:
                if ln["line"] == p["line"]:
                    ln["voided"] = True
        elif e.type == "cart.line_discounted":
            for ln in data["lines"]:
                if ln["line"] == p["line"]:
                    ln["discount"] = p["discount"]
                    ln["amount"] = ln["gross"] - p["discount"]
        elif e.type == "cart.discounted":
            data["discount"] = p["discount"]
        elif e.type == "cart.parked":
            state = "parked"
        elif e.type == "cart.resumed":
            state = "open"
        elif e.type == "cart.cancelled":
            state = "cancelled"
        elif e.type == "sale.finished":
            state = "closed"
            data["receipt_no"] = p["receipt_no"]
        conn.execute(
            "UPDATE carts SET state=?, data=?, updated=?, updated_seq=? WHERE id=?",
            (state, json.dumps(data, sort_keys=True), e.ts, e.seq, p["cart_id"]),
        )


class StockProjection:
    """On-hand quantity per product code in thousandths (pieces x 1000, or grams)."""

    name = "stock"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create ``stock``."""
        conn.execute("CREATE TABLE IF NOT EXISTS stock (code TEXT PRIMARY KEY, on_hand_milli INTEGER NOT NULL)")

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty ``stock``."""
        conn.execute("DELETE FROM stock")

    @staticmethod
    def change(conn: sqlite3.Connection, code: str, delta_milli: int) -> None:
        """Add ``delta_milli`` to a product's on-hand quantity."""
        conn.execute(
            "INSERT INTO stock(code, on_hand_milli) VALUES (?, ?) "
            "ON CONFLICT(code) DO UPDATE SET on_hand_milli = on_hand_milli + excluded.on_hand_milli",
            (code, delta_milli),
        )

    @staticmethod
    def change_many(conn: sqlite3.Connection, deltas: list[tuple[str, int]]) -> None:
        """Add each ``(code, delta_milli)`` in one statement (a receipt's lines, in order)."""
        for start in range(0, len(deltas), 400):  # 2 parameters a row, well below SQLite's limit
            chunk = deltas[start : start + 400]
            conn.execute(
                "INSERT INTO stock(code, on_hand_milli) VALUES " + ",".join(["(?, ?)"] * len(chunk))
                + " ON CONFLICT(code) DO UPDATE SET on_hand_milli = on_hand_milli + excluded.on_hand_milli",
                [v for pair in chunk for v in pair],
            )

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Sales take stock out; voids and returns put it back; counts and receipts adjust it."""
        p = e.payload
        if p.get("training"):
            return
        if e.type == "sale.finished":
            # A voucher sold is not goods.
            self.change_many(conn, [(ln["code"], -ln["qty_milli"]) for ln in p["lines"]
                                    if not ln.get("voided") and not ln.get("voucher")])
        elif e.type in ("sale.voided", "sale.returned"):
            self.change_many(conn, [(ln["code"], abs(ln["qty_milli"])) for ln in p["lines"] if not ln.get("voucher")])
        elif e.type == "stock.adjusted":
            self.change(conn, p["code"], p["delta_milli"])


class CashProjection:
    """Cash in the drawer in cents: cash sales net of change, refunds, deposits, withdrawals."""

    name = "cash"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create ``cash_balance``."""
        conn.execute("CREATE TABLE IF NOT EXISTS cash_balance (id INTEGER PRIMARY KEY CHECK (id = 1), balance INTEGER NOT NULL)")
        conn.execute("INSERT OR IGNORE INTO cash_balance(id, balance) VALUES (1, 0)")

    def reset(self, conn: sqlite3.Connection) -> None:
        """Zero the balance."""
        conn.execute("UPDATE cash_balance SET balance = 0")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Add every cash movement of an entry."""
        p = e.payload
        if p.get("training"):
            return
        delta = 0
        if e.type in ("sale.finished", "sale.voided", "sale.returned"):
            delta = sum(pay["amount"] for pay in p.get("payments", ()) if pay["method"] in CASH_METHODS)
        elif e.type == "cash.deposit":
            delta = p["amount"]
        elif e.type == "cash.withdrawal":
            delta = -p["amount"]
        if delta:
            conn.execute("UPDATE cash_balance SET balance = balance + ? WHERE id = 1", (delta,))


class ReceiptsProjection:
    """Receipt counter and receipt index for lookups, voids and returns."""

    name = "receipts"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create ``counters``, ``receipts`` and ``returned_qty``."""
        conn.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS receipts (receipt_no INTEGER PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, "
            "ts TEXT NOT NULL, gross INTEGER NOT NULL, original INTEGER, voided_by INTEGER, training INTEGER NOT NULL DEFAULT 0)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS returned_qty (receipt_no INTEGER NOT NULL, line INTEGER NOT NULL, "
            "qty_milli INTEGER NOT NULL, PRIMARY KEY (receipt_no, line))"
        )

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the tables."""
        for t in ("counters", "receipts", "returned_qty"):
            conn.execute(f"DELETE FROM {t}")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Index receipts and keep the counter at the highest number issued."""
        if e.type not in RECEIPT_TYPES:
            return
        p: dict[str, Any] = e.payload
        no = p["receipt_no"]
        conn.execute(
            "INSERT INTO counters(name, value) VALUES ('receipt', ?) "
            "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
            (no,),
        )
        gross = p["totals"]["gross"] if "totals" in p else p.get("amount", 0) * (-1 if e.type == "cash.withdrawal" else 1)
        conn.execute(
            "INSERT INTO receipts(receipt_no, seq, kind, ts, gross, original, training) VALUES (?,?,?,?,?,?,?)",
            (no, e.seq, e.type.split(".")[1], e.ts, gross, p.get("original"), 1 if p.get("training") else 0),
        )
        if e.type == "sale.voided":
            conn.execute("UPDATE receipts SET voided_by=? WHERE receipt_no=?", (no, p["original"]))
        elif e.type == "sale.returned" and p.get("original") is not None:
            for ln in p["lines"]:
                conn.execute(
                    "INSERT INTO returned_qty(receipt_no, line, qty_milli) VALUES (?,?,?) "
                    "ON CONFLICT(receipt_no, line) DO UPDATE SET qty_milli = qty_milli + excluded.qty_milli",
                    (p["original"], ln["original_line"], abs(ln["qty_milli"])),
                )


def core_projections() -> list[Any]:
    """The projections every gateway registers."""
    return [CartsProjection(), StockProjection(), CashProjection(), ReceiptsProjection()]

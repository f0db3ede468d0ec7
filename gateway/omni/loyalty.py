"""Loyalty points in every channel: HQ holds the balance; offline, earning always works and redeeming is capped.

Points earned at the till are journaled with the sale (``loyalty.earned``, in the receipt's
transaction) as unconfirmed until HQ confirms them. Redeeming asks HQ first (``loyalty.redeem``);
when HQ is unreachable the store allows redemptions up to the local balance and at most
``loyalty_offline_redeem_points`` unconfirmed points per customer. :meth:`LoyaltyService.reconcile`
sends every unconfirmed earn and redemption to HQ with its ref (HQ applies each ref once) and
adopts HQ's resulting balance, so after reconnecting the store's balance equals HQ's exactly.
The local balance is HQ's last confirmed balance plus the unconfirmed local changes.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from typing import Any

from gateway.errors import BadRequest, Conflict
from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.omni.config import OmniConfig
from gateway.omni.hq import HqClient, HqRejected, HqUnavailable, entry_writer

MAX_POINTS = 10**9


class LoyaltyProjection:
    """``omni_loyalty`` (HQ-confirmed balance per customer) and ``omni_loyalty_pending`` (unconfirmed changes)."""

    name = "omni_loyalty"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the tables."""
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS omni_loyalty (customer TEXT PRIMARY KEY, hq_balance INTEGER NOT NULL, tier TEXT);
            CREATE TABLE IF NOT EXISTS omni_loyalty_pending (ref TEXT PRIMARY KEY, customer TEXT NOT NULL, points INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS omni_loyalty_pending_customer ON omni_loyalty_pending(customer);
            """
        )

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the tables."""
        conn.execute("DELETE FROM omni_loyalty")
        conn.execute("DELETE FROM omni_loyalty_pending")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold loyalty events."""
        p, t = e.payload, e.type
        if not t.startswith("loyalty."):
            return
        cust = p["customer"]
        conn.execute("INSERT OR IGNORE INTO omni_loyalty(customer, hq_balance) VALUES (?, 0)", (cust,))
        if t == "loyalty.earned":
            conn.execute("INSERT INTO omni_loyalty_pending(ref, customer, points) VALUES (?,?,?)", (p["ref"], cust, p["points"]))
        elif t == "loyalty.reversed":
            conn.execute("INSERT INTO omni_loyalty_pending(ref, customer, points) VALUES (?,?,?)", (p["ref"], cust, -p["points"]))
        elif t == "loyalty.redeemed":
            if p["online"]:
                conn.execute("UPDATE omni_loyalty SET hq_balance=? WHERE customer=?", (p["balance"], cust))
            else:
                conn.execute("INSERT INTO omni_loyalty_pending(ref, customer, points) VALUES (?,?,?)", (p["ref"], cust, -p["points"]))
        elif t == "loyalty.reconciled":
            conn.execute("DELETE FROM omni_loyalty_pending WHERE ref=?", (p["ref"],))
            if p.get("balance") is not None:
                conn.execute("UPDATE omni_loyalty SET hq_balance=? WHERE customer=?", (p["balance"], cust))
        elif t == "loyalty.synced":
            conn.execute("UPDATE omni_loyalty SET hq_balance=?, tier=COALESCE(?, tier) WHERE customer=?", (p["balance"], p.get("tier"), cust))


def account(conn: sqlite3.Connection, customer: str) -> dict[str, Any]:
    """Local view: confirmed balance, unconfirmed earn and redemption, and the resulting balance."""
    row = conn.execute("SELECT hq_balance, tier FROM omni_loyalty WHERE customer=?", (customer,)).fetchone()
    earn, redeem = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN points > 0 THEN points END), 0), COALESCE(-SUM(CASE WHEN points < 0 THEN points END), 0) "
        "FROM omni_loyalty_pending WHERE customer=?", (customer,)).fetchone()
    confirmed = int(row[0]) if row else 0
    return {"customer": customer, "confirmed_balance": confirmed, "tier": row[1] if row else None,
            "pending_earned": int(earn), "pending_redeemed": int(redeem), "balance": confirmed + int(earn) - int(redeem)}


class LoyaltyService:
    """Earning, redeeming, balance and reconciliation of loyalty points."""

    def __init__(self, ledger: Ledger, hq: HqClient, cfg: OmniConfig) -> None:
        self.ledger = ledger
        self.hq = hq
        self.cfg = cfg

    def account(self, customer: str) -> dict[str, Any]:
        """The local view of a customer's points."""
        return account(self.ledger.reader, customer)

    def on_receipt(self, txn: Txn, type_: str, receipt: dict[str, Any]) -> None:
        """Commit hook: a sale with a ``customer`` earns points on its total (vouchers sold earn none); voids and returns take them back."""
        if receipt.get("training"):
            return
        if type_ in ("sale.voided", "sale.returned") and isinstance(receipt.get("original"), int):
            self._reverse(txn, receipt)
            return
        cust = receipt.get("customer")
        if type_ != "sale.finished" or not cust:
            return
        base = sum(ln["total"] for ln in receipt["lines"] if not ln.get("voided") and not ln.get("voucher"))
        points = base // 100 * self.cfg.loyalty_points_per_euro
        if points > 0:
            txn.append("loyalty.earned", f"loyalty:{cust}", {"customer": cust, "points": points, "ref": f"receipt:{receipt['receipt_no']}",
                                                             "receipt_no": receipt["receipt_no"], "channel": receipt.get("channel", "store")})

    def _reverse(self, txn: Txn, receipt: dict[str, Any]) -> None:
        """Take back the points a voided or returned sale earned, pro rata to the amount given back."""
        row = txn.execute("SELECT payload FROM journal WHERE type='loyalty.earned' AND json_extract(payload, '$.receipt_no')=?",
                          (receipt["original"],)).fetchone()
        if row is None:
            return
        earned = json.loads(row[0])
        taken = int(txn.one("SELECT COALESCE(SUM(json_extract(payload, '$.points')), 0) FROM journal WHERE type='loyalty.reversed' "
                            "AND json_extract(payload, '$.original')=?", (receipt["original"],)) or 0)
        back = -sum(ln["total"] for ln in receipt["lines"] if not ln.get("voucher"))
        void = receipt.get("kind") == "void"
        points = earned["points"] - taken if void else min(earned["points"] - taken, back // 100 * self.cfg.loyalty_points_per_euro)
        if points > 0:
            txn.append("loyalty.reversed", f"loyalty:{earned['customer']}", {
                "customer": earned["customer"], "points": points, "ref": f"receipt:{receipt['receipt_no']}",
                "original": receipt["original"], "receipt_no": receipt["receipt_no"], "void": void})

    async def redeem(self, customer: str, points: Any, ref: str | None = None) -> dict[str, Any]:
        """Redeem points: at HQ when reachable, else within the local balance and the offline cap."""
        if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
            raise BadRequest(f"points must be 1..{MAX_POINTS}", field="points")
        ref = ref or f"redeem:{secrets.token_hex(8)}"
        value = points * self.cfg.loyalty_point_value_cents
        try:
            reply = await self.hq.request("loyalty.redeem", {"customer": customer, "points": points, "ref": ref})
            online, balance = True, int(reply["balance"])
        except HqRejected as err:
            raise Conflict(f"HQ refused the redemption: {err.detail}") from None
        except HqUnavailable:
            online, balance = False, None

        def fn(txn: Txn) -> dict[str, Any]:
            if txn.one("SELECT 1 FROM journal WHERE type='loyalty.redeemed' AND aggregate=? AND json_extract(payload, '$.ref')=?",
                       (f"loyalty:{customer}", ref)):
                return {**account(txn.conn, customer), "points": points, "value_cents": value, "online": online}
            if not online:
                acc = account(txn.conn, customer)
                if points > acc["balance"]:
                    raise Conflict(f"only {acc['balance']} points available", balance=acc["balance"])
                left = self.cfg.loyalty_offline_redeem_points - acc["pending_redeemed"]
                if points > left:
                    raise Conflict(f"HQ is unreachable: at most {max(0, left)} more points may be redeemed offline",
                                   offline_left=max(0, left))
            txn.append("loyalty.redeemed", f"loyalty:{customer}", {"customer": customer, "points": points, "ref": ref,
                                                                   "online": online, "balance": balance, "value_cents": value})
            return {**account(txn.conn, customer), "points": points, "value_cents": value, "online": online}

        return await self.ledger.write(fn)

    def apply_hq(self, txn: Txn, msg: dict[str, Any]) -> None:
        """HQ's ``loyalty`` message: the authoritative balance (and tier) of an account."""
        if msg.get("balance") is None:
            return
        txn.append("loyalty.synced", f"loyalty:{msg['account_ref']}", {"customer": msg["account_ref"], "balance": msg["balance"],
                                                                       "tier": msg.get("tier")})

    async def reconcile(self) -> dict[str, int]:
        """Send unconfirmed earns and redemptions to HQ (idempotent on ref) and adopt HQ's balances."""
        rows = self.ledger.query("SELECT ref, customer, points FROM omni_loyalty_pending ORDER BY rowid")
        done = refused = 0
        for ref, cust, points in rows:
            op = "loyalty.earn" if points > 0 else "loyalty.redeem"
            try:
                reply = await self.hq.request(op, {"customer": cust, "points": abs(points), "ref": ref})
                payload: dict[str, Any] = {"customer": cust, "ref": ref, "points": points, "accepted": True, "balance": int(reply["balance"])}
                done += 1
            except HqRejected as err:
                payload = {"customer": cust, "ref": ref, "points": points, "accepted": False, "reason": err.detail, "balance": None}
                refused += 1
            except HqUnavailable:
                break
            await self.ledger.write(entry_writer("loyalty.reconciled", f"loyalty:{payload['customer']}", payload))
        return {"confirmed": done, "refused": refused, "pending": len(rows) - done - refused}

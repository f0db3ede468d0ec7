"""Gift cards and vouchers: issue, top up, redeem partially, balance; HQ authoritative, offline within a limit.

German VAT (§3 Abs. 13-15 UStG, implementing Directive (EU) 2016/1065; DSFinV-K business cases
``MehrzweckgutscheinKauf``/``…Einloesung`` and ``EinzweckgutscheinKauf``/``…Einloesung``, see the
project's fiscal fact sheet §4.3): a **multi-purpose** voucher (goods of different VAT rates may be
bought with it) is not revenue when sold — its sale line carries VAT id 5 (not taxable) — and VAT
arises when it is redeemed, so at the till it is a payment method. A **single-purpose** voucher
(place of supply and VAT rate known at issue) is taxed when sold at its VAT rate; its redemption is
only a payment and creates no second VAT.

Selling a voucher is a normal sale receipt whose line carries ``voucher``; the ``voucher.issued``
entry is appended in the same transaction by :meth:`VoucherService.on_receipt`. Redeeming is the
``voucher`` payment method (``{"method": "voucher", "amount", "ref": CODE}``): online it asks HQ
to redeem (HQ refuses a second spend anywhere); offline it allows at most
``voucher_offline_limit_cents`` of unconfirmed redemptions per card and never more than the local
balance, checked again inside the sale's transaction so two tills cannot both spend the last
euro. Offline redemptions are confirmed at HQ by :meth:`VoucherService.reconcile` when the link
is back; a redemption HQ refuses then is journaled as ``voucher.reconciled`` with
``accepted=false`` for follow-up.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from datetime import UTC, datetime
from typing import Any

from gateway.errors import BadRequest, Conflict, NotFound
from gateway.idempotency import IdemKey
from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.omni.config import OmniConfig
from gateway.omni.hq import HqClient, HqRejected, HqUnavailable, entry_writer
from gateway.omni.orders import iso, parse_time
from gateway.pos.catalog import Product
from gateway.pos.money import VAT_RATES_BP
from gateway.pos.pricing import price_line
from gateway.pos.sales import SaleService

log = logging.getLogger(__name__)

KINDS = ("multi", "single")
MPV_VAT_ID = 5  # DSFinV-K key 5: not taxable (sale of a multi-purpose voucher)
MAX_VOUCHER = 1_000_000  # 10,000.00 EUR


def new_code() -> str:
    """A fresh voucher code: 16 characters, unambiguous alphabet."""
    return "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(16))


class VouchersProjection:
    """``omni_vouchers`` (HQ-confirmed balance per card) and ``omni_voucher_pending`` (unconfirmed offline redemptions)."""

    name = "omni_vouchers"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the tables."""
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS omni_vouchers (code TEXT PRIMARY KEY, kind TEXT NOT NULL, vat_id INTEGER NOT NULL,
                hq_balance INTEGER NOT NULL, state TEXT NOT NULL, expires_at TEXT, updated_seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS omni_voucher_pending (ref TEXT PRIMARY KEY, code TEXT NOT NULL, amount INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS omni_voucher_pending_code ON omni_voucher_pending(code);
            """
        )

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the tables."""
        conn.execute("DELETE FROM omni_vouchers")
        conn.execute("DELETE FROM omni_voucher_pending")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold voucher events."""
        p, t = e.payload, e.type
        if not t.startswith("voucher."):
            return
        code = p["code"]
        if t == "voucher.issued":
            conn.execute("INSERT OR REPLACE INTO omni_vouchers(code, kind, vat_id, hq_balance, state, expires_at, updated_seq) "
                         "VALUES (?,?,?,?,?,?,?)", (code, p["kind"], p["vat_id"], p["amount"], "active", p.get("expires_at"), e.seq))
            return
        if t == "voucher.synced":
            conn.execute("INSERT INTO omni_vouchers(code, kind, vat_id, hq_balance, state, expires_at, updated_seq) VALUES (?,?,?,?,?,?,?) "
                         "ON CONFLICT(code) DO UPDATE SET hq_balance=excluded.hq_balance, state=excluded.state, "
                         "expires_at=excluded.expires_at, updated_seq=excluded.updated_seq",
                         (code, p.get("kind", "multi"), p.get("vat_id", MPV_VAT_ID), p["balance"], p["state"], p.get("expires_at"), e.seq))
            return
        if t == "voucher.cancelled":
            conn.execute("UPDATE omni_vouchers SET state='cancelled', hq_balance=0, updated_seq=? WHERE code=?", (e.seq, code))
        elif t == "voucher.topped_up":
            conn.execute("UPDATE omni_vouchers SET hq_balance=hq_balance+?, updated_seq=? WHERE code=?", (p["amount"], e.seq, code))
        elif t == "voucher.redeemed":
            if p["online"]:
                conn.execute("UPDATE omni_vouchers SET hq_balance=?, updated_seq=? WHERE code=?", (p["balance"], e.seq, code))
            else:
                conn.execute("INSERT INTO omni_voucher_pending(ref, code, amount) VALUES (?,?,?)", (p["ref"], code, p["amount"]))
        elif t == "voucher.restored":
            # An unconfirmed offline redemption simply disappears; a confirmed one gives the value back.
            gone = conn.execute("DELETE FROM omni_voucher_pending WHERE ref=?", (p["ref"],)).rowcount
            if not gone:
                conn.execute("UPDATE omni_vouchers SET hq_balance=hq_balance+?, updated_seq=? WHERE code=?", (p["amount"], e.seq, code))
        elif t == "voucher.reconciled":
            conn.execute("DELETE FROM omni_voucher_pending WHERE ref=?", (p["ref"],))
            if p.get("balance") is not None:
                conn.execute("UPDATE omni_vouchers SET hq_balance=?, updated_seq=? WHERE code=?", (p["balance"], e.seq, code))


def voucher_state(conn: sqlite3.Connection, code: str) -> dict[str, Any] | None:
    """Local view of a card: kind, VAT id, state, confirmed and available balance, unconfirmed offline spend."""
    row = conn.execute("SELECT kind, vat_id, hq_balance, state, expires_at FROM omni_vouchers WHERE code=?", (code,)).fetchone()
    if row is None:
        return None
    pending = int(conn.execute("SELECT COALESCE(SUM(amount), 0) FROM omni_voucher_pending WHERE code=?", (code,)).fetchone()[0])
    return {"code": code, "kind": row[0], "vat_id": row[1], "confirmed_balance": row[2], "state": row[3], "expires_at": row[4],
            "offline_pending": pending, "balance": row[2] - pending}


class VoucherService:
    """Voucher operations; also the ``voucher`` payment method of the payment registry."""

    name = "voucher"
    is_cash = False
    dsfinvk_type = "Keine"  # multi-purpose redemption: ZAHLART Keine with a ...Einloesung business case (fact sheet §8)

    def __init__(self, ledger: Ledger, sales: SaleService, hq: HqClient, cfg: OmniConfig) -> None:
        self.ledger = ledger
        self.sales = sales
        self.hq = hq
        self.cfg = cfg

    # ------------------------------------------------------------------ reading

    async def balance(self, code: str) -> dict[str, Any]:
        """HQ's balance when reachable, else the local view with what may still be spent offline."""
        local = voucher_state(self.ledger.reader, code)
        try:
            reply = await self.hq.request("voucher.balance", {"code": code})
            return {**(local or {"code": code}), "balance": int(reply["balance"]) - (local or {}).get("offline_pending", 0),
                    "state": reply.get("state", "active"), "online": True}
        except HqUnavailable:
            if local is None:
                raise NotFound(f"voucher {code} is unknown at this store and HQ is unreachable") from None
            return {**local, "online": False, "offline_left": self._offline_left(local)}

    def _offline_left(self, v: dict[str, Any]) -> int:
        return max(0, min(v["balance"], self.cfg.voucher_offline_limit_cents - v["offline_pending"]))

    # ------------------------------------------------------------------ selling and topping up

    def voucher_line(self, code: str, kind: str, amount: int, vat_id: int | None) -> dict[str, Any]:
        """The priced receipt line of a voucher sale (multi-purpose: not taxable; single-purpose: its VAT rate)."""
        if kind not in KINDS:
            raise BadRequest("kind must be multi or single", field="kind")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_VOUCHER:
            raise BadRequest(f"amount must be 1..{MAX_VOUCHER} cents", field="amount")
        if kind == "single":
            if vat_id not in VAT_RATES_BP or vat_id == MPV_VAT_ID:
                raise BadRequest("a single-purpose voucher needs the VAT id of what it buys", field="vat_id")
        else:
            vat_id = MPV_VAT_ID
        assert vat_id is not None
        name = "Mehrzweckgutschein" if kind == "multi" else "Einzweckgutschein"
        line = price_line(1, Product("VOUCHER", name, vat_id, amount, "piece", "voucher"), 1, None)
        line["voucher"] = {"code": code, "kind": kind}
        return line

    async def sell(self, kind: str, amount: int, payments: Any, *, cashier: str, vat_id: int | None = None,
                   code: str | None = None, top_up: bool = False, idem: IdemKey | None = None) -> dict[str, Any]:
        """Sell a new voucher (or top up ``code``) as a receipt; the voucher entry commits with it."""
        if top_up:
            if not code:
                raise BadRequest("give the code of the voucher to top up", field="code")
            v = voucher_state(self.ledger.reader, code)
            if v is None or v["state"] != "active":
                raise Conflict(f"voucher {code} is not active here")
            kind, vat_id = v["kind"], v["vat_id"]
        line = self.voucher_line(code or new_code(), kind, amount, vat_id)
        line["voucher"]["top_up"] = top_up
        return await self.sales.finish(cashier=cashier, payments=payments, priced=[line], idem=idem)

    # ------------------------------------------------------------------ payment method

    async def charge(self, amount: int, ref: str) -> dict[str, Any]:
        """A voucher payment needs its code: pay with ``{"method": "voucher", "amount", "ref": CODE}``."""
        raise BadRequest("a voucher payment needs the voucher code in 'ref'", field="payments")

    async def charge_payment(self, payment: dict[str, Any], ref: str) -> dict[str, Any]:
        """Authorise a redemption: at HQ when reachable, else within the offline limit of the card."""
        code = payment.get("ref")
        if not code:
            return await self.charge(payment["amount"], ref)
        amount = int(payment["amount"])
        rref = f"{ref or new_code()}:{code}"
        local = voucher_state(self.ledger.reader, code)
        if local is not None and local["state"] != "active":
            raise Conflict(f"voucher {code} is {local['state']}")
        try:
            reply = await self.hq.request("voucher.redeem", {"code": code, "amount": amount, "ref": rref})
        except HqRejected as err:
            raise Conflict(f"voucher {code}: {err.detail}", code=code) from None
        except HqUnavailable:
            self.check_offline(local, code, amount)
            return {"code": code, "ref": rref, "online": False, "kind": local["kind"] if local else "multi"}
        return {"code": code, "ref": rref, "online": True, "balance": int(reply["balance"]),
                "kind": (local or {}).get("kind") or reply.get("kind", "multi")}

    def check_offline(self, v: dict[str, Any] | None, code: str, amount: int) -> None:
        """Conflict unless ``amount`` fits the local balance and the card's offline limit."""
        if v is None:
            raise Conflict(f"voucher {code} is unknown at this store and HQ is unreachable")
        if v["expires_at"] and v["expires_at"] < iso(datetime.now(UTC)):
            raise Conflict(f"voucher {code} expired at {v['expires_at']}")
        if amount > v["balance"]:
            raise Conflict(f"voucher {code} has only {v['balance']} cents left", balance=v["balance"])
        if v["offline_pending"] + amount > self.cfg.voucher_offline_limit_cents:
            raise Conflict(f"HQ is unreachable: voucher {code} may lose at most {self._offline_left(v)} more cents offline",
                           offline_left=self._offline_left(v))

    async def refund(self, amount: int, ref: str, original: dict[str, Any] | None) -> dict[str, Any]:
        """Give value back: to the card that paid (void, reversal), or on a new voucher (a return refunded to a voucher)."""
        if original is None or not original.get("details"):
            return {"code": new_code(), "issued": True, "kind": "multi"}
        d = original["details"]
        if d.get("online"):
            try:
                reply = await self.hq.request("voucher.refund", {"code": d["code"], "amount": abs(amount), "ref": d["ref"]})
                return {"code": d["code"], "ref": d["ref"], "online": True, "balance": int(reply["balance"])}
            except (HqUnavailable, HqRejected) as err:
                # HQ applies the mirrored voucher.restored entry later.
                log.warning("voucher %s refund not confirmed by HQ (%s); restored locally", d["code"], err.detail)
        return {"code": d["code"], "ref": d["ref"], "online": False}

    # ------------------------------------------------------------------ inside the receipt's transaction

    def on_receipt(self, txn: Txn, type_: str, receipt: dict[str, Any]) -> None:
        """Commit hook: voucher sales issue or top up, voucher payments redeem, voids and refunds restore or issue."""
        if receipt.get("training"):
            return
        no = receipt["receipt_no"]
        for ln in receipt.get("lines", ()):
            v = ln.get("voucher")
            if not v:
                continue
            if type_ == "sale.finished":
                if v.get("top_up"):
                    txn.append("voucher.topped_up", f"voucher:{v['code']}", {"code": v["code"], "amount": ln["total"], "receipt_no": no})
                else:
                    txn.append("voucher.issued", f"voucher:{v['code']}", {"code": v["code"], "kind": v["kind"], "vat_id": ln["vat_id"],
                                                                          "amount": ln["total"], "source": "sale", "receipt_no": no})
            else:
                state = voucher_state(txn.conn, v["code"])
                if state is None or state["balance"] != -ln["total"] or state["offline_pending"]:
                    raise Conflict(f"voucher {v['code']} was already used; it cannot be taken back")
                txn.append("voucher.cancelled", f"voucher:{v['code']}", {"code": v["code"], "receipt_no": no})
        for pay in receipt.get("payments", ()):
            d = pay.get("details")
            if pay["method"] != self.name or not d:
                continue
            if pay["amount"] > 0:
                if not d["online"]:
                    self.check_offline(voucher_state(txn.conn, d["code"]), d["code"], pay["amount"])
                txn.append("voucher.redeemed", f"voucher:{d['code']}", {"code": d["code"], "amount": pay["amount"], "ref": d["ref"],
                                                                        "online": d["online"], "balance": d.get("balance"),
                                                                        "kind": d.get("kind", "multi"), "receipt_no": no})
            elif d.get("issued"):
                txn.append("voucher.issued", f"voucher:{d['code']}", {"code": d["code"], "kind": "multi", "vat_id": MPV_VAT_ID,
                                                                      "amount": -pay["amount"], "source": "refund", "receipt_no": no})
            else:
                txn.append("voucher.restored", f"voucher:{d['code']}", {"code": d["code"], "amount": -pay["amount"], "ref": d["ref"],
                                                                        "receipt_no": no})

    # ------------------------------------------------------------------ from HQ and back to HQ

    def apply_hq(self, txn: Txn, msg: dict[str, Any]) -> None:
        """HQ's ``voucher`` message: a card issued elsewhere, its authoritative balance, or its cancellation."""
        code, action = msg["code"], msg["action"]
        payload: dict[str, Any] = {"code": code, "state": "cancelled" if action == "cancel" else "active",
                                   "balance": 0 if action == "cancel" else int(msg.get("amount") or 0)}
        for k in ("kind", "vat_id"):
            if msg.get(k) is not None:
                payload[k] = msg[k]
        if msg.get("expires_at"):
            payload["expires_at"] = iso(parse_time(msg["expires_at"], "expires_at"))
        txn.append("voucher.synced", f"voucher:{code}", payload)

    async def reconcile(self) -> dict[str, int]:
        """Confirm unconfirmed offline redemptions at HQ (idempotent on their ref); stops when HQ is unreachable."""
        rows = self.ledger.query("SELECT ref, code, amount FROM omni_voucher_pending ORDER BY rowid")
        done = refused = 0
        for ref, code, amount in rows:
            try:
                reply = await self.hq.request("voucher.redeem", {"code": code, "amount": amount, "ref": ref})
                payload: dict[str, Any] = {"code": code, "ref": ref, "amount": amount, "accepted": True, "balance": int(reply["balance"])}
                done += 1
            except HqRejected as err:
                balance = None
                try:
                    balance = int((await self.hq.request("voucher.balance", {"code": code}))["balance"])
                except (HqUnavailable, HqRejected):
                    pass
                payload = {"code": code, "ref": ref, "amount": amount, "accepted": False, "reason": err.detail, "balance": balance}
                refused += 1
            except HqUnavailable:
                break
            await self.ledger.write(entry_writer("voucher.reconciled", f"voucher:{payload['code']}", payload))
        return {"confirmed": done, "refused": refused, "pending": len(rows) - done - refused}

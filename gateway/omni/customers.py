"""Customers: personal data outside the journal behind a pseudonymous id; lookup, DSGVO export and erasure.

The ``customers`` table holds name, e-mail, phone and card number; journal entries only ever
carry the pseudonymous id (``c_`` + 16 hex digits). Export (Art. 15 DSGVO) gathers the personal
data and every journal entry naming the id; erasure (Art. 17) wipes the personal data and journals
``customer.erased`` with the id only, so the hash chain and the fiscal records stay intact and
verifiable while nothing left in the store identifies the person. ``storegw customers export ID``
and ``storegw customers erase ID`` do the same from the command line.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
from typing import Any

from gateway.errors import BadRequest, Conflict, NotFound
from gateway.ledger import Ledger, Txn
from gateway.ledger.store import now_iso
from gateway.omni.loyalty import account

SCHEMA = [
    """
    CREATE TABLE IF NOT EXISTS customers (
        id TEXT PRIMARY KEY,
        name TEXT,
        email TEXT,
        phone TEXT,
        card TEXT UNIQUE,
        created TEXT NOT NULL,
        erased_at TEXT
    );
    CREATE INDEX IF NOT EXISTS customers_email ON customers(email);
    CREATE INDEX IF NOT EXISTS customers_phone ON customers(phone);
    """,
]
FIELDS = ("name", "email", "phone", "card")
ID_RE = re.compile(r"^c_[0-9a-f]{16}$")


def _clean(raw: dict[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, v in raw.items():
        if k not in FIELDS:
            raise BadRequest(f"unknown field {k!r} (known: {', '.join(FIELDS)})", field=k)
        if v is not None and (not isinstance(v, str) or len(v) > 200 or not v.isprintable()):
            raise BadRequest(f"{k} must be a printable string of at most 200 characters", field=k)
        out[k] = v.strip() if isinstance(v, str) else None
        if k == "email" and out[k]:
            out[k] = str(out[k]).lower()
    return out


class CustomerService:
    """Customer records and the DSGVO operations."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        ledger.add_migrations("customers", list(SCHEMA))

    def _row(self, conn: Any, cid: str) -> dict[str, Any]:
        if not isinstance(cid, str) or not ID_RE.match(cid):
            raise BadRequest("a customer id is c_ followed by 16 hex digits", field="id")
        row = conn.execute("SELECT id, name, email, phone, card, created, erased_at FROM customers WHERE id=?", (cid,)).fetchone()
        if row is None:
            raise NotFound(f"no customer {cid}")
        return dict(zip(("id", "name", "email", "phone", "card", "created", "erased_at"), row, strict=True))

    def get(self, cid: str) -> dict[str, Any]:
        """One customer's record."""
        return self._row(self.ledger.reader, cid)

    def lookup(self, *, card: str | None = None, phone: str | None = None, email: str | None = None) -> list[dict[str, Any]]:
        """Customers matching a card number, phone number or e-mail (exact)."""
        for col, val in (("card", card), ("phone", phone), ("email", email.lower() if email else None)):
            if val:
                rows = self.ledger.query(f"SELECT id FROM customers WHERE {col}=? AND erased_at IS NULL LIMIT 20", (val,))
                return [self.get(r[0]) for r in rows]
        raise BadRequest("give card, phone or email")

    async def register(self, fields: dict[str, Any]) -> dict[str, Any]:
        """A new customer; only the pseudonymous id goes into the journal."""
        data = _clean(fields)
        cid = "c_" + secrets.token_hex(8)

        def fn(txn: Txn) -> dict[str, Any]:
            if data.get("card") and txn.one("SELECT 1 FROM customers WHERE card=?", (data["card"],)):
                raise Conflict("this card number belongs to another customer")
            txn.execute("INSERT INTO customers(id, name, email, phone, card, created) VALUES (?,?,?,?,?,?)",
                        (cid, data.get("name"), data.get("email"), data.get("phone"), data.get("card"), now_iso()))
            txn.append("customer.registered", f"customer:{cid}", {"customer": cid})
            return self._row(txn.conn, cid)

        return await self.ledger.write(fn)

    async def update(self, cid: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Change personal data (the journal records which fields changed, never their values)."""
        data = _clean(fields)

        def fn(txn: Txn) -> dict[str, Any]:
            if self._row(txn.conn, cid)["erased_at"]:
                raise Conflict(f"customer {cid} was erased")
            for k, v in data.items():
                txn.execute(f"UPDATE customers SET {k}=? WHERE id=?", (v, cid))
            txn.append("customer.updated", f"customer:{cid}", {"customer": cid, "fields": sorted(data)})
            return self._row(txn.conn, cid)

        return await self.ledger.write(fn)

    def purchases(self, cid: str, limit: int = 50) -> list[dict[str, Any]]:
        """This store's receipts and pickups of a customer, newest first (the offline part of the 360° view)."""
        rows = self.ledger.query(
            "SELECT seq, ts, type, payload FROM journal WHERE type IN ('sale.finished', 'order.handed_over') "
            "AND json_extract(payload, '$.customer') = ? ORDER BY seq DESC LIMIT ?", (cid, limit))
        out = []
        for seq, ts, type_, raw in rows:
            p = json.loads(raw)
            out.append({"seq": seq, "ts": ts, "channel": "click_collect" if type_ == "order.handed_over" else p.get("channel", "store"),
                        "receipt_no": p.get("receipt_no"), "order_id": p.get("order_id"),
                        "gross": p["totals"]["gross"] if "totals" in p else None,
                        "items": [{"code": ln["code"], "qty_milli": ln["qty_milli"]} for ln in p["lines"] if not ln.get("voided")]})
        return out

    def export(self, cid: str, conn: Any = None) -> dict[str, Any]:
        """Everything the store holds about a customer (Art. 15 DSGVO)."""
        c = conn or self.ledger.reader
        person = self._row(c, cid)
        rows = c.execute("SELECT seq, ts, type, aggregate, payload FROM journal WHERE aggregate IN (?, ?) "
                         "OR json_extract(payload, '$.customer') = ? ORDER BY seq", (f"customer:{cid}", f"loyalty:{cid}", cid)).fetchall()
        events = [{"seq": r[0], "ts": r[1], "type": r[2], "aggregate": r[3], "payload": json.loads(r[4])} for r in rows]
        orders = [{"order_id": r[0], "state": r[1], "total": r[2]} for r in
                  c.execute("SELECT order_id, state, total FROM omni_orders WHERE customer=?", (cid,)).fetchall()]
        return {"customer": person, "loyalty": account(c, cid), "orders": orders, "journal": events, "exported_at": now_iso()}

    async def erase(self, cid: str) -> dict[str, Any]:
        """Wipe a customer's personal data (Art. 17 DSGVO); the journal keeps only the pseudonym."""

        def fn(txn: Txn) -> dict[str, Any]:
            row = self._row(txn.conn, cid)
            if row["erased_at"]:
                return row
            txn.execute("UPDATE customers SET name=NULL, email=NULL, phone=NULL, card=NULL, erased_at=? WHERE id=?", (now_iso(), cid))
            txn.append("customer.erased", f"customer:{cid}", {"customer": cid})
            return self._row(txn.conn, cid)

        return await self.ledger.write(fn)


# ---------------------------------------------------------------------------- CLI


def cmd_customers(args: argparse.Namespace) -> int:
    """``storegw customers export|erase ID`` on the ledger (stop the daemon or use the API while it runs)."""
    import asyncio

    from gateway.app import Gateway
    from gateway.cli import data_dir, load_args_config

    gw = Gateway(load_args_config(args), data_dir(args))
    svc = CustomerService(gw.ledger)
    from gateway.omni.component import omni_projections

    for proj in omni_projections():
        gw.ledger.add_projection(proj)
    gw.open()
    try:
        if args.action == "export":
            print(json.dumps(svc.export(args.id), indent=2, ensure_ascii=False))
        else:
            print(json.dumps(asyncio.run(svc.erase(args.id))))
        return 0
    finally:
        gw.ledger.close()


def add_parser(sub: Any) -> None:
    """Register ``customers export|erase ID``."""
    p = sub.add_parser("customers", help="DSGVO: export or erase a customer's personal data")
    p.add_argument("action", choices=["export", "erase"])
    p.add_argument("id", help="pseudonymous customer id (c_...)")
    p.set_defaults(func=cmd_customers)

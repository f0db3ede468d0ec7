"""Click & collect orders and reserve & collect reservations: stock held from HQ's push to handover or expiry.

An online order (paid online) arrives from HQ and holds its goods (``order.received``); the staff
work through the pick list (``order.picked``), the customer shows the pickup code and takes all or
part of the goods (``order.handed_over``, stock leaves); what is not collected by the deadline
goes back to free stock (``order.expired``). A reservation from HQ holds goods until it expires
(``reservation.released``) or is paid at the till (``reservation.converted``, committed in the same
transaction as the sale through :meth:`OrderService.on_receipt`). Orders and reservations that
cannot be held are answered with ``order.rejected`` / ``reservation.rejected`` so HQ can re-route.
Expiry runs on a timer and once at start, so deadlines that passed while the gateway was down are
caught up.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.errors import BadRequest, Conflict, NotFound
from gateway.idempotency import IdemKey
from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.omni.config import OmniConfig
from gateway.omni.stock import Line, StockService, lines_json, parse_lines, product_unit, require_available
from gateway.pos.sales import SaleService

OPEN_ORDER_STATES = ("open", "picked", "partially_collected")


def iso(dt: datetime) -> str:
    """Normalised UTC time string; these compare correctly as text."""
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(raw: Any, field: str) -> datetime:
    """An ISO 8601 time with offset."""
    try:
        t = datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadRequest(f"{field} is not an ISO 8601 time", field=field) from None
    if t.tzinfo is None:
        raise BadRequest(f"{field} has no UTC offset", field=field)
    return t


class OrdersProjection:
    """Tables ``omni_orders`` and ``omni_reservations`` with state, lines and deadlines."""

    name = "omni_orders"

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the tables."""
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS omni_orders (order_id TEXT PRIMARY KEY, state TEXT NOT NULL, pickup_code TEXT NOT NULL,
                pickup_by TEXT NOT NULL, customer TEXT, total INTEGER NOT NULL, lines TEXT NOT NULL, updated_seq INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS omni_orders_code ON omni_orders(pickup_code);
            CREATE INDEX IF NOT EXISTS omni_orders_due ON omni_orders(state, pickup_by);
            CREATE TABLE IF NOT EXISTS omni_reservations (reservation_id TEXT PRIMARY KEY, order_id TEXT, state TEXT NOT NULL,
                expires_at TEXT NOT NULL, lines TEXT NOT NULL, receipt_no INTEGER, updated_seq INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS omni_reservations_due ON omni_reservations(state, expires_at);
            """
        )

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the tables."""
        conn.execute("DELETE FROM omni_orders")
        conn.execute("DELETE FROM omni_reservations")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold order and reservation events."""
        p, t = e.payload, e.type
        if t == "order.received":
            lines = [dict(ln, picked_milli=0, handed_milli=0) for ln in p["lines"]]
            conn.execute("INSERT INTO omni_orders(order_id, state, pickup_code, pickup_by, customer, total, lines, updated_seq) "
                         "VALUES (?,?,?,?,?,?,?,?)", (p["order_id"], "open", p["pickup_code"], p["pickup_by"], p.get("customer"),
                                                      p["total"], json.dumps(lines), e.seq))
        elif t in ("order.picked", "order.handed_over", "order.expired", "order.cancelled"):
            row = conn.execute("SELECT lines FROM omni_orders WHERE order_id=?", (p["order_id"],)).fetchone()
            if row is None:
                return
            lines = json.loads(row[0])
            by_code = {ln["code"]: ln for ln in lines}
            state = {"order.expired": "expired", "order.cancelled": "cancelled"}.get(t, "picked")
            if t == "order.picked":
                for ln in p["lines"]:
                    by_code[ln["code"]]["picked_milli"] = ln["qty_milli"]
            elif t == "order.handed_over":
                for ln in p["lines"]:
                    by_code[ln["code"]]["handed_milli"] += ln["qty_milli"]
                state = "collected" if p["complete"] else "partially_collected"
            conn.execute("UPDATE omni_orders SET state=?, lines=?, updated_seq=? WHERE order_id=?",
                         (state, json.dumps(lines), e.seq, p["order_id"]))
        elif t == "reservation.created":
            conn.execute("INSERT INTO omni_reservations(reservation_id, order_id, state, expires_at, lines, updated_seq) "
                         "VALUES (?,?,?,?,?,?)", (p["reservation_id"], p.get("order_id"), "held", p["expires_at"],
                                                  json.dumps(p["lines"]), e.seq))
        elif t in ("reservation.released", "reservation.converted"):
            state = "converted" if t == "reservation.converted" else ("expired" if p["reason"] == "expired" else "released")
            conn.execute("UPDATE omni_reservations SET state=?, receipt_no=?, updated_seq=? WHERE reservation_id=?",
                         (state, p.get("receipt_no"), e.seq, p["reservation_id"]))


def _order_view(row: tuple[Any, ...]) -> dict[str, Any]:
    order_id, state, code, pickup_by, customer, total, lines = row
    return {"order_id": order_id, "state": state, "pickup_code": code, "pickup_by": pickup_by, "customer": customer,
            "total": total, "lines": json.loads(lines)}


ORDER_COLS = "order_id, state, pickup_code, pickup_by, customer, total, lines"


class OrderService:
    """Click & collect and reserve & collect on the ledger."""

    def __init__(self, ledger: Ledger, stock: StockService, sales: SaleService, cfg: OmniConfig,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.ledger = ledger
        self.stock = stock
        self.sales = sales
        self.cfg = cfg
        self.clock = clock or (lambda: datetime.now(UTC))

    # ------------------------------------------------------------------ from HQ (inside the inbound transaction)

    def receive_order(self, txn: Txn, msg: dict[str, Any]) -> None:
        """Apply HQ's ``order`` message: hold the goods, or reject; ``action=cancel`` releases them."""
        order_id = msg["order_id"]
        exists = txn.one("SELECT state FROM omni_orders WHERE order_id=?", (order_id,))
        if msg.get("action") == "cancel":
            if exists in OPEN_ORDER_STATES:
                codes = self._order_codes(txn.conn, order_id)
                txn.append("order.cancelled", f"order:{order_id}", {"order_id": order_id})
                self.stock.done(txn, codes)
            return
        if exists is not None:
            return  # the same order pushed again
        lines = parse_lines(txn.conn, msg["lines"])
        prices = {ln["code"]: ln.get("price", 0) for ln in msg["lines"]}
        if not msg.get("paid"):
            txn.append("order.rejected", f"order:{order_id}", {"order_id": order_id, "reason": "not paid online"})
            return
        try:
            require_available(txn.conn, lines, "online", self.stock.default_online)
        except Conflict as err:
            txn.append("order.rejected", f"order:{order_id}", {"order_id": order_id, "reason": "not enough stock",
                                                                 "shortages": err.extra["shortages"]})
            return
        pickup_by = parse_time(msg["pickup_by"], "pickup_by") if msg.get("pickup_by") else \
            self.clock() + timedelta(days=self.cfg.default_pickup_days)
        code = str(msg.get("pickup_code") or "".join(secrets.choice("0123456789") for _ in range(8)))
        txn.append("order.received", f"order:{order_id}", {
            "order_id": order_id, "channel": msg.get("channel") or "online", "customer": msg.get("customer_ref"),
            "lines": [{"code": c, "qty_milli": q, "price": prices.get(c, 0)} for c, q in lines],
            "total": msg["total"], "pickup_by": iso(pickup_by), "pickup_code": code})
        self.stock.done(txn, [c for c, _ in lines])

    def receive_reservation(self, txn: Txn, msg: dict[str, Any]) -> None:
        """Apply HQ's ``reservation`` message: hold until ``expires_at``, or reject; ``action=release`` frees it."""
        rid = msg["reservation_id"]
        state = txn.one("SELECT state FROM omni_reservations WHERE reservation_id=?", (rid,))
        if msg.get("action") == "release":
            if state == "held":
                self._release(txn, rid, "released")
            return
        if state is not None or txn.one("SELECT 1 FROM journal WHERE type='reservation.rejected' AND aggregate=?",
                                        (f"reservation:{rid}",)):
            return
        lines = parse_lines(txn.conn, msg["lines"])
        expires = parse_time(msg["expires_at"], "expires_at")
        reason = None
        if expires <= self.clock():
            reason = {"reason": "already expired"}
        else:
            try:
                require_available(txn.conn, lines, "online", self.stock.default_online)
            except Conflict as err:
                reason = {"reason": "not enough stock", "shortages": err.extra["shortages"]}
        if reason is not None:
            txn.append("reservation.rejected", f"reservation:{rid}", {"reservation_id": rid, **reason})
            return
        txn.append("reservation.created", f"reservation:{rid}", {
            "reservation_id": rid, "order_id": msg.get("order_id"), "lines": lines_json(lines), "expires_at": iso(expires)})
        self.stock.done(txn, [c for c, _ in lines])

    # ------------------------------------------------------------------ reading

    def orders(self, states: tuple[str, ...] = OPEN_ORDER_STATES) -> list[dict[str, Any]]:
        """Orders in the given states, oldest deadline first."""
        marks = ",".join("?" * len(states))
        rows = self.ledger.query(f"SELECT {ORDER_COLS} FROM omni_orders WHERE state IN ({marks}) ORDER BY pickup_by", states)
        return [_order_view(r) for r in rows]

    def order(self, order_id: str, conn: sqlite3.Connection | None = None) -> dict[str, Any]:
        """One order; NotFound when unknown."""
        row = (conn or self.ledger.reader).execute(f"SELECT {ORDER_COLS} FROM omni_orders WHERE order_id=?", (order_id,)).fetchone()
        if row is None:
            raise NotFound(f"no order {order_id}")
        return _order_view(row)

    def pick_list(self) -> dict[str, Any]:
        """What to fetch from the shelves: open (unpicked) orders and the total per product."""
        todo = [o for o in self.orders(("open",))]
        per_code: dict[str, int] = {}
        for o in todo:
            for ln in o["lines"]:
                per_code[ln["code"]] = per_code.get(ln["code"], 0) + ln["qty_milli"]
        return {"orders": todo, "products": [{"code": c, "qty_milli": q} for c, q in sorted(per_code.items())]}

    def reservations(self, state: str = "held") -> list[dict[str, Any]]:
        """Reservations in a state."""
        rows = self.ledger.query("SELECT reservation_id, order_id, state, expires_at, lines, receipt_no FROM omni_reservations "
                                 "WHERE state=? ORDER BY expires_at", (state,))
        return [{"reservation_id": r[0], "order_id": r[1], "state": r[2], "expires_at": r[3], "lines": json.loads(r[4]),
                 "receipt_no": r[5]} for r in rows]

    @staticmethod
    def _order_codes(conn: sqlite3.Connection, order_id: str) -> list[str]:
        return [r[0] for r in conn.execute("SELECT code FROM omni_holds WHERE hold=?", (f"order:{order_id}",)).fetchall()]

    # ------------------------------------------------------------------ store actions

    async def mark_picked(self, order_id: str, raw_lines: Any = None) -> dict[str, Any]:
        """Confirm the goods were taken from the shelf (all, or the given quantities for a short pick)."""

        def fn(txn: Txn) -> dict[str, Any]:
            o = self.order(order_id, txn.conn)
            if o["state"] != "open":
                raise Conflict(f"order {order_id} is {o['state']}", state=o["state"])
            ordered = {ln["code"]: ln["qty_milli"] for ln in o["lines"]}
            picked = dict(parse_lines(txn.conn, raw_lines, allow_zero=True)) if raw_lines is not None else ordered
            for c, q in picked.items():
                if c not in ordered or q > ordered[c]:
                    raise BadRequest(f"order {order_id} has no {q} thousandths of {c}", field="lines")
            txn.append("order.picked", f"order:{order_id}", {"order_id": order_id, "lines": lines_json(sorted(picked.items())),
                                                               "short": picked != ordered})
            return self.order(order_id, txn.conn)

        return await self.ledger.write(fn)

    async def hand_over(self, pickup_code: str, raw_lines: Any = None, idem: IdemKey | None = None) -> dict[str, Any]:
        """Hand goods to the customer who shows ``pickup_code``: everything picked, or the given part."""
        if not isinstance(pickup_code, str) or not pickup_code:
            raise BadRequest("code must be the pickup code", field="code")

        def fn(txn: Txn) -> dict[str, Any]:
            if idem is not None and (prior := self.sales.idem.lookup(idem, txn.conn)) is not None:
                return prior[1]
            row = txn.execute(f"SELECT {ORDER_COLS} FROM omni_orders WHERE pickup_code=? AND state IN ('picked', "
                              "'partially_collected')", (pickup_code,)).fetchone()
            if row is None:
                raise NotFound("no picked order with this pickup code")
            o = _order_view(row)
            left = {ln["code"]: ln["picked_milli"] - ln["handed_milli"] for ln in o["lines"]}
            take: list[Line] = parse_lines(txn.conn, raw_lines) if raw_lines is not None else \
                [(c, q) for c, q in left.items() if q > 0]
            if not take:
                raise Conflict(f"order {o['order_id']} has nothing picked left to hand over")
            for c, q in take:
                if q > left.get(c, 0):
                    raise Conflict(f"only {left.get(c, 0)} thousandths of {c} are picked and not yet handed over", code=c)
            handed = {ln["code"]: ln["handed_milli"] for ln in o["lines"]}
            for c, q in take:
                handed[c] += q
            complete = all(handed[ln["code"]] >= ln["qty_milli"] for ln in o["lines"])
            txn.append("order.handed_over", f"order:{o['order_id']}", {
                "order_id": o["order_id"], "lines": lines_json(take), "complete": complete, "customer": o["customer"]})
            self.stock.done(txn, [c for c, _ in take])
            result = self.order(o["order_id"], txn.conn)
            if idem is not None:
                self.sales.idem.record(txn, idem, 200, result, txn.entries[-1].seq)
            return result

        return await self.ledger.write(fn)

    def _release(self, txn: Txn, rid: str, reason: str) -> None:
        codes = [ln["code"] for ln in json.loads(txn.one("SELECT lines FROM omni_reservations WHERE reservation_id=?", (rid,)))]
        txn.append("reservation.released", f"reservation:{rid}", {"reservation_id": rid, "reason": reason})
        self.stock.done(txn, codes)

    async def release(self, rid: str) -> dict[str, Any]:
        """Release a held reservation at the store (customer cancelled)."""

        def fn(txn: Txn) -> dict[str, Any]:
            state = txn.one("SELECT state FROM omni_reservations WHERE reservation_id=?", (rid,))
            if state is None:
                raise NotFound(f"no reservation {rid}")
            if state != "held":
                raise Conflict(f"reservation {rid} is {state}", state=state)
            self._release(txn, rid, "released")
            return {"reservation_id": rid, "state": "released"}

        return await self.ledger.write(fn)

    async def expire_due(self) -> dict[str, int]:
        """Release reservations past their deadline and return uncollected orders to stock."""
        now = self.clock()
        cut_res = iso(now)
        cut_ord = iso(now - timedelta(seconds=self.cfg.pickup_grace_s))

        def fn(txn: Txn) -> dict[str, int]:
            res = [r[0] for r in txn.execute("SELECT reservation_id FROM omni_reservations WHERE state='held' AND expires_at <= ?",
                                             (cut_res,)).fetchall()]
            for rid in res:
                self._release(txn, rid, "expired")
            orders = txn.execute(f"SELECT {ORDER_COLS} FROM omni_orders WHERE state IN ('open', 'picked', 'partially_collected') "
                                 "AND pickup_by <= ?", (cut_ord,)).fetchall()
            for row in orders:
                o = _order_view(row)
                left = [(ln["code"], ln["qty_milli"] - ln["handed_milli"]) for ln in o["lines"] if ln["qty_milli"] > ln["handed_milli"]]
                txn.append("order.expired", f"order:{o['order_id']}", {"order_id": o["order_id"], "returned": lines_json(left)})
                self.stock.done(txn, [c for c, _ in left])
            return {"reservations": len(res), "orders": len(orders)}

        return await self.ledger.write(fn)

    async def convert(self, rid: str, payments: Any, *, cashier: str, idem: IdemKey | None = None,
                      customer: str | None = None) -> dict[str, Any]:
        """Sell a held reservation at the till: a normal sale of its lines, converting it in the same transaction."""
        row = self.ledger.query("SELECT state, lines FROM omni_reservations WHERE reservation_id=?", (rid,))
        if not row:
            raise NotFound(f"no reservation {rid}")
        if row[0][0] != "held" and idem is None:
            raise Conflict(f"reservation {rid} is {row[0][0]}", state=row[0][0])
        lines = []
        for ln in json.loads(row[0][1]):
            if product_unit(self.ledger.reader, ln["code"])[0] == "kg":
                lines.append({"code": ln["code"], "weight_g": ln["qty_milli"], "weight_source": "scale"})
            else:
                lines.append({"code": ln["code"], "qty": ln["qty_milli"] // 1000})
        extra: dict[str, Any] = {"reservation_id": rid, "channel": "reserve_collect"}
        if customer:
            extra["customer"] = customer
        return await self.sales.finish(cashier=cashier, payments=payments, lines=lines, idem=idem, extra=extra)

    def on_receipt(self, txn: Txn, type_: str, receipt: dict[str, Any]) -> None:
        """Commit hook: a sale carrying ``reservation_id`` converts that reservation or fails."""
        rid = receipt.get("reservation_id")
        if type_ != "sale.finished" or not rid:
            return
        state = txn.one("SELECT state FROM omni_reservations WHERE reservation_id=?", (rid,))
        if state != "held":
            raise Conflict(f"reservation {rid} is {state or 'unknown'}; it can no longer be sold", state=state)
        txn.append("reservation.converted", f"reservation:{rid}", {"reservation_id": rid, "receipt_no": receipt["receipt_no"]})

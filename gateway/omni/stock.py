"""Stock and availability: reserved and in-transit quantities, safety buffers, available-to-promise, moves.

On hand lives in the core ``stock`` projection (sales, voids, returns and ``stock.adjusted``);
this module adds holds (open reservations and click & collect orders), goods in transit from
other stores, safety buffers per product, group or whole store and channel, and minimum levels.
Available-to-promise (ATP) of a channel is ``on hand - held - buffer(channel)``. Every write that
changes any of these ends with :func:`after_change` in the same transaction: it journals one
``stock.atp`` entry for the touched products (HQ sees availability move with the sale) and a
``stock.reorder_requested`` entry when a product falls below its minimum. All checks run inside
the single writer's transaction, so a till sale and an online reservation of the last unit can
never both succeed.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from gateway.errors import BadRequest, Conflict
from gateway.idempotency import IdemKey, IdempotencyStore
from gateway.ledger import JournalEntry, Ledger, Txn
from gateway.pos.projections import StockProjection

log = logging.getLogger(__name__)

CHANNELS = ("store", "online")
SCOPES = ("product", "group", "all")
ADJUST_REASONS = ("receipt", "count", "correction", "damage", "other")
MAX_MILLI = 10**12

Line = tuple[str, int]  # (product code, quantity in thousandths)


def product_unit(conn: sqlite3.Connection, code: str) -> tuple[str, str]:
    """``(unit, group)`` of a product; unknown products count as pieces without a group."""
    row = conn.execute("SELECT unit, grp FROM products WHERE code=?", (code,)).fetchone()
    return (row[0], row[1]) if row else ("piece", "")


def to_milli(conn: sqlite3.Connection, code: str, qty: int) -> int:
    """HQ and API quantities: pieces for piece products, grams for weighed ones; stored in thousandths."""
    return qty if product_unit(conn, code)[0] == "kg" else qty * 1000


def parse_lines(conn: sqlite3.Connection, raw: Any, field: str = "lines", allow_zero: bool = False,
                signed: bool = False) -> list[Line]:
    """Validate ``[{"code", "qty"} | {"code", "qty_milli"}]`` into merged ``(code, qty_milli)`` pairs in order."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{field} must be a non-empty list", field=field)
    if len(raw) > 500:
        raise BadRequest(f"at most 500 {field}", field=field)
    merged: dict[str, int] = {}
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise BadRequest(f"{field}[{i}] must be an object", field=field)
        code = item.get("code")
        if not isinstance(code, str) or not code or len(code) > 64:
            raise BadRequest(f"{field}[{i}].code must be a non-empty string", field=field)
        if "qty_milli" in item:
            q = item["qty_milli"]
            if isinstance(q, bool) or not isinstance(q, int):
                raise BadRequest(f"{field}[{i}].qty_milli must be an integer", field=field)
        else:
            q = item.get("qty")
            if isinstance(q, bool) or not isinstance(q, int):
                raise BadRequest(f"{field}[{i}].qty must be an integer", field=field)
            q = to_milli(conn, code, q)
        low = -MAX_MILLI if signed else (0 if allow_zero else 1)
        if not low <= q <= MAX_MILLI or (signed and q == 0):
            raise BadRequest(f"{field}[{i}] quantity {q} is out of range", field=field)
        if q % 1000 and product_unit(conn, code)[0] != "kg":
            raise BadRequest(f"{field}[{i}]: {code} is sold by the piece; qty_milli must be whole pieces (x 1000)", field=field)
        merged[code] = merged.get(code, 0) + q
    return list(merged.items())


def lines_json(lines: Iterable[Line]) -> list[dict[str, Any]]:
    """Journal form of quantity lines."""
    return [{"code": c, "qty_milli": q} for c, q in lines]


class StockLevelsProjection:
    """Holds, goods in transit, buffers, minimum levels and tracked products (tables ``omni_*``)."""

    name = "omni_stock"
    TABLES = ("omni_holds", "omni_transit", "omni_buffers", "omni_minimums", "omni_tracked")

    def setup(self, conn: sqlite3.Connection) -> None:
        """Create the tables."""
        conn.executescript(
            """
            CREATE TABLE IF NOT EXISTS omni_holds (hold TEXT NOT NULL, code TEXT NOT NULL, qty_milli INTEGER NOT NULL,
                PRIMARY KEY (hold, code));
            CREATE INDEX IF NOT EXISTS omni_holds_code ON omni_holds(code);
            CREATE TABLE IF NOT EXISTS omni_transit (transfer_id TEXT NOT NULL, code TEXT NOT NULL, qty_milli INTEGER NOT NULL,
                from_store TEXT NOT NULL, PRIMARY KEY (transfer_id, code));
            CREATE INDEX IF NOT EXISTS omni_transit_code ON omni_transit(code);
            CREATE TABLE IF NOT EXISTS omni_buffers (scope TEXT NOT NULL, key TEXT NOT NULL, channel TEXT NOT NULL,
                qty_milli INTEGER NOT NULL, PRIMARY KEY (scope, key, channel));
            CREATE TABLE IF NOT EXISTS omni_minimums (code TEXT PRIMARY KEY, min_milli INTEGER NOT NULL,
                reorder_milli INTEGER NOT NULL, open INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS omni_tracked (code TEXT PRIMARY KEY);
            """
        )

    def reset(self, conn: sqlite3.Connection) -> None:
        """Empty the tables."""
        for t in self.TABLES:
            conn.execute(f"DELETE FROM {t}")

    def apply(self, conn: sqlite3.Connection, e: JournalEntry) -> None:
        """Fold holds, transfers, buffers and minimums."""
        p = e.payload
        t = e.type
        if t == "stock.adjusted":
            conn.execute("INSERT OR IGNORE INTO omni_tracked(code) VALUES (?)", (p["code"],))
        elif t in ("reservation.created", "order.received"):
            hold = _hold_name(t, p)
            for ln in p["lines"]:
                _add_hold(conn, hold, ln["code"], ln["qty_milli"])
        elif t in ("reservation.released", "reservation.converted", "order.expired", "order.cancelled"):
            conn.execute("DELETE FROM omni_holds WHERE hold=?", (_hold_name(t, p),))
        elif t == "order.handed_over":
            hold = f"order:{p['order_id']}"
            for ln in p["lines"]:
                _add_hold(conn, hold, ln["code"], -ln["qty_milli"])
                StockProjection.change(conn, ln["code"], -ln["qty_milli"])
        elif t == "order.returned":
            for ln in p["lines"]:
                StockProjection.change(conn, ln["code"], abs(ln["qty_milli"]))
        elif t == "transfer.cancelled":
            conn.execute("DELETE FROM omni_transit WHERE transfer_id=?", (p["transfer_id"],))
        elif t == "transfer.shipped":
            for ln in p["lines"]:
                StockProjection.change(conn, ln["code"], -ln["qty_milli"])
        elif t == "transfer.announced":
            for ln in p["lines"]:
                conn.execute("INSERT OR REPLACE INTO omni_transit(transfer_id, code, qty_milli, from_store) VALUES (?,?,?,?)",
                             (p["transfer_id"], ln["code"], ln["qty_milli"], p["from_store"]))
        elif t == "transfer.received":
            conn.execute("DELETE FROM omni_transit WHERE transfer_id=?", (p["transfer_id"],))
            for ln in p["received"]:
                conn.execute("INSERT OR IGNORE INTO omni_tracked(code) VALUES (?)", (ln["code"],))
                StockProjection.change(conn, ln["code"], ln["qty_milli"])
        elif t == "stock.buffer_set":
            conn.execute("INSERT OR REPLACE INTO omni_buffers(scope, key, channel, qty_milli) VALUES (?,?,?,?)",
                         (p["scope"], p["key"], p["channel"], p["qty_milli"]))
        elif t == "stock.min_set":
            conn.execute("INSERT INTO omni_minimums(code, min_milli, reorder_milli) VALUES (?,?,?) ON CONFLICT(code) "
                         "DO UPDATE SET min_milli=excluded.min_milli, reorder_milli=excluded.reorder_milli",
                         (p["code"], p["min_milli"], p["reorder_milli"]))
            conn.execute("INSERT OR IGNORE INTO omni_tracked(code) VALUES (?)", (p["code"],))
        elif t == "stock.reorder_requested":
            conn.execute("UPDATE omni_minimums SET open=1 WHERE code=?", (p["code"],))
        elif t == "stock.reorder_cleared":
            conn.execute("UPDATE omni_minimums SET open=0 WHERE code=?", (p["code"],))


def _hold_name(type_: str, p: dict[str, Any]) -> str:
    return f"reservation:{p['reservation_id']}" if type_.startswith("reservation.") else f"order:{p['order_id']}"


def _add_hold(conn: sqlite3.Connection, hold: str, code: str, delta: int) -> None:
    conn.execute("INSERT INTO omni_holds(hold, code, qty_milli) VALUES (?,?,?) "
                 "ON CONFLICT(hold, code) DO UPDATE SET qty_milli = qty_milli + excluded.qty_milli", (hold, code, delta))
    conn.execute("DELETE FROM omni_holds WHERE hold=? AND code=? AND qty_milli <= 0", (hold, code))


# ---------------------------------------------------------------------------- reading levels


def _one(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    row = conn.execute(sql, params).fetchone()
    return int(row[0] or 0) if row else 0


def _buffers(conn: sqlite3.Connection, code: str) -> dict[tuple[str, str], int]:
    """Every buffer row that can apply to ``code``, by (scope, channel), in one query."""
    group = product_unit(conn, code)[1]
    rows = conn.execute("SELECT scope, channel, qty_milli FROM omni_buffers WHERE (scope='product' AND key=?) "
                        "OR (scope='group' AND key=? AND key<>'') OR (scope='all' AND key='')", (code, group)).fetchall()
    return {(scope, ch): int(q) for scope, ch, q in rows}


def _buffer(found: dict[tuple[str, str], int], channel: str, default_online: int) -> int:
    for scope in SCOPES:
        for ch in (channel, "*"):
            if (scope, ch) in found:
                return found[(scope, ch)]
    return default_online if channel == "online" else 0


def buffer_of(conn: sqlite3.Connection, code: str, channel: str, default_online: int = 0) -> int:
    """The safety buffer of a product in a channel: product, then group, then whole store; channel rows before ``*``."""
    return _buffer(_buffers(conn, code), channel, default_online)


def level(conn: sqlite3.Connection, code: str, default_online: int = 0) -> dict[str, Any]:
    """On hand, held, in transit and ATP per channel of one product (ATP is never reported below 0)."""
    on_hand, held, transit = conn.execute(
        "SELECT (SELECT on_hand_milli FROM stock WHERE code=?), (SELECT SUM(qty_milli) FROM omni_holds WHERE code=?), "
        "(SELECT SUM(qty_milli) FROM omni_transit WHERE code=?)", (code, code, code)).fetchone()
    on_hand, held, transit = int(on_hand or 0), int(held or 0), int(transit or 0)
    free = on_hand - held
    found = _buffers(conn, code)
    return {
        "code": code,
        "on_hand_milli": on_hand,
        "reserved_milli": held,
        "in_transit_milli": transit,
        "atp": {ch: max(0, free - _buffer(found, ch, default_online)) for ch in CHANNELS},
    }


def tracked_codes(conn: sqlite3.Connection) -> list[str]:
    """Every product with stock tracking (received, counted, transferred, held or with a minimum)."""
    rows = conn.execute("SELECT code FROM omni_tracked UNION SELECT code FROM omni_holds UNION SELECT code FROM omni_transit "
                        "ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def is_tracked(conn: sqlite3.Connection, code: str) -> bool:
    """True when the store keeps stock of ``code`` or holds it for someone (sales of untracked products are never refused)."""
    return conn.execute("SELECT 1 FROM omni_tracked WHERE code=? UNION ALL SELECT 1 FROM omni_holds WHERE code=? LIMIT 1",
                        (code, code)).fetchone() is not None


def free_qty(conn: sqlite3.Connection, code: str) -> int:
    """On hand minus held, in thousandths (may be negative after an unexpected loss)."""
    return (_one(conn, "SELECT on_hand_milli FROM stock WHERE code=?", (code,))
            - _one(conn, "SELECT SUM(qty_milli) FROM omni_holds WHERE code=?", (code,)))


def require_available(conn: sqlite3.Connection, lines: Iterable[Line], channel: str, default_online: int = 0) -> None:
    """Conflict naming the first product whose channel ATP is smaller than the wanted quantity."""
    short = []
    for code, q in lines:
        have = free_qty(conn, code) - buffer_of(conn, code, channel, default_online)
        if q > have:
            short.append({"code": code, "wanted_milli": q, "available_milli": max(0, have)})
    if short:
        raise Conflict(f"not enough stock for {short[0]['code']}: {short[0]['available_milli']} of "
                       f"{short[0]['wanted_milli']} thousandths available", shortages=short)


def after_change(txn: Txn, codes: Iterable[str], default_online: int = 0) -> None:
    """Journal ATP for ``codes`` (one ``stock.atp`` entry) and reorder requests for products below minimum."""
    uniq = sorted(set(codes))
    if not uniq:
        return
    conn = txn.conn
    items = [level(conn, c, default_online) for c in uniq]
    txn.append("stock.atp", "stock", {"items": items, "snapshot": False})
    for it in items:
        row = conn.execute("SELECT min_milli, reorder_milli, open FROM omni_minimums WHERE code=?", (it["code"],)).fetchone()
        if row is None:
            continue
        minimum, reorder, is_open = row
        projected = it["on_hand_milli"] + it["in_transit_milli"] - it["reserved_milli"]
        if projected < minimum and not is_open:
            txn.append("stock.reorder_requested", f"stock:{it['code']}", {
                "code": it["code"], "projected_milli": projected, "min_milli": minimum,
                "qty_milli": max(reorder, minimum - projected)})
        elif projected >= minimum and is_open:
            txn.append("stock.reorder_cleared", f"stock:{it['code']}", {"code": it["code"], "projected_milli": projected})


async def write_once(ledger: Ledger, idem_store: IdempotencyStore | None, idem: IdemKey | None,
                     fn: Callable[[Txn], Any], status: int = 200) -> Any:
    """Run ``fn`` in one transaction; with a key, a repeated request returns the stored result instead."""

    def wrapped(txn: Txn) -> Any:
        if idem is not None and idem_store is not None:
            prior = idem_store.lookup(idem, txn.conn)
            if prior is not None:
                return prior[1]
        result = fn(txn)
        if idem is not None and idem_store is not None:
            idem_store.record(txn, idem, status, result, txn.entries[-1].seq if txn.entries else None)
        return result

    if idem is not None and idem_store is not None:
        async with idem_store.lock(idem):
            return await ledger.write(wrapped)
    return await ledger.write(wrapped)


class StockService:
    """Goods receipt, stocktaking, corrections, transfers, buffers, minimums and ATP read-outs."""

    def __init__(self, ledger: Ledger, store_id: str, default_online_buffer: int = 0,
                 idem: IdempotencyStore | None = None) -> None:
        self.ledger = ledger
        self.store_id = store_id
        self.default_online = default_online_buffer
        self.idem = idem

    def levels(self, codes: list[str] | None = None) -> list[dict[str, Any]]:
        """Levels of the given products, or of every tracked product."""
        conn = self.ledger.reader
        return [level(conn, c, self.default_online) for c in (codes if codes is not None else tracked_codes(conn))]

    def done(self, txn: Txn, codes: Iterable[str]) -> None:
        """Finish a stock-changing transaction: ATP and reorder entries."""
        after_change(txn, codes, self.default_online)

    def adjust_in(self, txn: Txn, lines: list[Line], reason: str, ref: str, counted: bool = False) -> list[dict[str, Any]]:
        """Append ``stock.adjusted`` entries (inside ``txn``); with ``counted`` the quantities are counts, not deltas."""
        if reason not in ADJUST_REASONS:
            raise BadRequest(f"reason must be one of {', '.join(ADJUST_REASONS)}", field="reason")
        out = []
        for code, q in lines:
            payload: dict[str, Any] = {"code": code, "reason": reason, "ref": ref[:64]}
            if counted:
                on_hand = _one(txn.conn, "SELECT on_hand_milli FROM stock WHERE code=?", (code,))
                payload.update(counted_milli=q, delta_milli=q - on_hand)
            else:
                payload["delta_milli"] = q
            txn.append("stock.adjusted", f"stock:{code}", payload)
            out.append(payload)
        self.done(txn, [c for c, _ in lines])
        return out

    async def adjust(self, raw_lines: Any, reason: str, ref: str = "", counted: bool = False,
                     idem: IdemKey | None = None) -> dict[str, Any]:
        """Goods receipt (``receipt``, positive), count (``counted``) or correction (signed deltas)."""
        signed = reason != "receipt" and not counted

        def fn(txn: Txn) -> dict[str, Any]:
            lines = parse_lines(txn.conn, raw_lines, allow_zero=counted, signed=signed)
            return {"adjusted": self.adjust_in(txn, lines, "count" if counted else reason, ref, counted)}

        return dict(await write_once(self.ledger, self.idem, idem, fn))

    async def set_buffer(self, scope: str, key: str, channel: str, qty_milli: int) -> dict[str, Any]:
        """Set the safety buffer of a product, group or the whole store in one channel (or ``*``)."""
        if scope not in SCOPES:
            raise BadRequest(f"scope must be one of {', '.join(SCOPES)}", field="scope")
        if channel not in (*CHANNELS, "*"):
            raise BadRequest("channel must be store, online or *", field="channel")
        if isinstance(qty_milli, bool) or not isinstance(qty_milli, int) or not 0 <= qty_milli <= MAX_MILLI:
            raise BadRequest("qty_milli must be a non-negative integer", field="qty_milli")
        key = "" if scope == "all" else str(key)

        def fn(txn: Txn) -> dict[str, Any]:
            payload = {"scope": scope, "key": key, "channel": channel, "qty_milli": qty_milli}
            txn.append("stock.buffer_set", f"buffer:{scope}:{key}", payload)
            codes = [key] if scope == "product" else tracked_codes(txn.conn)
            self.done(txn, codes)
            return payload

        return await self.ledger.write(fn)

    async def set_minimum(self, code: str, min_milli: int, reorder_milli: int) -> dict[str, Any]:
        """Set a product's minimum level and the quantity to reorder when it falls below."""
        for name, v in (("min_milli", min_milli), ("reorder_milli", reorder_milli)):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_MILLI:
                raise BadRequest(f"{name} must be a non-negative integer", field=name)

        def fn(txn: Txn) -> dict[str, Any]:
            payload = {"code": code, "min_milli": min_milli, "reorder_milli": reorder_milli}
            txn.append("stock.min_set", f"stock:{code}", payload)
            self.done(txn, [code])
            return payload

        return await self.ledger.write(fn)

    async def ship_transfer(self, transfer_id: str, to_store: str, raw_lines: Any, idem: IdemKey | None = None) -> dict[str, Any]:
        """Send goods to another store: they leave on-hand stock (the receiving store sees them in transit)."""
        if not transfer_id or not to_store or to_store == self.store_id:
            raise BadRequest("transfer_id and a different to_store are required")

        def fn(txn: Txn) -> dict[str, Any]:
            if txn.one("SELECT 1 FROM journal WHERE type='transfer.shipped' AND aggregate=?", (f"transfer:{transfer_id}",)):
                raise Conflict(f"transfer {transfer_id} was already shipped")
            lines = parse_lines(txn.conn, raw_lines)
            require_available(txn.conn, lines, "store")
            payload = {"transfer_id": transfer_id, "from_store": self.store_id, "to_store": to_store, "lines": lines_json(lines)}
            txn.append("transfer.shipped", f"transfer:{transfer_id}", payload)
            self.done(txn, [c for c, _ in lines])
            return payload

        return dict(await write_once(self.ledger, self.idem, idem, fn))

    def announce_in(self, txn: Txn, transfer_id: str, from_store: str, lines: list[Line]) -> None:
        """Record goods on their way to this store (from HQ's ``stock_transfer``); idempotent per transfer."""
        if txn.one("SELECT 1 FROM journal WHERE type IN ('transfer.announced', 'transfer.received') AND aggregate=?",
                   (f"transfer:{transfer_id}",)):
            return
        txn.append("transfer.announced", f"transfer:{transfer_id}",
                   {"transfer_id": transfer_id, "from_store": from_store, "lines": lines_json(lines)})
        self.done(txn, [c for c, _ in lines])

    async def receive_transfer(self, transfer_id: str, raw_lines: Any, idem: IdemKey | None = None) -> dict[str, Any]:
        """Book goods of a transfer into stock; differences to what was announced are journaled with it."""

        def fn(txn: Txn) -> dict[str, Any]:
            if txn.one("SELECT 1 FROM journal WHERE type='transfer.received' AND aggregate=?", (f"transfer:{transfer_id}",)):
                raise Conflict(f"transfer {transfer_id} was already received")
            expected = txn.execute("SELECT code, qty_milli, from_store FROM omni_transit WHERE transfer_id=? ORDER BY code",
                                   (transfer_id,)).fetchall()
            received = parse_lines(txn.conn, raw_lines, allow_zero=True)
            exp = {c: q for c, q, _ in expected}
            got = dict(received)
            diff = [{"code": c, "delta_milli": got.get(c, 0) - exp.get(c, 0)} for c in sorted(set(exp) | set(got))
                    if got.get(c, 0) != exp.get(c, 0)]
            payload = {"transfer_id": transfer_id, "from_store": expected[0][2] if expected else "",
                       "expected": lines_json(sorted(exp.items())), "received": lines_json(received), "differences": diff}
            txn.append("transfer.received", f"transfer:{transfer_id}", payload)
            self.done(txn, sorted(set(exp) | set(got)))
            return payload

        return dict(await write_once(self.ledger, self.idem, idem, fn))

    async def snapshot(self) -> dict[str, Any]:
        """Journal a full ATP snapshot of every tracked product (periodic, for HQ drift checks)."""

        def fn(txn: Txn) -> dict[str, Any]:
            items = [level(txn.conn, c, self.default_online) for c in tracked_codes(txn.conn)]
            entry = txn.append("stock.atp", "stock", {"items": items, "snapshot": True})
            return {"seq": entry.seq, "items": items}

        return await self.ledger.write(fn)

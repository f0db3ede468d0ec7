"""Finishing sales, voids (storno), returns, cash deposits/withdrawals and the X report.

Finishing is the money path: price the lines, settle the payments (change only from cash), charge
non-cash methods, let the fiscal hooks sign, then ONE ledger transaction assigns the receipt number,
appends the receipt entry (projections update stock, cash, counters in the same transaction) and
stores the idempotency record. Only after that commit is the sale acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.config import PosConfig
from gateway.errors import BadRequest, Conflict, GatewayError, NotFound
from gateway.idempotency import IdemKey, IdempotencyStore
from gateway.ledger import Ledger, Txn
from gateway.pos.carts import cart_view, check_qty, label_values, load_cart
from gateway.pos.catalog import Catalog, Resolved
from gateway.pos.money import div_round, vat_split
from gateway.pos.payments import PaymentRegistry
from gateway.pos.pricing import price_line, settle, totals

log = logging.getLogger(__name__)

SignHook = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
AfterHook = Callable[[dict[str, Any]], Awaitable[None]]
# Runs inside the committing transaction after a receipt entry was appended (``type``, receipt);
# may append further entries (stock, vouchers, loyalty) or raise to roll the receipt back.
CommitHook = Callable[[Txn, str, dict[str, Any]], None]
# Adjusts freshly priced lines in place (promotions) before the totals are computed: one-shot
# sales, and copies of cart lines in every cart view and at checkout.
LineHook = Callable[[list[dict[str, Any]], Any], None]
MAX_LINES = 500
MAX_PAYMENTS = 20


def _next_receipt_no(txn: Txn) -> int:
    v = txn.one("SELECT value FROM counters WHERE name='receipt'")
    return int(v or 0) + 1


def _receipt_entry(conn: Any, receipt_no: int) -> tuple[str, dict[str, Any], int | None]:
    row = conn.execute("SELECT r.seq, r.voided_by FROM receipts r WHERE r.receipt_no=?", (receipt_no,)).fetchone()
    if row is None:
        raise NotFound(f"no receipt {receipt_no}")
    seq, voided_by = row
    jrow = conn.execute("SELECT type, payload FROM journal WHERE seq=?", (seq,)).fetchone()
    return jrow[0], json.loads(jrow[1]), voided_by


def _cart_version(conn: Any, cart_id: str) -> tuple[str, int] | None:
    """``(state, updated_seq)``: changes with every event of the cart."""
    row = conn.execute("SELECT state, updated_seq FROM carts WHERE id=?", (cart_id,)).fetchone()
    return None if row is None else (row[0], row[1])


LINE_FIELDS = frozenset({"code", "qty", "weight_g", "weight_source"})


class SaleService:
    """Sales, voids, returns and cash movements; see the module docstring for the commit rules."""

    def __init__(self, ledger: Ledger, catalog: Catalog, payments: PaymentRegistry, idem: IdempotencyStore, cfg: PosConfig) -> None:
        self.ledger = ledger
        self.catalog = catalog
        self.payments = payments
        self.idem = idem
        self.cfg = cfg
        self.sign_hooks: list[SignHook] = []
        self.after_hooks: list[AfterHook] = []
        self.response_hooks: list[Callable[[dict[str, Any]], None]] = []
        self.commit_hooks: list[CommitHook] = []
        self.line_hooks: list[LineHook] = []
        self._receipt_locks: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()

    def receipt_lock(self, key: Any) -> asyncio.Lock:
        """Serialises everything that refunds against one receipt or order (voids, returns,
        exchanges), from its first check through the refund to the commit: two tills cannot
        refund the same goods twice, whatever idempotency keys they send."""
        lock = self._receipt_locks.get(key)
        if lock is None:
            lock = self._receipt_locks[key] = asyncio.Lock()
        return lock

    # ------------------------------------------------------------------ helpers

    def _check_payments(self, payments: Any, refund: bool = False) -> list[dict[str, Any]]:
        if not isinstance(payments, list) or not payments:
            raise BadRequest("payments must be a non-empty list", field="payments")
        if len(payments) > MAX_PAYMENTS:
            raise BadRequest(f"at most {MAX_PAYMENTS} payments", field="payments")
        out: list[dict[str, Any]] = []
        for i, p in enumerate(payments):
            if not isinstance(p, dict):
                raise BadRequest(f"payments[{i}] must be an object", field="payments")
            method = p.get("method")
            if not isinstance(method, str):
                raise BadRequest(f"payments[{i}].method must be a string", field="payments")
            self.payments.get(method)
            amount = p.get("amount")
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise BadRequest(f"payments[{i}].amount must be an integer number of cents", field="payments")
            if not 0 < amount <= self.cfg.max_amount_cents:
                raise BadRequest(f"payments[{i}].amount must be 1..{self.cfg.max_amount_cents} cents", field="payments")
            rec: dict[str, Any] = {"method": method, "amount": amount}
            ref = p.get("ref")
            if ref is not None:
                # A method-specific reference the method needs to charge (e.g. a voucher code).
                if not isinstance(ref, str) or not 0 < len(ref) <= 64 or not ref.isprintable():
                    raise BadRequest(f"payments[{i}].ref must be 1..64 printable characters", field="payments")
                rec["ref"] = ref
            out.append(rec)
        if sum(p["amount"] for p in out) > self.cfg.max_amount_cents:
            raise BadRequest("payments exceed the largest allowed amount", field="payments")
        return out

    def price_lines(self, lines: Any, conn: Any = None) -> list[dict[str, Any]]:
        """Price one-shot sale lines ``[{"code", "qty"|"weight_g"}]``."""
        if not isinstance(lines, list) or not lines:
            raise BadRequest("lines must be a non-empty list", field="lines")
        if len(lines) > MAX_LINES:
            raise BadRequest(f"at most {MAX_LINES} lines", field="lines")
        priced = []
        known = self.catalog.lookup_many([raw.get("code") for raw in lines if isinstance(raw, dict)], conn)
        for i, raw in enumerate(lines, start=1):
            if not isinstance(raw, dict):
                raise BadRequest(f"lines[{i - 1}] must be an object", field="lines")
            unknown = set(raw) - LINE_FIELDS
            if unknown:
                # Refuse rather than ignore: a client sending e.g. "price" must not believe it was applied.
                raise BadRequest(f"lines[{i - 1}] has unknown fields: {', '.join(sorted(map(str, unknown)))}", field="lines")
            code = raw.get("code")
            if not isinstance(code, str) or not code:
                raise BadRequest(f"lines[{i - 1}].code must be a non-empty string", field="lines")
            source = str(raw.get("weight_source", ""))
            qty, w = check_qty(self.cfg, raw.get("qty"), raw.get("weight_g"), source)
            hit = known.get(code)
            res = Resolved(hit) if hit is not None else self.catalog.resolve(code, conn)
            priced.append(price_line(i, res.product, *label_values(res, qty, w, source)))
        return priced

    async def _sign(self, kind: str, draft: dict[str, Any]) -> None:
        for hook in self.sign_hooks:
            extra = await hook(kind, draft)
            if extra:
                draft.update(extra)

    async def _after(self, receipt: dict[str, Any]) -> None:
        for hook in self.after_hooks:
            try:
                await hook(receipt)
            except Exception:
                log.exception("post-receipt hook failed for receipt %s", receipt.get("receipt_no"))

    async def _commit(self, type_: str, draft: dict[str, Any], idem: IdemKey | None,
                      check: Callable[[Txn], None] | None = None) -> dict[str, Any]:
        return (await self.commit_receipts([(type_, draft)], idem, check))[0]

    async def commit_receipts(self, drafts: list[tuple[str, dict[str, Any]]], idem: IdemKey | None,
                              check: Callable[[Txn], None] | None = None) -> list[dict[str, Any]]:
        """Commit signed receipt drafts in ONE transaction (an exchange is a return plus a sale).

        Each draft gets the next receipt number; the commit hooks run after each entry. The
        idempotency record holds the single receipt, or ``{"receipts": [...]}`` for several.
        """

        def fn(txn: Txn) -> list[dict[str, Any]]:
            if idem is not None:
                prior = self.idem.lookup(idem, txn.conn)
                if prior is not None:
                    return list(prior[1]["receipts"]) if len(drafts) > 1 else [prior[1]]
            if check is not None:
                check(txn)
            out = []
            for type_, draft in drafts:
                receipt = dict(draft, receipt_no=_next_receipt_no(txn))
                entry = txn.append(type_, f"receipt:{receipt['receipt_no']}", receipt)
                receipt["seq"] = entry.seq
                receipt["ts"] = entry.ts
                for hook in self.commit_hooks:
                    hook(txn, type_, receipt)
                for decorate in self.response_hooks:
                    decorate(receipt)  # response-only fields (e.g. the digital receipt link), stored for retries
                out.append(receipt)
            if idem is not None:
                self.idem.record(txn, idem, 201, out[0] if len(out) == 1 else {"receipts": out}, out[-1]["seq"])
            return out

        receipts = await self.ledger.write(fn)
        for receipt in receipts:
            await self._after(receipt)
        return receipts

    async def commit_refunded(self, type_: str, draft: dict[str, Any], idem: IdemKey | None,
                               check: Callable[[Txn], None]) -> dict[str, Any]:
        """Commit a receipt whose non-cash money already went back to the customer (card, voucher);
        if that fails, say so loudly (cash is only paid out once the receipt exists)."""
        try:
            return await self._commit(type_, draft, idem, check)
        except Exception:
            paid_out = [(p["method"], p["amount"]) for p in draft["payments"] if not self.payments.get(p["method"]).is_cash]
            if paid_out:
                log.error("%s refunded %s to the customer but the receipt could not be committed: reconcile by hand",
                          type_, paid_out)
            raise

    async def sign(self, kind: str, draft: dict[str, Any]) -> None:
        """Let the fiscal hooks sign a draft (for receipts built outside this service)."""
        await self._sign(kind, draft)

    async def _charge(self, recorded: list[dict[str, Any]], ref: str) -> None:
        done: list[dict[str, Any]] = []
        try:
            for p in recorded:
                method = self.payments.get(p["method"])
                if not method.is_cash:
                    charge_payment = getattr(method, "charge_payment", None)
                    # Methods that need the payment's own fields (a voucher code) take the record.
                    details = await (charge_payment(p, ref) if charge_payment else method.charge(p["amount"], ref))
                    if details:
                        p["details"] = details
                    done.append(p)
        except GatewayError:
            await self.reverse(done, ref)
            raise

    def check_payments(self, payments: Any) -> list[dict[str, Any]]:
        """Validate tendered payments (methods known, amounts in range) for a receipt built elsewhere."""
        return self._check_payments(payments)

    async def charge(self, recorded: list[dict[str, Any]], ref: str) -> None:
        """Charge the non-cash payments of a receipt built elsewhere; reverses them all if one fails."""
        await self._charge(recorded, ref)

    async def reverse(self, recorded: list[dict[str, Any]], ref: str) -> None:
        """Refund charged non-cash payments of a sale that could not be committed."""
        for p in recorded:
            if self.payments.get(p["method"]).is_cash:
                continue
            try:
                await self.payments.get(p["method"]).refund(p["amount"], ref, p)
            except Exception:
                log.exception("could not reverse payment %s after a failed sale %s", p, ref)

    # ------------------------------------------------------------------ sales

    async def finish(self, *, cashier: str, payments: Any, cart_id: str | None = None, lines: Any = None,
                     idem: IdemKey | None = None, training: bool | None = None,
                     extra: dict[str, Any] | None = None, priced: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Finish a sale from a cart or from one-shot lines; returns the committed receipt.

        ``priced`` are lines already priced by trusted code (a voucher sold at its face value), used
        instead of ``lines``; never pass client input there. ``extra`` adds trusted fields to the
        receipt (``reservation_id``, ``customer``, ``channel``) for the commit hooks; it never
        replaces a field the sale computes.
        """
        return await self.idem.once(idem, lambda: self._finish(cashier, payments, cart_id, lines, idem, training, extra, priced))

    async def _finish(self, cashier: str, payments: Any, cart_id: str | None, lines: Any,
                      idem: IdemKey | None, training: bool | None, extra: dict[str, Any] | None = None,
                      priced_in: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        pays = self._check_payments(payments)
        version = None
        if cart_id is not None:
            version = _cart_version(self.ledger.reader, cart_id)
            state, _, data = load_cart(self.ledger.reader, cart_id)
            if state != "open":
                raise Conflict(f"cart {cart_id} is {state}", state=state)
            view = cart_view(cart_id, state, cashier, data, self.line_hooks, self.ledger.reader, self.cfg.vat_rates)
            priced, tot = view["lines"], view["totals"]
            if not any(not ln.get("voided") for ln in priced):
                raise BadRequest("the cart has no lines")
        elif priced_in is not None:
            priced = priced_in
            tot = totals(priced, rates=self.cfg.vat_rates)
        else:
            priced = self.price_lines(lines)
            for line_hook in self.line_hooks:
                line_hook(priced, None)
            tot = totals(priced, rates=self.cfg.vat_rates)
        if tot["gross"] > self.cfg.max_amount_cents:
            raise BadRequest("the sale total exceeds the largest allowed amount")
        recorded, change = settle(tot["gross"], pays, self.payments.cash_names)
        draft: dict[str, Any] = {
            "kind": "sale",
            "cashier": cashier,
            "lines": priced,
            "totals": tot,
            "payments": recorded,
            "change": change,
            "training": self.cfg.training if training is None else training,
        }
        if cart_id:
            draft["cart_id"] = cart_id
        for k, v in (extra or {}).items():
            draft.setdefault(k, v)
        ref = idem.key if idem else (cart_id or "")
        await self._charge(recorded, ref)
        await self._sign("sale", draft)

        def check(txn: Txn) -> None:
            # The cart may have changed while the payment ran (a line added, the cart parked):
            # the receipt must hold exactly what was priced and paid, so refuse (the charge is reversed).
            if cart_id is not None and _cart_version(txn.conn, cart_id) != version:
                st = load_cart(txn.conn, cart_id)[0]
                raise Conflict(f"cart {cart_id} is {st}" if st != "open" else f"cart {cart_id} changed during payment; "
                               "check out again", state=st)

        try:
            return await self._commit("sale.finished", draft, idem, check)
        except GatewayError:
            await self.reverse(recorded, ref)
            raise

    def receipt(self, receipt_no: int) -> dict[str, Any]:
        """A committed receipt by number, with its journal ``seq`` and ``ts`` as the sale returned them."""
        type_, payload, voided_by = _receipt_entry(self.ledger.reader, receipt_no)
        seq, ts = self.ledger.reader.execute(
            "SELECT j.seq, j.ts FROM receipts r JOIN journal j ON j.seq = r.seq WHERE r.receipt_no=?", (receipt_no,)).fetchone()
        return dict(payload, type=type_, voided_by=voided_by, seq=seq, ts=ts)

    async def void(self, receipt_no: int, *, cashier: str, reason: str = "", idem: IdemKey | None = None) -> dict[str, Any]:
        """Cancel a whole sale receipt with a negative receipt referencing it (storno)."""
        return await self.idem.once(idem, lambda: self._void(receipt_no, cashier, reason, idem))

    async def _void(self, receipt_no: int, cashier: str, reason: str, idem: IdemKey | None) -> dict[str, Any]:
        async with self.receipt_lock(receipt_no):
            return await self._void_locked(receipt_no, cashier, reason, idem)

    async def _void_locked(self, receipt_no: int, cashier: str, reason: str, idem: IdemKey | None) -> dict[str, Any]:
        type_, orig, voided_by = _receipt_entry(self.ledger.reader, receipt_no)
        if type_ != "sale.finished":
            raise Conflict(f"receipt {receipt_no} is not a sale and cannot be voided")
        if voided_by:
            raise Conflict(f"receipt {receipt_no} was already voided by receipt {voided_by}")
        if self.ledger.query_one("SELECT COUNT(*) FROM returned_qty WHERE receipt_no=?", (receipt_no,)):
            raise Conflict(f"receipt {receipt_no} has returns; return the rest instead of voiding")
        lines = [_negate_line(ln) for ln in orig["lines"] if not ln.get("voided")]
        payments = [dict(p, amount=-p["amount"]) for p in orig["payments"]]
        for p in payments:
            p.pop("tendered", None)
        for p in orig["payments"]:
            m = self.payments.get(p["method"])
            if not m.is_cash:
                await m.refund(p["amount"], f"void:{receipt_no}", p)
        draft: dict[str, Any] = {
            "kind": "void", "original": receipt_no, "cashier": cashier, "reason": reason[:200], "lines": lines,
            "totals": _negate_totals(orig["totals"]), "payments": payments, "change": 0, "training": orig.get("training", False),
        }
        await self._sign("void", draft)

        def check(txn: Txn) -> None:
            _, _, vb = _receipt_entry(txn.conn, receipt_no)
            if vb:
                raise Conflict(f"receipt {receipt_no} was already voided by receipt {vb}")

        return await self.commit_refunded("sale.voided", draft, idem, check)

    async def return_items(self, receipt_no: int, items: Any, *, cashier: str, refund_method: str = "cash",
                           idem: IdemKey | None = None) -> dict[str, Any]:
        """Return lines of a sale receipt (``[{"line", "qty"|"weight_g"}]``), refunding to ``refund_method``."""
        return await self.idem.once(idem, lambda: self._return(receipt_no, items, cashier, refund_method, idem))

    def return_lines(self, conn: Any, receipt_no: int, items: Any) -> tuple[dict[str, Any], Callable[[Any], list[dict[str, Any]]]]:
        """Check a return of ``items`` of a sale; ``(original receipt, build(conn) -> negative lines)``.

        ``build`` re-reads the quantities already returned, so run it again inside the committing
        transaction to detect a concurrent return.
        """
        type_, orig, voided_by = _receipt_entry(conn, receipt_no)
        if type_ != "sale.finished" or voided_by:
            raise Conflict(f"receipt {receipt_no} is not an open sale")
        if not isinstance(items, list) or not items:
            raise BadRequest("items must be a non-empty list", field="items")
        by_no = {ln["line"]: ln for ln in orig["lines"] if not ln.get("voided")}
        wanted: dict[int, int] = {}
        for i, it in enumerate(items):
            if not isinstance(it, dict) or isinstance(it.get("line"), bool) or not isinstance(it.get("line"), int):
                raise BadRequest(f"items[{i}].line must be an integer", field="items")
            ln = by_no.get(it["line"])
            if ln is None:
                raise BadRequest(f"receipt {receipt_no} has no line {it['line']}", field="items")
            if ln["unit"] == "kg":
                q = it.get("weight_g", ln["qty_milli"])
            else:
                q = it.get("qty", ln["qty_milli"] // 1000)
                if isinstance(q, int) and not isinstance(q, bool):
                    q *= 1000
            if isinstance(q, bool) or not isinstance(q, int) or q <= 0:
                raise BadRequest(f"items[{i}] quantity must be a positive integer", field="items")
            wanted[it["line"]] = wanted.get(it["line"], 0) + q

        def build(conn: Any) -> list[dict[str, Any]]:
            already = dict(conn.execute("SELECT line, qty_milli FROM returned_qty WHERE receipt_no=?", (receipt_no,)).fetchall())
            out = []
            for line_no, q in sorted(wanted.items()):
                ln = by_no[line_no]
                left = ln["qty_milli"] - already.get(line_no, 0)
                if q > left:
                    raise Conflict(f"line {line_no}: only {left} thousandths left to return", line=line_no)
                # Refund the paid share of the line (after discounts) pro rata, computed on the
                # cumulative returned quantity so that partial returns telescope exactly to what
                # was paid for the whole line and never exceed it.
                done = already.get(line_no, 0)
                amount = div_round(ln["total"] * (done + q), ln["qty_milli"]) - div_round(ln["total"] * done, ln["qty_milli"])
                out.append({**_negate_line(ln), "original_line": line_no, "qty_milli": -q, "total": -amount,
                            "amount": -amount, "gross": -amount, "discount": 0, "share": 0})
                if ln["unit"] == "kg":
                    out[-1]["weight_g"] = -q
                else:
                    out[-1]["qty"] = -(q // 1000)
            return out

        return orig, build

    async def _return(self, receipt_no: int, items: Any, cashier: str, refund_method: str, idem: IdemKey | None) -> dict[str, Any]:
        async with self.receipt_lock(receipt_no):
            return await self._return_locked(receipt_no, items, cashier, refund_method, idem)

    async def _return_locked(self, receipt_no: int, items: Any, cashier: str, refund_method: str,
                             idem: IdemKey | None) -> dict[str, Any]:
        orig, build = self.return_lines(self.ledger.reader, receipt_no, items)
        method = self.payments.get(refund_method)
        lines = build(self.ledger.reader)
        refund_total = -sum(ln["total"] for ln in lines)
        details = await method.refund(refund_total, f"return:{receipt_no}", None)
        payment: dict[str, Any] = {"method": refund_method, "amount": -refund_total}
        if details:
            payment["details"] = details
        draft: dict[str, Any] = {
            "kind": "return", "original": receipt_no, "cashier": cashier, "lines": lines,
            "totals": _totals_of(lines, self.cfg.vat_rates), "payments": [payment], "change": 0, "training": orig.get("training", False),
        }
        await self._sign("return", draft)

        def check(txn: Txn) -> None:
            fresh = build(txn.conn)
            if [ln["total"] for ln in fresh] != [ln["total"] for ln in lines]:
                raise Conflict("the receipt changed while returning; retry")

        return await self.commit_refunded("sale.returned", draft, idem, check)

    async def cash_move(self, kind: str, amount: Any, *, cashier: str, reason: str = "", idem: IdemKey | None = None) -> dict[str, Any]:
        """A cash deposit (Einlage) or withdrawal (Entnahme) with its own receipt number."""
        if kind not in ("deposit", "withdrawal"):
            raise BadRequest("kind must be deposit or withdrawal")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= self.cfg.max_amount_cents:
            raise BadRequest(f"amount must be 1..{self.cfg.max_amount_cents} cents", field="amount")
        return await self.idem.once(idem, lambda: self._cash_move(kind, amount, cashier, reason, idem))

    async def _cash_move(self, kind: str, amount: int, cashier: str, reason: str, idem: IdemKey | None) -> dict[str, Any]:
        draft: dict[str, Any] = {"kind": kind, "amount": amount, "cashier": cashier, "reason": str(reason)[:200],
                                 "training": self.cfg.training}
        await self._sign(kind, draft)

        def check(txn: Txn) -> None:
            if kind == "withdrawal":
                bal = int(txn.one("SELECT balance FROM cash_balance WHERE id=1") or 0)
                if amount > bal:
                    raise Conflict(f"withdrawal {amount} exceeds the cash balance {bal}", balance=bal)

        return await self._commit(f"cash.{kind}", draft, idem, check)

    def cash_balance(self) -> int:
        """Cash in the drawer according to the ledger, in cents."""
        return int(self.ledger.query_one("SELECT balance FROM cash_balance WHERE id=1") or 0)


def _negate_line(ln: dict[str, Any]) -> dict[str, Any]:
    out = dict(ln)
    for k in ("qty_milli", "gross", "discount", "amount", "share", "total"):
        if k in out:
            out[k] = -out[k]
    if "qty" in out:
        out["qty"] = -out["qty"]
    if "weight_g" in out:
        out["weight_g"] = -out["weight_g"]
    out["original_line"] = ln["line"]
    return out


def _negate_totals(t: dict[str, Any]) -> dict[str, Any]:
    return {
        "gross": -t["gross"], "net": -t["net"], "vat": -t["vat"], "discount": -t["discount"],
        "by_vat": [{**v, "gross": -v["gross"], "net": -v["net"], "vat": -v["vat"]} for v in t["by_vat"]],
    }


def _totals_of(lines: list[dict[str, Any]], rates: dict[int, int]) -> dict[str, Any]:
    """Totals of return lines (negative ``total`` per line), per VAT id."""
    by_vat: dict[int, int] = {}
    for ln in lines:
        by_vat[ln["vat_id"]] = by_vat.get(ln["vat_id"], 0) + ln["total"]
    splits = [vat_split(v, g, rates) for v, g in sorted(by_vat.items())]
    return {"gross": sum(s.gross for s in splits), "net": sum(s.net for s in splits), "vat": sum(s.vat for s in splits),
            "discount": 0, "by_vat": [s.to_dict() for s in splits]}



return_totals = _totals_of

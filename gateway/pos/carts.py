"""Carts: open, add lines by code (qty or weight), discounts, void lines, park and resume.

Every change is a journal entry (``cart.*``) and the ``carts`` projection holds the current state;
checks run inside the write transaction so two tills editing one cart cannot interleave badly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from gateway.config import PosConfig
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.ledger import Ledger, Txn
from gateway.pos.catalog import Catalog, Resolved
from gateway.pos.pricing import apply_line_discount, discount_amount, price_line, totals

WEIGHT_SOURCES = ("scale", "manual")


def check_qty(cfg: PosConfig, qty: Any, weight_g: Any, weight_source: str = "") -> tuple[int | None, int | None]:
    """Validate a quantity in pieces or a weight in grams against the configured limits."""
    if qty is not None and (isinstance(qty, bool) or not isinstance(qty, int)):
        raise BadRequest("qty must be an integer number of pieces", field="qty")
    if weight_g is not None and (isinstance(weight_g, bool) or not isinstance(weight_g, int)):
        raise BadRequest("weight_g must be an integer number of grams", field="weight_g")
    if qty is not None and not 1 <= qty <= cfg.max_line_qty:
        raise BadRequest(f"qty must be 1..{cfg.max_line_qty}", field="qty")
    if weight_g is not None:
        if not 1 <= weight_g <= cfg.max_weight_g:
            raise BadRequest(f"weight_g must be 1..{cfg.max_weight_g}", field="weight_g")
        if weight_source not in WEIGHT_SOURCES:
            raise BadRequest("weight_source must be 'scale' (a reading of the till's scale) or 'manual'", field="weight_source")
        if weight_source != "scale" and not cfg.manual_weight_allowed:
            # Legal-for-trade: a weight must come from a verified scale reading unless allowed.
            raise BadRequest("manual weight entry is not allowed on this till: weigh on the scale", field="weight_g")
    return qty, weight_g


def label_values(res: Resolved, qty: int | None, weight_g: int | None, source: str) -> tuple[Any, ...]:
    """``(qty, weight_g, weight_source, label_price)`` for price_line, preferring what the label says."""
    if res.weight_g is not None:
        return None, res.weight_g, "label", res.price_cents
    if res.count is not None:
        return res.count, None, source, res.price_cents
    return qty, weight_g, source, res.price_cents


def load_cart(conn: Any, cart_id: str) -> tuple[str, str, dict[str, Any]]:
    """``(state, cashier, data)`` of a cart; NotFound when unknown."""
    row = conn.execute("SELECT state, cashier, data FROM carts WHERE id=?", (cart_id,)).fetchone()
    if row is None:
        raise NotFound(f"no cart {cart_id}")
    return row[0], row[1], json.loads(row[2])


def cart_view(cart_id: str, state: str, cashier: str, data: dict[str, Any],
              line_hooks: Sequence[Callable[[list[dict[str, Any]], Any], None]] = (), conn: Any = None,
              rates: dict[int, int] | None = None) -> dict[str, Any]:
    """API form of a cart with live totals; ``line_hooks`` (promotions) adjust copies of the lines first."""
    lines = data["lines"]
    if line_hooks:
        lines = [dict(ln) for ln in lines]
        for hook in line_hooks:
            hook(lines, conn)
    disc = data.get("discount") or {}
    live_amount = sum(ln["amount"] for ln in lines if not ln.get("voided"))
    cart_discount = 0
    if disc:
        cart_discount = min(live_amount, discount_amount(live_amount, disc.get("percent_bp"), disc.get("amount")))
    tot = totals(lines, cart_discount, rates)
    return {"id": cart_id, "state": state, "cashier": cashier, "lines": lines, "discount": disc or None, "totals": tot,
            "receipt_no": data.get("receipt_no")}


class CartService:
    """Cart operations; each returns the cart's new view."""

    def __init__(self, ledger: Ledger, catalog: Catalog, cfg: PosConfig) -> None:
        self.ledger = ledger
        self.catalog = catalog
        self.cfg = cfg
        # Shared with SaleService.line_hooks by the app, so a cart shows what its checkout charges.
        self.line_hooks: list[Callable[[list[dict[str, Any]], Any], None]] = []

    def get(self, cart_id: str) -> dict[str, Any]:
        """Current state of a cart."""
        return cart_view(cart_id, *load_cart(self.ledger.reader, cart_id), self.line_hooks, self.ledger.reader, self.cfg.vat_rates)

    def list(self, state: str | None = None) -> list[dict[str, Any]]:
        """Carts (without lines) in a state, newest first."""
        sql = "SELECT id, state, cashier, updated FROM carts"
        params: tuple[Any, ...] = ()
        if state:
            sql += " WHERE state=?"
            params = (state,)
        rows = self.ledger.query(sql + " ORDER BY updated_seq DESC LIMIT 200", params)
        return [{"id": r[0], "state": r[1], "cashier": r[2], "updated": r[3]} for r in rows]

    async def open(self, cashier: str) -> dict[str, Any]:
        """A new empty cart."""
        cart_id = uuid.uuid4().hex

        def fn(txn: Txn) -> dict[str, Any]:
            txn.append("cart.opened", f"cart:{cart_id}", {"cart_id": cart_id, "cashier": cashier})
            return cart_view(cart_id, *load_cart(txn.conn, cart_id), self.line_hooks, txn.conn, self.cfg.vat_rates)

        return await self.ledger.write(fn)

    async def _mutate(self, cart_id: str, allowed: tuple[str, ...], build: Any) -> dict[str, Any]:
        def fn(txn: Txn) -> dict[str, Any]:
            state, _cashier, data = load_cart(txn.conn, cart_id)
            if state not in allowed:
                raise Conflict(f"cart {cart_id} is {state}", state=state)
            for type_, payload in build(txn, data):
                txn.append(type_, f"cart:{cart_id}", {"cart_id": cart_id, **payload})
            return cart_view(cart_id, *load_cart(txn.conn, cart_id), self.line_hooks, txn.conn, self.cfg.vat_rates)

        return await self.ledger.write(fn)

    async def add_line(self, cart_id: str, code: Any, qty: Any = None, weight_g: Any = None, weight_source: str = "") -> dict[str, Any]:
        """Add a product by code with a quantity in pieces or a weight in grams."""
        if not isinstance(code, str) or not code:
            raise BadRequest("code must be a non-empty string", field="code")
        q, w = check_qty(self.cfg, qty, weight_g, weight_source)

        def build(txn: Txn, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            res = self.catalog.resolve(code, txn.conn)
            line = price_line(data["next_line"], res.product, *label_values(res, q, w, weight_source))
            return [("cart.line_added", {"line": line})]

        return await self._mutate(cart_id, ("open",), build)

    async def void_line(self, cart_id: str, line_no: int) -> dict[str, Any]:
        """Void one line (it stays visible, marked voided)."""

        def build(txn: Txn, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            line = _find_line(data, line_no)
            if line.get("voided"):
                raise Conflict(f"line {line_no} is already voided")
            return [("cart.line_voided", {"line": line_no})]

        return await self._mutate(cart_id, ("open",), build)

    async def discount_line(self, cart_id: str, line_no: int, percent_bp: int | None, amount: int | None) -> dict[str, Any]:
        """Set a line discount (percent in basis points or amount in cents)."""

        def build(txn: Txn, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            line = dict(_find_line(data, line_no))
            if line.get("voided"):
                raise Conflict(f"line {line_no} is voided")
            apply_line_discount(line, percent_bp, amount)
            return [("cart.line_discounted", {"line": line_no, "discount": line["discount"]})]

        return await self._mutate(cart_id, ("open",), build)

    async def discount_cart(self, cart_id: str, percent_bp: int | None, amount: int | None) -> dict[str, Any]:
        """Set the cart discount (spread over the lines at the end)."""

        def build(txn: Txn, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
            base = sum(ln["amount"] for ln in data["lines"] if not ln.get("voided"))
            discount_amount(base, percent_bp, amount)  # validates against the current amount
            disc = {"percent_bp": percent_bp} if percent_bp is not None else {"amount": amount}
            return [("cart.discounted", {"discount": disc})]

        return await self._mutate(cart_id, ("open",), build)

    async def park(self, cart_id: str) -> dict[str, Any]:
        """Put an open cart aside."""
        return await self._mutate(cart_id, ("open",), lambda txn, data: [("cart.parked", {})])

    async def resume(self, cart_id: str) -> dict[str, Any]:
        """Continue a parked cart."""
        return await self._mutate(cart_id, ("parked",), lambda txn, data: [("cart.resumed", {})])

    async def cancel(self, cart_id: str) -> dict[str, Any]:
        """Abandon an open or parked cart."""
        return await self._mutate(cart_id, ("open", "parked"), lambda txn, data: [("cart.cancelled", {})])


def _find_line(data: dict[str, Any], line_no: int) -> dict[str, Any]:
    for ln in data["lines"]:
        if ln["line"] == line_no:
            return dict(ln)
    raise NotFound(f"no line {line_no} in this cart")

"""Pure pricing of cart lines and receipts: line amounts, discounts, totals per VAT rate, payments.

Everything here is integer cents and deterministic, so the same lines always give the same
receipt. A cart discount is spread over the lines in proportion to their amounts (largest
remainder), which keeps the VAT breakdown exact for mixed-rate carts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.errors import BadRequest
from gateway.pos.catalog import Product
from gateway.pos.money import VAT_RATES_BP, allocate, div_round, percent_of, vat_split


def price_line(line_no: int, product: Product, qty: int | None, weight_g: int | None, weight_source: str = "",
               label_price: int | None = None) -> dict[str, Any]:
    """A priced line dict for ``qty`` pieces or ``weight_g`` grams of ``product``.

    ``label_price`` is the price printed into an in-store barcode (prefix 2x): it is the line's
    gross amount; a weighed product without a printed weight gets the weight that price implies.
    """
    if label_price is not None:
        if product.unit == "kg" and weight_g is None and product.price > 0:
            weight_g = max(1, div_round(label_price * 1000, product.price))
            weight_source = "label-price"
        labelled = price_line(line_no, product, None if product.unit == "kg" else 1,
                              weight_g if product.unit == "kg" else None, weight_source)
        labelled["gross"] = labelled["amount"] = label_price
        labelled["label_price"] = True
        return labelled
    if product.unit == "kg":
        if weight_g is None:
            raise BadRequest(f"product {product.code} is sold by weight: give weight_g", field="weight_g")
        if qty not in (None, 1):
            raise BadRequest("a weighed line has no qty", field="qty")
        gross = div_round(product.price * weight_g, 1000)
        qty_milli = weight_g
    else:
        if weight_g is not None:
            raise BadRequest(f"product {product.code} is sold by piece: give qty, not weight_g", field="weight_g")
        q = 1 if qty is None else qty
        gross = product.price * q
        qty_milli = q * 1000
    line: dict[str, Any] = {
        "line": line_no,
        "code": product.code,
        "name": product.name,
        "vat_id": product.vat_id,
        "unit": product.unit,
        "unit_price": product.price,
        "qty_milli": qty_milli,
        "gross": gross,
        "discount": 0,
        "amount": gross,
        "voided": False,
        "group": product.group,
    }
    if product.unit == "kg":
        line["weight_g"] = weight_g
        if weight_source:
            line["weight_source"] = weight_source
    else:
        line["qty"] = qty_milli // 1000
    return line


def discount_amount(base: int, percent_bp: int | None, amount: int | None) -> int:
    """A discount of ``percent_bp`` basis points or a fixed ``amount``, capped at ``base``."""
    if (percent_bp is None) == (amount is None):
        raise BadRequest("give exactly one of percent_bp or amount")
    if percent_bp is not None:
        if not 0 <= percent_bp <= 10000:
            raise BadRequest("percent_bp must be 0..10000", field="percent_bp")
        d = percent_of(base, percent_bp)
    else:
        assert amount is not None
        if amount < 0:
            raise BadRequest("discount amount must not be negative", field="amount")
        d = amount
    if d > base:
        raise BadRequest(f"discount {d} exceeds the amount {base}")
    return d


def apply_line_discount(line: dict[str, Any], percent_bp: int | None, amount: int | None) -> None:
    """Set the discount of one line (replacing an earlier one)."""
    d = discount_amount(line["gross"], percent_bp, amount)
    line["discount"] = d
    line["amount"] = line["gross"] - d


def totals(lines: Sequence[dict[str, Any]], cart_discount: int = 0, rates: dict[int, int] | None = None) -> dict[str, Any]:
    """Spread the cart discount over live lines and compute the VAT breakdown.

    Mutates each live line's ``share`` (its part of the cart discount) and ``total`` (what the
    customer pays for it) and returns ``{"gross", "net", "vat", "discount", "by_vat": [...]}``.
    """
    live = [ln for ln in lines if not ln.get("voided")]
    base = sum(ln["amount"] for ln in live)
    if cart_discount > base:
        raise BadRequest(f"cart discount {cart_discount} exceeds the cart amount {base}")
    shares = allocate(cart_discount, [ln["amount"] for ln in live]) if cart_discount else [0] * len(live)
    by_vat: dict[int, int] = {}
    for ln, share in zip(live, shares, strict=True):
        ln["share"] = share
        ln["total"] = ln["amount"] - share
        by_vat[ln["vat_id"]] = by_vat.get(ln["vat_id"], 0) + ln["total"]
    for ln in lines:
        if ln.get("voided"):
            ln["share"] = 0
            ln["total"] = 0
    splits = [vat_split(v, g, rates or VAT_RATES_BP) for v, g in sorted(by_vat.items())]
    line_discounts = sum(ln["discount"] for ln in live)
    return {
        "gross": sum(s.gross for s in splits),
        "net": sum(s.net for s in splits),
        "vat": sum(s.vat for s in splits),
        "discount": line_discounts + cart_discount,
        "by_vat": [s.to_dict() for s in splits],
    }


def settle(total: int, payments: Sequence[dict[str, Any]], cash_methods: set[str]) -> tuple[list[dict[str, Any]], int]:
    """Check tendered payments against ``total``; returns recorded payments and the change.

    Change is only given from cash: non-cash payments may not exceed the total, and the change
    can never be larger than the cash tendered. Recorded cash payments are net of change.
    """
    if total < 0:
        raise BadRequest("a sale total cannot be negative; use a return")
    tendered = sum(p["amount"] for p in payments)
    noncash = sum(p["amount"] for p in payments if p["method"] not in cash_methods)
    cash = tendered - noncash
    if tendered < total:
        raise BadRequest(f"payments {tendered} do not cover the total {total}", tendered=tendered, total=total)
    if noncash > total:
        raise BadRequest("non-cash payments exceed the total (no change on cards)")
    change = tendered - total
    if change > cash:
        raise BadRequest("change exceeds the cash tendered")
    recorded: list[dict[str, Any]] = []
    left_change = change
    for p in payments:
        rec = dict(p)
        if p["method"] in cash_methods and left_change:
            take = min(left_change, p["amount"])
            rec["tendered"] = p["amount"]
            rec["amount"] = p["amount"] - take
            left_change -= take
        recorded.append(rec)
    return recorded, change

"""Promotions: deterministic pricing shared by the till and the HQ preview; HQ messages; reports per channel."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.omni.inbound import HANDLED, OmniInbound, register_inbound
from gateway.omni.promotions import apply_promotions
from gateway.omni.reports import daily_sales, products_csv, publish_daily, stock_value
from gateway.pos.catalog import Product
from gateway.pos.pricing import price_line, totals
from tests.gateway.omni.conftest import CHOC, GUM, PEN, Omni

WINDOW = {"starts_at": "2026-01-01T00:00:00+01:00", "ends_at": "2027-01-01T00:00:00+01:00"}
NOW = datetime(2026, 6, 1, tzinfo=UTC)
P = Product(PEN, "Pen", 1, 199, "piece", "Büro")


def _promo(pid: str, kind: str, value: int, **kw: Any) -> dict[str, Any]:
    return {"promotion_id": pid, "name": pid, "kind": kind, "value": value, "codes": [PEN], **WINDOW, **kw}


def test_each_kind_and_best_wins() -> None:
    cases = [(_promo("a", "percent", 2500), 3 * 199 - 448), (_promo("b", "amount_off", 50), 150),
             (_promo("c", "fixed_price", 150), 147), (_promo("d", "multi_buy", 500, min_qty=3), 97)]
    for promo, discount in cases:
        lines = [price_line(1, P, 3, None)]
        apply_promotions(lines, [promo], NOW)
        assert lines[0]["discount"] == discount, promo["kind"]
    lines = [price_line(1, P, 3, None)]
    apply_promotions(lines, [c[0] for c in cases], NOW)
    assert lines[0]["promotion"] == "b" and lines[0]["discount"] == 150


def test_multi_buy_counts_across_lines_and_totals_add_up() -> None:
    lines = [price_line(1, P, 1, None), price_line(2, P, 2, None), price_line(3, P, 1, None)]
    apply_promotions(lines, [_promo("m", "multi_buy", 500, min_qty=3)], NOW)
    assert sum(ln["discount"] for ln in lines) == 97
    t = totals(lines)
    assert t["gross"] == 4 * 199 - 97 and t["discount"] == 97
    again = [price_line(1, P, 1, None), price_line(2, P, 2, None), price_line(3, P, 1, None)]
    apply_promotions(again, [_promo("m", "multi_buy", 500, min_qty=3)], NOW)
    assert [(ln["discount"], ln["promotion"]) for ln in again] == [(ln["discount"], ln["promotion"]) for ln in lines]


def test_outside_window_inactive_or_manual_discount_untouched() -> None:
    lines = [price_line(1, P, 1, None)]
    apply_promotions(lines, [_promo("a", "percent", 5000, active=False)], NOW)
    apply_promotions(lines, [_promo("b", "percent", 5000)], datetime(2027, 2, 1, tzinfo=UTC))
    assert lines[0]["discount"] == 0
    lines[0]["discount"], lines[0]["amount"] = 10, 189
    apply_promotions(lines, [_promo("c", "percent", 5000)], NOW)
    assert lines[0]["discount"] == 10


async def test_hq_promotion_reaches_the_till(om: Omni) -> None:
    await om.hq_push(OmniInbound(om.omni).apply_promotion, {**_promo("x", "percent", 1000), "starts_at": "2020-01-01T00:00:00+00:00",
                                                             "ends_at": "2099-01-01T00:00:00+00:00"})
    r = await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}, {"code": CHOC}], payments=[{"method": "cash", "amount": 500}])
    assert r["lines"][0]["promotion"] == "x" and r["totals"]["gross"] == 179 + 119


async def test_register_inbound_and_product_message(om: Omni) -> None:
    seen: dict[str, Any] = {}

    class Handlers:
        def register(self, type_: str, fn: Any) -> None:
            seen[type_] = fn

    register_inbound(Handlers(), om.omni)
    assert set(seen) == set(HANDLED)
    await om.hq_push(seen["product"], {"products": [{"code": "NEW-1", "name": "Neu", "vat_id": 1, "price": 1234}]})
    assert om.gw.catalog.lookup("NEW-1").price == 1234
    await om.hq_push(seen["stock_adjustment"], {"adjustment_id": "A1", "reason": "damage", "lines": [{"code": GUM, "qty_delta": -2}]})
    await om.hq_push(seen["stock_adjustment"], {"adjustment_id": "A1", "reason": "damage", "lines": [{"code": GUM, "qty_delta": -2}]})
    assert om.level(GUM)["on_hand_milli"] == -2000


async def test_daily_report_per_channel(om: Omni) -> None:
    await om.receive(PEN, 5)
    await om.gw.sales.finish(cashier="c", lines=[{"code": PEN, "qty": 1}], payments=[{"method": "cash", "amount": 199}])
    await om.hq_push(OmniInbound(om.omni).apply_order, {"order_id": "W", "lines": [{"code": PEN, "qty": 1, "price": 199}],
                                                         "total": 199, "paid": True, "pickup_code": "9"})
    await om.omni.orders.mark_picked("W")
    await om.omni.orders.hand_over("9")
    day = datetime.now(UTC).date().isoformat()
    rep = daily_sales(om.gw.ledger.reader, day)
    assert rep["channels"]["store"]["gross"] == 199 and rep["channels"]["click_collect"]["handovers"] == 1
    assert rep["products"][0] == {"code": PEN, "name": "Kugelschreiber blau", "group": "Büro", "qty_milli": 1000, "gross": 199}
    assert stock_value(om.gw.ledger.reader) == {"groups": [{"group": "Büro", "value": 3 * 199, "qty_milli": 3000}], "total": 597}
    assert products_csv(rep["products"]).splitlines()[1] == f"{PEN};Kugelschreiber blau;Büro;1000;199"
    out = await publish_daily(om.gw.ledger, day)
    assert out == rep and om.gw.ledger.query_one("SELECT COUNT(*) FROM journal WHERE type='report.daily'") == 1


async def test_cart_shows_and_checks_out_the_promotion(om: Omni) -> None:
    await om.hq_push(OmniInbound(om.omni).apply_promotion, {**_promo("m", "multi_buy", 500, min_qty=3), "starts_at": "2020-01-01T00:00:00+00:00",
                                                             "ends_at": "2099-01-01T00:00:00+00:00"})
    cart = await om.gw.carts.open("c")
    for _ in range(3):
        cart = await om.gw.carts.add_line(cart["id"], PEN, 1)
    assert cart["totals"]["gross"] == 500 and cart["totals"]["discount"] == 97
    assert om.gw.carts.get(cart["id"])["totals"]["gross"] == 500
    r = await om.gw.sales.finish(cashier="c", cart_id=cart["id"], payments=[{"method": "cash", "amount": 500}])
    assert r["totals"]["gross"] == 500 and {ln["promotion"] for ln in r["lines"]} == {"m"}

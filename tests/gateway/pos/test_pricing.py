"""Integer-cent pricing: rounding, VAT per rate, discount allocation, settlement of payments."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.pos.catalog import Product
from gateway.pos.money import allocate, div_round, format_cents, vat_split
from gateway.pos.pricing import price_line, settle, totals

APPLE = Product("1001", "Äpfel", 2, 249, "kg")
PEN = Product("4006381333931", "Pen", 1, 199, "piece")


def test_div_round_half_away_from_zero() -> None:
    assert div_round(5, 10) == 1
    assert div_round(4, 10) == 0
    assert div_round(-5, 10) == -1
    assert div_round(-4, 10) == 0


def test_vat_split_known_values() -> None:
    s = vat_split(1, 1190)
    assert (s.net, s.vat) == (1000, 190)
    s = vat_split(2, 107)
    assert (s.net, s.vat) == (100, 7)
    s = vat_split(1, 199)  # 199 / 1.19 = 167.2 -> 167, VAT 32
    assert (s.net, s.vat) == (167, 32)
    s = vat_split(5, 500)
    assert (s.net, s.vat) == (500, 0)


def test_weighed_line_rounds_half_up() -> None:
    line = price_line(1, APPLE, None, 1234, "scale")
    # 2.49 EUR/kg * 1.234 kg = 3.07266 -> 307 cents
    assert line["gross"] == 307
    assert line["weight_g"] == 1234 and line["qty_milli"] == 1234


def test_unit_mismatch_is_rejected() -> None:
    with pytest.raises(BadRequest):
        price_line(1, APPLE, 2, None)
    with pytest.raises(BadRequest):
        price_line(1, PEN, None, 100)


def test_cart_discount_split_keeps_vat_exact() -> None:
    lines = [price_line(1, PEN, 3, None), price_line(2, APPLE, None, 1000)]
    t = totals(lines, cart_discount=100)
    assert t["gross"] == 597 + 249 - 100
    assert sum(v["gross"] for v in t["by_vat"]) == t["gross"]
    assert sum(ln["share"] for ln in lines) == 100
    assert t["net"] + t["vat"] == t["gross"]


def test_settle_gives_change_only_from_cash() -> None:
    recorded, change = settle(847, [{"method": "card", "amount": 500}, {"method": "cash", "amount": 500}], {"cash"})
    assert change == 153
    assert recorded[1]["amount"] == 347 and recorded[1]["tendered"] == 500
    with pytest.raises(BadRequest):
        settle(847, [{"method": "card", "amount": 900}], {"cash"})
    with pytest.raises(BadRequest):
        settle(847, [{"method": "cash", "amount": 800}], {"cash"})


def test_formats() -> None:
    assert format_cents(123456) == "1.234,56 €"
    assert format_cents(-5) == "-0,05 €"


@settings(max_examples=300, deadline=None)
@given(st.integers(-10**9, 10**9), st.lists(st.integers(0, 10**6), min_size=1, max_size=30))
def test_allocate_sums_exactly(total: int, weights: list[int]) -> None:
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert len(parts) == len(weights)
    if sum(weights):
        for p, w in zip(parts, weights, strict=True):
            assert abs(p - total * w / sum(weights)) < 1.0 + 1e-9


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2, 3, 4, 5]), st.integers(-10**9, 10**9))
def test_vat_split_adds_up(vat_id: int, gross: int) -> None:
    s = vat_split(vat_id, gross)
    assert s.net + s.vat == gross
    if gross >= 0:
        assert 0 <= s.vat <= gross

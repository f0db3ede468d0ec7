"""Property tests: quantity-line parsing never accepts bad input silently; promotions never over-discount."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import BadRequest
from gateway.omni.promotions import apply_promotions
from gateway.omni.stock import parse_lines
from gateway.pos.catalog import Product
from gateway.pos.pricing import price_line, totals

CONN = sqlite3.connect(":memory:")
CONN.execute("CREATE TABLE products (code TEXT PRIMARY KEY, unit TEXT, grp TEXT)")
CONN.execute("INSERT INTO products VALUES ('KG', 'kg', 'Obst')")

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**13, 10**13), st.text(max_size=70), st.floats(allow_nan=False))
json_any = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4), max_leaves=12)
line = st.fixed_dictionaries({"code": st.one_of(st.sampled_from(["KG", "A", ""]), json_leaf)},
                             optional={"qty": json_leaf, "qty_milli": json_leaf})


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_any, st.lists(line, max_size=5)), st.booleans(), st.booleans())
def test_parse_lines_accepts_only_valid_lines(raw: Any, allow_zero: bool, signed: bool) -> None:
    try:
        out = parse_lines(CONN, raw, allow_zero=allow_zero, signed=signed)
    except BadRequest:
        return
    assert out and len({c for c, _ in out}) == len(out)
    for code, q in out:
        assert isinstance(code, str) and code and isinstance(q, int) and not isinstance(q, bool)
        assert signed or q >= (0 if allow_zero else 1)
        assert code == "KG" or q % 1000 == 0  # pieces are whole pieces


def test_parse_lines_refuses_fractions_of_a_piece() -> None:
    assert parse_lines(CONN, [{"code": "KG", "qty_milli": 1500}, {"code": "A", "qty_milli": 2000}]) == [("KG", 1500), ("A", 2000)]
    try:
        parse_lines(CONN, [{"code": "A", "qty_milli": 1500}])
    except BadRequest as err:
        assert "whole pieces" in err.detail
    else:
        raise AssertionError("half a piece was accepted")


PROMO = st.fixed_dictionaries({
    "promotion_id": st.sampled_from(["a", "b", "c"]),
    "kind": st.sampled_from(["percent", "amount_off", "fixed_price", "multi_buy"]),
    "value": st.integers(0, 20000),
    "min_qty": st.integers(1, 5),
    "codes": st.just(["P", "W"]),
    "starts_at": st.just("2020-01-01T00:00:00+00:00"),
    "ends_at": st.just("2030-01-01T00:00:00+00:00"),
})


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P", "W"]), st.integers(1, 20)), min_size=1, max_size=6), st.lists(PROMO, max_size=4),
       st.integers(1, 5000))
def test_promotions_never_exceed_the_line_and_totals_add_up(items: list[tuple[str, int]], promos: list[dict[str, Any]], price: int) -> None:
    products = {"P": Product("P", "Piece", 1, price, "piece"), "W": Product("W", "Weighed", 2, price, "kg")}
    lines = [price_line(i, products[c], None if c == "W" else q, q * 37 if c == "W" else None) for i, (c, q) in enumerate(items, 1)]
    apply_promotions(lines, promos, datetime(2025, 1, 1, tzinfo=UTC))
    for ln in lines:
        assert 0 <= ln["discount"] <= ln["gross"] and ln["amount"] == ln["gross"] - ln["discount"]
    t = totals(lines)
    assert t["gross"] == sum(ln["gross"] for ln in lines) - t["discount"] >= 0

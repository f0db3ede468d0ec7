"""German money, quantity and weight formatting."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.printer.receipt import format_cents, format_milli, format_money, format_rate, format_weight


@pytest.mark.parametrize(
    ("cents", "text"),
    [(0, "0,00"), (5, "0,05"), (99, "0,99"), (100, "1,00"), (123456, "1.234,56"),
     (-123456, "-1.234,56"), (-5, "-0,05"), (100000000, "1.000.000,00")],
)
def test_format_cents(cents: int, text: str) -> None:
    assert format_cents(cents) == text


def test_format_money_and_others() -> None:
    assert format_money(123456) == "1.234,56 €"
    assert format_milli(1500) == "1,5" and format_milli(3000) == "3" and format_milli(-250) == "-0,25"
    assert format_weight(532) == "0,532 kg" and format_weight(12005) == "12,005 kg"
    assert format_rate(1900) == "19,00 %" and format_rate(700) == "7,00 %"


@settings(max_examples=300)
@given(st.integers(-10**12, 10**12))
def test_format_cents_round_trips(cents: int) -> None:
    text = format_cents(cents)
    assert int(text.replace(".", "").replace(",", "")) == cents
